"""A region every night (issue 13, point 3; on demand, never in CI):

    ./dev bench region --schools 10,100 [--las M] [--workers 2] [--order arrival|school|interleaved]
        [--database-url URL] [--keep] [--loaded DIR [--sample N]]

For each size in `--schools`: a simulated region (`--las` LAs, default one per 20
schools, each seeded on its own; `--scale` sizes the schools: the default 0.34 gives
~340 accounts a school with staff and contacts, so 3,000 schools ~ 1M accounts) of two days, the second with `--churn` of its people
changed (the simulator's daily rates scaled up). Then, through the real queue and real
`rollsync worker` processes (`--workers`, one cluster process each):

1. first load: every school's day-1 files stored and queued as the web form does, the
   workers started, the queue drained;
2. the yardstick (PostgreSQL): the rows the first load wrote (accounts, allocations,
   groups, memberships, contact links, audit events, runs) copied into empty tables of
   the same shape with COPY, in one transaction rolled back: what bulk inserts alone cost;
3. nightly: every school's day-2 files queued and drained the same way.

Prints, per size: wall time of the queue (first task started to last task finished:
the workers' start-up is left out), runs a second, µs per record (person records read),
queries per run (counted in the workers), failures (failed tasks or runs; must be 0),
held runs, the churn measured, and the night projected to 3,000 schools from the
measured per-school cost. The database (`--database-url`, always named, never taken from
DATABASE_URL; SQLite works for a toy size) is flushed first and, without `--keep`, at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGION_SCHOOLS = 3000
# The simulator's default daily change per pupil on roll (starters, leavers, movers,
# surname and preferred-name changes), which `--churn` scales.
_BASE_DAILY = 0.0006 + 0.0005 + 0.00015 + 0.0001 + 0.0002
_COPIED = (
    "directory_account",
    "directory_allocation",
    "directory_group",
    "directory_groupmembership",
    "directory_contactlink",
    "directory_auditevent",
    "directory_syncrun",
)


def realism(churn: float) -> Any:
    """The simulator's knobs with the daily rates scaled so about `churn` of the people
    change in a night (one school changing MIS is left out: a bench night is a night)."""
    from rollsync.simulate import Realism

    base = Realism()
    k = churn / _BASE_DAILY
    return replace(
        base,
        mis_change=False,
        pupil_starter_rate=base.pupil_starter_rate * k,
        pupil_leaver_rate=base.pupil_leaver_rate * k,
        mover_rate=base.mover_rate * k,
        staff_starter_rate=base.staff_starter_rate * k,
        staff_leaver_rate=base.staff_leaver_rate * k,
        pupil_surname_change_rate=base.pupil_surname_change_rate * k,
        staff_surname_change_rate=base.staff_surname_change_rate * k,
        preferred_change_rate=base.preferred_change_rate * k,
    )


def la_sizes(schools: int, las: int) -> list[int]:
    las = max(1, min(las, schools))
    return [schools // las + (1 if n < schools % las else 0) for n in range(las)]


def _simulate_la(job: tuple[int, int, int, float, float, str, int]) -> dict[str, Any]:
    """One LA of the region (a process of its own): its files and schools. Each LA has
    its own code and its own range of URNs, so both stay unique across the region."""
    from rollsync.domain.reports import CATALOGUE
    from rollsync.simulate import simulate_region

    n, schools, seed, scale, churn, out, width = job
    first = 100000 + n * width
    manifest = simulate_region(
        Path(out) / f"la-{n:03d}",
        schools=schools,
        seed=seed + 101 * n,
        days=2,
        realism=replace(realism(churn), scale=scale, urn_range=(first, first + width)),
        la_code=str(200 + n),
    )
    order = {report: i for i, report in enumerate(CATALOGUE)}
    files = [
        {
            "day": e.day,
            "urn": e.urn,
            "path": str(manifest.out_dir / e.path),
            "format": e.format,
            "report": e.report,
            "date": e.date,
        }
        for e in sorted(manifest.files, key=lambda e: (e.day, e.urn, order.get(e.report, -1)))
    ]
    return {
        "gias": str(manifest.gias_path),
        "schools": [
            {
                "urn": info.urn,
                "la_code": info.la_code,
                "estab": info.estab,
                "name": info.name,
                "mis": info.mis,
                "reports": sorted({r for f in manifest.files_for(urn=info.urn) for r in f.reports}),
            }
            for info in manifest.schools
        ],
        "files": files,
    }


@dataclass
class Phase:
    name: str
    uploads: int = 0
    runs: int = 0
    records: int = 0
    changed: int = 0
    seconds: float = 0.0
    queries: int = 0
    counted: int = 0  # tasks with a finished delivery logged (each task once)
    again: int = 0  # deliveries put back on the queue (waiting, or to be tried again)
    failures: int = 0
    held: int = 0
    schools: int = 0  # the schools whose files were queued, when not the region's all
    problems: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    def us_per_record(self) -> float:
        return self.seconds * 1e6 / max(self.records, 1)


@dataclass
class Size:
    schools: int
    las: int
    phases: list[Phase] = field(default_factory=list)
    accounts: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    copy_seconds: float | None = None
    analyze_seconds: float | None = None
    simulate_seconds: float = 0.0
    queue_seconds: float = 0.0


def _setup_region(region: list[dict[str, Any]]) -> None:
    from rollsync.directory.services.schools import (
        school_add,
        school_attendance_service_set,
        school_report_set,
    )
    from rollsync.domain.mis import can_send

    # No GIAS file is imported: each LA's names a neighbouring LA (its code + 1) and a
    # closed school, with URNs drawn from the whole range, which would collide across
    # the region; the schools are added as the region's operator adds them.
    for la in region:
        for info in la["schools"]:
            school = school_add(
                urn=info["urn"],
                la_code=info["la_code"],
                estab=info["estab"],
                name=info["name"],
                mis=info["mis"],
                actor="bench",
            )
            if any(
                can_send(info["mis"], r, attendance_service=True)
                and not can_send(info["mis"], r, attendance_service=False)
                for r in info["reports"]
            ):
                # the school's files hold a report its MIS sends only for a service that
                # needs it (Arbor's attendance): the region uses one, as the simulator's do
                school_attendance_service_set(school=school, enabled=True, actor="bench")
            for report in info["reports"]:
                if can_send(school.mis, report, attendance_service=school.attendance_service):
                    school_report_set(school=school, report=report, accepted=True, actor="bench")


ORDERS = ("arrival", "school", "interleaved")


def _day_files(region: list[dict[str, Any]], day: int, order: str) -> list[dict[str, Any]]:
    """The files of `day` in the order they are queued:

    - `arrival` (the default): school by school, each school's reports together in
      catalogue order (as its agent sends them), the schools in a shuffled order, the same
      every run (a region's agents run at about the same time, so one LA's schools do not
      arrive one after another);
    - `school`: school by school in the region's own order, one LA's schools after another
      (the worst case for the LA's lock: both workers are mostly in the same LA, and one
      waits for the other);
    - `interleaved`: every school's first file, then every school's second, and so on."""
    files = [job for la in region for job in la["files"] if job["day"] == day]
    if order == "school":
        return files
    by_school: dict[str, list[dict[str, Any]]] = {}
    for job in files:
        by_school.setdefault(job["urn"], []).append(job)
    if order == "arrival":
        schools = list(by_school.values())
        random.Random(f"arrival-{day}").shuffle(schools)
        return [job for school in schools for job in school]
    rounds = itertools.zip_longest(*by_school.values())
    return [job for row in rounds for job in row if job is not None]


def sampled(jobs: list[dict[str, Any]], sample: int) -> list[dict[str, Any]]:
    """The files of the first `sample` schools in the queue's order, in that order (all
    of them when `sample` is 0)."""
    if not sample:
        return jobs
    first = set(list(dict.fromkeys(job["urn"] for job in jobs))[:sample])
    return [job for job in jobs if job["urn"] in first]


def store_file(job: dict[str, Any]) -> Any:
    """One simulated file stored for its school as the web form stores it."""
    from rollsync.directory import selectors
    from rollsync.directory.services.uploads import upload_store

    return upload_store(
        school=selectors.school_get(urn=job["urn"]),
        payload=Path(job["path"]).read_bytes(),
        fmt=job["format"],
        report=job["report"] if job["format"] == "csv" else "",
        filename=Path(job["path"]).name,
        source="web",
    )


def _queue_day(
    region: list[dict[str, Any]], day: int, order: str = "arrival", sample: int = 0
) -> list[str]:
    """Store and queue every school's files of `day`, as the web form does (with `sample`,
    only the files of the first `sample` schools in that order)."""
    from rollsync.directory.services.uploads import upload_queue

    schools = {info["urn"]: info for la in region for info in la["schools"]}
    tasks = []
    for job in sampled(_day_files(region, day, order), sample):
        if not schools[job["urn"]]["reports"]:
            continue
        upload = store_file(job)
        tasks.append(
            upload_queue(upload=upload, actor="bench", as_of=date.fromisoformat(job["date"]))
        )
    return tasks


@contextlib.contextmanager
def _workers(count: int, *, url: str, home: Path, log: Path) -> Iterator[list[Any]]:
    """`count` worker processes (`bench.region_worker`, one cluster process each), stopped
    (SIGTERM, as a service manager does) at the end."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ROLLSYNC_HOME": str(home),
        "ROLLSYNC_WORKERS": "1",
        "ROLLSYNC_SCHEDULER_SECONDS": "3600",
        "ROLLSYNC_BENCH_QUERY_LOG": str(log),
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    procs: list[Any] = []
    try:
        with (home / "workers.log").open("ab") as out:
            for _ in range(count):
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bench.region_worker"],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        cwd=ROOT,
                    )
                )
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _drain(tasks: list[str], procs: list[Any], home: Path, log: Path) -> None:
    """Wait until every task has ended, and its worker has logged its queries (just
    after the task's own transaction; a few seconds at most)."""
    from django.db import close_old_connections

    from rollsync.directory import models as m

    ended = (m.QueuedTask.Status.SUCCEEDED, m.QueuedTask.Status.FAILED)
    # The phase's tasks are the only ones the bench queues: counting the unfinished
    # tasks needs no list of thousands of ids each time (that cost the bench a tenth of
    # a core at 3,000 schools, beside the workers it measures); checked once at the end.
    while True:
        close_old_connections()
        if not m.QueuedTask.objects.exclude(status__in=ended).exists():
            break
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"a worker ended early (see {home / 'workers.log'})")
        time.sleep(1.0)
    left = m.QueuedTask.objects.filter(pk__in=tasks).exclude(status__in=ended).count()
    assert not left, f"{left} of the phase's tasks never ended"
    deadline = time.monotonic() + 30
    wanted = set(tasks)
    while time.monotonic() < deadline:
        if wanted <= set(_logged(log)["done"]):
            return
        time.sleep(0.1)


def _logged(log: Path) -> dict[str, dict[str, list[int]]]:
    """The workers' query log: for each outcome (done, again), each task's deliveries'
    query counts."""
    out: dict[str, dict[str, list[int]]] = {"done": {}, "again": {}}
    if not log.exists():
        return out
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[2] not in out:
            continue  # a line being written
        out[parts[2]].setdefault(parts[0], []).append(int(parts[1]))
    return out


def _measure(name: str, tasks: list[str], log: Path) -> Phase:
    from django.db.models import Max, Min

    from rollsync.directory import models as m
    from rollsync.domain.actions import COUNT_FOR_KIND

    person_counts = sorted(set(COUNT_FOR_KIND.values()))
    phase = Phase(name, uploads=len(tasks))
    rows = m.QueuedTask.objects.filter(pk__in=tasks)
    span = rows.aggregate(start=Min("started_at"), end=Max("finished_at"))
    if span["start"] and span["end"]:
        phase.seconds = (span["end"] - span["start"]).total_seconds()
    for task_id, error in rows.filter(status=m.QueuedTask.Status.FAILED).values_list("pk", "error"):
        phase.failures += 1
        phase.problems.append(f"task {task_id} failed: {error}")
    upload_ids = list(rows.values_list("upload_id", flat=True))
    for run_id, status, counts, detail, errors in m.SyncRun.objects.filter(
        upload_id__in=upload_ids
    ).values_list("pk", "status", "counts", "detail", "errors"):
        phase.runs += 1
        phase.statuses[status] += 1
        if status == m.SyncRun.Status.FAILED:
            phase.failures += 1
            phase.problems.append(f"run {run_id} failed: {detail} {json.dumps(errors)[:500]}")
        phase.held += status == m.SyncRun.Status.HELD
        read = sum(int(counts.get(k, 0) or 0) for k in person_counts)
        phase.records += read
        phase.changed += read - int(counts.get("unchanged", 0) or 0)
    phase.counted, phase.queries, phase.again = _count_logged(tasks, _logged(log))
    if log.exists():
        log.unlink()
    return phase


def _count_logged(
    tasks: list[str], logged: dict[str, dict[str, list[int]]]
) -> tuple[int, int, int]:
    """Each task once: (tasks done, their queries, deliveries put back). A task's queries
    are its finished delivery's plus those of its deliveries put back (waiting for an
    earlier upload, or tried again): all part of what the task cost."""
    wanted = set(tasks)
    done = [task for task in logged["done"] if task in wanted]
    queries = sum(sum(logged["done"][t]) + sum(logged["again"].get(t, [])) for t in done)
    again = sum(len(q) for task, q in logged["again"].items() if task in wanted)
    return len(done), queries, again


def _copy_yardstick(url: str) -> tuple[float, dict[str, int]]:
    """Seconds to COPY the stored rows of the tables a first load writes into empty
    tables of the same shape (columns, defaults, indexes, unique constraints), in one
    transaction that is rolled back; and the rows of each table."""
    import psycopg

    dumps: dict[str, bytes] = {}
    rows: dict[str, int] = {}
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
        for table in _COPIED:
            buf = io.BytesIO()
            with conn.cursor().copy(f"COPY {table} TO STDOUT (FORMAT binary)") as copy:
                for chunk in copy:
                    buf.write(chunk)
            dumps[table] = buf.getvalue()
            rows[table] = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
        conn.rollback()
        for table in _COPIED:
            conn.execute(f"CREATE TEMP TABLE y_{table} (LIKE {table} INCLUDING ALL)")
        started = time.perf_counter()
        for table in _COPIED:
            with conn.cursor().copy(f"COPY y_{table} FROM STDIN (FORMAT binary)") as copy:
                data = dumps[table]
                for at in range(0, len(data), 1 << 20):
                    copy.write(data[at : at + (1 << 20)])
        conn.execute("SELECT 1")
        seconds = time.perf_counter() - started
        conn.rollback()
    return seconds, rows


def run_size(
    *,
    schools: int,
    las: int,
    workers: int,
    scale: float,
    churn: float,
    seed: int,
    url: str,
    home: Path,
    say: Any,
    order: str = "arrival",
    loaded: bool = False,
    sample: int = 0,
) -> Size:
    """One region size. With `loaded` (PostgreSQL), the database as the first load left it
    is kept as a template database beside `home`'s simulated files, and a later run with
    the same figures starts from them: only the night is run (a 3,000-school first load
    takes half an hour; cloning it, a minute)."""
    from django.core.management import call_command

    size = Size(schools=schools, las=las)
    key = {"schools": schools, "las": las, "scale": scale, "churn": churn, "seed": seed,
           "order": order}  # fmt: skip
    template = _template_name(url, key) if loaded else ""
    marker = home / "loaded.json"
    reuse = template and marker.exists() and json.loads(marker.read_text()) == key
    if reuse and _database_exists(url, template):
        from rollsync.directory import models as m

        started = time.perf_counter()
        _clone_database(url, source=template, target=_database_name(url))
        # The code measured may have migrations the kept load predates.
        call_command("migrate", interactive=False, verbosity=0)
        region = json.loads((home / "region.json").read_text())
        size.accounts = m.Account.objects.count()
        say(
            f"{schools} schools: the first load taken from {template}"
            f" in {time.perf_counter() - started:.0f}s ({size.accounts:,} accounts)"
        )
        _night(
            size, region, order=order, workers=workers, url=url, home=home, say=say, sample=sample
        )
        return size
    call_command("flush", interactive=False, verbosity=0)
    sim = home / f"sim-{schools}"
    started = time.perf_counter()
    counts = la_sizes(schools, las)
    width = max(counts) * 2
    if 100000 + width * len(counts) > 1000000:
        raise SystemExit("too many schools for six-digit URNs")
    if len(counts) > 799:
        raise SystemExit("at most 799 LAs (three-digit codes from 200)")
    jobs = [(n, count, seed, scale, churn, str(sim), width) for n, count in enumerate(counts)]
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
        region = list(pool.map(_simulate_la, jobs))
    size.simulate_seconds = time.perf_counter() - started
    urns = [info["urn"] for la in region for info in la["schools"]]
    if len(set(urns)) != len(urns):
        raise SystemExit("the simulated LAs share a URN")
    say(f"{schools} schools: simulated {len(region)} LA(s) in {size.simulate_seconds:.0f}s")
    _setup_region(region)
    log = home / "queries.log"
    tasks = _queue_day(region, 1, order)
    with _workers(workers, url=url, home=home, log=log) as procs:
        say(f"{schools} schools: first load: {len(tasks)} uploads queued, draining")
        _phase_profiles(1)
        _drain(tasks, procs, home, log)
        size.phases.append(_measure("first load", tasks, log))
        _after_phase(size, 1, url, say)
    if template:
        from django.db import connection

        connection.close()
        _clone_database(url, source=_database_name(url), target=template)
        (home / "region.json").write_text(json.dumps(region))
        marker.write_text(json.dumps(key))
        say(f"{schools} schools: the first load kept as {template}")
    _night(size, region, order=order, workers=workers, url=url, home=home, say=say)
    return size


def _night(
    size: Size,
    region: list[dict[str, Any]],
    *,
    order: str,
    workers: int,
    url: str,
    home: Path,
    say: Any,
    sample: int = 0,
) -> None:
    """Day 2: queued in one transaction (the workers see all of it at once), drained.
    With `sample`, only the first `sample` schools' files (a quick look at a big region)."""
    from django.db import transaction

    log = home / "queries.log"
    if log.exists():
        log.unlink()
    started = time.perf_counter()
    with transaction.atomic():
        tasks = _queue_day(region, 2, order, sample)
    size.queue_seconds += time.perf_counter() - started
    with _workers(workers, url=url, home=home, log=log) as procs:
        say(f"{size.schools} schools: nightly: {len(tasks)} uploads queued, draining")
        _phase_profiles(2)
        _drain(tasks, procs, home, log)
        size.phases.append(_measure("nightly", tasks, log))
        size.phases[-1].schools = min(sample, size.schools) if sample else 0
        _after_phase(size, 2, url, say)


def _phase_profiles(day: int) -> None:
    # each phase's own profiles and statement timings (bench/region_worker.py)
    for variable in ("ROLLSYNC_BENCH_PROFILE", "ROLLSYNC_BENCH_STATEMENTS"):
        if os.environ.get(variable):
            Path(os.environ[variable], "phase").write_text(f"day{day}")


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def _template_name(url: str, key: dict[str, Any]) -> str:
    """The kept first load's database: named by all its figures, so a load of other
    figures (another LA count, say) never replaces it, nor is taken for it."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    return f"{_database_name(url)}_loaded_{key['schools']}_{digest}"


def _maintenance(url: str) -> Any:
    import psycopg

    base = url.replace("postgres://", "postgresql://", 1).rsplit("/", 1)[0]
    return psycopg.connect(f"{base}/postgres", autocommit=True)


def _database_exists(url: str, name: str) -> bool:
    with _maintenance(url) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return row is not None


def _clone_database(url: str, *, source: str, target: str) -> None:
    """`target` dropped (its connections ended) and made again as a copy of `source`."""
    from django.db import connection

    connection.close()
    with _maintenance(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')


def _after_phase(size: Size, day: int, url: str, say: Any) -> None:
    from django.db import connection

    from rollsync.directory import models as m

    phase = size.phases[-1]
    say(
        f"{size.schools} schools: {phase.name}: {phase.seconds:.1f}s, {phase.records:,} records,"
        f" {phase.failures} failures"
    )
    say(
        f"{size.schools} schools: {phase.name}: {phase.counted} of {phase.uploads} tasks done"
        f" (queries counted once each), {phase.again} deliveries put back (waiting or retried)"
    )
    for problem in phase.problems:
        say(problem)
    if day == 1:
        size.accounts = m.Account.objects.count()
        if connection.vendor == "postgresql":
            # As autovacuum would after a load this size (this server may run with it
            # off): without statistics the night's queries are planned for empty tables.
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            size.analyze_seconds = time.perf_counter() - started
            say(
                f"{size.schools} schools: ANALYZE after the first load: {size.analyze_seconds:.1f}s"
            )
            size.copy_seconds, size.rows = _copy_yardstick(url)


def report(sizes: list[Size], *, workers: int, vendor: str) -> str:
    from rich.console import Console
    from rich.table import Table

    out = io.StringIO()
    console = Console(file=out, width=170, force_terminal=False)
    table = Table(
        title=f"A region every night ({vendor}, {workers} worker processes, {os.cpu_count()} cores)"
    )
    for column in ("schools", "LAs", "accounts", "phase", "uploads", "runs", "records",
                   "churn", "seconds", "runs/s", "µs / record", "queries / run", "done / again",
                   "failures", "held", "3,000 schools"):  # fmt: skip
        table.add_column(column, justify="right")
    for size in sizes:
        for phase in size.phases:
            projected = phase.seconds * REGION_SCHOOLS / (phase.schools or size.schools)
            table.add_row(
                f"{size.schools:,}",
                str(size.las),
                f"{size.accounts:,}",
                f"{phase.name} ({phase.schools:,} schools)" if phase.schools else phase.name,
                f"{phase.uploads:,}",
                f"{phase.runs:,}",
                f"{phase.records:,}",
                f"{phase.changed / max(phase.records, 1):.2%}",
                f"{phase.seconds:.1f}",
                f"{phase.runs / max(phase.seconds, 1e-9):.2f}",
                f"{phase.us_per_record():,.0f}",
                f"{phase.queries / phase.counted:.1f}" if phase.counted else "not counted",
                f"{phase.counted:,} / {phase.again:,}",
                str(phase.failures),
                str(phase.held),
                f"{projected / 60:.1f} min",
            )
    console.print(table)
    for size in sizes:
        if size.copy_seconds is None:
            continue
        rows = sum(size.rows.values())
        first = size.phases[0]
        if first.name != "first load":
            continue
        tables = ", ".join(f"{t.removeprefix('directory_')} {n:,}" for t, n in size.rows.items())
        console.print(
            f"{size.schools:,} schools: COPY of the first load's {rows:,} rows"
            f" ({tables})"
            f" {size.copy_seconds:.2f}s, {size.copy_seconds * 1e6 / max(size.accounts, 1):.0f} µs"
            f" per account; the first load through the queue took {first.seconds:.1f}s,"
            f" {first.seconds / max(size.copy_seconds, 1e-9):.1f}x COPY"
        )
    for line in goal_verdicts(sizes):
        console.print(line)
    return out.getvalue()


# Issue 13, goal 3: the night of 3,000 schools within this many seconds, and the first
# load "COPY-class": taken here as within this many times a COPY of the rows it wrote.
GOAL_NIGHT_SECONDS = 600
GOAL_COPY_RATIO = 2.0


def goal_verdicts(sizes: list[Size]) -> list[str]:
    """Goal 3 of issue 13, size by size: the nightly run projected to (or, at 3,000
    schools, measured for) the region, and the first load against COPY; met or NOT met."""
    lines = []
    for size in sizes:
        for phase in size.phases:
            if phase.name == "nightly":
                schools = phase.schools or size.schools
                night = phase.seconds * REGION_SCHOOLS / schools
                how = "measured" if schools == REGION_SCHOOLS else f"projected from {schools:,}"
                verdict = "met" if night <= GOAL_NIGHT_SECONDS else "NOT met"
                lines.append(
                    f"goal 3, {size.schools:,} schools: the night of {REGION_SCHOOLS:,} schools"
                    f" {night / 60:.1f} min ({how}; goal {GOAL_NIGHT_SECONDS // 60} min):"
                    f" {verdict}"
                )
            elif phase.name == "first load" and size.copy_seconds:
                ratio = phase.seconds / size.copy_seconds
                verdict = "met" if ratio <= GOAL_COPY_RATIO else "NOT met"
                lines.append(
                    f"goal 3, {size.schools:,} schools: first load {ratio:.1f}x COPY"
                    f" (goal COPY-class, counted as within {GOAL_COPY_RATIO:g}x): {verdict}"
                )
    return lines


def _home(loaded: str, schools: int, tmp: str) -> Path:
    if not loaded:
        return Path(tmp)
    home = Path(loaded).resolve() / f"region-{schools}"
    home.mkdir(parents=True, exist_ok=True)
    return home


def main(argv: list[str]) -> list[Size]:
    parser = argparse.ArgumentParser(prog="./dev bench region", description=__doc__.splitlines()[0])
    parser.add_argument("--schools", default="10", help="region sizes, comma-separated")
    parser.add_argument("--las", type=int, default=0, help="LAs (default: one per 20 schools)")
    parser.add_argument("--workers", type=int, default=2, help="`rollsync worker` processes")
    parser.add_argument(
        "--scale", type=float, default=0.34, help="school size (0.34: ~340 accounts a school)"
    )
    parser.add_argument("--churn", type=float, default=0.01, help="share changed in a night")
    parser.add_argument("--seed", type=int, default=13)
    # Never DATABASE_URL by default: the bench flushes its database, and an operator's
    # shell may name the real one.
    parser.add_argument("--database-url", default="", help="a database to flush and use")
    parser.add_argument("--keep", action="store_true", help="leave the last region loaded")
    parser.add_argument(
        "--order",
        choices=ORDERS,
        default="arrival",
        help="schools in a shuffled order, each school's files together (arrival); or one LA's"
        " schools after another (school); or every school's first file, then second...",
    )
    parser.add_argument(
        "--loaded",
        default="",
        metavar="DIR",
        help="PostgreSQL: keep each size's simulated files in DIR and its first load as a"
        " template database; a later run with the same figures runs only the night",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=0,
        metavar="N",
        help="with --loaded, once the first load is kept: run the night of only the first N"
        " schools in the queue's order (a quick look at a big region; not the goal's figure)",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    url = args.database_url
    if not url:
        sys.exit("name a database: --database-url postgres://… (it is flushed)")
    if args.sample and not args.loaded:
        sys.exit("--sample runs a night from a kept first load: name --loaded DIR")
    if args.loaded and not url.startswith(("postgres://", "postgresql://")):
        sys.exit("--loaded keeps a template database: PostgreSQL only")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
    import django

    django.setup()
    import logging

    from django.core.management import call_command
    from django.db import connection

    logging.getLogger("django-q").setLevel(logging.WARNING)  # not a line per task queued
    call_command("migrate", interactive=False, verbosity=0)

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    sizes: list[Size] = []
    with tempfile.TemporaryDirectory(prefix="rollsync-region-") as tmp:
        try:
            for n in (int(x) for x in args.schools.split(",") if x):
                sizes.append(
                    run_size(
                        schools=n,
                        las=args.las or max(1, round(n / 20)),
                        workers=args.workers,
                        scale=args.scale,
                        churn=args.churn,
                        seed=args.seed,
                        url=url,
                        home=_home(args.loaded, n, tmp),
                        say=say,
                        order=args.order,
                        loaded=bool(args.loaded),
                        sample=args.sample,
                    )
                )
        finally:
            if not args.keep:
                call_command("flush", interactive=False, verbosity=0)
    print(report(sizes, workers=args.workers, vendor=connection.vendor))
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "schools": s.schools,
                        "las": s.las,
                        "accounts": s.accounts,
                        "copy_seconds": s.copy_seconds,
                        "analyze_seconds": s.analyze_seconds,
                        "rows": s.rows,
                        "phases": [
                            {
                                "name": p.name,
                                "uploads": p.uploads,
                                "runs": p.runs,
                                "records": p.records,
                                "changed": p.changed,
                                "seconds": p.seconds,
                                "queries": p.queries,
                                "counted": p.counted,
                                "again": p.again,
                                "failures": p.failures,
                                "held": p.held,
                                "statuses": dict(p.statuses),
                                "problems": p.problems,
                            }
                            for p in s.phases
                        ],
                    }
                    for s in sizes
                ]
            )
        )
    return sizes


if __name__ == "__main__":
    main(sys.argv[1:])
