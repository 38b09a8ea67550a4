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
"""

from __future__ import annotations

import os
import sys
from typing import Any

_count = [0]
_profile: dict[str, Any] = {}  # the bench's phase -> this process's cProfile.Profile


def _counting(execute: Any, sql: Any, params: Any, many: Any, context: Any) -> Any:
    _count[0] += 1
    return execute(sql, params, many, context)


def _on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    if _counting not in connection.execute_wrappers:
        connection.execute_wrappers.append(_counting)


def _on_start(sender: Any, func: Any, task: dict[str, Any], **kwargs: Any) -> None:
    _count[0] = 0
    folder = os.environ.get("ROLLSYNC_BENCH_PROFILE")
    if folder:
        import cProfile

        try:
            with open(os.path.join(folder, "phase")) as marker:
                phase = marker.read().strip()
        except FileNotFoundError:
            phase = "day1"
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
