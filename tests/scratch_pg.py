"""Scratch PostgreSQL databases for tests whose subprocesses need a database of their own
(real workers, real commands, parallel loads): made and dropped through the server's
`postgres` database, on the server `DATABASE_URL` names."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import dj_database_url


class ScratchDatabases:
    def __init__(self, url: str) -> None:
        self.url = url
        config = dj_database_url.parse(url)
        self._admin = {
            "host": config["HOST"] or "127.0.0.1",
            "port": config["PORT"] or 5432,
            "user": config["USER"],
            "password": config["PASSWORD"] or None,
            "dbname": "postgres",
            "autocommit": True,
            # A drop that cannot go ahead errs rather than waits (a test's teardown never
            # hangs the suite on it); FORCE already ends the database's sessions.
            "connect_timeout": 30,
            "options": "-c lock_timeout=60000 -c statement_timeout=120000",
        }
        self._made: list[str] = []

    def create(self, prefix: str, *, template_url: str = "") -> str:
        """A new empty database (or a copy of `template_url`'s); returns its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        template = f' TEMPLATE "{template_url.rsplit("/", 1)[1]}"' if template_url else ""
        with psycopg.connect(**self._admin) as conn:  # type: ignore[arg-type]
            conn.execute(f'CREATE DATABASE "{name}"{template}')
        self._made.append(name)
        return self.url.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        if not self._made:
            return
        import psycopg

        with psycopg.connect(**self._admin) as conn:  # type: ignore[arg-type]
            for name in self._made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._made.clear()


class MigratedTemplate:
    """A database migrated once per test session (`rollsync migrate` on an empty database
    costs 3-4 s of a process's CPU), then copied for each test that needs one of its own:
    a SQLite file copied, or a PostgreSQL database made with it as its template. Made on
    first use, in that session's own directory and database; dropped at the end."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.url = url
        self.workdir = workdir
        self._sqlite: Path | None = None
        self._pg: ScratchDatabases | None = None
        self._pg_url = ""

    def _migrate(self, url: str) -> None:
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "DATABASE_URL": url, "ROLLSYNC_HOME": str(home)}
        done = subprocess.run(
            [sys.executable, "-m", "rollsync", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])

    def sqlite(self, dest: Path) -> str:
        """A migrated SQLite file at `dest`; its URL."""
        if self._sqlite is None:
            template = self.workdir / "migrated.sqlite3"
            self._migrate(f"sqlite:///{template}")
            with contextlib.closing(sqlite3.connect(template)) as db:  # all in the one file
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._sqlite = template
        shutil.copyfile(self._sqlite, dest)
        return f"sqlite:///{dest}"

    def postgres(self) -> str:
        """The URL of the migrated PostgreSQL database to give `ScratchDatabases.create`
        as its template (nothing may connect to it but that copy)."""
        if self._pg is None:
            self._pg = ScratchDatabases(self.url)
            self._pg_url = self._pg.create("rs_migrated")
            self._migrate(self._pg_url)
        return self._pg_url

    def drop(self) -> None:
        if self._pg is not None:
            self._pg.drop_all()
