"""`rollsync downstream client create|list|rotate|revoke`: credentials of downstream
services (docs/downstream.md). A click group for the `rollsync` command to register.

Exit codes follow the command's rules: 0 done, 1 refused, 2 bad input."""

from __future__ import annotations

import json
from typing import Any

import click

from rollsync.cli_support import fail, one_school_or_la, school_or_la, setup_django
from rollsync.export import WRITERS


def _row(client: Any) -> dict[str, Any]:
    return {
        "id": client.pk,
        "client_id": client.client_id,
        "name": client.name,
        "kind": client.kind,
        "school": client.school.urn if client.school else None,
        "la": client.la.code if client.la else None,
        "created_at": client.created_at.isoformat(),
        "created_by": client.created_by,
        "rotated_at": client.rotated_at.isoformat() if client.rotated_at else None,
        "last_used_at": client.last_used_at.isoformat() if client.last_used_at else None,
        "revoked_at": client.revoked_at.isoformat() if client.revoked_at else None,
    }


def _secret_out(client: Any, secret: str) -> dict[str, Any]:
    """What a new or rotated client's owner keeps: OneRoster's client credentials, or
    SCIM's bearer token."""
    if client.kind == "scim":
        return {"id": client.pk, "token": secret}
    return {"id": client.pk, "client_id": client.client_id, "client_secret": secret}


def _client_pk(ref: str, as_json: bool) -> int:
    """A client named by its number (`list` shows it) or its public client_id."""
    from rollsync.downstream.models import DownstreamClient

    if ref.isdigit():
        return int(ref)
    pk = DownstreamClient.objects.filter(client_id=ref).values_list("pk", flat=True).first()
    if pk is None:
        fail(f"no downstream client {ref}", code=1, as_json=as_json)
    return int(pk)


def _echo_secret(client: Any, secret: str, as_json: bool, what: str) -> None:
    out = _secret_out(client, secret)
    if as_json:
        click.echo(json.dumps(out))
        return
    click.echo(f"{client.kind} client {client.pk} '{client.name}' {what}")
    for key in ("client_id", "client_secret", "token"):
        if key in out:
            click.echo(f"{key}: {out[key]}")
    click.echo("Keep the secret now: it is not stored and cannot be shown again.", err=True)


@click.group("downstream")
def downstream() -> None:
    """Downstream services that read the directory (OneRoster, SCIM)."""


@downstream.group("client")
def client() -> None:
    """Credentials of downstream services: read-only, scoped to a school or an LA."""


@client.command("create")
@click.option("--name", required=True, help="The service that uses it.")
@click.option("--school", "urn", default=None, help="Scope: this school (URN).")
@click.option("--la", "la_code", default=None, help="Scope: every school of this LA (code).")
@click.option("--kind", type=click.Choice(["oneroster", "scim"]), required=True)
@click.option("--by", "actor", default="operator", help="Who makes it (recorded in the audit).")
@click.option("--json", "as_json", is_flag=True)
def create_cmd(
    name: str, urn: str | None, la_code: str | None, kind: str, actor: str, as_json: bool
) -> None:
    """Make a client. Its secret is printed once and cannot be shown again."""
    one_school_or_la(urn, la_code)
    setup_django()
    from rollsync.downstream.services import downstream_client_create

    school, la = school_or_la(urn, la_code, as_json=as_json)
    made, secret = downstream_client_create(name=name, kind=kind, school=school, la=la, actor=actor)
    _echo_secret(
        made,
        secret,
        as_json,
        f"created for {'school ' + str(urn) if urn else 'LA ' + str(la_code)}",
    )


@client.command("list")
@click.option("--school", "urn", default=None)
@click.option("--la", "la_code", default=None)
@click.option("--json", "as_json", is_flag=True)
def list_cmd(urn: str | None, la_code: str | None, as_json: bool) -> None:
    """The clients (never their secrets), optionally of one school or LA."""
    setup_django()
    from rollsync.downstream.selectors import downstream_clients

    school, la = school_or_la(urn, la_code)
    rows = [_row(c) for c in downstream_clients(school=school, la=la)]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        scope = f"school {r['school']}" if r["school"] else f"LA {r['la']}"
        state = "revoked" if r["revoked_at"] else "live"
        used = r["last_used_at"][:16] if r["last_used_at"] else "never used"
        click.echo(
            f"{r['id']:>4} {r['client_id']:<22} {r['kind']:<9} {r['name']:<28} {scope:<14} "
            f"{state:<7} {used}"
        )


@client.command("rotate")
@click.argument("ref")
@click.option("--by", "actor", default="operator")
@click.option("--json", "as_json", is_flag=True)
def rotate_cmd(ref: str, actor: str, as_json: bool) -> None:
    """A new secret (printed once); the old one and its tokens stop working at once."""
    setup_django()
    from rollsync.downstream.services import downstream_client_rotate

    made, secret = downstream_client_rotate(client_pk=_client_pk(ref, as_json), actor=actor)
    _echo_secret(made, secret, as_json, "given a new secret")


@client.command("revoke")
@click.argument("ref")
@click.option("--by", "actor", default="operator")
def revoke_cmd(ref: str, actor: str) -> None:
    """Stop a client working, at once and for good (number or client_id)."""
    setup_django()
    from rollsync.downstream.services import downstream_client_revoke

    done = downstream_client_revoke(client_pk=_client_pk(ref, False), actor=actor)
    click.echo(f"{done.kind} client {done.pk} '{done.name}' revoked")


# --- rollsync export schedule add|list|remove|run ---------------------------------------------


def _schedule_row(s: Any) -> dict[str, Any]:
    def at(t: Any) -> str | None:
        return t.isoformat() if t is not None else None

    return {
        "id": s.pk,
        "school": s.school.urn if s.school else None,
        "la": s.la.code if s.la else None,
        "format": s.fmt,
        "kind": s.kind,
        "schedule": s.schedule,
        "destination": s.destination,
        "keep": s.keep,
        "next_run_at": at(s.next_run_at),
        "covered_until": at(s.covered_until),
        "last_run_at": at(s.last_run_at),
        "last_status": s.last_status or None,
        "last_error": s.last_error or None,
        "last_file": s.last_file or None,
        "created_by": s.created_by,
    }


@click.group("schedule")
def export_schedule() -> None:
    """Exports written on a schedule into a folder on this server (docs/downstream.md)."""


@export_schedule.command("add")
@click.option("--school", "urn", default=None, help="Scope: this school (URN).")
@click.option("--la", "la_code", default=None, help="Scope: every school of this LA (code).")
@click.option("--format", "fmt", type=click.Choice(sorted(WRITERS)), required=True)
@click.option(
    "--kind",
    type=click.Choice(["bulk", "delta"]),
    default="bulk",
    show_default=True,
    help="delta: what changed since the previous run (the first run is a bulk).",
)
@click.option(
    "--at", "cron", required=True, help="Five cron fields in the LA's time, e.g. '0 2 * * *'."
)
@click.option("--to", "destination", required=True, help="The folder on this server.")
@click.option("--keep", type=int, default=14, show_default=True, help="Files kept; older go.")
@click.option("--by", "actor", default="operator", help="Who adds it (recorded in the audit).")
@click.option("--json", "as_json", is_flag=True)
def schedule_add_cmd(
    urn: str | None,
    la_code: str | None,
    fmt: str,
    kind: str,
    cron: str,
    destination: str,
    keep: int,
    actor: str,
    as_json: bool,
) -> None:
    """Add an export schedule for a school or an LA."""
    one_school_or_la(urn, la_code)
    setup_django()
    from rollsync.downstream.services import export_schedule_create

    school, la = school_or_la(urn, la_code, as_json=as_json)
    made = export_schedule_create(
        school=school,
        la=la,
        fmt=fmt,
        kind=kind,
        schedule=cron,
        destination=destination,
        keep=keep,
        actor=actor,
    )
    row = _schedule_row(made)
    if as_json:
        click.echo(json.dumps(row))
        return
    click.echo(
        f"export schedule {made.pk}: {made.scope_label} {fmt} {kind} at '{made.schedule}' into "
        f"{made.destination}, keeping {keep}; first run {row['next_run_at']}"
    )


@export_schedule.command("list")
@click.option("--school", "urn", default=None)
@click.option("--la", "la_code", default=None, help="The LA's schedules and its schools'.")
@click.option("--json", "as_json", is_flag=True)
def schedule_list_cmd(urn: str | None, la_code: str | None, as_json: bool) -> None:
    """The export schedules, with each one's last run and next time."""
    setup_django()
    from rollsync.downstream.selectors import export_schedules

    school, la = school_or_la(urn, la_code, as_json=as_json)
    rows = [_schedule_row(s) for s in export_schedules(school=school, la=la)]
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no export schedule")
    for r in rows:
        scope = f"school {r['school']}" if r["school"] else f"LA {r['la']}"
        last = (
            f"last {r['last_status']} {r['last_run_at'][:16]}" if r["last_run_at"] else "never run"
        )
        click.echo(
            f"{r['id']:>4} {scope:<14} {r['format']:<9} {r['kind']:<5} '{r['schedule']}' "
            f"-> {r['destination']} (keep {r['keep']}); {last}; next {(r['next_run_at'] or '')[:16]}"
        )
        if r["last_error"]:
            click.echo(f"       {r['last_error']}")


@export_schedule.command("remove")
@click.argument("schedule_id", type=int)
@click.option("--by", "actor", default="operator")
@click.option("--json", "as_json", is_flag=True)
def schedule_remove_cmd(schedule_id: int, actor: str, as_json: bool) -> None:
    """Stop an export schedule (the files it wrote are left where they are)."""
    setup_django()
    from rollsync.downstream.services import export_schedule_remove

    done = export_schedule_remove(schedule_pk=schedule_id, actor=actor)
    if as_json:
        click.echo(json.dumps({"id": schedule_id, "removed": True}))
        return
    click.echo(f"export schedule {schedule_id} removed; its files in {done.destination} stay")


@export_schedule.command("run")
@click.argument("schedule_id", type=int)
@click.option("--by", "actor", default="operator")
@click.option("--json", "as_json", is_flag=True)
def schedule_run_cmd(schedule_id: int, actor: str, as_json: bool) -> None:
    """Run an export schedule now (its next time stays as it was). Exit 1 if it failed."""
    setup_django()
    from rollsync.downstream.services import export_schedule_run

    done = export_schedule_run(schedule_pk=schedule_id, actor=actor)
    out = {
        "id": done.schedule,
        "status": done.status,
        "kind": done.kind,
        "since": done.since.isoformat() if done.since else None,
        "until": done.until.isoformat() if done.until else None,
        "file": done.file or None,
        "counts": done.counts,
        "removed": list(done.removed),
        "error": done.error or None,
    }
    if as_json:
        click.echo(json.dumps(out))
    elif done.status == "succeeded":
        listed = ", ".join(f"{k} {v}" for k, v in done.counts.items())
        click.echo(f"wrote {done.file} ({done.kind}): {listed}")
        for name in done.removed:
            click.echo(f"  removed {name} (beyond keep)")
    else:
        click.echo(f"export schedule {schedule_id} failed: {done.error}", err=True)
    if done.status != "succeeded":
        raise SystemExit(1)
