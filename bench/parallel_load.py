"""Parallel vs serial load of one simulated LA's first day on PostgreSQL (on demand,
never in CI): `python -m bench.parallel_load [--schools N] [--scale S] [--seed N] [--las N]`
with DATABASE_URL naming a PostgreSQL server (scratch databases are made and dropped
beside it).

One process per school imports the school's files through `rollsync import` (the
driver of tests/concurrency); the serial load is one process importing every file in
the order the parallel load committed. Both start from the same migrated template.
Prints both wall times and their ratio. Runs of one LA plan and apply under the LA's
lock, so only parsing (and process start-up) overlaps: expect a ratio a little under 1
on a small LA, and not more than the cores allow on any.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _span(runs: list[dict[str, object]]) -> float:
    """From the first import's start to the last one's end (every process loads first and
    waits at a barrier, so start-up is left out; the driver stamps each import)."""
    return max(float(r["ended"]) for r in runs) - min(float(r["began"]) for r in runs)  # type: ignore[arg-type]


def _rollbacks(url: str) -> object:
    """Transactions rolled back in that database (lost races tried again, deadlocks)."""
    import psycopg

    time.sleep(1)  # statistics are flushed shortly after each transaction
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
        row = conn.execute(
            "SELECT xact_rollback, deadlocks FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()
    return row


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.parallel_load")
    parser.add_argument("--schools", type=int, default=6)
    parser.add_argument("--scale", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--las", type=int, default=1, help="LAs of the region, each of --schools schools"
    )
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit("DATABASE_URL must name a PostgreSQL database (its server gets scratch ones)")
    sys.path.insert(0, str(ROOT))
    from tests.concurrency.conftest import (
        import_at_once,
        in_commit_order,
        la_plan,
        prepared,
        scratch_pg,
    )

    maker = scratch_pg.__wrapped__()  # type: ignore[attr-defined]
    make = next(maker)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            codes = tuple(str(202 + 37 * n) for n in range(args.las)) if args.las > 1 else (None,)
            plan = la_plan(
                home, schools=args.schools, seed=args.seed, scale=args.scale, la_codes=codes
            )
            chains = len(json.loads(plan.read_text())["chains"])
            files = sum(len(c) for c in json.loads(plan.read_text())["chains"])
            template = make("")
            prepared(template, home, plan)
            parallel_url, serial_url = make(template), make(template)

            parallel_runs, _ = import_at_once(
                plan, parallel_url, home, [[c] for c in range(chains)], barrier=home / "p"
            )
            serial_runs, _ = import_at_once(
                in_commit_order(plan, parallel_runs),
                serial_url,
                home,
                [[0]],
                barrier=home / "s",
            )
            parallel_s = _span(parallel_runs)
            serial_s = _span(serial_runs)
            rollbacks = _rollbacks(parallel_url)
            failed = sum(r["status"] == "failed" for r in parallel_runs + serial_runs)
            print(
                f"{args.las} LA(s) of {args.schools} schools, {files} files, scale {args.scale}, {os.cpu_count()} cores:"
                f" parallel {parallel_s:.1f}s ({chains} processes), serial {serial_s:.1f}s"
                f" (1 process), serial/parallel = {serial_s / parallel_s:.2f}, failed runs {failed},"
                f" rolled-back transactions in the parallel load {rollbacks}"
            )
    finally:
        with contextlib.suppress(StopIteration):
            next(maker)


if __name__ == "__main__":
    main(sys.argv[1:])
