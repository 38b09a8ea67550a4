"""`rollsync worker`, counting each task's database queries (the region bench's workers).

    ROLLSYNC_BENCH_QUERY_LOG=FILE python -m bench.region_worker [worker options]

The same worker (`rollsync.directory.tasks.worker_main`); besides, every connection
counts the statements it runs, and each cluster process appends one line per task to
FILE when a delivery of a task ends: `<task id> <queries> done|again` (again: it was
put back on the queue, to wait for an earlier upload or to be tried again). The signals are connected before the
cluster forks its processes, so each of them counts for itself.

With ROLLSYNC_BENCH_PROFILE=DIR set too, each cluster process profiles its tasks'
deliveries (cProfile, from the task's start signal to its end signal) and writes the
stats so far to DIR/<pid>-<phase>.prof after each one (the phase: DIR/phase, written by
the bench as each day is queued): `python -m pstats DIR/<pid>-day2.prof`.

With ROLLSYNC_BENCH_STATEMENTS=DIR, each cluster process also times every statement
(wall seconds, the server's work and the wait for it, as the client sees them) and,
after each delivery, writes its totals per statement (the SQL with its parameters
folded to `?`) to DIR/<pid>-<phase>.json: `python -m bench.statements DIR` sums them.
That is how a look-up whose query count stayed flat while its rows read grew with the
LA was found (docs/decisions/0095).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import Any

_count = [0]
_profile: dict[str, Any] = {}  # the bench's phase -> this process's cProfile.Profile
_TIMED = bool(os.environ.get("ROLLSYNC_BENCH_STATEMENTS"))
# the bench's phase -> statement -> [times run, seconds]
_statements: dict[str, dict[str, list[float]]] = {}
_task_phase = ["day1"]  # read once a delivery, not once a statement
_FOLDED = re.compile(r"%s(?:, %s)*")


def _counting(execute: Any, sql: Any, params: Any, many: Any, context: Any) -> Any:
    _count[0] += 1
    if not _TIMED:
        return execute(sql, params, many, context)
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        phase = _statements.setdefault(_task_phase[0], {})
        seen = phase.setdefault(_FOLDED.sub("?", str(sql)), [0, 0.0])
        seen[0] += 1
        seen[1] += time.perf_counter() - started


def _phase() -> str:
    """The bench's phase (DIR/phase, written as each day is queued), or day1."""
    for variable in ("ROLLSYNC_BENCH_PROFILE", "ROLLSYNC_BENCH_STATEMENTS"):
        folder = os.environ.get(variable)
        if folder:
            try:
                with open(os.path.join(folder, "phase")) as marker:
                    return marker.read().strip()
            except FileNotFoundError:
                pass
    return "day1"


def _on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    if _counting not in connection.execute_wrappers:
        connection.execute_wrappers.append(_counting)


def _on_start(sender: Any, func: Any, task: dict[str, Any], **kwargs: Any) -> None:
    _count[0] = 0
    _task_phase[0] = phase = _phase()
    if os.environ.get("ROLLSYNC_BENCH_PROFILE"):
        import cProfile

        if phase not in _profile:
            _profile.clear()
            _profile[phase] = cProfile.Profile()
        _profile[phase].enable()


def _on_end(sender: Any, func: Any, task: dict[str, Any], **kwargs: Any) -> None:
    # A delivery that raised was put back on the queue (waiting for an earlier upload of
    # its school, or to be tried again): "again"; one that returned finished its task.
    for phase, profile in _profile.items():
        profile.disable()
        folder = os.environ["ROLLSYNC_BENCH_PROFILE"]
        profile.dump_stats(os.path.join(folder, f"{os.getpid()}-{phase}.prof"))
    if _TIMED:
        folder = os.environ["ROLLSYNC_BENCH_STATEMENTS"]
        for phase, seen in _statements.items():
            with open(os.path.join(folder, f"{os.getpid()}-{phase}.json"), "w") as out:
                json.dump(seen, out)
    args = task.get("args") or ("?",)
    outcome = "done" if task.get("success") else "again"
    line = f"{args[0]} {_count[0]} {outcome}\n".encode()
    fd = os.open(os.environ["ROLLSYNC_BENCH_QUERY_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    from rollsync.cli_support import setup_django

    setup_django()
    from django.db.backends.signals import connection_created
    from django_q.signals import post_execute_in_worker, pre_execute

    from rollsync.directory.tasks import worker_main

    connection_created.connect(_on_connection, dispatch_uid="bench-region-count")
    pre_execute.connect(_on_start, dispatch_uid="bench-region-start")
    post_execute_in_worker.connect(_on_end, dispatch_uid="bench-region-end")
    return worker_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
