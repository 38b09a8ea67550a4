"""Workers on two hosts sharing one PostgreSQL (issue 13, point 4), a host lost mid-run.

Each "host" is a network namespace of its own (`bench.hosts`): its own loopback and
addresses, reaching the database over a veth link as a worker on another machine would.
A small LA's uploads are queued; host 0's worker takes one and is held inside its
transaction (`ROLLSYNC_TEST_TASK_PAUSE`), then host 0 is lost (every process in it
SIGKILLed, its link cut). Host 1's workers then complete everything, the lost task
included once its lease ends: every task succeeds, every upload has exactly one run,
applied (no school processed twice), and the directory equals a serial load of the same
files, field by field.

A host may also be cut off rather than lost: its network gone, its worker still running,
asleep inside its transaction, and the database never told (its session stays open, with
the LA's lock). The server ends a session idle in a transaction
(`ROLLSYNC_DB_IDLE_IN_TRANSACTION_SECONDS`, set on every connection), host 1 completes the
work, and when host 0's network comes back its worker wakes to a transaction that is gone:
it changes nothing, and goes on serving. The cut comes while the worker sleeps inside its
transaction, and it wakes after the network is back (`ROLLSYNC_TEST_TASK_PAUSE_DIR`), so
the test does not hang on where a cut happened to fall."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.hosts import Hosts, available
from tests.concurrency.conftest import (
    DRIVER,
    ROOT,
    call,
    database_is_postgres,
    dump,
    env_for,
    la_plan,
    prepared,
)
from tests.tasks import processes as p

SCHOOLS = 6
SEED = 8
SCALE = 0.04

pytestmark = [
    pytest.mark.skipif(not database_is_postgres(), reason="a shared server: PostgreSQL only"),
    pytest.mark.skipif(not available(), reason="needs root and `ip netns` (network namespaces)"),
]

WORKER = [sys.executable, "-m", "rollsync", "worker"]


def _bundles(plan: Path) -> list[int]:
    """The schools whose day is one file (a bundle): each upload then stands alone, so
    the queue may run them in any order and still leave the serial load's directory."""
    chains = json.loads(plan.read_text())["chains"]
    return [i for i, chain in enumerate(chains) if len(chain) == 1]


def _runs_per_upload(url: str, uploads: list[int]) -> dict[int, int]:
    return {
        u: int(p.sql(url, "SELECT count(*) FROM directory_syncrun WHERE upload_id = ?", u))
        for u in uploads
    }


def _queued_la(
    tmp_path: Path, scratch_pg: Any
) -> tuple[Path, str, str, list[int], list[str], list[int]]:
    """A small LA's bundle schools queued on a fresh database; and a copy of that database
    before anything was queued (for the serial load to compare with)."""
    plan = la_plan(tmp_path, schools=SCHOOLS, seed=SEED, scale=SCALE)
    template = scratch_pg("")
    prepared(template, tmp_path, plan)
    chains = _bundles(plan)
    assert len(chains) >= 3, "the simulated LA needs several bundle schools"
    url, reference = scratch_pg(template), scratch_pg(template)
    queued = [
        json.loads(line)
        for line in call([*DRIVER, "queue", str(plan), *map(str, chains)], url, tmp_path).split(
            "\n"
        )
        if line.strip()
    ]
    tasks = [q["task"] for q in queued]
    uploads = [q["upload"] for q in queued]
    assert {p.stored_status(url, t) for t in tasks} == {"queued"}
    return plan, url, reference, chains, tasks, uploads


def test_a_host_lost_mid_run_changes_nothing_and_its_work_completes_on_another(
    tmp_path: Path, scratch_pg: Any
) -> None:
    plan, url, reference, chains, tasks, uploads = _queued_la(tmp_path, scratch_pg)
    log = tmp_path / "workers.log"

    with Hosts(2) as hosts:
        doomed, taken = _host_0_takes_a_task(
            hosts, url, tmp_path, log, tasks, pause=600, env={"ROLLSYNC_SCHEDULER_SECONDS": "3600"}
        )
        hosts.lose(0)
        assert doomed.poll() is not None
        assert hosts.pids(0) == []
        # Nothing of the lost host's run was committed; the others are still queued.
        assert p.sql(url, "SELECT count(*) FROM directory_syncrun") == 0
        assert p.sql(url, "SELECT count(*) FROM directory_account") == 0

        _host_1_completes_every_task(
            hosts, url, tmp_path, log, tasks, env={"ROLLSYNC_SCHEDULER_SECONDS": "3600"}
        )

    _assert_done_once_as_serial(plan, url, reference, chains, tasks, uploads, taken, tmp_path)


def test_a_host_cut_off_mid_run_changes_nothing_and_its_work_completes_on_another(
    tmp_path: Path, scratch_pg: Any
) -> None:
    plan, url, reference, chains, tasks, uploads = _queued_la(tmp_path, scratch_pg)
    log = tmp_path / "workers.log"
    idle = {
        "ROLLSYNC_DB_IDLE_IN_TRANSACTION_SECONDS": "4",
        "ROLLSYNC_SCHEDULER_SECONDS": "3600",
        "ROLLSYNC_LOG_LEVEL": "INFO",
    }

    # Host 0's worker is cut off while it sleeps inside its transaction (between two
    # queries: the server sees it idle in that transaction), and wakes only when the
    # test says, after its network is back. Cut at any other moment, a packet in flight
    # when the link went down waits out TCP's retransmission back-off, and a COPY the
    # worker was streaming leaves the server waiting for its rows, which only the
    # server's keepalives end (docs/operations.md); the relay here cannot show either.
    paused = tmp_path / "pause"
    paused.mkdir()
    hold = idle | {"ROLLSYNC_TEST_TASK_PAUSE_DIR": str(paused)}

    with Hosts(2) as hosts:
        cut_off, taken = _host_0_takes_a_task(hosts, url, tmp_path, log, tasks, pause=600, env=hold)
        p.wait_for("host 0 to pause in its transaction", (paused / "paused").exists, seconds=180)
        hosts.cut(0)
        assert cut_off.poll() is None and hosts.pids(0), "host 0's worker is still running"
        assert p.sql(url, "SELECT count(*) FROM directory_syncrun") == 0

        _host_1_completes_every_task(hosts, url, tmp_path, log, tasks, env=idle)

        # Host 0 comes back; its worker wakes from its pause to a transaction the server
        # ended long ago, and its attempt ends without touching anything.
        hosts.heal(0)
        (paused / "resume").touch()
        p.wait_for(
            "host 0's attempt to end",
            lambda: _attempt_ended(log, taken),
            seconds=120,
        )
        assert cut_off.poll() is None, "host 0's worker goes on serving"
        assert p.stored_status(url, taken) == "succeeded"
        assert hosts.stop(0, cut_off) == 0, log.read_text()[-3000:]

    _assert_done_once_as_serial(plan, url, reference, chains, tasks, uploads, taken, tmp_path)


def _host_0_takes_a_task(
    hosts: Hosts,
    url: str,
    tmp_path: Path,
    log: Path,
    tasks: list[str],
    *,
    pause: int,
    env: dict[str, str],
) -> tuple[Any, str]:
    """One worker on host 0, held `pause` seconds inside the first task it takes (its
    lease 5 s); returns the worker and that task once the database shows it running."""
    worker = hosts.spawn(
        0,
        WORKER,
        env=env_for(hosts.url(0, url), tmp_path)
        | env
        | {
            "ROLLSYNC_WORKERS": "1",
            "ROLLSYNC_TEST_TASK_PAUSE": str(pause),
            "ROLLSYNC_TASK_LEASE": "5",
        },
        log=log,
        cwd=ROOT,
    )
    p.wait_for(
        "host 0 to take a task",
        lambda: any(p.stored_status(url, t) == "running" for t in tasks),
        seconds=180,
    )
    [taken] = [t for t in tasks if p.stored_status(url, t) == "running"]
    return worker, taken


def _host_1_completes_every_task(
    hosts: Hosts, url: str, tmp_path: Path, log: Path, tasks: list[str], *, env: dict[str, str]
) -> None:
    """Two workers on host 1 until every task has succeeded; then stopped as a service
    manager stops them, cleanly."""
    survivor = hosts.spawn(
        1,
        WORKER,
        env=env_for(hosts.url(1, url), tmp_path) | env | {"ROLLSYNC_WORKERS": "2"},
        log=log,
        cwd=ROOT,
    )
    try:
        p.wait_for(
            "host 1 to complete every task",
            lambda: all(p.stored_status(url, t) == "succeeded" for t in tasks),
            seconds=600,
        )
    finally:
        code = hosts.stop(1, survivor)
    assert code == 0, log.read_text()[-3000:]


def _attempt_ended(log: Path, task: str) -> bool:
    """The task's log shows a second ending line: host 1's success, then host 0's end."""
    ends = 0
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("task") == task and str(entry.get("message", "")).startswith("task "):
            ends += entry["message"] != "task started"
    return ends >= 2


def _assert_done_once_as_serial(
    plan: Path,
    url: str,
    reference: str,
    chains: list[int],
    tasks: list[str],
    uploads: list[int],
    taken: str,
    tmp_path: Path,
) -> None:
    attempts = {
        t: int(p.sql(url, "SELECT attempts FROM directory_queuedtask WHERE id = ?", t))
        for t in tasks
    }
    assert attempts == {t: 2 if t == taken else 1 for t in tasks}
    assert _runs_per_upload(url, uploads) == {u: 1 for u in uploads}
    outcomes = {
        u: p.sql(url, "SELECT outcome FROM directory_upload WHERE id = ?", u) for u in uploads
    }
    assert outcomes == {u: "applied" for u in uploads}

    # The directory equals a serial load of the same files in the order the runs were
    # applied (usernames go to whoever comes first).
    applied = [uploads.index(u) for u in _applied_order(url)]
    call([*DRIVER, "run", str(plan), *(str(chains[i]) for i in applied)], reference, tmp_path)
    assert dump(url, tmp_path) == dump(reference, tmp_path)


def _applied_order(url: str) -> list[int]:
    """The uploads in the order their runs were made (under the LA's lock, one at a time)."""
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
        rows = conn.execute("SELECT upload_id FROM directory_syncrun ORDER BY id").fetchall()
    return [int(r[0]) for r in rows]


def test_two_sets_of_hosts_at_once_have_their_own_addresses_and_each_reaches_the_server(
    tmp_path: Path,
) -> None:
    """Two runs side by side (or a namespace a killed run left behind) never share a
    network: each set of hosts takes one no interface of the machine is in."""
    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    ask = (
        "import psycopg, sys; print(psycopg.connect(sys.argv[1]).execute('SELECT 1').fetchone()[0])"
    )
    with Hosts(1) as first, Hosts(1) as second:
        assert first.subnet != second.subnet
        for hosts in (first, second):
            done = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    hosts.names[0],
                    sys.executable,
                    "-c",
                    ask,
                    hosts.url(0, url),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert (done.returncode, done.stdout) == (0, "1\n"), done.stderr
    assert (
        f" {first.subnet}."
        not in subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    )
