"""Sync benchmark: one school in each format, against a plain read of its files.

Formats: ctf, oneroster, sds, csv (rollsync CSV, a file per report) and sims (the SIMS
CommandReporter reports the agent uploads, as the fake CommandReporter extracts them).

For each format it measures, on a fresh database:
  plain read          the files read with the csv module (a zip's members; CTF's and
                      SIMS's XML with lxml) and joined on their first column: the floor
  parse-only          ingest.parse_upload of every file of the day
  first import        upload + plan + apply into an empty directory
  no-change re-import the same files again, uploaded anew (everything unchanged): the
                      skip of docs/decisions/0088, no parse and no plan
  re-import planned   those uploads run again (a Force run): parsed and planned in
                      full, what the re-import cost before the skip
  no-change again     the same files uploaded a third time: a school that sends one
                      file per report skips them all only once no other report's run
                      has changed the school since (docs/decisions/0088)
  1% churn            a day where 1% of pupils changed (renames, leavers, starters)
  quiet night after   the churn's files again the next day, nothing changed: a school
                      that sends one file per report skips each file whose plan reads
                      nothing the churn's runs changed (docs/decisions/0102)
and prints seconds, microseconds per record, this process's CPU seconds (steadier
than wall time on a shared machine), the ratio to the plain read and to parse-only,
the queries each phase made, and peak traced memory (tracemalloc) and the
process's peak resident size (getrusage). The issue 13 goals: first import within 5x,
an unchanged re-import and a 1% churn within 2x of the plain read; peak memory under
200 MB for a 5,000-pupil school.

Timing and memory are separate passes: tracemalloc slows the code it watches.
`--database-url` (or ROLLSYNC_BENCH_DATABASE_URL) runs it on PostgreSQL: that
database is flushed.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import gc
import io
import os
import random
import resource
import tempfile
import time
import tracemalloc
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from rich.console import Console
from rich.table import Table

PHASES = (
    "plain read",
    "parse-only",
    "first import",
    "no-change re-import",
    "re-import planned",
    "no-change again",
    "1% churn",
    "quiet night after",
)


@dataclasses.dataclass
class Measure:
    seconds: float = 0.0
    cpu: float = 0.0  # this process's CPU seconds (a database server's are not counted)
    peak_bytes: int = 0
    records: int = 0
    statuses: tuple[str, ...] = ()
    queries: int = 0
    steps: Any = None  # bench.steps.StepTimes, with --steps


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
    from rollsync.domain.upn import make_upn
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
        # A UPN of their own, from a school elsewhere: a CTF names a pupil by UPN, and a
        # starter without one is refused (until 3 December 2026 the CTF churn was held
        # for those refusals, and measured a held run).
        upn = make_upn("938", "4999", 2026, k)
        pupils.append(
            dataclasses.replace(
                old, mis_id=f"NEW{k:04d}", person_id=f"new-{k}", legal_given=f"Starter{k}", upn=upn
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


_REPORT_ORDER = (
    "students",
    "students_future",
    "staff",
    "staff_future",
    "contacts",
    "groups",
    "attendance",
)


def _files_for(fmt: str, snapshot: Any, out: Path, day: int) -> list[tuple[bytes, str, str]]:
    from rollsync.simulate import write_school_export

    if fmt == "sims":
        return _sims_extracts(snapshot)
    entries = write_school_export(snapshot, day, fmt, out)
    order = _REPORT_ORDER
    entries.sort(key=lambda e: order.index(e.report) if e.report in order else -1)
    return [((out / e.path).read_bytes(), fmt, e.report if fmt == "csv" else "") for e in entries]


def _sims_extracts(snapshot: Any) -> list[tuple[bytes, str, str]]:
    """A SIMS school's night: what the fake CommandReporter extracts for each report the
    agent sends, every field taken (one upload a report, as the agent sends them)."""
    from rollsync.directory.agent_reports import DEFINITIONS, definition_with_every_field
    from rollsync.missim.commandreporter import extract

    reports = sorted(DEFINITIONS, key=_REPORT_ORDER.index)
    return [
        (extract(snapshot, definition_with_every_field(report)), "sims-superstar", report)
        for report in reports
    ]


def _fresh_school(snapshot: Any) -> Any:
    """An empty directory holding just the snapshot's school (`school_for`)."""
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    return school_for(snapshot)


def school_for(snapshot: Any) -> Any:
    """The snapshot's school registered, accepting every report."""
    from rollsync.directory.services.schools import school_add
    from rollsync.domain.reports import CATALOGUE

    return school_add(
        urn=snapshot.urn,
        la_code=snapshot.la_code,
        estab=snapshot.estab,
        name=snapshot.school_name,
        accept_reports=tuple(CATALOGUE),
        actor="bench",
    )


def _plain_rows(payload: bytes) -> list[list[list[str]]]:
    """Every table of one file as lists of strings: a zip's CSV members, a CSV, or an
    XML document's elements with their text (CTF)."""
    if payload[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(payload)) as bundle:
            return [
                list(csv.reader(io.TextIOWrapper(bundle.open(name), encoding="utf-8-sig")))
                for name in bundle.namelist()
                if name.lower().endswith(".csv")
            ]
    if payload.lstrip()[:1] == b"<":
        from lxml import etree

        root = etree.fromstring(payload)
        return [[[el.tag, el.text or ""] for el in root.iter()]]
    return [list(csv.reader(io.StringIO(payload.decode("utf-8-sig"))))]


def _plain_read(files: list[tuple[bytes, str, str]]) -> int:
    """The floor a run is measured against: read every file with the csv module and
    join each table to the others on its first column (a OneRoster bundle's users,
    enrollments and demographics by sourcedId). Returns the rows read."""
    rows = 0
    for payload, _, _ in files:
        tables = _plain_rows(payload)
        index: dict[str, list[list[str]]] = {}
        for table in tables:
            for row in table[1:]:
                if row:
                    index.setdefault(row[0], []).append(row)
            rows += max(len(table) - 1, 0)
    return rows


def _parse(files: list[tuple[bytes, str, str]], school_ref: Any) -> int:
    from rollsync import ingest

    records = 0
    for payload, fmt, report in files:
        batch = ingest.parse_upload(payload, fmt=fmt, school=school_ref, report=report or None)
        records += len(batch.people)
    return records


def _import(
    files: list[tuple[Any, str, str]], school: Any, as_of: Any, kept: list[Any] | None = None
) -> tuple[str, ...]:
    """Store and run each file (its bytes, or a file open to read them from); `kept`
    receives the uploads. A run that skipped an unchanged file shows as "skipped"."""
    from rollsync.directory.services.sync import sync_run_execute, upload_store

    statuses = []
    for payload, fmt, report in files:
        upload = upload_store(
            school=school, payload=payload, fmt=fmt, report=report, source="bench"
        )
        if kept is not None:
            kept.append(upload)
        done = sync_run_execute(upload=upload, as_of=as_of, actor="bench")
        statuses.append("skipped" if getattr(done, "same_as_id", None) else done.status)
    return tuple(statuses)


def _run_again(uploads: list[Any], as_of: Any) -> tuple[str, ...]:
    """A Force run of each upload: an upload already run is parsed and planned in full."""
    from rollsync.directory.services.sync import sync_run_execute

    statuses = []
    for upload in uploads:
        done = sync_run_execute(upload=upload, as_of=as_of, actor="bench")
        statuses.append("skipped" if getattr(done, "same_as_id", None) else done.status)
    return tuple(statuses)


def _statistics_taken() -> None:
    """After the first import, on PostgreSQL: the planner's statistics taken (untimed), as
    autovacuum takes them within a minute of a load that changes a tenth of a table. The
    nights after a first import come hours later; without this the phases after it ran
    on statistics of empty tables ("5 rows" for the school's 12,589 places), and a
    churn's queries took 70-80 ms more than they do on any later night."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _measure(fn: Callable[[], Any], *, trace: bool) -> tuple[float, int, Any, int, float]:
    """Seconds, peak traced bytes (with `trace`), the result, the queries made, and
    this process's CPU seconds (steadier than wall time on a shared machine).

    Every phase runs with the cycle collector off, as a sync run does
    (`sync._no_collections`): with it on, the plain read paid more for the collector's
    passes over this process's heap (the simulated school, Django) than for reading
    (65% of its CPU, measured), and the floor every ratio divides by was not the cost
    of reading the files."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    gc.collect()
    gc.disable()
    if trace:
        tracemalloc.start()
    try:
        with CaptureQueriesContext(connection) as queries:
            started, cpu = time.perf_counter(), time.process_time()
            result = fn()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        gc.enable()
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return seconds, peak, result, len(queries.captured_queries), cpu


def run(
    *,
    pupils: int,
    formats: list[str],
    repeat: int,
    console: Console,
    memory: bool = True,
    steps: bool = False,
) -> dict[str, dict[str, Measure]]:
    from django.core.management import call_command

    from rollsync.simulate import make_school_truth

    call_command("migrate", interactive=False, verbosity=0)
    console.print(f"building a {pupils}-pupil school ...")
    day1 = make_school_truth(pupils=pupils, seed=11)
    day2 = _churned(day1, 0.01, seed=12)
    results: dict[str, dict[str, Measure]] = {}
    with tempfile.TemporaryDirectory(prefix="rollsync-bench-") as tmp:
        for fmt in formats:
            results[fmt] = _run_format(
                fmt,
                day1,
                day2,
                Path(tmp),
                repeat=repeat,
                memory=memory,
                console=console,
                steps=steps,
            )
    return results


def _run_format(
    fmt: str,
    day1: Any,
    day2: Any,
    work: Path,
    *,
    repeat: int,
    memory: bool,
    console: Console,
    steps: bool = False,
) -> dict[str, Measure]:
    from datetime import timedelta

    from rollsync.directory import selectors

    files1 = _files_for(fmt, day1, work / fmt / "d1", 1)
    files2 = _files_for(fmt, day2, work / fmt / "d2", 2)
    measures = {phase: Measure() for phase in PHASES}
    for trace in (False, True) if memory else (False,):
        school = _fresh_school(day1)
        ref = selectors.school_ref(school)
        records = 0
        for phase, read in (
            ("plain read", lambda f=files1: _plain_read(f)),
            ("parse-only", lambda f=files1, r=ref: _parse(f, r)),
        ):
            times = []
            for _ in range(repeat if not trace else 1):
                secs, peak, found, _, cpu = _measure(read, trace=trace)
                times.append((secs, cpu))
            if phase == "parse-only":
                records = found
            if trace:
                measures[phase].peak_bytes = peak
            else:
                measures[phase].seconds, measures[phase].cpu = min(times)
        measures["plain read"].records = records  # per person, as every other phase
        measures["parse-only"].records = records
        again: list[Any] = []
        phases: list[tuple[str, Callable[[], Any]]] = [
            ("first import", lambda f=files1, s=school: _import(f, s, day1.date)),
            (
                "no-change re-import",
                lambda f=files1, s=school, k=again: _import(f, s, day1.date, k),
            ),
            ("re-import planned", lambda k=again: _run_again(k, day1.date)),
            ("no-change again", lambda f=files1, s=school: _import(f, s, day1.date)),
            (
                "1% churn",
                lambda f=files2, s=school: _import(f, s, day1.date + timedelta(days=1)),
            ),
            (
                "quiet night after",
                lambda f=files2, s=school: _import(f, s, day1.date + timedelta(days=2)),
            ),
        ]
        for phase, fn in phases:
            if phase == "no-change re-import":
                _statistics_taken()
            with _steps_timed(steps and not trace) as times:
                secs, peak, statuses, queries, cpu = _measure(fn, trace=trace)
            if trace:
                measures[phase].peak_bytes = peak
            else:
                measures[phase].seconds = secs
                measures[phase].cpu = cpu
                measures[phase].records = records
                measures[phase].statuses = statuses
                measures[phase].queries = queries
                measures[phase].steps = times
    console.print(f"{fmt}: done")
    return measures


@contextlib.contextmanager
def _steps_timed(wanted: bool) -> Iterator[Any]:
    """The run's steps timed apart (`bench.steps`) when `wanted`, else None."""
    if not wanted:
        yield None
        return
    from bench.steps import timed_steps

    with timed_steps() as times:
        yield times


def report_steps(results: dict[str, dict[str, Measure]], console: Console) -> None:
    """Per format, the phases that run a sync, step by step: CPU seconds / wall seconds
    (and calls where a step ran more than once)."""
    from bench.steps import STEPS

    phases = [p for p in PHASES if p not in ("plain read", "parse-only")]
    for fmt, measures in results.items():
        if all(measures[p].steps is None for p in phases):
            continue
        table = Table(title=f"{fmt}: where each phase's time goes (cpu s / wall s)")
        table.add_column("step")
        for phase in phases:
            table.add_column(phase, justify="right")

        def cell(cpu: float, wall: float, calls: int = 1) -> str:
            return f"{cpu:.3f} / {wall:.3f}" + (f" ({calls}x)" if calls > 1 else "")

        for step in STEPS:
            row = []
            for phase in phases:
                tally = measures[phase].steps.tallies[step.label]
                row.append(cell(tally.cpu, tally.wall, tally.calls) if tally.calls else "-")
            table.add_row(step.label, *row)
        table.add_row(
            "rest",
            *(
                cell(
                    measures[p].cpu - measures[p].steps.top_cpu(),
                    measures[p].seconds - measures[p].steps.top_wall(),
                )
                for p in phases
            ),
        )
        table.add_row("whole phase", *(cell(measures[p].cpu, measures[p].seconds) for p in phases))
        console.print(table)


def _runs(statuses: tuple[str, ...]) -> str:
    """The runs' outcomes: "applied", or with several files "applied 5, skipped 2"."""
    counts = Counter(str(status) for status in statuses)
    if len(statuses) <= 1:
        return ",".join(counts) or "-"
    return ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))


def report(results: dict[str, dict[str, Measure]], console: Console, *, title: str) -> None:
    table = Table(title=f"rollsync sync benchmark (one school per format, {title})")
    for column in (
        "format",
        "phase",
        "records",
        "seconds",
        "µs/record",
        "cpu s",
        "x plain read",
        "cpu x plain",
        "x parse-only",
        "queries",
        "peak MiB",
        "runs",
    ):
        table.add_column(
            column, justify="right" if column not in ("format", "phase", "runs") else "left"
        )
    for fmt, measures in results.items():
        plain = measures["plain read"].seconds or 1e-9
        plain_cpu = measures["plain read"].cpu or 1e-9
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
                f"{m.cpu:.3f}",
                f"{m.seconds / plain:.1f}",
                f"{m.cpu / plain_cpu:.1f}",  # steadier on a shared machine
                f"{m.seconds / base:.1f}",
                str(m.queries) if m.queries else "-",
                f"{m.peak_bytes / 2**20:.1f}",
                _runs(m.statuses),
            )
    console.print(table)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    console.print(f"process peak resident size: {rss:.0f} MiB")


# Issue 13, goal 1: each phase's CPU within this many times the plain read's, and the
# first import's peak resident size under this many bytes, for a 5,000-pupil school.
GOAL_RATIOS = {"first import": 5.0, "no-change re-import": 2.0, "1% churn": 2.0}
GOAL_PUPILS = 5000
GOAL_PEAK_BYTES = 200 * 10**6


def _size_said(pupils: int) -> str:
    """Said of a school of another size than the goal's."""
    return "" if pupils == GOAL_PUPILS else f"; the goal is for {GOAL_PUPILS:,} pupils"


def goal_verdicts(results: dict[str, dict[str, Measure]], *, pupils: int) -> list[str]:
    """Goal 1 of issue 13, format by format: each measured phase's CPU against the plain
    read's, met or NOT met (a school of another size than the goal's is said to be)."""
    size = _size_said(pupils)
    lines = []
    for fmt, measures in results.items():
        plain = measures["plain read"].cpu or 1e-9
        parts = []
        for phase, goal in GOAL_RATIOS.items():
            ratio = measures[phase].cpu / plain
            verdict = "met" if ratio <= goal else "NOT met"
            parts.append(f"{phase} {ratio:.1f}x (goal {goal:g}x): {verdict}")
        lines.append(
            f"goal 1, {fmt} ({pupils:,} pupils{size}), CPU against the plain read: "
            + "; ".join(parts)
        )
    return lines


def memory_verdict(peaks_mib: list[float], *, pupils: int, fmt: str) -> str:
    """Goal 1's memory: the highest peak resident size of the first imports, in MB."""
    peak = max(peaks_mib) * 2**20
    size = _size_said(pupils)
    verdict = "met" if peak < GOAL_PEAK_BYTES else "NOT met"
    return (
        f"goal 1, {fmt} ({pupils:,} pupils{size}): first import peak resident "
        f"{peak / 10**6:.0f} MB (goal under {GOAL_PEAK_BYTES // 10**6} MB): {verdict}"
    )


def _first_import_child(folder: Path) -> None:
    """In a process of its own: the first import of the files in `folder` into a fresh
    directory, then this process's peak resident size, before and after, as JSON."""
    import json
    import sys

    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    about = json.loads((folder / "school.json").read_text())
    school = _fresh_school(SimpleNamespace(**about))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from datetime import date

    # Each file is streamed in when its turn comes, as `rollsync import` reads it: a run
    # holds its own upload's bytes, not the night's other files (a SIMS school's seven
    # reports are 21 MB of XML) nor a second copy of its own.
    statuses: tuple[str, ...] = ()
    for name, fmt, report in about["files"]:
        with (folder / name).open("rb") as handle:
            statuses += _import([(handle, fmt, report)], school, date.fromisoformat(about["day"]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(json.dumps({"before": before, "peak": peak, "runs": statuses}) + "\n")


def first_import_rss(*, pupils: int, fmt: str, times: int, console: Console) -> list[float]:
    """The peak resident size of a process that only makes the first import of one
    school's day (the issue's memory goal), `times` times, each in a fresh process on a
    fresh database; the simulated school is built here, outside those processes."""
    import json
    import subprocess
    import sys

    from rollsync.simulate import make_school_truth

    day1 = make_school_truth(pupils=pupils, seed=11)
    peaks = []
    with tempfile.TemporaryDirectory(prefix="rollsync-bench-rss-") as tmp:
        folder = Path(tmp)
        files = _files_for(fmt, day1, folder / "export", 1)
        listed = []
        for n, (payload, f, report) in enumerate(files):
            (folder / f"file{n}").write_bytes(payload)
            listed.append((f"file{n}", f, report))
        about = {
            "urn": day1.urn,
            "la_code": day1.la_code,
            "estab": day1.estab,
            "school_name": day1.school_name,
            "day": day1.date.isoformat(),
            "files": listed,
        }
        (folder / "school.json").write_text(json.dumps(about))
        env = dict(os.environ)
        for n in range(times):
            if "ROLLSYNC_BENCH_DATABASE_URL" not in os.environ:
                env["ROLLSYNC_BENCH_DATABASE_URL"] = f"sqlite:///{folder}/rss{n}.sqlite3"
            done = subprocess.run(
                [sys.executable, "-m", "bench", "--first-import-child", str(folder)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            peaks.append(figures["peak"])
            console.print(
                f"first import, {fmt}, {pupils} pupils, process {n + 1}: peak resident "
                f"{figures['peak']:.0f} MiB ({figures['before']:.0f} MiB before the import; "
                f"runs {','.join(sorted(set(figures['runs'])))})"
            )
    return peaks


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=1500)
    parser.add_argument("--formats", default="csv,ctf,oneroster,sds,sims")
    parser.add_argument(
        "--repeat", type=int, default=3, help="parse-only repetitions (best is kept)"
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the tracemalloc pass (timing only)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ROLLSYNC_BENCH_DATABASE_URL", ""),
        help="run on this database (it is flushed); default: a new SQLite file",
    )
    parser.add_argument(
        "--first-import-rss",
        type=int,
        default=0,
        metavar="N",
        help="instead: N processes that each only make the first import of the first "
        "format, and their peak resident size (the issue's 200 MB goal)",
    )
    parser.add_argument(
        "--steps",
        action="store_true",
        help="also time each step of a run (read, snapshot, plan, matcher, apply) apart",
    )
    parser.add_argument("--first-import-child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.database_url:
        os.environ["ROLLSYNC_BENCH_DATABASE_URL"] = args.database_url
    console = Console(width=160)
    if args.first_import_child:
        with tempfile.TemporaryDirectory(prefix="rollsync-bench-db-") as tmp:
            _configure_django(Path(tmp) / "bench.sqlite3")
            _first_import_child(Path(args.first_import_child))
        return
    if args.first_import_rss:
        fmt = args.formats.split(",")[0]
        peaks = first_import_rss(
            pupils=args.pupils, fmt=fmt, times=args.first_import_rss, console=console
        )
        console.print(f"peak resident size, MiB: {', '.join(f'{p:.0f}' for p in peaks)}")
        console.print(memory_verdict(peaks, pupils=args.pupils, fmt=fmt))
        return
    with tempfile.TemporaryDirectory(prefix="rollsync-bench-db-") as tmp:
        _configure_django(Path(tmp) / "bench.sqlite3")
        from django.db import connection

        results = run(
            pupils=args.pupils,
            formats=args.formats.split(","),
            repeat=args.repeat,
            console=console,
            memory=not args.no_memory,
            steps=args.steps,
        )
        report(results, console, title=f"{args.pupils} pupils, {connection.vendor}")
        report_steps(results, console)
        for line in goal_verdicts(results, pupils=args.pupils):
            console.print(line)
