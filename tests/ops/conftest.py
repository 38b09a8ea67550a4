from tests.access.helpers import built_world, fast_password_hashing, run_worker, world

__all__ = ["built_world", "fast_password_hashing", "run_worker", "world"]
