"""Shared fixtures. Database tests run on whichever database DATABASE_URL names
(the CI runs the suite twice: SQLite and PostgreSQL)."""

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.scratch_pg import MigratedTemplate

# Connection secrets in tests are sealed under a key made for this test session (passed on
# to the processes tests start), never a key file in the working tree.
os.environ.setdefault("ROLLSYNC_CONNECTION_KEYS", Fernet.generate_key().decode())


# A test that touches no database gives the same answer on both passes, so the PostgreSQL
# pass (./dev sets ROLLSYNC_TEST_DATABASE_TESTS_ONLY) leaves it to the SQLite pass. A test
# touches a database when it asks for one (pytest-django's marker or fixtures, a scratch
# database) or when its module could reach one another way: a process of its own, which
# inherits DATABASE_URL, or DATABASE_URL itself. When in doubt a test runs on both.
DATABASE_FIXTURES = frozenset(
    {
        "db",
        "transactional_db",
        "django_db_reset_sequences",
        "django_db_serialized_rollback",
        "live_server",
        "scratch_database",
        "scratch_pg",
    }
)
MAY_REACH_A_DATABASE = (
    "DATABASE_URL",
    "ScratchDatabases",
    "subprocess",
    "Popen",
    "multiprocessing",
)


def touches_a_database(item: Any, module_source: Callable[[Path], str]) -> bool:
    if item.get_closest_marker("django_db") is not None:
        return True
    if DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    source = module_source(Path(item.path))
    return any(word in source for word in MAY_REACH_A_DATABASE)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("ROLLSYNC_TEST_DATABASE_TESTS_ONLY"):
        return
    read = functools.cache(lambda path: path.read_text(encoding="utf-8"))
    kept: list[pytest.Item] = []
    left: list[pytest.Item] = []
    for item in items:
        (kept if touches_a_database(item, read) else left).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplate]:
    """Migrated databases for tests whose processes need a database of their own."""
    template = MigratedTemplate(
        os.environ.get("DATABASE_URL", "sqlite:///:memory:"), tmp_path_factory.mktemp("migrated")
    )
    yield template
    template.drop()


@pytest.fixture(autouse=True)
def audit_events_name_rows_that_exist(request: pytest.FixtureRequest) -> Iterator[None]:
    """The audit log's references to runs, schools and accounts have no constraint in the
    database (docs/decisions/0109): after every test with pytest-django's database, every
    event names rows that exist, as the constraints made sure before."""
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    if "transactional_db" in names or (marker is not None and marker.kwargs.get("transaction")):
        request.getfixturevalue("transactional_db")  # (set up first: torn down after this)
    elif "db" in names or marker is not None:
        request.getfixturevalue("db")
    else:
        yield
        return
    yield
    from tests.audit_references import audit_events_naming_nothing

    assert audit_events_naming_nothing() == []
