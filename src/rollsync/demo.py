"""The demo: simulate an LA, register its schools, and sync every export day by day."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.services.schools import (
    school_add,
    school_mis_set,
    school_report_set,
    schools_import_gias,
)
from rollsync.directory.services.sync import sync_run_execute, upload_store
from rollsync.domain.mis import can_send
from rollsync.domain.reports import CATALOGUE
from rollsync.simulate import ManifestEntry, SimulationManifest, simulate_region


def demo_run(*, out: Path, schools: int, days: int, seed: int, echo: Callable[[str], None]) -> None:
    console = Console(width=160) if not Console().is_terminal else Console()
    if m.Upload.objects.exists():
        echo("The database already holds uploads: showing it as it is (delete var/ to start over).")
        _print_overview(console)
        return
    manifest = simulate_region(out, schools=schools, seed=seed, days=days)
    echo(f"simulated {manifest.summary()} in {out}")
    gias = schools_import_gias(path=manifest.gias_path, actor="demo")
    echo(f"registered {gias.created} schools from {manifest.gias_path.name}")
    _accept_reports(manifest)
    _sync_days(manifest, console)
    _print_overview(console)
    held = m.SyncRun.objects.filter(status=m.SyncRun.Status.HELD).order_by("pk")
    for run in held:
        if run.waits_for_id is not None:
            echo(f"run {run.pk} for {run.school.urn} waits for run {run.waits_for_id}.")
            continue
        echo(
            f"run {run.pk} for {run.school.urn} is held: {run.holds[0]['message'].rstrip('.')}. "
            f"See `rollsync runs show {run.pk}`, then `rollsync runs approve {run.pk}`."
        )


def _accept_reports(manifest: SimulationManifest) -> None:
    """Each school accepts every report its MIS sends (as a school admin would on set-up)."""
    for info in manifest.schools:
        school = school_add(
            urn=info.urn,
            la_code=info.la_code,
            estab=info.estab,
            name=info.name,
            mis=info.mis,
            actor="demo",
        )
        _accept_sent(manifest, school, from_day=1)


def _accept_sent(manifest: SimulationManifest, school: m.School, *, from_day: int) -> None:
    """Accept the reports the school's files carry from that day on that its MIS can send
    (a bundle may carry more than the MIS sends: those parts are dropped at sync)."""
    sent = {
        report
        for f in manifest.files_for(urn=school.urn)
        if f.day >= from_day
        for report in f.reports
    }
    for report in sorted(sent):
        if can_send(school.mis, report):
            school_report_set(school=school, report=report, accepted=True, actor="demo")


def _follow_mis_change(manifest: SimulationManifest, entry: ManifestEntry) -> m.School:
    """The school as it is on the entry's day: when the simulated school moved to another
    MIS that day, its admin uses Change MIS and accepts what the new MIS sends."""
    school = selectors.school_get(urn=entry.urn)
    mis = manifest.school(entry.urn).mis_on(entry.day)
    if school.mis != mis:
        school_mis_set(school=school, mis=mis, actor="demo")
        _accept_sent(manifest, school, from_day=entry.day)
    return school


# People before the reports that refer to them: a night's contacts, groups and
# attendance name pupils and staff by MIS ID, so those must be known first.
_REPORT_ORDER = {r: i for i, r in enumerate(CATALOGUE)}


def _processing_order(entry: ManifestEntry) -> tuple[int, str, int]:
    return (entry.day, entry.urn, _REPORT_ORDER.get(entry.report, -1))


def _sync_days(manifest: SimulationManifest, console: Console) -> None:
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("syncing", total=len(manifest.files))
        for entry in sorted(manifest.files, key=_processing_order):
            school = _follow_mis_change(manifest, entry)
            path = manifest.out_dir / entry.path
            upload = upload_store(
                school=school,
                payload=path.read_bytes(),
                fmt=entry.format,
                report=entry.report if entry.format == "csv" else "",
                filename=f"day-{entry.day:02d}/{path.name}",
                source="demo",
            )
            run = sync_run_execute(
                upload=upload, as_of=date.fromisoformat(entry.date), actor="demo"
            )
            changed = {k: v for k, v in run.counts.items() if v and k != "unchanged"}
            progress.console.print(
                f"day {entry.day} {entry.urn} {path.name:<16} "
                f"{'waiting' if run.waits_for_id else run.status:<8} "
                + (", ".join(f"{k} {v}" for k, v in changed.items()) or "no changes")
            )
            progress.advance(task)


def _print_overview(console: Console) -> None:
    table = Table(title="Schools after the demo")
    for column in (
        "URN",
        "school",
        "MIS",
        "active",
        "future",
        "unallocated",
        "to match",
        "runs",
        "held",
        "failed",
    ):
        table.add_column(column)
    for school in m.School.objects.filter(uploads__isnull=False).distinct().order_by("urn"):
        statuses = Counter(school.allocations.values_list("status", flat=True))
        runs = Counter(school.runs.values_list("status", flat=True))
        table.add_row(
            school.urn,
            school.name,
            school.mis or "-",
            str(statuses.get("active", 0)),
            str(statuses.get("future", 0)),
            str(statuses.get("unallocated", 0)),
            str(school.match_cases.filter(status="open").count()),
            str(sum(runs.values())),
            str(runs.get("held", 0)),
            str(runs.get("failed", 0)),
        )
    console.print(table)
