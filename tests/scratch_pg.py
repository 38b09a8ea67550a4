"""Scratch PostgreSQL databases for tests whose subprocesses need a database of their own
(real workers, real commands, parallel loads): made and dropped through the server's
`postgres` database, on the server `DATABASE_URL` names."""

from __future__ import annotations

import uuid

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
