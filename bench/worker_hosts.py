"""Queue throughput with workers on several "hosts" sharing one PostgreSQL (issue 13,
point 4; on demand, never in CI; needs root and `ip netns`):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        python -m bench.worker_hosts [--las 4] [--schools 4] [--scale 0.1] [--hosts 1,2,4]

A simulated region (`--las` LAs of `--schools` schools; the schools whose day is one
bundle file) is set up once in a migrated template; for each entry of `--hosts` a fresh
clone gets every upload queued, then that many network namespaces (`bench.hosts`), each
running `rollsync worker` with `--workers-per-host` processes, drain the queue. Prints
per host count: uploads, accounts made, the queue's own span (the first task's start
to the last one's end, so the workers' start-up is left out), accounts a second and µs
per account, and the database's rolled-back transactions (lost races tried again). Runs of one LA apply one at a time (the LA's
lock), so more hosts help only across LAs, and only until the two cores (or the
database) are the limit: the figures say where that is on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_hosts")
    parser.add_argument("--las", type=int, default=4)
    parser.add_argument("--schools", type=int, default=4, help="schools per LA")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--hosts", default="1,2,4", help="host counts to measure")
    parser.add_argument("--workers-per-host", type=int, default=1)
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("DATABASE_URL must name a PostgreSQL database (its server gets scratch ones)")
    sys.path.insert(0, str(ROOT))
    from bench.hosts import Hosts, available
    from tests.concurrency.conftest import DRIVER, call, env_for, la_plan, prepared
    from tests.scratch_pg import ScratchDatabases
    from tests.tasks import processes as p

    if not available():
        sys.exit("needs root and `ip netns`")
    console = Console(width=140)
    scratch = ScratchDatabases(url)
    table = Table(title="Queue throughput, workers on several hosts (network namespaces)")
    for column in ("hosts", "workers", "uploads", "accounts", "seconds", "accounts/s",
                   "µs / account", "rollbacks"):  # fmt: skip
        table.add_column(column, justify="right")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            plan = la_plan(
                home,
                schools=args.schools,
                seed=args.seed,
                scale=args.scale,
                la_codes=tuple(str(900 + n) for n in range(args.las)),
            )
            chains = json.loads(plan.read_text())["chains"]
            bundles = [i for i, chain in enumerate(chains) if len(chain) == 1]
            template = scratch.create("rs_hosts", template_url="")
            prepared(template, home, plan)
            for count in (int(x) for x in args.hosts.split(",") if x):
                db = scratch.create("rs_hosts", template_url=template)
                lines = call([*DRIVER, "queue", str(plan), *map(str, bundles)], db, home)
                tasks = [json.loads(line)["task"] for line in lines.splitlines() if line.strip()]
                log = home / f"workers-{count}.log"
                with Hosts(count) as hosts:
                    started = time.perf_counter()
                    workers = [
                        hosts.spawn(
                            k,
                            [sys.executable, "-m", "rollsync", "worker"],
                            env=env_for(hosts.url(k, db), home)
                            | {
                                "ROLLSYNC_WORKERS": str(args.workers_per_host),
                                "ROLLSYNC_SCHEDULER_SECONDS": "3600",
                            },
                            log=log,
                            cwd=ROOT,
                        )
                        for k in range(count)
                    ]
                    p.wait_for(
                        "every task",
                        lambda db=db, tasks=tasks: (
                            p.sql(  # type: ignore[misc]
                                db,
                                "SELECT count(*) FROM directory_queuedtask WHERE status = 'succeeded'",
                            )
                            == len(tasks)
                        ),
                        seconds=3600,
                    )
                    seconds = time.perf_counter() - started
                    for k, worker in enumerate(workers):
                        hosts.stop(k, worker)
                # The queue's own span (first task started to last task finished), so
                # the workers' start-up is left out.
                span = p.sql(
                    db,
                    "SELECT EXTRACT(EPOCH FROM max(finished_at) - min(started_at))"
                    " FROM directory_queuedtask",
                )
                seconds = float(span) if span is not None else seconds
                accounts = int(p.sql(db, "SELECT count(*) FROM directory_account"))
                rollbacks = p.sql(
                    db,
                    "SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()",
                )
                table.add_row(
                    str(count),
                    str(count * args.workers_per_host),
                    str(len(tasks)),
                    f"{accounts:,}",
                    f"{seconds:.1f}",
                    f"{accounts / seconds:,.0f}",
                    f"{seconds * 1e6 / max(accounts, 1):,.0f}",
                    str(rollbacks),
                )
    finally:
        scratch.drop_all()
    console.print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
