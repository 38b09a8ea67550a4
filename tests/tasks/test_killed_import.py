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


def _kill_once_stored(url: str, home: Path, args: list[str], *, uploads_before: int) -> None:
    """Run `rollsync <args>` and SIGKILL it as soon as its upload row is stored."""
    killed = subprocess.Popen(
        [*ROLLSYNC, *args],
        env=_env(url, home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while _count(url, "SELECT count(*) FROM directory_upload") == uploads_before:
            assert killed.poll() is None, "the import ended before its upload was seen"
            assert time.monotonic() < deadline, "the upload never appeared"
            time.sleep(0.01)
        killed.send_signal(signal.SIGKILL)
    finally:
        killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL


def test_a_killed_import_is_resumed_to_the_run_a_clean_import_gives(
    database_url: str, tmp_path: Path
) -> None:
    url, home = database_url, tmp_path
    _run(url, home, "migrate")
    _run(url, home, "school", "add", "--urn", "100001", "--la", "202", "--estab", "2001",
         "--name", "Hillside Primary")  # fmt: skip
    students = _students(tmp_path / "students.csv")

    imported = ["--school", "100001", "--format", "csv", "--report", "students", "--json"]
    _kill_once_stored(url, home, ["import", str(students), *imported], uploads_before=0)
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
    again = _run(url, home, "import", str(students), *imported)
    assert again["status"] == "applied"
    assert again["counts"]["unchanged"] == PUPILS
    assert sum(again["counts"].values()) == PUPILS


def test_a_killed_read_in_part_is_resumed_to_the_run_a_clean_import_gives(
    scratch_database: Callable[[], str], tmp_path: Path
) -> None:
    """Night 2 of a CTF school (one pupil renamed), killed once its upload is stored:
    resumed, it is read in part against night 1, and the directory is what night 1
    then night 2, imported cleanly, make."""
    from rollsync.simulate import make_school_truth, write_school_export
    from tests.concurrency.conftest import one_school_plan, people_of, prepared, renamed_ctf

    truth = make_school_truth(pupils=4000, seed=17)
    [entry] = write_school_export(truth, 1, "ctf", tmp_path / "d1")
    night1 = tmp_path / "night1.xml"
    night1.write_bytes((tmp_path / "d1" / entry.path).read_bytes())
    night2 = tmp_path / "night2.xml"
    night2.write_bytes(renamed_ctf(night1.read_bytes(), {0: "Arnold"}))
    plan = one_school_plan(truth, [], tmp_path)
    killed_url, clean_url = scratch_database(), scratch_database()
    for url in (killed_url, clean_url):
        prepared(url, tmp_path, plan)
    imported = ["--school", truth.urn, "--format", "ctf", "--json"]
    for url, nights in ((killed_url, [night1]), (clean_url, [night1, night2])):
        for night in nights:
            assert _run(url, tmp_path, "import", str(night), *imported)["status"] == "applied"

    _kill_once_stored(killed_url, tmp_path, ["import", str(night2), *imported], uploads_before=1)
    assert _count(killed_url, "SELECT count(*) FROM directory_syncrun") == 1, (
        "night 2's run was stored before the kill: make the school bigger"
    )

    [resumed] = _run(killed_url, tmp_path, "uploads", "resume", "--older-than", "0", "--json")
    assert (resumed["outcome"], resumed["message"]) == ("applied", None)
    assert resumed["run"]["counts"]["updated"] == 1
    assert _count(killed_url, "SELECT count(*) FROM directory_syncrun WHERE read_in_part") == 1
    assert people_of(killed_url, tmp_path) == people_of(clean_url, tmp_path)
