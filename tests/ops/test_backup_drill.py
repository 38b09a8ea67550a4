"""The backup and restore drill of docs/operations.md, with the real `rollsync` command
in its own processes on a database of its own: load a school, back up, change the
directory (or destroy the database), restore, and find everything as it was backed up.
On the database the pass runs on: SQLite (the embedded default) in the SQLite pass, PostgreSQL
when DATABASE_URL names one (the SQLite drill would only repeat the SQLite pass's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.access.helpers import class_list, csv_bytes
from tests.scratch_pg import ScratchDatabases

URN = "100001"
ON_PG = os.environ.get("DATABASE_URL", "").startswith("postgres")


class Rollsync:
    def __init__(self, home: Path, url: str) -> None:
        self.home = home
        self.env = {
            **os.environ,
            "ROLLSYNC_HOME": str(home),
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "rollsync.config.settings",
        }

    def __call__(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "rollsync", *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == expect, (args, done.returncode, done.stdout, done.stderr)
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def state(self) -> dict[str, Any]:
        """What a person would check: the accounts and the runs, every field."""
        return {
            "accounts": self.json("accounts", "--school", URN),
            "runs": self.json("runs", "list", "--school", URN),
        }

    def load(self, name: str, rows: list[dict[str, Any]], as_of: str) -> None:
        path = self.home / name
        path.write_bytes(csv_bytes("students", rows))
        self(
            "import",
            str(path),
            "--school",
            URN,
            "--format",
            "csv",
            "--report",
            "students",
            "--as-of",
            as_of,
        )


@pytest.fixture(params=["postgresql" if ON_PG else "sqlite"])
def rollsync(request: Any, tmp_path: Path) -> Iterator[tuple[str, Rollsync]]:
    if request.param == "sqlite":
        yield "sqlite", Rollsync(tmp_path, f"sqlite:///{tmp_path / 'rollsync.sqlite3'}")
        return
    scratch = ScratchDatabases(os.environ["DATABASE_URL"])
    try:
        yield "postgresql", Rollsync(tmp_path, scratch.create("rs_h4_drill"))
    finally:
        scratch.drop_all()


def destroy(kind: str, rs: Rollsync) -> None:
    """Lose the database: the file (SQLite) or every table (PostgreSQL)."""
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{rs.home / 'rollsync.sqlite3'}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(rs.env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["changed", "destroyed"])
def test_backup_then_restore_gives_back_what_was_backed_up(
    rollsync: tuple[str, Rollsync], loss: str
) -> None:
    kind, rs = rollsync
    rs("migrate")
    rs("school", "add", "--urn", URN, "--la", "202", "--estab", "2001", "--name", "Hillside")
    pupils = class_list("P", "H")
    rs.load("day1.csv", pupils, "2026-09-07")
    backed_up = rs.state()
    assert len(backed_up["accounts"]) == 10 and len(backed_up["runs"]) == 1

    made = rs.json("backup", "create", str(rs.home / "backups" / "nightly.bak"))
    assert made["kind"] == kind and made["size"] > 0 and len(made["sha256"]) == 64
    # a backup never overwrites a file
    again = rs("backup", "create", str(rs.home / "backups" / "nightly.bak"), expect=1)
    assert "exists already" in again.stderr

    # the directory moves on: a day 2 that renames one pupil and adds two
    day2 = [*pupils, *class_list("N", "New")[:2]]
    day2[0] = {**day2[0], "legal_family_name": "Renamed"}
    rs.load("day2.csv", day2, "2026-09-08")
    changed = rs.state()
    assert changed != backed_up
    if loss == "destroyed":
        destroy(kind, rs)
        assert rs("accounts", "--school", URN, expect=1).returncode == 1

    done = rs.json("backup", "restore", str(rs.home / "backups" / "nightly.bak"), "--yes")
    assert done["sha256"] == made["sha256"]
    assert rs.state() == backed_up
    # and the restored database works: day 2 goes through as it did before the loss
    rs.load("day2-again.csv", day2, "2026-09-08")
    assert summary(rs.state()) == summary(changed)


def summary(state: dict[str, Any]) -> Any:
    """A state without what differs between two loads of the same files (ids, times)."""
    return (
        sorted((a["username"], a["role"], a["status"]) for a in state["accounts"]),
        [(r["status"], r["counts"], r["filename"] != "", r["sha256"]) for r in state["runs"]],
    )


@pytest.mark.slow
def test_a_restore_refuses_what_is_not_a_backup(rollsync: tuple[str, Rollsync]) -> None:
    kind, rs = rollsync
    rs("migrate")
    rs("school", "add", "--urn", URN, "--la", "202", "--estab", "2001", "--name", "Hillside")
    rs.load("day1.csv", class_list("P", "H"), "2026-09-07")
    before = rs.state()
    junk = rs.home / "junk.bak"
    for content in (
        b"",
        b"PGDMP but not really",
        b"SQLite format 3\x00" + b"\x00" * 200,
        b"x" * 4096,
    ):
        junk.write_bytes(content)
        refused = rs("backup", "restore", str(junk), "--yes", expect=1)
        assert "error:" in refused.stderr
        assert rs.state() == before
    missing = rs("backup", "restore", str(rs.home / "nope.bak"), "--yes", expect=1)
    assert "no such backup file" in missing.stderr
    # without --yes, a restore asks, and "no" changes nothing
    made = rs.json("backup", "create", str(rs.home / "b.bak"))
    assert made["kind"] == kind
    rs.load("day2.csv", class_list("P", "H")[:9], "2026-09-08")
    changed = rs.state()
    asked = subprocess.run(
        [sys.executable, "-m", "rollsync", "backup", "restore", str(rs.home / "b.bak")],
        env=rs.env,
        cwd=rs.home,
        input="n\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert asked.returncode == 1 and "Aborted" in asked.stderr
    assert rs.state() == changed
