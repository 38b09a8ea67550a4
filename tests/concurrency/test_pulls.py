"""Pulls in real processes: two Force runs of one school at the same moment never
overlap (one pulls, the other is refused), and schedulers in several processes queue
each school's due pull once. On the suite's database (a scratch PostgreSQL database, or
a SQLite file)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rollsync.missim import SimData
from rollsync.missim.isams import IsamsSimulator
from rollsync.simulate import SchoolSnapshot, make_school_truth
from tests.concurrency.conftest import ROLLSYNC, ROOT, call, database_is_postgres, env_for
from tests.scratch_pg import MigratedTemplate

pytestmark = pytest.mark.slow

DUE_SCRIPT = """
import os, sys, time, json
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
import django; django.setup()
from datetime import timedelta
from django.utils import timezone
from rollsync.directory.services.connections import connections_queue_due
barrier = sys.argv[1]
open(os.path.join(barrier, f"ready-{os.getpid()}"), "w").close()
while not os.path.exists(os.path.join(barrier, "go")):
    time.sleep(0.005)
print(json.dumps(connections_queue_due(now=timezone.now() + timedelta(days=1))))
"""


@pytest.fixture
def world(
    tmp_path: Path, migrated: MigratedTemplate, scratch_pg: Callable[[str], str]
) -> Iterator[tuple[str, Path, SchoolSnapshot, IsamsSimulator]]:
    url = scratch_pg("") if database_is_postgres() else migrated.sqlite(tmp_path / "db.sqlite3")
    home = tmp_path / "home"
    home.mkdir()
    snap = make_school_truth(pupils=20, phase="Primary")
    call([*ROLLSYNC, "migrate"], url, home)
    call(
        [
            *ROLLSYNC,
            "school",
            "add",
            "--urn",
            snap.urn,
            "--la",
            snap.la_code,
            "--estab",
            snap.estab,
            "--name",
            snap.school_name,
        ],
        url,
        home,
    )
    with IsamsSimulator(SimData([snap])) as sim:
        done = subprocess.run(
            [
                *ROLLSYNC,
                "mis",
                "connect",
                "--school",
                snap.urn,
                "--mis",
                "isams",
                "--url",
                f"{sim.url}/schools/{snap.urn}",
                "--client-id",
                f"demo-client-{snap.urn}",
                "--client-secret-stdin",
            ],
            input=f"demo-secret-{snap.urn}\n",
            env=env_for(url, home),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        yield url, home, snap, sim


def _start(cmd: list[str], url: str, home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd,
        env=env_for(url, home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def test_two_force_runs_of_one_school_never_overlap(world: Any) -> None:
    url, home, snap, sim = world
    run = [*ROLLSYNC, "mis", "run", "--school", snap.urn, "--json"]
    # The first run's pull is held at the simulator's gate (so it holds the connection's
    # pull lease) until the second run has been answered: the overlap is made, not timed.
    sim.gate = threading.Event()
    seen = len(sim.requests)
    first = _start(run, url, home)
    try:
        deadline = time.monotonic() + 120
        while len(sim.requests) == seen:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never reached the simulator"
            time.sleep(0.01)
        second = _start(run, url, home)
        out2, err2 = second.communicate(timeout=300)
    finally:
        sim.gate.set()
    out1, err1 = first.communicate(timeout=300)
    applied, refused = json.loads(out1), json.loads(out2)
    assert applied.get("status") == "applied", (out1, err1)
    assert "already running" in refused.get("error", ""), (out2, err2)
    assert (first.returncode, second.returncode) == (0, 1)
    status = json.loads(
        call([*ROLLSYNC, "mis", "status", "--school", snap.urn, "--json"], url, home)
    )
    assert status["last_pull"]["outcome"] == "applied"
    # the refused one pulled nothing: one token and the pages of one pull only
    tokens = [r for r in sim.requests if r.path.endswith("/connect/token")]
    assert len(tokens) == 2  # the connect check's, and the one pull's


def test_schedulers_in_several_processes_queue_each_pull_once(world: Any, tmp_path: Path) -> None:
    url, home, _snap, _ = world
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = env_for(url, home)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DUE_SCRIPT, str(barrier)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(3)
    ]
    while len(list(barrier.glob("ready-*"))) < len(procs):
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    (barrier / "go").touch()
    queued: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        queued.extend(json.loads(out.strip().splitlines()[-1]))
    assert len(queued) == 1
