"""Does a school's run cost grow with its LA? (issue 13, goal 2; on demand)

`python -m bench.la_scaling --schools 5,20 [--scale 0.15] [--measured 3] [--database-url URL]`

For each LA size: a simulated LA (seeded) loaded on day 1, every school through the
real services; then day 2 of every school (or the first `--measured`), each run
measured: the accounts its snapshot held from outside the school, the queries it made,
this process's CPU time per record (the person actions of its plan). Flat per-record
cost means those columns stay put while the LA grows. The database is flushed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _load(schools: int, scale: float, seed: int, out: Path) -> Any:
    from django.core.management import call_command

    from rollsync.directory.services.schools import school_add, school_report_set
    from rollsync.domain.mis import can_send
    from rollsync.simulate import simulate_region

    call_command("flush", interactive=False, verbosity=0)
    manifest = simulate_region(out, schools=schools, seed=seed, days=2, scale=scale)
    for info in manifest.schools:
        school = school_add(
            urn=info.urn, la_code=info.la_code, estab=info.estab, name=info.name, mis=info.mis
        )
        for report in sorted({r for f in manifest.files_for(urn=info.urn) for r in f.reports}):
            if can_send(school.mis, report, attendance_service=school.attendance_service):
                school_report_set(school=school, report=report, accepted=True, actor="bench")
    return manifest


def _sync(manifest: Any, entry: Any) -> Any:
    from datetime import date

    from rollsync.directory import selectors
    from rollsync.directory.services.sync import sync_run_execute, upload_store

    school = selectors.school_get(urn=entry.urn)
    upload = upload_store(
        school=school,
        payload=(manifest.out_dir / entry.path).read_bytes(),
        fmt=entry.format,
        report=entry.report if entry.format == "csv" else "",
        source="bench",
    )
    return sync_run_execute(upload=upload, as_of=date.fromisoformat(entry.date), actor="bench")


def measure(*, schools: int, scale: float, seed: int, measured: int) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from rollsync.directory import models as m
    from rollsync.directory import selectors

    with tempfile.TemporaryDirectory(prefix="rollsync-la-") as tmp:
        manifest = _load(schools, scale, seed, Path(tmp))
        for entry in manifest.files:
            if entry.day == 1:
                _sync(manifest, entry)
        accounts = m.Account.objects.count()
        urns = [info.urn for info in manifest.schools[: measured or None]]
        sizes: list[int] = []
        real = selectors.directory_state_for

        def counting(**kwargs: Any) -> Any:
            state = real(**kwargs)
            here = {a.account_id for a in state.allocations_here()}
            sizes.append(len(set(state.accounts) - here))
            return state

        selectors.directory_state_for = counting  # type: ignore[assignment]
        runs = queries = records = 0
        cpu = 0.0
        try:
            for entry in manifest.files:
                if entry.day != 2 or entry.urn not in urns:
                    continue
                with CaptureQueriesContext(connection) as q:
                    started = time.process_time()
                    run = _sync(manifest, entry)
                    cpu += time.process_time() - started
                queries += len(q.captured_queries)
                runs += 1
                records += len(run.actions)
        finally:
            selectors.directory_state_for = real  # type: ignore[assignment]
    return {
        "schools": schools,
        "accounts": accounts,
        "runs": runs,
        "records": records,
        "snapshot": sum(sizes) / max(len(sizes), 1),
        "queries": queries / max(runs, 1),
        "cpu_us": cpu / max(records, 1) * 1e6,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.la_scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--schools", default="5,20")
    parser.add_argument("--scale", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--measured", type=int, default=0, help="schools measured (0: all)")
    parser.add_argument("--database-url", default=os.environ.get("ROLLSYNC_BENCH_DATABASE_URL", ""))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rollsync-la-db-") as tmp:
        os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{Path(tmp) / 'la.sqlite3'}"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", interactive=False, verbosity=0)
        rows = [
            measure(schools=int(n), scale=args.scale, seed=args.seed, measured=args.measured)
            for n in args.schools.split(",")
        ]
        table = Table(title=f"one school's day-2 runs as its LA grows ({connection.vendor})")
        for column in (
            "schools",
            "LA accounts",
            "runs",
            "records",
            "accounts from elsewhere / run",
        ):
            table.add_column(column, justify="right")
        table.add_column("queries / run", justify="right")
        table.add_column("cpu µs / record", justify="right")
        for row in rows:
            table.add_row(
                str(row["schools"]),
                str(row["accounts"]),
                str(row["runs"]),
                str(row["records"]),
                f"{row['snapshot']:.0f}",
                f"{row['queries']:.1f}",
                f"{row['cpu_us']:.0f}",
            )
        Console(width=140).print(table)


if __name__ == "__main__":
    main()
