"""The `rollsync` command: an operator's way in, usable in scripts.

Every command exits 0 on success, 1 when the work it was asked to do failed
(a failed run, a refused decision), 2 on bad usage. `--json` prints exactly
one JSON object (or list) on stdout and nothing else.
"""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from rollsync.cli_support import LazyChoice, LazyGroup, Main, emit_json, fail, setup_django


def _import_formats() -> tuple[str, ...]:
    from rollsync.ingest import FORMATS

    return FORMATS


def _export_formats() -> list[str]:
    from rollsync.export import WRITERS

    return sorted(WRITERS)


def _parse_date(value: str | None, what: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{what} must be a date as YYYY-MM-DD, not {value!r}") from None


def _school(urn: str, *, as_json: bool = False) -> Any:
    """The school a command names, through the tenancy chokepoint like every door: the
    command line acts as `OPERATOR` (the region operator), so it sees every school."""
    from rollsync.access.selectors import OPERATOR, restrict
    from rollsync.directory import models as m

    school = (
        restrict(m.School.objects.select_related("la", "la__region"), OPERATOR)
        .filter(urn=urn)
        .first()
    )
    if school is None:
        fail(f"no school with URN {urn}; register it with `rollsync school add`", as_json=as_json)
    return school


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rollsync")
def main() -> None:
    """rollsync keeps a region's directory in step with its schools' MIS exports."""


# --- database and schools -------------------------------------------------------------


@main.command()
def migrate() -> None:
    """Create or upgrade the database named by DATABASE_URL (SQLite under ./var/ when unset)."""
    from django.conf import settings

    if not os.environ.get("DATABASE_URL"):
        Path(os.environ.get("ROLLSYNC_HOME", Path.cwd()), "var").mkdir(parents=True, exist_ok=True)
    setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    db = settings.DATABASES["default"]
    click.echo(f"database ready: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('NAME')}")


@main.group()
def school() -> None:
    """Register and configure one school."""


@school.command("add")
@click.option("--urn", required=True, help="The school's unique reference number (6 digits).")
@click.option("--la", "la_code", required=True, help="Three-digit LA code.")
@click.option("--estab", required=True, help="Four-digit DfE establishment number.")
@click.option("--name", required=True)
@click.option("--la-name", default=None, help="The LA's name (used when the LA is new).")
@click.option("--phase", default="")
@click.option("--mis", default="", help="The MIS the school runs (SIMS, Arbor, ...).")
def school_add_cmd(
    urn: str, la_code: str, estab: str, name: str, la_name: str | None, phase: str, mis: str
) -> None:
    """Register a school; its LA is created on first use."""
    setup_django()
    from rollsync.directory.services.schools import school_add

    s = school_add(
        urn=urn, la_code=la_code, estab=estab, name=name, la_name=la_name, phase=phase, mis=mis
    )
    click.echo(f"school {s.urn} {s.name} (LA {s.la.code}, DfE {s.dfe_number})")


@school.command("attendance-service")
@click.option("--school", "urn", required=True)
@click.option(
    "--on/--off", "enabled", required=True, help="The school uses a service that needs Attendance."
)
def school_attendance_service_cmd(urn: str, enabled: bool) -> None:
    """Whether the school uses a service that needs Attendance: Arbor and ScholarPack
    grey the Attendance report out otherwise (switched off, an accepted one is withdrawn)."""
    setup_django()
    from rollsync.directory.services.schools import school_attendance_service_set

    s = _school(urn)
    changed = school_attendance_service_set(school=s, enabled=enabled, actor="cli")
    state = "on" if enabled else "off"
    click.echo(f"{s.urn} {s.name}: attendance service {state}" + ("" if changed else " (already)"))


@school.command("reports")
@click.option("--school", "urn", required=True)
@click.option("--accept", multiple=True, help="Report code to accept (repeatable).")
@click.option("--remove", multiple=True, help="Report code to remove (repeatable).")
@click.option(
    "--opt-out", multiple=True, metavar="REPORT.FIELD", help="Stop uploading an optional field."
)
@click.option(
    "--opt-in", multiple=True, metavar="REPORT.FIELD", help="Upload an optional field again."
)
@click.option("--json", "as_json", is_flag=True)
def school_reports_cmd(
    urn: str,
    accept: tuple[str, ...],
    remove: tuple[str, ...],
    opt_out: tuple[str, ...],
    opt_in: tuple[str, ...],
    as_json: bool,
) -> None:
    """Show or change the reports a school accepts and the optional fields it uploads."""
    setup_django()
    from rollsync.directory import selectors
    from rollsync.directory.services.schools import (
        school_field_opt_out_set,
        school_report_set,
    )
    from rollsync.domain.reports import CATALOGUE, UnknownField

    s = _school(urn, as_json=as_json)
    try:
        for code in accept:
            school_report_set(school=s, report=code, accepted=True, actor="cli")
        for code in remove:
            school_report_set(school=s, report=code, accepted=False, actor="cli")
        for item, flag in [(x, True) for x in opt_out] + [(x, False) for x in opt_in]:
            report, _, field_name = item.partition(".")
            school_field_opt_out_set(
                school=s, report=report, field_name=field_name, opted_out=flag, actor="cli"
            )
    except UnknownField as exc:
        fail(str(exc), as_json=as_json, code=2)
    accepted = selectors.school_accepted_reports(school=s)
    opted = selectors.school_opt_outs(school=s)
    rows = []
    for code, spec in CATALOGUE.items():
        rows.append(
            {
                "report": code,
                "label": spec.label,
                "accepted": code in accepted,
                "fields": [
                    {
                        "field": f.name,
                        "status": "mandatory"
                        if f.mandatory
                        else ("not uploaded" if f.name in opted.get(code, ()) else "uploaded"),
                    }
                    for f in spec.fields
                ],
            }
        )
    if as_json:
        emit_json({"school": s.urn, "reports": rows})
        return
    click.echo(f"Reports of {s.urn} {s.name}:")
    for row in rows:
        mark = "accepted" if row["accepted"] else "not accepted"
        click.echo(f"{row['report']}: {row['label']}, {mark}")
        for status in ("mandatory", "uploaded", "not uploaded"):
            names = [f["field"] for f in row["fields"] if f["status"] == status]
            click.echo(f"  {status}: {', '.join(names) or 'none'}")


@school.command("policy")
@click.option("--school", "urn", required=True)
@click.option(
    "--guard-pct",
    type=float,
    default=None,
    help="Hold runs that would unallocate more than this %.",
)
@click.option(
    "--grace-days",
    type=int,
    default=None,
    help="Days a leaver keeps access before being unallocated.",
)
def school_policy_cmd(urn: str, guard_pct: float | None, grace_days: int | None) -> None:
    """Show or change a school's guard threshold and leaver grace period."""
    setup_django()
    from rollsync.directory.services.schools import school_policy_set

    s = _school(urn)
    school_policy_set(
        school=s, guard_unallocate_pct=guard_pct, leaver_grace_days=grace_days, actor="cli"
    )
    click.echo(
        f"{s.urn}: hold above {s.guard_unallocate_pct:g}% unallocated; leavers keep access {s.leaver_grace_days} days"
    )


@main.group()
def schools() -> None:
    """Work with many schools at once."""


@schools.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def schools_import_cmd(path: Path, as_json: bool) -> None:
    """Load establishments from a GIAS 'edubasealldata' CSV."""
    setup_django()
    from rollsync.directory.services.schools import schools_import_gias

    result = schools_import_gias(path=path)
    out = {
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "errors": [e.as_dict() for e in result.errors],
    }
    if as_json:
        emit_json(out)
    else:
        click.echo(
            f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged, {len(result.errors)} errors"
        )
        for e in result.errors:
            click.echo(f"  row {e.row} {e.field}: {e.message}", err=True)
    if any(e.row is None for e in result.errors):
        sys.exit(1)


# --- sync runs ------------------------------------------------------------------------------


_HEAVY_RUN_FIELDS = ("actions", "upload__data")


def _run_summary(run: Any) -> dict[str, Any]:
    from rollsync.domain.actions import COUNT_KEYS, RELATION_COUNT_KEYS
    from rollsync.domain.run_status import run_view

    view = run_view(status=run.status, counts=run.counts, waits_for=run.waits_for_id)
    return {
        "run": run.pk,
        "school": run.school.urn,
        "status": run.status,
        "status_detail": view.label,
        "counts": {key: int(run.counts.get(key, 0)) for key in COUNT_KEYS}
        | {key: int(run.counts.get(key, 0)) for key in RELATION_COUNT_KEYS},
        "errors": [
            {
                "row": e.get("row"),
                "field": e.get("field"),
                "message": e.get("message"),
                **({"source": e["source"]} if e.get("source") else {}),
            }
            for e in run.errors
        ],
        "holds": run.holds,
        "seconds": round(run.seconds, 3),
    }


def _purged(upload: Any) -> dict[str, Any]:
    """When retention purged the upload's file (None: it is kept); the row stays."""
    return {"file_purged_at": upload.purged_at.isoformat() if upload.purged_at else None}


def _print_summary(summary: dict[str, Any]) -> None:
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary["counts"].items() if v)
    click.echo(
        f"run {summary['run']} for {summary['school']}: {summary['status']} ({counts or 'nothing to do'}) in {summary['seconds']:.2f}s"
    )
    for hold in summary["holds"]:
        if hold.get("acknowledged_by"):
            click.echo(f"  approved by {hold['acknowledged_by']}: {hold['message']}")
        else:
            click.echo(f"  held: {hold['message']}")
    errors = summary["errors"]
    for e in errors[:20]:
        where = f"row {e['row']}" if e["row"] is not None else "file"
        src = f"{e['source']} " if e.get("source") else ""
        click.echo(f"  {src}{where} {e['field'] or ''}: {e['message']}", err=True)
    if len(errors) > 20:
        click.echo(f"  ... and {len(errors) - 20} more (use --json)", err=True)


@main.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--school", "urn", required=True, help="URN of the school the export is from.")
@click.option("--format", "fmt", required=True, type=LazyChoice(_import_formats))
@click.option(
    "--report",
    type=click.Choice(
        ["students", "students_future", "staff", "staff_future", "contacts", "groups", "attendance"]
    ),
    default=None,
    help="Which report the file is (required for csv and sims-superstar).",
)
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")
@click.option("--as-of", default=None, help="Process as if today were this date (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True)
def import_cmd(
    path: Path,
    urn: str,
    fmt: str,
    report: str | None,
    dry_run: bool,
    as_of: str | None,
    as_json: bool,
) -> None:
    """Store an export as an upload, sync it, and print the run summary."""
    setup_django()
    from rollsync import ingest
    from rollsync.directory.services.sync import sync_run_execute
    from rollsync.directory.services.uploads import (
        UploadSource,
        upload_file_open,
        upload_receive_for_import,
    )

    s = _school(urn, as_json=as_json)
    day = _parse_date(as_of, "--as-of")
    # A file is streamed within the limit (its size on disk refuses it before reading);
    # a folder is zipped first, then checked the same way.
    handle = None
    payload: UploadSource
    if path.is_dir():
        payload = ingest.bundle_folder(path)
        size = len(payload)
    else:
        handle, size = upload_file_open(path)
        payload = handle
    try:
        upload = upload_receive_for_import(
            school=s,
            payload=payload,
            fmt=fmt,
            report=report or "",
            filename=path.name,
            source="cli",
            declared_size=size,
            dry_run=dry_run,
            as_of=day,
        )
    finally:
        if handle is not None:
            handle.close()
    del payload
    run = sync_run_execute(upload=upload, dry_run=dry_run, as_of=day)
    summary = _run_summary(run)
    if as_json:
        emit_json(summary)
    else:
        _print_summary(summary)
        if dry_run:
            _print_actions(run.actions, limit=50)
    sys.exit(1 if run.status == "failed" else 0)


def _print_actions(actions: list[dict[str, Any]], *, limit: int | None = None) -> None:
    shown = actions if limit is None else [a for a in actions if a["kind"] != "unchanged"][:limit]
    for a in shown:
        click.echo(
            f"  {a['kind']:<15} {a['role']:<8} {a['mis_id']:<14} {a.get('name', ''):<28} {a['reason']}"
        )
    if limit is not None and len(shown) == limit:
        click.echo("  ... (use `rollsync runs show RUN` for every action)")


@main.group()
def runs() -> None:
    """Sync runs: list, show, approve or reject a held run."""


@runs.command("show")
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def runs_show_cmd(run_id: int, as_json: bool) -> None:
    """List a run's planned or applied actions, each with its reason."""
    setup_django()
    from rollsync.directory import models as m
    from rollsync.directory import selectors

    try:
        run = selectors.run_get(run_id=run_id)
    except m.SyncRun.DoesNotExist:
        fail(f"no run {run_id}", as_json=as_json)
    summary = _run_summary(run)
    # Accounts a person kept as non-MIS that this run left alone because of it.
    kept = [
        {
            "username": place.account.username,
            "kept_by": event.actor,
            "kept_at": event.at.isoformat(),
        }
        for place, event in selectors.kept_non_mis_for_run(run=run)
    ]
    if as_json:
        emit_json(
            {
                **summary,
                "upload": run.upload_id,
                **_purged(run.upload),
                "as_of": run.as_of.isoformat(),
                "actions": run.actions,
                "kept_non_mis": kept,
            }
        )
        return
    _print_summary(summary)
    if run.upload.purged_at:
        click.echo(
            f"  file purged {run.upload.purged_at:%Y-%m-%d} (retention); checksum {run.upload.sha256}"
        )
    for k in kept:
        click.echo(
            f"  left alone: {k['username']}, kept as non-MIS by {k['kept_by']} on {k['kept_at'][:10]}"
        )
    _print_actions(run.actions)


@runs.command("list")
@click.option("--school", "urn", required=True)
@click.option("--json", "as_json", is_flag=True)
def runs_list_cmd(urn: str, as_json: bool) -> None:
    """The school's runs, newest first (Upload History)."""
    setup_django()
    s = _school(urn, as_json=as_json)
    rows = [
        {
            **_run_summary(r),
            "upload": r.upload_id,
            "format": r.upload.fmt,
            "report": r.upload.report,
            "filename": r.upload.filename,
            "sha256": r.upload.sha256,
            "size": r.upload.size,
            "received_at": r.upload.received_at.isoformat(),
            "at": r.created_at.isoformat(),  # when the run itself happened
            **_purged(r.upload),
        }
        # The list never needs a file's bytes nor a plan's actions: a school's history
        # holds hundreds of runs, each upload up to megabytes.
        for r in s.runs.select_related("upload", "school")
        .defer(*_HEAVY_RUN_FIELDS)
        .order_by("-created_at", "-pk")
    ]
    # Uploads with no run (waiting, or abandoned when their import was cut short) are in
    # the Upload History too: nothing stays silently "received".
    from rollsync.directory.services.uploads import upload_note

    waiting = [
        {
            "run": None,
            "school": s.urn,
            "status": u.outcome,
            "message": upload_note(u),
            "upload": u.pk,
            "format": u.fmt,
            "report": u.report,
            "filename": u.filename,
            "sha256": u.sha256,
            "size": u.size,
            "received_at": u.received_at.isoformat(),
            "at": u.received_at.isoformat(),  # no run yet: when the upload arrived
            **_purged(u),
        }
        for u in s.uploads.filter(runs__isnull=True).defer("data").order_by("-received_at", "-pk")
    ]
    if waiting:  # merged by when each happened: a run's creation, an upload's arrival
        keyed = [(r["at"], i, r) for i, r in enumerate(rows)]
        keyed += [(w["at"], len(rows) + i, w) for i, w in enumerate(waiting)]
        keyed.sort(key=lambda k: (k[0], -k[1]), reverse=True)
        rows = [r for _, _, r in keyed]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(f"No runs or uploads at {s.urn} {s.name}: none.")
        return
    click.echo(
        f"{'RUN':>5} {'AT (UTC)':<19} {'FORMAT':<9} {'FILE':<30} {'STATUS':<10} {'SHA-256':<12}  NOTE"
    )
    for r in rows:
        run_col = r["run"] if r["run"] is not None else "-"
        note = f"  {r['message']}" if r.get("message") else ""
        note += f"  (file purged {r['file_purged_at'][:10]})" if r.get("file_purged_at") else ""
        at = r["at"][:19].replace("T", " ")
        click.echo(
            f"{run_col:>5} {at:<19} {r['format']:<9} {r['filename']:<30} {r.get('status_detail', r['status']):<10} {r['sha256'][:12]}{note}"
        )


@runs.command("approve")
@click.argument("run_id", type=int)
@click.option("--by", "actor", default="operator", help="Who approves (recorded in the audit).")
@click.option("--json", "as_json", is_flag=True)
def runs_approve_cmd(run_id: int, actor: str, as_json: bool) -> None:
    """Apply a held run after checking its plan."""
    setup_django()
    from rollsync.directory import models as m
    from rollsync.directory import selectors
    from rollsync.directory.services.sync import sync_run_approve

    try:
        run = sync_run_approve(run=selectors.run_get(run_id=run_id), actor=actor)
    except m.SyncRun.DoesNotExist:
        fail(f"no run {run_id}", as_json=as_json)
    summary = _run_summary(run)
    emit_json(summary) if as_json else _print_summary(summary)
    sys.exit(0 if run.status == "applied" else 1)


@runs.command("reject")
@click.argument("run_id", type=int)
@click.option("--by", "actor", default="operator")
def runs_reject_cmd(run_id: int, actor: str) -> None:
    """Turn down a held run: nothing of it is applied."""
    setup_django()
    from rollsync.directory import models as m
    from rollsync.directory import selectors
    from rollsync.directory.services.sync import sync_run_reject

    try:
        sync_run_reject(run=selectors.run_get(run_id=run_id), actor=actor)
    except m.SyncRun.DoesNotExist:
        fail(f"no run {run_id}")
    click.echo(f"run {run_id} rejected")


@runs.command("force")
@click.option("--school", "urn", required=True)
@click.option("--report", default=None, help="Which report's newest upload (default: the newest).")
@click.option("--dry-run", is_flag=True, help="Plan it again without applying (a preview).")
@click.option("--as-of", "as_of", default=None, help="Plan as of this day (YYYY-MM-DD).")
@click.option("--by", "actor", default="operator", help="Who asks (recorded in the audit).")
@click.option("--json", "as_json", is_flag=True)
def runs_force_cmd(
    urn: str, report: str | None, dry_run: bool, as_of: str | None, actor: str, as_json: bool
) -> None:
    """Force run: queue the school's newest upload of a report (a bundle counts for every
    report) to be processed again by the worker, as the web app and the API do."""
    setup_django()
    from rollsync.directory.services.sync import run_force

    s = _school(urn, as_json=as_json)
    task_id = run_force(
        school=s, report=report, actor=actor, as_of=_parse_date(as_of, "--as-of"), dry_run=dry_run
    )
    if as_json:
        emit_json({"task": task_id, "school": s.urn, "report": report or None})
    else:
        click.echo(f"force run of {s.urn} queued as task {task_id} (`rollsync worker` runs it)")


# --- accounts, matching, restore, exclusions ----------------------------------------------


@main.command("accounts")
@click.option("--school", "urn", required=True)
@click.option("--status", type=click.Choice(["active", "future", "unallocated"]), default=None)
@click.option("--json", "as_json", is_flag=True)
def accounts_cmd(urn: str, status: str | None, as_json: bool) -> None:
    """Accounts allocated at a school."""
    setup_django()
    from rollsync.directory import selectors

    s = _school(urn, as_json=as_json)
    rows = [
        {
            "username": al.account.username,
            "id": str(al.account.uid),
            "role": al.role,
            "status": al.status,
            "legal_given_name": al.account.legal_given_name,
            "legal_family_name": al.account.legal_family_name,
            "preferred_given_name": al.account.preferred_given_name,
            "preferred_family_name": al.account.preferred_family_name,
            "date_of_birth": al.account.date_of_birth.isoformat()
            if al.account.date_of_birth
            else None,
            "mis_id": al.mis_id,
            "upn": al.upn,
            "last_move_or_create": al.last_move_or_create_kind or None,
        }
        for al in selectors.allocations_at_school(school=s, status=status)
    ]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        preferred = f" ({r['preferred_given_name']})" if r["preferred_given_name"] else ""
        click.echo(
            f"{r['username']:<24} {r['role']:<8} {r['status']:<12} {r['legal_given_name']} {r['legal_family_name']}{preferred}"
            f"  dob {r['date_of_birth'] or '-'}  mis {r['mis_id'] or '-'}  upn {r['upn'] or '-'}"
        )
    click.echo(f"{len(rows)} accounts", err=True)


@main.group("matches", invoke_without_command=True)
@click.option("--school", "urn", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def matches(ctx: click.Context, urn: str | None, as_json: bool) -> None:
    """The needs-matching queue of a school (`matches resolve` decides a case)."""
    if ctx.invoked_subcommand is not None:
        return
    if not urn:
        raise click.UsageError("--school is required to list the queue")
    setup_django()
    from rollsync.directory import selectors

    s = _school(urn, as_json=as_json)
    rows = [
        {
            "case": c.pk,
            "role": c.role,
            "mis_id": c.mis_id,
            "record": c.record,
            "reason": c.reason,
            "candidates": c.candidates,
            "run": c.run_id,
        }
        for c in selectors.match_cases_open(school=s)
    ]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        rec = r["record"]
        click.echo(
            f"case {r['case']}: {r['role']} {r['mis_id']} {rec.get('legal_given_name')} {rec.get('legal_family_name')} dob {rec.get('date_of_birth', '-')}"
        )
        click.echo(f"  {r['reason']}")
        for cand in r["candidates"]:
            click.echo(
                f"  candidate account {cand['account_id']} {cand.get('username')}: score {cand['score']:.2f} - {cand['explanation']}"
            )
    click.echo(f"{len(rows)} open cases", err=True)
    cross = _cross_school_rows(s)
    for r in cross:
        click.echo(_cross_school_line(r))
    if cross:
        click.echo(
            f"{len(cross)} identity changes waiting for agreement (`matches cross-school`)",
            err=True,
        )


def _cross_school_rows(school: Any) -> list[dict[str, Any]]:
    from rollsync.directory import selectors

    return [
        {
            "cross_school_case": c.pk,
            "school": c.school.urn,
            "holding_school": c.holding_school.urn,
            "account": c.account.username,
            "role": c.role,
            "mis_id": c.mis_id,
            "changes": c.changes,
            "reason": c.reason,
            "status": c.status,
        }
        for c in selectors.cross_school_cases_open(school=school)
    ]


def _cross_school_line(r: dict[str, Any]) -> str:
    changes = ", ".join(f"{k} {old!s} -> {new!s}" for k, (old, new) in r["changes"].items())
    return (
        f"cross-school case {r['cross_school_case']}: {r['account']} asked by {r['school']},"
        f" waiting for {r['holding_school']}: {changes}"
    )


@matches.command("cross-school")
@click.option("--school", "urn", required=True)
@click.option("--json", "as_json", is_flag=True)
def matches_cross_school_cmd(urn: str, as_json: bool) -> None:
    """Identity changes waiting for agreement: asked by the school, or on its accounts."""
    setup_django()
    s = _school(urn, as_json=as_json)
    rows = _cross_school_rows(s)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.echo(_cross_school_line(r))
    click.echo(f"{len(rows)} identity changes waiting for agreement", err=True)


def _cross_school_decide(case_id: int, urn: str, actor: str, *, agree: bool) -> None:
    setup_django()
    from rollsync.directory.services.accounts import cross_school_case_decide

    s = _school(urn, as_json=False)
    case = cross_school_case_decide(case_id=case_id, school=s, actor=actor, agree=agree)
    click.echo(f"cross-school case {case.pk}: {case.status}")


@matches.command("agree")
@click.argument("case_id", type=int)
@click.option("--school", "urn", required=True, help="The school that holds the account.")
@click.option("--by", "actor", default="operator")
def matches_agree_cmd(case_id: int, urn: str, actor: str) -> None:
    """Agree to a cross-school case: the identity changes are applied."""
    _cross_school_decide(case_id, urn, actor, agree=True)


@matches.command("decline")
@click.argument("case_id", type=int)
@click.option("--school", "urn", required=True, help="The school that holds the account.")
@click.option("--by", "actor", default="operator")
def matches_decline_cmd(case_id: int, urn: str, actor: str) -> None:
    """Decline a cross-school case: nothing changes."""
    _cross_school_decide(case_id, urn, actor, agree=False)


@matches.command("resolve")
@click.argument("case_id", type=int)
@click.option("--link", "link_account", type=int, default=None, help="Match to this account id.")
@click.option("--create", is_flag=True, help="Create a new account.")
@click.option("--exclude", is_flag=True, help="Never create an account for this MIS person.")
@click.option("--by", "actor", default="operator")
def matches_resolve_cmd(
    case_id: int, link_account: int | None, create: bool, exclude: bool, actor: str
) -> None:
    """Decide a needs-matching case; the decision is remembered."""
    setup_django()
    from rollsync.directory.services.accounts import match_case_resolve

    case = match_case_resolve(
        case_id=case_id,
        actor=actor,
        link_account_id=link_account,
        create=create,
        exclude=exclude,
    )
    target = f" -> {case.resolved_account.username}" if case.resolved_account else ""
    click.echo(f"case {case.pk}: {case.status}{target}")


@main.command("restore")
@click.argument("username")
@click.option("--school", "urn", required=True)
@click.option(
    "--keep-non-mis",
    "decision",
    flag_value="keep",
    default=None,
    help="The person is not in the latest export: keep the account as non-MIS at the school.",
)
@click.option(
    "--restore-anyway",
    "decision",
    flag_value="anyway",
    help="The person is not in the latest export: restore anyway (the next run may undo it).",
)
@click.option("--by", "actor", default="operator")
def restore_cmd(username: str, urn: str, decision: str | None, actor: str) -> None:
    """Restore an unallocated account at a school, with everything it had. When the
    school's latest export does not list the person, say what to do with
    --keep-non-mis or --restore-anyway (refused with exit 1 otherwise)."""
    setup_django()
    from rollsync.directory.services.accounts import (
        RestoreNeedsDecision,
        account_restore,
    )

    s = _school(urn)
    keep = {"keep": True, "anyway": False}.get(decision or "")
    try:
        account_restore(username=username, school=s, actor=actor, keep_non_mis=keep)
    except RestoreNeedsDecision as exc:
        fail(f"{exc} Pass --keep-non-mis or --restore-anyway.")
    kept = " and kept as non-MIS" if keep else ""
    click.echo(f"{username} restored at {s.urn}{kept}")


@main.group("exclude")
def exclude() -> None:
    """MIS names that should never get an account."""


@exclude.command("add")
@click.option("--school", "urn", required=True)
@click.option("--mis-id", default=None)
@click.option("--given", "given_name", default=None)
@click.option("--family", "family_name", default=None)
@click.option("--dob", default=None, help="YYYY-MM-DD")
@click.option("--role", type=click.Choice(["pupil", "staff", "contact"]), default=None)
@click.option("--note", default="")
@click.option("--by", "actor", default="operator")
def exclude_add_cmd(
    urn: str,
    mis_id: str | None,
    given_name: str | None,
    family_name: str | None,
    dob: str | None,
    role: str | None,
    note: str,
    actor: str,
) -> None:
    """Add an MIS person to the school's exclusion list."""
    setup_django()
    from rollsync.directory.services.accounts import exclusion_add
    from rollsync.domain.records import Role

    s = _school(urn)
    e = exclusion_add(
        school=s,
        actor=actor,
        mis_id=mis_id,
        given_name=given_name,
        family_name=family_name,
        date_of_birth=_parse_date(dob, "--dob"),
        role=Role(role) if role else None,
        note=note,
    )
    click.echo(f"exclusion {e.pk} added")


@exclude.command("remove")
@click.argument("exclusion_id", type=int)
@click.option("--school", "urn", required=True)
@click.option("--by", "actor", default="operator")
def exclude_remove_cmd(exclusion_id: int, urn: str, actor: str) -> None:
    """Remove an entry from the school's exclusion list."""
    setup_django()
    from rollsync.directory.services.accounts import exclusion_remove

    s = _school(urn)
    exclusion_remove(school=s, exclusion_id=exclusion_id, actor=actor)
    click.echo(f"exclusion {exclusion_id} removed")


@exclude.command("list")
@click.option("--school", "urn", required=True)
@click.option("--json", "as_json", is_flag=True)
def exclude_list_cmd(urn: str, as_json: bool) -> None:
    """The school's exclusion list."""
    setup_django()
    s = _school(urn, as_json=as_json)
    rows = [
        {
            "id": e.pk,
            "role": e.role,
            "mis_id": e.mis_id,
            "given_name": e.given_name,
            "family_name": e.family_name,
            "date_of_birth": e.date_of_birth.isoformat() if e.date_of_birth else None,
            "note": e.note,
        }
        for e in s.exclusions.order_by("pk")
    ]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(f"No exclusions at {s.urn} {s.name}: none.")
    for r in rows:
        click.echo(
            f"{r['id']:>4} {r['mis_id'] or '-':<12} {r['given_name'] or ''} {r['family_name'] or ''} {r['date_of_birth'] or ''} {r['note']}"
        )


@main.command("request-single")
@click.option("--school", "urn", required=True)
@click.option("--role", type=click.Choice(["pupil", "staff"]), required=True)
@click.option("--given", "given_name", required=True)
@click.option("--family", "family_name", required=True)
@click.option("--dob", required=True, help="YYYY-MM-DD")
@click.option("--preferred-given", default=None)
@click.option("--start", "start_date", default=None, help="YYYY-MM-DD")
@click.option(
    "--create-anyway",
    is_flag=True,
    help="Create it even though existing accounts may be the same person.",
)
@click.option("--by", "actor", default="operator")
@click.option("--json", "as_json", is_flag=True)
def request_single_cmd(
    urn: str,
    role: str,
    given_name: str,
    family_name: str,
    dob: str,
    preferred_given: str | None,
    start_date: str | None,
    create_anyway: bool,
    actor: str,
    as_json: bool,
) -> None:
    """Create an account ahead of the MIS; the MIS record links to it when it arrives.
    The sync's matcher looks for the person first: when existing accounts may be them,
    nothing is made (exit 1, the accounts listed) unless --create-anyway."""
    setup_django()
    from rollsync.directory.services.accounts import (
        LikelyExistingAccounts,
        account_request_single,
    )
    from rollsync.domain.records import PersonRecord, Role

    s = _school(urn, as_json=as_json)
    record = PersonRecord(
        role=Role(role),
        mis_id="",
        legal_given_name=given_name.strip(),
        legal_family_name=family_name.strip(),
        preferred_given_name=preferred_given,
        date_of_birth=_parse_date(dob, "--dob"),
        start_date=_parse_date(start_date, "--start"),
    )
    try:
        account = account_request_single(
            school=s, record=record, actor=actor, create_anyway=create_anyway
        )
    except LikelyExistingAccounts as exc:
        if as_json:
            emit_json(
                {
                    "error": str(exc),
                    "candidates": [
                        {
                            "username": c.account.username,
                            "id": str(c.account.uid),
                            "score": round(c.score, 3),
                            "why": c.explanation,
                            "places": list(c.places),
                        }
                        for c in exc.candidates
                    ],
                }
            )
            sys.exit(1)
        click.echo(
            f"error: existing accounts may already be {given_name} {family_name}; "
            "nothing was created:",
            err=True,
        )
        for c in exc.candidates:
            click.echo(f"  {c.line()}", err=True)
        click.echo("Check them, or pass --create-anyway to make a second account.", err=True)
        sys.exit(1)
    if as_json:
        emit_json({"username": account.username, "id": str(account.uid), "account": account.pk})
    else:
        click.echo(f"{account.username} created at {s.urn} ahead of the MIS")


# --- web app and people who sign in -------------------------------------------------------


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option(
    "--worker/--no-worker",
    default=True,
    show_default=True,
    help="Also process queued work in this process.",
)
def serve_cmd(host: str, port: int, worker: bool) -> None:
    """Serve the web app for schools and LAs (see docs/web.md)."""
    setup_django()
    from rollsync.web.serve import PortInUse, serve

    try:
        server_note = f"rollsync web app on http://{host}:{port}/ (Ctrl+C to stop)"
        serve(host, port, worker=worker, ready=lambda: click.echo(server_note))
    except PortInUse as exc:
        fail(str(exc))


@main.group("users")
def users() -> None:
    """People who sign in to the web app, and their roles."""


@users.command("grant")
@click.option("--username", required=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["school_admin", "headteacher", "la_admin", "region_operator", "read_only"]),
)
@click.option("--school", "urn", default=None, help="For a school role (URN).")
@click.option("--la", "la_code", default=None, help="For an LA role (three-digit code).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the new user's password from standard input."
)
def users_grant_cmd(
    username: str, role: str, urn: str | None, la_code: str | None, password_stdin: bool
) -> None:
    """Give a user a role (the user is created when new: pass --password-stdin)."""
    setup_django()
    from rollsync.access.services import user_grant

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    grant = user_grant(username=username, password=password, role=role, school=urn, la=la_code)
    click.echo(f"{username}: {grant}")


@users.command("demo")
def users_demo_cmd() -> None:
    """Create one user per role for the demo LA, with the documented demo password."""
    setup_django()
    from rollsync.access.services import demo_users

    _print_demo_users(demo_users())


def _print_demo_users(made: list[Any]) -> None:
    for user in made:
        click.echo(f"  {user.username:<22} {user.password}  {user.role.value:<16} {user.where}")


# --- worker and API tokens ---------------------------------------------------------------


@main.command("worker", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def worker_cmd(args: tuple[str, ...]) -> None:
    """Run the background worker (uploads, Force runs, approvals) until stopped.

    Options are the worker's own: --workers N (worker processes), --batch (run what
    is due now and exit), --max-tasks N (with --batch).
    """
    setup_django()
    from rollsync.directory.tasks import worker_main

    sys.exit(worker_main(list(args)))


@main.group("uploads")
def uploads_group() -> None:
    """Uploads whose processing was cut short (a killed import): resume or list them."""


@uploads_group.command("resume")
@click.option("--school", "urn", default=None, help="Only this school (URN); default all.")
@click.option(
    "--older-than",
    "minutes",
    type=click.FloatRange(min=0),
    default=None,
    help="Minutes an upload must have waited with no run (default: the stale period,"
    " ROLLSYNC_UPLOAD_STALE_MINUTES, 15).",
)
@click.option("--by", "actor", default="uploads-resume", help="Who resumes (in the audit).")
@click.option("--json", "as_json", is_flag=True)
def uploads_resume_cmd(urn: str | None, minutes: float | None, actor: str, as_json: bool) -> None:
    """Process again each upload left with no run (its import was killed), as
    it was asked; mark it abandoned, saying why, when that would be unsafe."""
    setup_django()
    from datetime import timedelta

    from rollsync.directory.services.uploads import uploads_resume

    school = _school(urn, as_json=as_json) if urn else None
    done = uploads_resume(
        actor=actor,
        school=school,
        older_than=timedelta(minutes=minutes) if minutes is not None else None,
    )
    rows = [
        {
            "upload": d.upload.pk,
            "school": d.upload.school.urn,
            "outcome": d.upload.outcome if d.run is None else d.run.status,
            "run": _run_summary(d.run) if d.run is not None else None,
            "message": d.abandoned,
        }
        for d in done
    ]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no upload is waiting with no run")
    for r in rows:
        if r["run"] is not None:
            click.echo(f"upload {r['upload']} ({r['school']}): resumed as run {r['run']['run']}")
            _print_summary(r["run"])
        else:
            click.echo(f"upload {r['upload']} ({r['school']}): {r['message']}")


def _command(module: str, name: str) -> click.Command:
    """The command `name` of `module`, imported now."""
    import importlib

    command: click.Command = getattr(importlib.import_module(module), name)
    return command


def _mis() -> click.Command:
    from rollsync.agent_cli import agent_licence
    from rollsync.mis_cli import mis
    from rollsync.push_cli import push_credentials

    mis.add_command(push_credentials)
    mis.add_command(agent_licence)
    return mis


def _register_commands() -> None:
    """The command groups of other modules, each imported when a command line names it
    (`LazyGroup`)."""
    for name, module, attr in (
        ("api-token", "rollsync.api.commands", "api_token"),
        ("backup", "rollsync.ops_cli", "backup_group"),
        ("downstream", "rollsync.downstream.commands", "downstream"),
        ("downstream-sim", "rollsync.provision_cli", "downstream_sim"),
        ("link", "rollsync.matching.link_cli", "link_command"),
        ("mis-sim", "rollsync.mis_cli", "mis_sim"),
        ("provision", "rollsync.provision_cli", "provision"),
        ("retention", "rollsync.ops_cli", "retention"),
        ("webhook", "rollsync.webhooks.commands", "webhook"),
    ):
        main.add_lazy(name, lambda m=module, a=attr: _command(m, a))
    main.add_lazy("mis", _mis)


_register_commands()


# --- simulation and demo ---------------------------------------------------------------------


@main.command("simulate")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--schools", "n_schools", type=click.IntRange(1, 500), default=5)
@click.option("--seed", type=int, default=1)
@click.option("--days", type=click.IntRange(1, 400), default=5)
@click.option(
    "--mis-data", is_flag=True, help="Also write each school's MIS data, for `rollsync mis-sim`."
)
def simulate_cmd(out: Path, n_schools: int, seed: int, days: int, mis_data: bool) -> None:
    """Write a realistic LA and its day-by-day exports in every supported format."""
    from rollsync.simulate import simulate_region

    manifest = simulate_region(out, schools=n_schools, seed=seed, days=days, mis_data=mis_data)
    click.echo(f"wrote {manifest.summary()} to {out}")


@main.command("demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("var/demo"))
@click.option("--schools", "n_schools", type=click.IntRange(1, 50), default=9)
@click.option("--days", type=click.IntRange(1, 60), default=3)
@click.option("--seed", type=int, default=7)
@click.option("--serve/--no-serve", "then_serve", default=False, help="Then serve the web app.")
@click.option("--port", type=int, default=8000)
@click.option(
    "--scale",
    type=click.FloatRange(0.01, 1.0),
    default=None,
    help="Shrink every school (0.1: a tenth of the people), for a quick demo or a test.",
)
@click.option(
    "--mis-change/--no-mis-change",
    default=True,
    help="Whether one simulated school changes MIS (its runs are then held).",
)
@click.option(
    "--ahead",
    type=click.IntRange(0, 10),
    default=0,
    help="Simulate N more days, not synced: the MIS simulators serve the last of them, "
    "so Force run (`rollsync mis run`) brings in a further day.",
)
def demo_cmd(
    out: Path,
    n_schools: int,
    days: int,
    seed: int,
    then_serve: bool,
    port: int,
    scale: float | None,
    mis_change: bool,
    ahead: int,
) -> None:
    """Simulate a demo LA, sync every school's exports day by day, make demo users."""
    setup_django()
    from rollsync.access.services import demo_users
    from rollsync.demo import SIMULATORS, demo_run
    from rollsync.web.serve import PortInUse, port_check, serve

    if then_serve:
        try:  # before minutes of syncing, not after; the simulators' ports too
            for taken in range(port, port + 1 + len(SIMULATORS)):
                port_check("127.0.0.1", taken)
        except PortInUse as exc:
            fail(str(exc))
    # The MIS simulators listen beside the web app (port+1 on) while it is served, so
    # Force run pulls from them; without --serve they take any free ports.
    demo_run(
        out=out,
        schools=n_schools,
        days=days,
        seed=seed,
        echo=click.echo,
        sim_port=port + 1 if then_serve else 0,
        scale=scale,
        mis_change=mis_change,
        ahead=ahead,
    )
    click.echo("\nDemo users for the web app (demo database only; docs/web.md):")
    _print_demo_users(demo_users())
    if then_serve:
        from rollsync import demo_agent

        demo_agent.point_at(out, f"http://127.0.0.1:{port}")
        for base in sorted((out / demo_agent.FOLDER).glob("*")):
            click.echo(
                f"\nThe SIMS school {base.name}'s agent uploads to this web app; run it by hand "
                f"with\n  {demo_agent.agent_command(out, base.name)}"
            )
        click.echo(f"\nrollsync web app on http://127.0.0.1:{port}/ (Ctrl+C to stop)")
        try:
            serve("127.0.0.1", port, worker=True)
        except PortInUse as exc:
            fail(str(exc))


# --- downstream exports ---------------------------------------------------------------


def _parse_since(value: str | None, *, as_json: bool) -> Any:
    """--since as an aware time: an ISO date or date-time; without a zone, UTC."""
    if value is None:
        return None
    from datetime import UTC, datetime

    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        fail(
            f"--since must be an ISO 8601 date or time (2026-11-30 or 2026-11-30T09:00:00Z), "
            f"not {value!r}; no file was written",
            as_json=as_json,
            code=2,
        )
    return since if since.tzinfo is not None else since.replace(tzinfo=UTC)


@main.group("export", cls=LazyGroup, invoke_without_command=True)
@click.option("--school", "urn", default=None, help="URN of the school to export.")
@click.option("--la", "la_code", default=None, help="Code of the LA to export (all its schools).")
@click.option("--format", "fmt", default=None, type=LazyChoice(_export_formats))
@click.option("--since", default=None, help="Only what changed after this ISO time (a delta).")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def export_cmd(
    ctx: click.Context,
    urn: str | None,
    la_code: str | None,
    fmt: str | None,
    since: str | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """Write a OneRoster 1.2 or SDS v2.1 CSV bundle (zip) of a school or an LA
    (--format and --out), or keep exports on a schedule (`export schedule`)."""
    if ctx.invoked_subcommand is not None:
        return
    if fmt is None or out is None:
        raise click.UsageError("give --format and --out (or a subcommand: export schedule)")
    if (urn is None) == (la_code is None):
        fail(
            "name exactly one of --school URN or --la CODE; no file was written",
            as_json=as_json,
            code=2,
        )
    since_at = _parse_since(since, as_json=as_json)
    setup_django()
    from django.utils import timezone

    from rollsync.access.selectors import OPERATOR
    from rollsync.directory.exports import ExportRefused, export_make

    try:
        made = export_make(
            principal=OPERATOR,
            fmt=fmt,
            today=timezone.localdate(),
            urn=urn,
            la_code=la_code,
            since=since_at,
        )
    except ExportRefused as refused_export:
        fail(f"{refused_export.message}; no file was written", as_json=as_json, code=2)
    # Written beside the target and renamed, so a failed write leaves no half a bundle.
    partial = out.with_name(f".{out.name}.partial")
    partial.write_bytes(made.payload)
    partial.replace(out)
    counts = made.counts()
    summary: dict[str, Any] = {
        "format": fmt,
        "mode": "delta" if since_at is not None else "bulk",
        "since": since_at.isoformat() if since_at is not None else None,
        "out": str(out),
        "bytes": len(made.payload),
        "counts": counts,
    }
    if as_json:
        emit_json(summary)
        return
    listed = ", ".join(f"{k} {v}" for k, v in counts.items())
    click.echo(f"wrote {out} ({fmt} {summary['mode']}, {len(made.payload)} bytes): {listed}")


export_cmd.add_lazy("schedule", lambda: _command("rollsync.downstream.commands", "export_schedule"))


if __name__ == "__main__":
    main()
