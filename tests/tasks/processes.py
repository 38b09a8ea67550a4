"""Real `rollsync` processes on a database of their own, for the worker tests: run a
command, run a few lines of Python against that database, start and stop workers,
and read a process's family from /proc."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROLLSYNC = [sys.executable, "-m", "rollsync"]

PRELUDE = """
import json, os, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
django.setup()
from rollsync.directory import models as m
from rollsync.directory import tasks
"""

# The directory, field by field, without what differs between two databases by nature
# (keys, random UUIDs, the times rows were written): accounts and allocations, the
# allocations keyed by username and school.
DIRECTORY = """
def rows(model, natural):
    fields = [
        f.name for f in model._meta.concrete_fields
        if not f.primary_key and not f.is_relation
        and f.get_internal_type() not in ("UUIDField", "DateTimeField")
    ]
    out = []
    for row in model.objects.all():
        item = {name: str(getattr(row, name)) for name in fields}
        item.update({key: str(get(row)) for key, get in natural.items()})
        out.append(item)
    return sorted(out, key=lambda item: json.dumps(item, sort_keys=True))

print(json.dumps({
    "accounts": rows(m.Account, {}),
    "allocations": rows(
        m.Allocation,
        {"account": lambda a: a.account.username, "school": lambda a: a.school.urn},
    ),
}))
"""


def env(url: str, home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "ROLLSYNC_HOME": str(home), **extra}


def run(url: str, home: Path, *args: str) -> Any:
    done = subprocess.run(
        [*ROLLSYNC, *args], env=env(url, home), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return json.loads(done.stdout) if "--json" in args else done.stdout


def python(url: str, home: Path, code: str, *args: str) -> Any:
    """Run `code` (after Django is set up on `url`); it prints one JSON value."""
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + code, *args],
        env=env(url, home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def status(url: str, home: Path, task_id: str) -> Any:
    return python(
        url,
        home,
        "print(json.dumps({**tasks.task_status(sys.argv[1]),"
        " 'attempts': m.QueuedTask.objects.get(pk=sys.argv[1]).attempts}, default=str))",
        task_id,
    )


def sql(url: str, query: str, *params: Any) -> Any:
    """The first column of the first row of `query` (`?` placeholders), read directly:
    cheaper than a Python process, for polling."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=20) as conn:
            row = conn.execute(query, params).fetchone()
    else:
        import psycopg

        with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
            row = conn.execute(query.replace("?", "%s"), params).fetchone()
    return None if row is None else row[0]


def stored_status(url: str, task_id: str) -> Any:
    """The status our task record holds (not yet what `task_status` makes of a lease)."""
    return sql(url, "SELECT status FROM directory_queuedtask WHERE id = ?", task_id)


def lease_ended(url: str, task_id: str) -> bool:
    """Whether the queue row of the task's attempt is free for another worker."""
    lock = sql(
        url,
        "SELECT q.lock FROM django_q_ormq q JOIN directory_queuedtask t ON q.id = t.lease"
        " WHERE t.id = ?",
        task_id,
    )
    if lock is None:
        return False
    if isinstance(lock, str):  # SQLite keeps UTC text
        lock = datetime.fromisoformat(lock).replace(tzinfo=UTC)
    return bool(lock <= datetime.now(UTC))


def directory(url: str, home: Path) -> Any:
    return python(url, home, DIRECTORY)


def worker(url: str, home: Path, log: Path, *args: str, **extra: str) -> subprocess.Popen[bytes]:
    """Start `rollsync worker` (its output goes to `log`)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*ROLLSYNC, "worker", *args],
            env=env(url, home, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a service manager stops it; the worker finishes and exits."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_for(what: str, check: Callable[[], bool], *, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def family(pid: int) -> set[int]:
    """The processes descended from `pid` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
