"""The demo: simulate an LA, register its schools, and sync it day by day: one school per
MIS connected as the help pages describe (pulled from the MIS simulators, pushed by the
Bromcom sender, uploaded by the rollsync agent from a fake SIMS), the others by their
exported files."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from rollsync import demo_agent
from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.services.schools import (
    school_add,
    school_attendance_service_set,
    school_mis_set,
    school_report_set,
    schools_import_gias,
)
from rollsync.directory.services.sync import sync_run_execute, upload_store
from rollsync.domain.mis import can_send
from rollsync.domain.reports import CATALOGUE
from rollsync.simulate import ManifestEntry, Realism, SimulationManifest, simulate_region

# One demo school per MIS of the help pages, and one through Wonde: the first schools of
# the LA are connected in this order (as many as there are schools), the rest send files.
DEMO_CONNECTORS = (
    "isams",
    "arbor",
    "scholarpack",
    "bromcom",
    "integris",
    "pupil_asset",
    "wonde",
    "sims",
)
# The simulators they are fed through (Integris and Pupil Asset go through Wonde's;
# Bromcom pushes to rollsync: its sender simulator runs each evening, no server; the SIMS
# school's agent runs each evening against a fake SIMS, no server either).
SIMULATORS = ("isams", "arbor", "wonde", "scholarpack")
SIMULATOR_OF = {"integris": "wonde", "pupil_asset": "wonde", "bromcom": "", "sims": ""}


def demo_run(
    *,
    out: Path,
    schools: int,
    days: int,
    seed: int,
    echo: Callable[[str], None],
    sim_port: int = 0,
    scale: float | None = None,
    mis_change: bool = True,
    ahead: int = 0,
) -> list[Any]:
    """Returns the simulators it started (left running, so Force run works while the web
    app is served; `sim_port`: the first of three fixed ports, 0 for any free ones).

    `scale` shrinks every school (`Realism.scale`); `mis_change=False` keeps every school
    on its MIS (the simulated change of MIS may land on a connected school, always with
    one school: its simulator then serves the new MIS's IDs and its runs are held as a
    change of MIS); `ahead` simulates that many more days without syncing them: the MIS
    simulators then serve the last, so a Force run (`rollsync mis run`) brings in a
    further day's changes, and the schools that send files have those days' exports."""
    console = Console(width=160) if not Console().is_terminal else Console()
    if m.Upload.objects.exists():
        echo("The database already holds uploads: showing it as it is (delete var/ to start over).")
        sims = _start_simulators(out, sim_port, echo) if (out / "la.json").exists() else []
        if sims:
            _point_connections_at(sims)
        _print_overview(console)
        return sims
    manifest = simulate_region(
        out,
        schools=schools,
        seed=seed,
        days=days + ahead,
        mis_data=True,
        scale=scale,
        realism=Realism(mis_change=mis_change),
    )
    echo(f"simulated {manifest.summary()} in {out}")
    gias = schools_import_gias(path=manifest.gias_path, actor="demo")
    echo(f"registered {gias.created} schools from {manifest.gias_path.name}")
    _accept_reports(manifest)
    sims = _start_simulators(out, sim_port, echo)
    for sim in sims:  # the schools connect on the first day, then live through the rest
        sim.data.day = 1
    connected = _connect(manifest, sims, echo)
    _sync_days(manifest, console, connected, sims, days=days)
    for sim in sims:  # the days held back are the MIS's news: a Force run brings them in
        sim.data.day = None if ahead else days
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


def _start_simulators(out: Path, first_port: int, echo: Callable[[str], None]) -> list[Any]:
    """The iSAMS, Arbor and Wonde simulators, serving the simulated LA, in this process."""
    from rollsync.missim import SimData, simulator_class

    sims = []
    for n, vendor in enumerate(SIMULATORS):
        port = first_port + n if first_port else 0
        sim = simulator_class(vendor)(SimData.from_dir(out), port=port).start()
        sims.append(sim)
        echo(f"{vendor} simulator on {sim.url}")
    # Arbor's and ScholarPack's approval pages are the simulators' (the web app's links),
    # and ScholarPack's OAuth client is the region's, from the environment.
    os.environ["ROLLSYNC_ARBOR_APPROVAL_URL"] = _sim_for("arbor", sims).url
    os.environ["ROLLSYNC_SCHOLARPACK_URL"] = _sim_for("scholarpack", sims).url
    os.environ.setdefault("ROLLSYNC_SCHOLARPACK_CLIENT_ID", "demo-client")
    os.environ.setdefault("ROLLSYNC_SCHOLARPACK_CLIENT_SECRET", "demo-secret")
    return sims


def _sim_for(vendor: str, sims: list[Any]) -> Any:
    name = SIMULATOR_OF.get(vendor, vendor)
    return sims[SIMULATORS.index(name)] if name else None


def _connect(
    manifest: SimulationManifest, sims: list[Any], echo: Callable[[str], None]
) -> dict[str, tuple[str, Any]]:
    """Connect the first schools to the simulators, as a school admin would: connect the
    MIS (credentials checked at once), then accept every report it sends."""
    from rollsync.connectors import connector_for
    from rollsync.directory.services.connections import connection_connect
    from rollsync.missim import demo_settings

    connected: dict[str, tuple[str, Any]] = {}
    for info, vendor in zip(manifest.schools, DEMO_CONNECTORS, strict=False):
        sim = _sim_for(vendor, sims)
        school = selectors.school_get(urn=info.urn)
        if vendor == "scholarpack":
            _approve_scholarpack(school)
        elif vendor == "bromcom":
            _issue_push_credentials(school)
        elif vendor == "sims":
            if not demo_agent.available():
                echo(f"{info.urn} {info.name}: {demo_agent.MISSING}; it sends files instead")
                continue
            demo_agent.install(manifest.out_dir, school)
        else:
            settings, secrets = demo_settings(vendor, sim, info.urn)
            connection_connect(
                school=school, mis=vendor, settings=settings, secrets=secrets, actor="demo"
            )
        mis = connector_for(vendor).mis
        # the demo school uses a service that needs Attendance (Arbor greys it out otherwise)
        school_attendance_service_set(school=school, enabled=True, actor="demo")
        for report in CATALOGUE:
            if can_send(mis, report):
                school_report_set(school=school, report=report, accepted=True, actor="demo")
        connected[info.urn] = (vendor, sim)
        through = (
            f"the {sim.vendor} simulator"
            if sim
            else "the rollsync agent and a fake SIMS"
            if vendor == "sims"
            else "pushes from the Bromcom sender simulator"
        )
        echo(f"{info.urn} {info.name}: {mis}, connected through {through}")
    return connected


def _approve_scholarpack(school: m.School) -> None:
    """As a school admin would: the approval link, ScholarPack's form approved by a user
    with the admin roles, and back to rollsync with the one-time code."""
    from urllib.parse import parse_qs, urlsplit

    from rollsync.directory.services.connections import (
        connection_approval_begin,
        connection_approval_complete,
    )
    from rollsync.missim.scholarpack import approve_by_form

    link = connection_approval_begin(
        school=school, mis="scholarpack", actor="demo", return_url="http://127.0.0.1/demo-return"
    )
    back = parse_qs(urlsplit(approve_by_form(link, school.urn)).query)
    connection_approval_complete(state=back["state"][0], code=back["code"][0], actor="demo")


_PUSH_CREDENTIALS: dict[str, Any] = {}


def _issue_push_credentials(school: m.School) -> None:
    """Bromcom: rollsync issues the licence key, supplier ID and password (shown once);
    the demo keeps them for its sender, as the school enters them in Bromcom."""
    from rollsync.directory.services.push import push_credentials_issue
    from rollsync.missim.bromcom_push import PushCredentials

    issued = push_credentials_issue(school=school, actor="demo")
    _PUSH_CREDENTIALS[school.urn] = PushCredentials(
        issued.licence_key, issued.supplier_id, issued.password
    )


def _push_bromcom(out: Path, urn: str, day: int) -> list[Any]:
    """Bromcom's evening: the sender simulator pushes the school's reports to rollsync's
    push endpoint (the web app, called in this process over WSGI), then the worker runs."""
    import httpx
    from django.core.wsgi import get_wsgi_application

    from rollsync.directory.tasks import run_queued
    from rollsync.missim import SimData
    from rollsync.missim.bromcom_push import push_school

    data = SimData.from_dir(out, day=day)
    snapshot = data.school(urn)
    assert snapshot is not None
    client = httpx.Client(transport=httpx.WSGITransport(app=get_wsgi_application()))
    with client:
        results = push_school(snapshot, "http://127.0.0.1", _PUSH_CREDENTIALS[urn], client=client)
    run_queued()
    return results


def _point_connections_at(sims: list[Any]) -> None:
    """A demo served again: its simulators listen on new ports; move the connections."""
    from rollsync.directory.services.connections import connection_connect
    from rollsync.missim import demo_settings

    for conn in m.MisConnection.objects.select_related("school"):
        # ScholarPack's address comes from the environment; Bromcom and the agent push
        if conn.connector not in DEMO_CONNECTORS or conn.connector in (
            "scholarpack",
            "bromcom",
            "sims",
        ):
            continue
        sim = _sim_for(conn.connector, sims)
        settings, secrets = demo_settings(conn.connector, sim, conn.school.urn)
        connection_connect(
            school=conn.school, mis=conn.connector, settings=settings, secrets=secrets, actor="demo"
        )


def _sync_days(
    manifest: SimulationManifest,
    console: Console,
    connected: dict[str, tuple[str, Any]],
    sims: list[Any],
    *,
    days: int,
) -> None:
    from rollsync.directory.services.connections import connection_pull

    files = [e for e in manifest.files if e.urn not in connected and e.day <= days]
    agent_server = demo_agent.Server() if any(v == "sims" for v, _ in connected.values()) else None
    with Progress(console=console, transient=True) as progress, agent_server or nullcontext():
        task = progress.add_task("syncing", total=len(files) + len(connected) * days)
        for day, when in enumerate(manifest.dates[:days], start=1):
            for sim in sims:
                sim.data.day = day
            for urn, (vendor, _) in connected.items():
                school = selectors.school_get(urn=urn)
                if vendor == "sims":
                    assert agent_server is not None
                    before = m.SyncRun.objects.filter(school=school).count()
                    words = demo_agent.evening(manifest.out_dir, school, day, agent_server.url)
                    for run in m.SyncRun.objects.filter(school=school).order_by("pk")[before:]:
                        progress.console.print(
                            f"day {day} {urn} agent   {run.upload.report:<12} {run.status}"
                        )
                    if words:
                        progress.console.print(f"day {day} {urn} agent: {words}")
                    progress.advance(task)
                    continue
                if vendor == "bromcom":
                    before = m.SyncRun.objects.filter(school=school).count()
                    pushed = _push_bromcom(manifest.out_dir, urn, day)
                    refused = [p for p in pushed if p.status != 202]
                    for run in m.SyncRun.objects.filter(school=school).order_by("pk")[before:]:
                        progress.console.print(
                            f"day {day} {urn} pushed {run.upload.report:<12} {run.status}"
                        )
                    for p in refused:
                        progress.console.print(f"day {day} {urn} push refused: {p}")
                    progress.advance(task)
                    continue
                outcome = connection_pull(
                    school=school, actor="demo", as_of=when, trigger="schedule"
                )
                for run in outcome.runs:
                    changed = {k: v for k, v in run.counts.items() if v and k != "unchanged"}
                    progress.console.print(
                        f"day {day} {urn} pulled {run.upload.report:<12} "
                        f"{'waiting' if run.waits_for_id else run.status:<8} "
                        + (
                            ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in changed.items())
                            or "no changes"
                        )
                    )
                if outcome.status == "failed":
                    progress.console.print(f"day {day} {urn} pull failed: {outcome.error}")
                progress.advance(task)
            for entry in sorted((e for e in files if e.day == day), key=_processing_order):
                _sync_file(manifest, entry, progress)
                progress.advance(task)


def _sync_file(manifest: SimulationManifest, entry: ManifestEntry, progress: Progress) -> None:
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
    run = sync_run_execute(upload=upload, as_of=date.fromisoformat(entry.date), actor="demo")
    changed = {k: v for k, v in run.counts.items() if v and k != "unchanged"}
    progress.console.print(
        f"day {entry.day} {entry.urn} {path.name:<16} "
        f"{'waiting' if run.waits_for_id else run.status:<8} "
        + (", ".join(f"{k.replace('_', ' ')} {v}" for k, v in changed.items()) or "no changes")
    )


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
