from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_tallies(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """The run and upload tallies' triggers, after every `migrate` (and flush): installed,
    and everything counted again, when one is missing (docs/decisions/0091)."""
    from django.db import connections

    from rollsync.directory import models as m
    from rollsync.directory.services.tallies import tallies_ensure

    if using != "default":
        return
    tables = set(connections[using].introspection.table_names())
    if {m.RunTally._meta.db_table, m.UploadTally._meta.db_table} <= tables:
        tallies_ensure()


class DirectoryConfig(AppConfig):
    name = "rollsync.directory"
    label = "directory"
    verbose_name = "Directory"

    def ready(self) -> None:
        from rollsync.directory import lookups  # noqa: F401  (registers `any_of`)

        post_migrate.connect(_ensure_tallies, sender=self, dispatch_uid="rollsync-tallies")
