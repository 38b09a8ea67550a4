"""Scratch databases and a small simulated LA for the concurrency tests.

Every process of a test (the setup, each importer, the dump) is a real `python`
process on its own connection; the databases are the test's own (scratch PostgreSQL
databases cloned from one migrated template, or SQLite files), never pytest-django's."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rollsync.domain.reports import CATALOGUE
from rollsync.simulate import simulate_region
from tests.scratch_pg import MigratedTemplate, ScratchDatabases

DRIVER = [sys.executable, "-m", "tests.concurrency.driver"]
ROLLSYNC = [sys.executable, "-m", "rollsync"]
ROOT = Path(__file__).resolve().parents[2]


def database_is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def env_for(url: str, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "ROLLSYNC_HOME": str(home),
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }


def call(cmd: list[str], url: str, home: Path) -> str:
    done = subprocess.run(
        cmd, env=env_for(url, home), capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, (cmd, done.stdout[-3000:], done.stderr[-3000:])
    return done.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def rollsync_serving(url: str, home: Path) -> Iterator[int]:
    """A real `rollsync serve` (waitress, no worker) on a free port of 127.0.0.1, its
    own process on the test's database; yields the port once it listens."""
    port = free_port()
    proc = subprocess.Popen(
        [*ROLLSYNC, "serve", "--port", str(port), "--no-worker"],
        env=env_for(url, home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "rollsync serve did not start"
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def import_at_once(
    plan_path: Path,
    url: str,
    home: Path,
    chains: list[list[int]],
    *,
    barrier: Path | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """One process per entry of `chains` (each runs its chains in order), all started
    together; returns every run's line and each process's stderr. With `barrier` (a
    new folder), the processes start importing together once all have loaded."""
    env = env_for(url, home)
    if barrier is not None:
        barrier.mkdir()
        env["ROLLSYNC_BARRIER"] = str(barrier)
    procs = [
        subprocess.Popen(
            [*DRIVER, "run", str(plan_path), *map(str, chain)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for chain in chains
    ]
    if barrier is not None:
        while len(list(barrier.glob("ready-*"))) < len(procs):
            assert all(p.poll() is None for p in procs), "an importer ended before it started"
            time.sleep(0.01)
        (barrier / "go").touch()
    runs: list[dict[str, Any]] = []
    errors: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (out[-3000:], err[-3000:])
        runs.extend(json.loads(line) for line in out.splitlines() if line.strip())
        errors.append(err)
    return runs, errors


@pytest.fixture(scope="module")
def scratch_pg(migrated: MigratedTemplate) -> Iterator[Callable[[str], str]]:
    """clone(template_or_empty) -> a new scratch PostgreSQL database URL; "" makes a
    newly migrated one (a copy of the session's). All are dropped at the end."""
    scratch = ScratchDatabases(os.environ["DATABASE_URL"])

    def make(template: str) -> str:
        return scratch.create("rs_conc", template_url=template or migrated.postgres())

    yield make
    scratch.drop_all()


def la_plan(
    out: Path,
    *,
    schools: int,
    seed: int,
    scale: float,
    days: int = 1,
    la_codes: tuple[str | None, ...] = (None,),
) -> Path:
    """Simulate a small LA (or one per entry of `la_codes`, each with its own seed) and
    write the driver's plan: one chain per school (its files of each day, people before
    the reports that name them, as the demo orders them)."""
    order = {report: i for i, report in enumerate(CATALOGUE)}
    plan: dict[str, Any] = {"gias": [], "schools": [], "chains": []}
    for n, la_code in enumerate(la_codes):
        manifest = simulate_region(
            out / f"sim{n or ''}",
            schools=schools,
            seed=seed + 101 * n,
            days=days,
            scale=scale,
            la_code=la_code,
        )
        chains: dict[str, list[dict[str, Any]]] = {}
        for entry in sorted(manifest.files, key=lambda e: (e.day, e.urn, order.get(e.report, -1))):
            chains.setdefault(entry.urn, []).append(
                {
                    "urn": entry.urn,
                    "path": str(manifest.out_dir / entry.path),
                    "format": entry.format,
                    "report": entry.report,
                    "date": entry.date,
                }
            )
        plan["gias"].append(str(manifest.gias_path))
        plan["schools"] += [
            {
                "urn": info.urn,
                "la_code": info.la_code,
                "estab": info.estab,
                "name": info.name,
                "mis": info.mis,
                "reports": sorted({r for f in manifest.files_for(urn=info.urn) for r in f.reports}),
            }
            for info in manifest.schools
        ]
        plan["chains"] += [chains[info.urn] for info in manifest.schools if info.urn in chains]
    path = out / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def prepared(url: str, home: Path, plan: Path) -> None:
    call([*ROLLSYNC, "migrate"], url, home)
    call([*DRIVER, "setup", str(plan)], url, home)


def dump(url: str, home: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(call([*DRIVER, "dump"], url, home))
    return data


def copy_sqlite(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)


def in_commit_order(plan_path: Path, runs: list[dict[str, Any]]) -> Path:
    """A plan with one chain: the jobs of `runs` in the order their runs were stored.
    Under the LA lock a run is stored (its id taken) inside the transaction that applies
    it, so this is the order in which the parallel load's changes committed; a serial
    load in this order is what the parallel one must equal."""
    plan = json.loads(plan_path.read_text())
    plan["chains"] = [[r["job"] for r in sorted(runs, key=lambda r: int(r["run"]))]]
    path = plan_path.with_name("serial-plan.json")
    path.write_text(json.dumps(plan))
    return path


def people_of(url: str, home: Path) -> dict[str, Any]:
    """The people of `dump`: accounts (and the username each set of places holds),
    groups, memberships, contact links and match cases."""
    data = dump(url, home)
    keys = ("accounts", "username_by_places", "groups", "memberships", "contact_links")
    return {k: data[k] for k in (*keys, "match_cases")}


def one_school_plan(truth: Any, chains: list[list[dict[str, Any]]], home: Path) -> Path:
    """The driver's plan for one simulated school (`make_school_truth`) that accepts every
    report, with these chains of jobs; written to `home`/plan.json."""
    school = {
        "urn": truth.urn,
        "la_code": truth.la_code,
        "estab": truth.estab,
        "name": truth.school_name,
        "mis": "SIMS",
        "reports": list(CATALOGUE),
    }
    path = home / "plan.json"
    path.write_text(json.dumps({"gias": [], "schools": [school], "chains": chains}))
    return path


def renamed_ctf(payload: bytes, renames: dict[int, str]) -> bytes:
    """The CTF with the surnames of these pupils (their places in it) changed."""
    head, *pupils = payload.split(b"<Pupil>")
    for at, name in renames.items():
        before, _, after = pupils[at].partition(b"</Surname>")
        pupils[at] = before[: before.index(b"<Surname>")] + f"<Surname>{name}".encode()
        pupils[at] += b"</Surname>" + after
    return b"<Pupil>".join([head, *pupils])
