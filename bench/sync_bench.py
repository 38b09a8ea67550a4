"""Sync benchmark: one 1,500-pupil school in each format.

For each format it measures, on a fresh database:
  parse-only          ingest.parse_upload of every file of the day
  first import        upload + plan + apply into an empty directory
  no-change re-import the same files again (everything unchanged)
  1% churn            a day where 1% of pupils changed (renames, leavers, starters)
and prints seconds, microseconds per record, the ratio to parse-only (the target
for later work is every run within 2x parse-only), and peak traced memory.

Timing and memory are separate passes: tracemalloc slows the code it watches.
"""

from __future__ import annotations

import dataclasses
import os
import random
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

PHASES = ("parse-only", "first import", "no-change re-import", "1% churn")


@dataclasses.dataclass
class Measure:
    seconds: float = 0.0
    peak_bytes: int = 0
    records: int = 0
    statuses: tuple[str, ...] = ()


def _configure_django(db_path: Path) -> None:
    os.environ["DATABASE_URL"] = os.environ.get(
        "ROLLSYNC_BENCH_DATABASE_URL", f"sqlite:///{db_path}"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
    import django

    django.setup()


def _churned(snapshot: Any, rate: float, seed: int) -> Any:
    """The same school a day later with `rate` of its pupils changed: a third renamed,
    a third left, a third replaced by new starters."""
    from rollsync.simulate.snapshot import ExportPerson

    rng = random.Random(seed)
    pupils = list(snapshot.pupils)
    n = max(3, round(len(pupils) * rate))
    chosen = rng.sample(range(len(pupils)), n)
    third = n // 3
    renamed, leavers, replaced = chosen[:third], set(chosen[third : 2 * third]), chosen[2 * third :]
    for i in renamed:
        pupils[i] = dataclasses.replace(pupils[i], legal_family=pupils[i].legal_family + "-Reid")
    for k, i in enumerate(replaced):
        old: ExportPerson = pupils[i]
        pupils.append(
            dataclasses.replace(
                old, mis_id=f"NEW{k:04d}", person_id=f"new-{k}", legal_given=f"Starter{k}", upn=None
            )
        )
    kept = [p for i, p in enumerate(pupils) if i not in leavers]
    gone = {pupils[i].mis_id for i in leavers}
    return dataclasses.replace(
        snapshot,
        day=snapshot.day + 1,
        pupils=kept,
        links=[x for x in snapshot.links if x.pupil_mis_id not in gone],
        attendance=[],
    )


def _files_for(fmt: str, snapshot: Any, out: Path, day: int) -> list[tuple[bytes, str, str]]:
    from rollsync.simulate import write_school_export

    entries = write_school_export(snapshot, day, fmt, out)
    order = (
        "students",
        "students_future",
        "staff",
        "staff_future",
        "contacts",
        "groups",
        "attendance",
    )
    entries.sort(key=lambda e: order.index(e.report) if e.report in order else -1)
    return [((out / e.path).read_bytes(), fmt, e.report if fmt == "csv" else "") for e in entries]


def _fresh_school(snapshot: Any) -> Any:
    """An empty directory holding just the snapshot's school, accepting every report."""
    from django.core.management import call_command

    from rollsync.directory.services.schools import school_add, school_report_set
    from rollsync.domain.reports import CATALOGUE

    call_command("flush", interactive=False, verbosity=0)
    school = school_add(
        urn=snapshot.urn,
        la_code=snapshot.la_code,
        estab=snapshot.estab,
        name=snapshot.school_name,
        actor="bench",
    )
    for report in CATALOGUE:
        school_report_set(school=school, report=report, accepted=True, actor="bench")
    return school


def _parse(files: list[tuple[bytes, str, str]], school_ref: Any) -> int:
    from rollsync import ingest

    records = 0
    for payload, fmt, report in files:
        batch = ingest.parse_upload(payload, fmt=fmt, school=school_ref, report=report or None)
        records += len(batch.people)
    return records


def _import(files: list[tuple[bytes, str, str]], school: Any, as_of: Any) -> tuple[str, ...]:
    from rollsync.directory.services.sync import sync_run_execute, upload_store

    statuses = []
    for payload, fmt, report in files:
        upload = upload_store(
            school=school, payload=payload, fmt=fmt, report=report, source="bench"
        )
        statuses.append(sync_run_execute(upload=upload, as_of=as_of, actor="bench").status)
    return tuple(statuses)


def _measure(fn: Callable[[], Any], *, trace: bool) -> tuple[float, int, Any]:
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return seconds, peak, result


def run(
    *, pupils: int, formats: list[str], repeat: int, console: Console
) -> dict[str, dict[str, Measure]]:
    from datetime import timedelta

    from django.core.management import call_command

    from rollsync.directory import selectors
    from rollsync.simulate import make_school_truth

    call_command("migrate", interactive=False, verbosity=0)
    console.print(f"building a {pupils}-pupil school ...")
    day1 = make_school_truth(pupils=pupils, seed=11)
    day2 = _churned(day1, 0.01, seed=12)
    results: dict[str, dict[str, Measure]] = {}
    work = Path(tempfile.mkdtemp(prefix="rollsync-bench-"))
    for fmt in formats:
        files1 = _files_for(fmt, day1, work / fmt / "d1", 1)
        files2 = _files_for(fmt, day2, work / fmt / "d2", 2)
        measures = {phase: Measure() for phase in PHASES}
        for trace in (False, True):
            school = _fresh_school(day1)
            ref = selectors.school_ref(school)
            parse_times = []
            for _ in range(repeat if not trace else 1):
                secs, peak, records = _measure(lambda f=files1, r=ref: _parse(f, r), trace=trace)
                parse_times.append(secs)
            phases: list[tuple[str, Callable[[], Any]]] = [
                ("first import", lambda f=files1, s=school: _import(f, s, day1.date)),
                ("no-change re-import", lambda f=files1, s=school: _import(f, s, day1.date)),
                (
                    "1% churn",
                    lambda f=files2, s=school: _import(f, s, day1.date + timedelta(days=1)),
                ),
            ]
            if trace:
                measures["parse-only"].peak_bytes = peak
            else:
                measures["parse-only"].seconds = min(parse_times)
                measures["parse-only"].records = records
            for phase, fn in phases:
                secs, peak, statuses = _measure(fn, trace=trace)
                if trace:
                    measures[phase].peak_bytes = peak
                else:
                    measures[phase].seconds = secs
                    measures[phase].records = records
                    measures[phase].statuses = statuses
        results[fmt] = measures
        console.print(f"{fmt}: done")
    return results


def report(results: dict[str, dict[str, Measure]], console: Console) -> None:
    table = Table(title="rollsync sync benchmark (one school per format)")
    for column in (
        "format",
        "phase",
        "records",
        "seconds",
        "µs/record",
        "x parse-only",
        "peak MiB",
        "runs",
    ):
        table.add_column(
            column, justify="right" if column not in ("format", "phase", "runs") else "left"
        )
    for fmt, measures in results.items():
        base = measures["parse-only"].seconds or 1e-9
        for phase in PHASES:
            m = measures[phase]
            per = m.seconds / m.records * 1e6 if m.records else 0.0
            table.add_row(
                fmt,
                phase,
                str(m.records),
                f"{m.seconds:.3f}",
                f"{per:.0f}",
                f"{m.seconds / base:.1f}",
                f"{m.peak_bytes / 2**20:.1f}",
                ",".join(sorted(set(m.statuses))) or "-",
            )
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=1500)
    parser.add_argument("--formats", default="csv,ctf,oneroster,sds")
    parser.add_argument(
        "--repeat", type=int, default=3, help="parse-only repetitions (best is kept)"
    )
    args = parser.parse_args(argv)
    console = Console(width=140)
    with tempfile.TemporaryDirectory(prefix="rollsync-bench-db-") as tmp:
        _configure_django(Path(tmp) / "bench.sqlite3")
        results = run(
            pupils=args.pupils, formats=args.formats.split(","), repeat=args.repeat, console=console
        )
        report(results, console)
