"""The backup and restore drill (docs/operations.md, docs/decisions/0076).

PostgreSQL: `pg_dump --format=custom` (a consistent snapshot while the services run)
and `pg_restore --clean --if-exists --single-transaction` (all or nothing). SQLite, the
embedded default: the SQLite online backup API (`sqlite3.Connection.backup`), which
copies a consistent database while writers work, WAL and all; a restore copies the
backup back the same way. Each backup is checked as soon as it is written
(`pg_restore --list` reads it whole; SQLite's `PRAGMA integrity_check`), and a
restore refuses a file that is not a backup of the database's kind."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    kind: str  # "postgresql" | "sqlite"
    size: int
    sha256: str


def _kind(db: dict[str, Any]) -> str:
    engine = db["ENGINE"]
    if engine.endswith("postgresql"):
        return "postgresql"
    if engine.endswith("sqlite3"):
        if str(db["NAME"]) in ("", ":memory:") or "mode=memory" in str(db["NAME"]):
            raise BackupError("an in-memory SQLite database cannot be backed up")
        return "sqlite"
    raise BackupError(f"no backup drill for the database engine {engine}")


def _pg_env(db: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Connection options for pg_dump/pg_restore; the password goes in the environment,
    never on the command line (where `ps` would show it)."""
    args = []
    if db.get("HOST"):
        args += ["--host", str(db["HOST"])]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", str(db["USER"])]
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return [*args, "--no-password"], env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} is not installed (apt install postgresql-client)")
    return found


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip()[-800:]}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _regexp(pattern: str | None, value: Any) -> bool | None:
    if pattern is None or value is None:
        return None
    return re.search(pattern, str(value)) is not None


def _integrity(conn: sqlite3.Connection) -> str:
    """SQLite's integrity check, CHECK constraints included (Django's SQLite schema uses
    REGEXP in some, a function SQLite leaves to the application: given as Django's)."""
    conn.create_function("REGEXP", 2, _regexp, deterministic=True)
    found = conn.execute("PRAGMA integrity_check").fetchall()
    return "ok" if found == [("ok",)] else "; ".join(str(r[0]) for r in found[:5])


def _head(path: Path, n: int) -> bytes:
    with path.open("rb") as f:
        return f.read(n)


def backup(db: dict[str, Any], dest: Path) -> BackupResult:
    """Write a backup of `db` (a Django DATABASES entry) to `dest` (a new file)."""
    kind = _kind(db)
    if dest.exists():
        raise BackupError(f"{dest} exists already: a backup never overwrites a file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if kind == "postgresql":
            args, env = _pg_env(db)
            _run(
                [
                    _tool("pg_dump"),
                    *args,
                    "--format=custom",
                    "--file",
                    str(partial),
                    str(db["NAME"]),
                ],
                env,
                "pg_dump",
            )
            _run([_tool("pg_restore"), "--list", str(partial)], env, "checking the dump")
        else:
            source = sqlite3.connect(str(db["NAME"]), timeout=60)
            target = sqlite3.connect(str(partial))
            try:
                with target:
                    source.backup(target)
                found = _integrity(target)
            except sqlite3.DatabaseError as exc:
                raise BackupError(f"the SQLite backup failed: {exc}") from None
            finally:
                target.close()
                source.close()
            if found != "ok":
                raise BackupError(f"the copy failed its integrity check: {found}")
        os.replace(partial, dest)  # whole or not at all
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(dest, kind, dest.stat().st_size, _sha256(dest))


def restore(db: dict[str, Any], source: Path) -> BackupResult:
    """Put the database back as `source` holds it. Stop the web app and the workers
    first (docs/operations.md): a restore replaces everything."""
    kind = _kind(db)
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    head = _head(source, 16)
    if kind == "postgresql":
        if not head.startswith(PGDUMP_MAGIC):
            raise BackupError(f"{source} is not a pg_dump custom-format backup")
        args, env = _pg_env(db)
        _run(
            [
                _tool("pg_restore"),
                *args,
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                "--dbname",
                str(db["NAME"]),
                str(source),
            ],
            env,
            "pg_restore",
        )
    else:
        if head != SQLITE_MAGIC:
            raise BackupError(f"{source} is not an SQLite database")
        backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            try:
                found = _integrity(backup_db)
                tables = {
                    r[0]
                    for r in backup_db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
            except sqlite3.DatabaseError as exc:
                raise BackupError(f"{source} is not a readable SQLite database: {exc}") from None
            if found != "ok":
                raise BackupError(f"{source} failed its integrity check: {found}")
            if "django_migrations" not in tables or "directory_upload" not in tables:
                raise BackupError(f"{source} is not a backup of a rollsync database")
            live = sqlite3.connect(str(db["NAME"]), timeout=60)
            try:
                with live:
                    backup_db.backup(live)
            finally:
                live.close()
        finally:
            backup_db.close()
    return BackupResult(source, kind, source.stat().st_size, _sha256(source))
