"""Fixtures for the background worker tests. The worker claims each task in its own
transaction and checks its connection between tasks, as in production, so tests
that run it use `transactional_db` (committed data) rather than a wrapping transaction."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from tests.directory.helpers import OTHER_URN, SCHOOL_URN
from tests.scratch_pg import MigratedTemplate, ScratchDatabases


@pytest.fixture
def school(transactional_db: Any) -> m.School:
    return school_add(
        urn=SCHOOL_URN, la_code="202", estab="2001", name="Hillside Primary", la_name="Northshire"
    )


@pytest.fixture
def other_school(transactional_db: Any) -> m.School:
    return school_add(urn=OTHER_URN, la_code="202", estab="2002", name="Riverside Academy")


@pytest.fixture
def scratch_database(tmp_path: Path, migrated: MigratedTemplate) -> Iterator[Callable[[], str]]:
    """Make databases that only subprocesses use (real workers, real commands): an
    SQLite file, or a scratch PostgreSQL database on the server DATABASE_URL names,
    each already migrated (a copy of the session's); each is dropped at the end."""
    url = os.environ.get("DATABASE_URL", "sqlite:///:memory:")
    scratch = None if url.startswith("sqlite") else ScratchDatabases(url)

    def make() -> str:
        if scratch is None:
            return migrated.sqlite(tmp_path / f"scratch-{uuid.uuid4().hex[:10]}.sqlite3")
        return scratch.create("rs_scratch", template_url=migrated.postgres())

    yield make
    if scratch is not None:
        scratch.drop_all()
