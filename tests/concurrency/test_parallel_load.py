"""Schools of one LA synced at the same time (issue 8): several real processes import a
small simulated LA's first day at once, through `rollsync import`, and the directory
they leave equals, field by field, the one a serial load of the same files leaves
(`compare.directory_dump`: order-independent keys, strict values). No run fails, no
upload is lost, and no process prints a traceback.

Before the LA lock (plan and apply under the school's lock alone) these failed on
PostgreSQL: runs failed with IntegrityError on directory_account_username_key, and a
member of staff at two local schools was made twice (one account per school)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.concurrency.conftest import (
    DRIVER,
    ROOT,
    call,
    database_is_postgres,
    dump,
    env_for,
    import_at_once,
    in_commit_order,
    la_plan,
    prepared,
)

SCHOOLS = 4
SEED = 8
SCALE = 0.04

postgres_only = pytest.mark.skipif(
    not database_is_postgres(), reason="row locks and a real server: PostgreSQL only"
)
sqlite_only = pytest.mark.skipif(database_is_postgres(), reason="the SQLite file test")


def _no_failures(runs: list[dict[str, Any]], stderr: list[str]) -> None:
    failed = [r for r in runs if r["status"] == "failed" or r["exit"] != 0]
    assert failed == [], failed
    assert all("Traceback" not in err and "database is locked" not in err for err in stderr), stderr


def _at_two_schools(directory: dict[str, Any]) -> list[str]:
    """Accounts active at two schools of the LA (people who arrived at both at once)."""
    return [
        key
        for key, account in directory["accounts"].items()
        if len({a["school"] for a in account["allocations"] if a["status"] == "active"}) > 1
    ]


def _outcomes(runs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Each run's file, status and counts, in the order the runs were stored."""
    return [
        (r["path"], r["status"], json.dumps(r["counts"], sort_keys=True))
        for r in sorted(runs, key=lambda r: int(r["run"]))
    ]


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(set(a) | set(b))
            for d in _differences(a.get(k), b.get(k), f"{path}.{k}")
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _assert_same_directory(serial: dict[str, Any], parallel: dict[str, Any]) -> None:
    assert parallel["counts"] == serial["counts"]
    assert parallel["usernames"] == serial["usernames"]
    assert parallel["username_by_places"] == serial["username_by_places"]
    assert sorted(parallel["accounts"]) == sorted(serial["accounts"])
    for key, account in serial["accounts"].items():
        assert parallel["accounts"][key] == account, (
            key,
            _differences(account, parallel["accounts"][key]),
        )
    for part in (
        "groups",
        "memberships",
        "contact_links",
        "attendance",
        "match_cases",
        "cross_school_cases",
        "runs",
        "audit",
    ):
        assert parallel[part] == serial[part], part


@pytest.fixture(scope="module")
def la(tmp_path_factory: pytest.TempPathFactory, scratch_pg: Any) -> tuple[Path, str]:
    """The small LA's plan and a migrated PostgreSQL template with its schools set up
    (shared by the PostgreSQL tests: each clones it twice)."""
    home = tmp_path_factory.mktemp("la")
    plan = la_plan(home, schools=SCHOOLS, seed=SEED, scale=SCALE)
    template = scratch_pg("")
    prepared(template, home, plan)
    return plan, template


@postgres_only
def test_an_la_first_day_imported_by_one_process_per_school_equals_a_serial_load(
    tmp_path: Path, scratch_pg: Any, la: tuple[Path, str]
) -> None:
    plan, template = la
    chains = len(json.loads(plan.read_text())["chains"])
    serial_url, parallel_url = scratch_pg(template), scratch_pg(template)

    parallel_runs, parallel_err = import_at_once(
        plan, parallel_url, tmp_path, [[c] for c in range(chains)]
    )
    serial_runs, serial_err = import_at_once(
        in_commit_order(plan, parallel_runs), serial_url, tmp_path, [[0]]
    )

    _no_failures(parallel_runs, parallel_err)
    _no_failures(serial_runs, serial_err)
    assert _outcomes(parallel_runs) == _outcomes(serial_runs)
    serial, parallel = dump(serial_url, tmp_path), dump(parallel_url, tmp_path)
    assert _at_two_schools(serial), "the LA has nobody arriving at two schools at once"
    _assert_same_directory(serial, parallel)


@postgres_only
def test_one_school_imported_by_several_processes_at_once_equals_a_serial_load(
    tmp_path: Path, scratch_pg: Any, la: tuple[Path, str]
) -> None:
    la_plan_path, template = la
    loaded = json.loads(la_plan_path.read_text())
    # The school that sends one bundle (the same whole-school file, four times at once).
    [bundle] = [chain for chain in loaded["chains"] if len(chain) == 1][:1]
    loaded["chains"] = [bundle] * 4
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(loaded))
    serial_url, parallel_url = scratch_pg(template), scratch_pg(template)

    parallel_runs, parallel_err = import_at_once(plan, parallel_url, tmp_path, [[0], [1], [2], [3]])
    serial_runs, serial_err = import_at_once(
        in_commit_order(plan, parallel_runs), serial_url, tmp_path, [[0]]
    )

    _no_failures(parallel_runs, parallel_err)
    _no_failures(serial_runs, serial_err)
    # The first to commit made the accounts; the others found them unchanged.
    assert _outcomes(parallel_runs) == _outcomes(serial_runs)
    assert [r[1] for r in _outcomes(parallel_runs)] == ["applied"] * 4
    _assert_same_directory(dump(serial_url, tmp_path), dump(parallel_url, tmp_path))


@sqlite_only
def test_sqlite_several_processes_importing_at_once_lose_no_upload(tmp_path: Path) -> None:
    plan = la_plan(tmp_path, schools=3, seed=SEED + 2, scale=SCALE)
    loaded = json.loads(plan.read_text())
    chains = len(loaded["chains"])
    loaded["chains"] = loaded["chains"] + loaded["chains"]  # each school twice at once
    plan.write_text(json.dumps(loaded))
    template = tmp_path / "template.sqlite3"
    prepared(f"sqlite:///{template}", tmp_path, plan)
    serial_file, parallel_file = tmp_path / "serial.sqlite3", tmp_path / "parallel.sqlite3"
    for target in (serial_file, parallel_file):
        target.write_bytes(template.read_bytes())
    serial_url, parallel_url = f"sqlite:///{serial_file}", f"sqlite:///{parallel_file}"

    parallel_runs, parallel_err = import_at_once(
        plan, parallel_url, tmp_path, [[c] for c in range(2 * chains)]
    )
    serial_runs, serial_err = import_at_once(
        in_commit_order(plan, parallel_runs), serial_url, tmp_path, [[0]]
    )

    _no_failures(parallel_runs, parallel_err)
    _no_failures(serial_runs, serial_err)
    files = sum(len(chain) for chain in loaded["chains"])
    with sqlite3.connect(parallel_file) as conn:
        uploads, unfinished = conn.execute(
            "SELECT count(*), sum(outcome NOT IN ('applied', 'held', 'preview')) FROM"
            " directory_upload"
        ).fetchone()
        with_runs = conn.execute(
            "SELECT count(DISTINCT upload_id) FROM directory_syncrun"
        ).fetchone()[0]
    assert (uploads, unfinished, with_runs) == (files, 0, files)
    assert _outcomes(parallel_runs) == _outcomes(serial_runs)
    _assert_same_directory(dump(serial_url, tmp_path), dump(parallel_url, tmp_path))


@postgres_only
def test_a_queued_task_meeting_a_run_that_holds_the_la_lock_waits_without_deadlock(
    tmp_path: Path, scratch_pg: Any, la: tuple[Path, str]
) -> None:
    """The queue's task body holds its own task row, never the school's: a run that holds
    the LA lock and then writes rows referring to the school never waits on the task, so
    the task simply waits for the LA and both runs are applied, with no deadlock. (When
    the task body locked the school row first, PostgreSQL counted a deadlock here.)"""
    plan, template = la
    loaded = json.loads(plan.read_text())
    [bundle] = [i for i, chain in enumerate(loaded["chains"]) if len(chain) == 1][:1]
    url = scratch_pg(template)
    first, second = (
        int(line)
        for line in call(
            [*DRIVER, "store", str(plan), str(bundle), str(bundle)], url, tmp_path
        ).split()
    )
    signals = tmp_path / "signals"
    signals.mkdir()
    race = [sys.executable, "-m", "tests.concurrency.race"]
    procs = [
        subprocess.Popen(
            [*race, role, str(upload), str(signals)],
            env=env_for(url, tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for role, upload in (("task", first), ("run", second))
    ]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (out, err[-3000:])
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
        for _ in range(50):
            row = conn.execute(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
            if row and row[0]:
                break
            time.sleep(0.1)
    assert row is not None and row[0] == 0, "the task and the run deadlocked"
    assert [(o["role"], o["status"]) for o in outcomes] == [
        ("task", "applied"),
        ("run", "applied"),
    ], outcomes
