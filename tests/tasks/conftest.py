"""Fixtures for the background worker tests. The worker claims each task in its own
transaction and checks its connection between tasks, as in production, so tests
that run it use `transactional_db` (committed data) rather than a wrapping transaction."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dj_database_url
import pytest

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from tests.directory.helpers import OTHER_URN, SCHOOL_URN


@pytest.fixture
def school(transactional_db: Any) -> m.School:
    return school_add(
        urn=SCHOOL_URN, la_code="202", estab="2001", name="Hillside Primary", la_name="Northshire"
    )


@pytest.fixture
def other_school(transactional_db: Any) -> m.School:
    return school_add(urn=OTHER_URN, la_code="202", estab="2002", name="Riverside Academy")


@pytest.fixture
def scratch_database(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Make databases that only subprocesses use (real workers, real commands): an
    SQLite file, or a scratch PostgreSQL database on the server DATABASE_URL names;
    each is dropped at the end."""
    url = os.environ.get("DATABASE_URL", "sqlite:///:memory:")
    made: list[str] = []
    admin: dict[str, Any] = {}
    if not url.startswith("sqlite"):
        config = dj_database_url.parse(url)
        admin = dict(
            host=config["HOST"] or "127.0.0.1",
            port=config["PORT"] or 5432,
            user=config["USER"],
            password=config["PASSWORD"] or None,
            dbname="postgres",
            autocommit=True,
        )

    def make() -> str:
        if url.startswith("sqlite"):
            return f"sqlite:///{tmp_path / f'scratch-{uuid.uuid4().hex[:10]}.sqlite3'}"
        import psycopg

        name = f"rs_scratch_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(**admin) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return url.rsplit("/", 1)[0] + "/" + name

    yield make
    if made:
        import psycopg

        with psycopg.connect(**admin) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
