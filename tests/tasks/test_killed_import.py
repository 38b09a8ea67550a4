"""A `rollsync import` killed mid-import (issue 7 item 14): a real process, SIGKILLed
once its Upload row exists, leaves an upload with no run; `rollsync uploads resume`
processes it to the run a clean import gives, and nothing stays "received".

Each database gets a database of its own that only the subprocesses use (an SQLite
file; a scratch PostgreSQL database), read back through the command's JSON."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.directory.helpers import csv_bytes, pupil

PUPILS = 6000
ROLLSYNC = [sys.executable, "-m", "rollsync"]


@pytest.fixture
def database_url(scratch_database: Callable[[], str]) -> str:
    return scratch_database()


def _env(url: str, home: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "ROLLSYNC_HOME": str(home)}


def _run(url: str, home: Path, *args: str) -> Any:
    done = subprocess.run(
        [*ROLLSYNC, *args], env=_env(url, home), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return json.loads(done.stdout) if "--json" in args else done.stdout


def _count(url: str, sql: str) -> int:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=20) as conn:
            return int(conn.execute(sql).fetchone()[0])
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def _students(path: Path) -> Path:
    rows = [
        pupil(f"K{i:05d}", f"Given{i}", f"Family{i % 977}", f"20{10 + i % 6}-0{1 + i % 9}-1{i % 9}")
        for i in range(PUPILS)
    ]
    path.write_bytes(csv_bytes("students", rows))
    return path


def test_a_killed_import_is_resumed_to_the_run_a_clean_import_gives(
    database_url: str, tmp_path: Path
) -> None:
    url, home = database_url, tmp_path
    _run(url, home, "migrate")
    _run(url, home, "school", "add", "--urn", "100001", "--la", "202", "--estab", "2001",
         "--name", "Hillside Primary")  # fmt: skip
    students = _students(tmp_path / "students.csv")

    killed = subprocess.Popen(
        [
            *ROLLSYNC,
            "import",
            str(students),
            "--school",
            "100001",
            "--format",
            "csv",
            "--report",
            "students",
            "--json",
        ],
        env=_env(url, home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while _count(url, "SELECT count(*) FROM directory_upload") == 0:
            assert killed.poll() is None, "the import ended before its upload was seen"
            assert time.monotonic() < deadline, "the upload never appeared"
            time.sleep(0.02)
        killed.send_signal(signal.SIGKILL)
    finally:
        killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert _count(url, "SELECT count(*) FROM directory_syncrun") == 0, (
        "the run was stored before the kill: make the file bigger"
    )
    assert _count(url, "SELECT count(*) FROM directory_account") == 0

    # Upload History (the command's) shows it, waiting, with no run.
    [waiting] = _run(url, home, "runs", "list", "--school", "100001", "--json")
    assert (waiting["run"], waiting["status"], waiting["message"]) == (
        None,
        "import",
        "Being imported, or its import was cut short (see `rollsync uploads resume`).",
    )
    # Within the stale period it is left alone (its import may still be running).
    assert _run(url, home, "uploads", "resume", "--json") == []

    [resumed] = _run(url, home, "uploads", "resume", "--older-than", "0", "--json")
    assert (resumed["upload"], resumed["outcome"], resumed["message"]) == (
        waiting["upload"],
        "applied",
        None,
    )
    counts = resumed["run"]["counts"]
    assert counts["created"] == PUPILS
    assert {k: v for k, v in counts.items() if k != "created"} == dict.fromkeys(
        (k for k in counts if k != "created"), 0
    )
    assert resumed["run"]["errors"] == []
    assert _count(url, "SELECT count(*) FROM directory_account") == PUPILS
    assert _count(url, "SELECT count(*) FROM directory_upload WHERE outcome <> 'applied'") == 0

    # Nothing is left to resume, and importing the same file again changes nothing:
    # the directory is what a clean import of it would have made.
    assert _run(url, home, "uploads", "resume", "--older-than", "0", "--json") == []
    again = _run(url, home, "import", str(students), "--school", "100001", "--format", "csv",
                 "--report", "students", "--json")  # fmt: skip
    assert again["status"] == "applied"
    assert again["counts"]["unchanged"] == PUPILS
    assert sum(again["counts"].values()) == PUPILS
