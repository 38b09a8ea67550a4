"""`rollsync provision ...` (connect, status, plan, run, report, disconnect): pushing a
school's or an LA's directory into its Google Workspace or Microsoft 365 tenant; and
`rollsync downstream-sim google|microsoft`, the tenant simulators. Click commands for
the `rollsync` command to register (`cli._register_commands`).

Credentials never come from an argument (visible to every user of the machine, kept in
shell history): Google's service account key from a file (`--key-file PATH`, `-` for
stdin), Microsoft's client secret from stdin (`--client-secret-stdin`). Neither is ever
printed again. Exit codes: 0 done, 1 refused or failed, 2 bad input."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click

from rollsync.cli_support import emit_json, fail, setup_django

KINDS = click.Choice(["google", "microsoft"])


def _scope(urn: str | None, la_code: str | None, as_json: bool) -> dict[str, Any]:
    from rollsync.directory import models as m

    if (urn is None) == (la_code is None):
        fail("name one school (--school URN) or one LA (--la CODE)", as_json=as_json, code=2)
    if urn is not None:
        from rollsync.cli import _school

        return {"school": _school(urn, as_json=as_json)}
    la = m.LocalAuthority.objects.filter(code=la_code).first()
    if la is None:
        fail(f"no LA with code {la_code}", as_json=as_json)
    return {"la": la}


def _connection(kind: str, urn: str | None, la_code: str | None, as_json: bool) -> Any:
    from rollsync.access.selectors import OPERATOR
    from rollsync.tenants.selectors import connection_find

    if (urn is None) == (la_code is None):
        fail("name one school (--school URN) or one LA (--la CODE)", as_json=as_json, code=2)
    found = connection_find(principal=OPERATOR, kind=kind, urn=urn, la_code=la_code)
    if found is None:
        where = f"school {urn}" if urn else f"LA {la_code}"
        fail(
            f"no {kind} tenant connection for {where}: `rollsync provision connect` first",
            as_json=as_json,
        )
    return found


def _scope_options(f: Any) -> Any:
    f = click.option("--la", "la_code", default=None, help="Every school of this LA (code).")(f)
    return click.option("--school", "urn", default=None, help="One school (URN).")(f)


@click.group("provision")
def provision() -> None:
    """Push a school's or an LA's accounts and class groups into Google Workspace or
    Microsoft 365 (docs/downstream.md)."""


@provision.command("connect")
@click.argument("kind", type=KINDS)
@_scope_options
@click.option("--domain", required=True, help="The tenant's domain: accounts are USERNAME@DOMAIN.")
@click.option("--admin-email", default=None, help="Google: the admin the service account acts for.")
@click.option(
    "--key-file",
    type=click.File("r"),
    default=None,
    help="Google: the service account's JSON key file ('-' reads standard input).",
)
@click.option("--org-unit", default=None, help="Google: the org unit new accounts go in (/).")
@click.option(
    "--queries-per-minute", type=int, default=None, help="Google: the project's quota (2400)."
)
@click.option("--api-url", default=None, help="Google: the Directory API (a simulator's URL).")
@click.option("--token-url", default=None, help="Google: the token endpoint (default: the key's).")
@click.option("--tenant-id", default=None, help="Microsoft: the Entra tenant (directory) ID.")
@click.option("--client-id", default=None, help="Microsoft: the app's client ID.")
@click.option(
    "--client-secret-stdin", is_flag=True, help="Microsoft: read the client secret from stdin."
)
@click.option(
    "--service-principal-id", default=None, help="Microsoft: the inbound provisioning app."
)
@click.option("--job-id", default=None, help="Microsoft: its provisioning job.")
@click.option("--graph-url", default=None, help="Microsoft: Graph (a simulator's URL).")
@click.option(
    "--login-url", default=None, help="Microsoft: the identity platform (a simulator's URL)."
)
@click.option(
    "--schedule",
    default=None,
    help="Scheduled runs: cron fields in the LA's time, e.g. '30 5 * * *' ('' for none).",
)
@click.option("--no-check", is_flag=True, help="Store without fetching a token first.")
@click.option("--by", "actor", default="cli", help="Who connects (recorded in the audit).")
@click.option("--json", "as_json", is_flag=True)
def connect_cmd(
    kind: str,
    urn: str | None,
    la_code: str | None,
    domain: str,
    admin_email: str | None,
    key_file: Any,
    org_unit: str | None,
    queries_per_minute: int | None,
    api_url: str | None,
    token_url: str | None,
    tenant_id: str | None,
    client_id: str | None,
    client_secret_stdin: bool,
    service_principal_id: str | None,
    job_id: str | None,
    graph_url: str | None,
    login_url: str | None,
    schedule: str | None,
    no_check: bool,
    actor: str,
    as_json: bool,
) -> None:
    """Connect (or reconnect: replaces the settings and the credential) a tenant. The
    credential is checked at once by fetching a token; nothing is stored when refused."""
    setup_django()
    from rollsync.tenants.selectors import connection_view
    from rollsync.tenants.services import tenant_connect

    scope = _scope(urn, la_code, as_json)
    if kind == "google":
        if key_file is None:
            fail(
                "a Google connection needs --key-file (the service account's JSON key)",
                as_json=as_json,
                code=2,
            )
        secret = key_file.read(1_000_000)
        given = {
            "domain": domain,
            "admin_email": admin_email,
            "org_unit": org_unit,
            "queries_per_minute": queries_per_minute,
            "api_url": api_url,
            "token_url": token_url,
        }
    else:
        if not client_secret_stdin:
            fail("a Microsoft connection needs --client-secret-stdin", as_json=as_json, code=2)
        secret = sys.stdin.readline().rstrip("\r\n")
        if not secret.strip():
            fail(
                "the client secret was asked for on standard input, but none came",
                as_json=as_json,
                code=2,
            )
        given = {
            "domain": domain,
            "tenant_id": tenant_id,
            "client_id": client_id,
            "service_principal_id": service_principal_id,
            "job_id": job_id,
            "graph_url": graph_url,
            "login_url": login_url,
        }
    connection = tenant_connect(
        kind=kind,
        settings={k: v for k, v in given.items() if v is not None},
        secret=secret,
        actor=actor,
        check=not no_check,
        schedule=schedule,
        **scope,
    )
    view = connection_view(connection)
    if as_json:
        emit_json(view)
        return
    click.echo(
        f"{kind} tenant connected for {connection.scope_label} ({view['settings']['domain']})"
    )
    click.echo(f"credential: {view['credential']}; it is not shown again")


@provision.command("status")
@_scope_options
@click.option("--json", "as_json", is_flag=True)
def status_cmd(urn: str | None, la_code: str | None, as_json: bool) -> None:
    """Tenant connections (all, or a school's or an LA's) and their last run."""
    setup_django()
    from rollsync.access.selectors import OPERATOR
    from rollsync.tenants.selectors import connection_view, connections_list

    found = connections_list(principal=OPERATOR)
    if urn:
        found = found.filter(school__urn=urn)
    if la_code:
        found = found.filter(la__code=la_code)
    views = [connection_view(c) for c in found]
    if as_json:
        emit_json(views)
        return
    if not views:
        click.echo("no tenant connections")
    for v in views:
        where = f"school {v['school']}" if v["school"] else f"LA {v['la']}"
        state = "connected" if v["enabled"] else "disconnected"
        last = v["last_run"]
        tail = f"; last run {last['id']} {last['status']} at {last['started_at']}" if last else ""
        click.echo(f"{v['kind']} {where} {v['settings'].get('domain', '')}: {state}{tail}")


def _run(
    kind: str, urn: str | None, la_code: str | None, dry_run: bool, actor: str, as_json: bool
) -> None:
    setup_django()
    from rollsync.tenants.selectors import run_view
    from rollsync.tenants.services import provision_run

    connection = _connection(kind, urn, la_code, as_json)
    run = provision_run(connection=connection, dry_run=dry_run, actor=actor)
    _print_run(run_view(run), as_json, verbose=dry_run)
    if run.status == "failed":
        sys.exit(1)


def _print_run(view: dict[str, Any], as_json: bool, *, verbose: bool) -> None:
    if as_json:
        emit_json(view)
        return
    what = "dry run (nothing sent)" if view["dry_run"] else "run"
    click.echo(
        f"{view['kind']} {what} {view['id']}: {view['status']}; {view['pushed']} pushed, "
        f"{view['failed']} failed; {view['requests']} requests, {view['throttled']} throttled"
    )
    counts = ", ".join(f"{k} {v}" for k, v in view["counts"].items())
    click.echo(f"planned: {counts or 'nothing to change'}")
    if view["error"]:
        click.echo(f"stopped: {view['error']}")
    for a in view.get("actions", []):
        if verbose or a["ok"] is False:
            mark = {
                True: "ok",
                False: "FAILED",
                None: "planned" if view["dry_run"] else "not tried",
            }[a["ok"]]
            who = f" {a['user']}" if a["user"] else ""
            click.echo(f"  {mark:9} {a['kind']} {a['key']}{who}: {a['error'] or a['reason']}")


@provision.command("plan")
@click.argument("kind", type=KINDS)
@_scope_options
@click.option("--by", "actor", default="cli")
@click.option("--json", "as_json", is_flag=True)
def plan_cmd(kind: str, urn: str | None, la_code: str | None, actor: str, as_json: bool) -> None:
    """A dry run: the tenant read back and what a run would change in it (nothing sent)."""
    _run(kind, urn, la_code, True, actor, as_json)


@provision.command("run")
@click.argument("kind", type=KINDS)
@_scope_options
@click.option("--dry-run", is_flag=True, help="Plan only (as `provision plan`).")
@click.option("--by", "actor", default="cli")
@click.option("--json", "as_json", is_flag=True)
def run_cmd(
    kind: str, urn: str | None, la_code: str | None, dry_run: bool, actor: str, as_json: bool
) -> None:
    """Push now: accounts created, updated, suspended and restored; class groups, their
    owners and members. Exit 1 when the run failed (nothing changed)."""
    _run(kind, urn, la_code, dry_run, actor, as_json)


@provision.command("report")
@click.argument("kind", type=KINDS, required=False)
@_scope_options
@click.option("--run", "run_id", type=int, default=None, help="One run by its number.")
@click.option("--json", "as_json", is_flag=True)
def report_cmd(
    kind: str | None, urn: str | None, la_code: str | None, run_id: int | None, as_json: bool
) -> None:
    """A run's report (the last of a connection, or --run N): every action, what failed and why."""
    setup_django()
    from rollsync.access.selectors import OPERATOR
    from rollsync.tenants.selectors import run_find, run_view, runs_list

    if run_id is not None:
        run = run_find(principal=OPERATOR, pk=run_id)
        if run is None:
            fail(f"no provisioning run {run_id}", as_json=as_json)
    else:
        if kind is None:
            fail(
                "name the tenant (google|microsoft) and --school/--la, or --run N",
                as_json=as_json,
                code=2,
            )
        runs = runs_list(connection=_connection(kind, urn, la_code, as_json), limit=1)
        if not runs:
            fail("no runs yet", as_json=as_json)
        run = runs[0]
    _print_run(run_view(run), as_json, verbose=True)


@provision.command("disconnect")
@click.argument("kind", type=KINDS)
@_scope_options
@click.option("--by", "actor", default="cli")
@click.option("--json", "as_json", is_flag=True)
def disconnect_cmd(
    kind: str, urn: str | None, la_code: str | None, actor: str, as_json: bool
) -> None:
    """Switch provisioning off: the credential is forgotten; the reports stay."""
    setup_django()
    from rollsync.tenants.services import tenant_disconnect

    connection = tenant_disconnect(connection=_connection(kind, urn, la_code, as_json), actor=actor)
    if as_json:
        emit_json({"id": connection.pk, "kind": kind, "enabled": False})
    else:
        click.echo(
            f"{kind} tenant disconnected for {connection.scope_label}; its credential was forgotten"
        )


@click.command("downstream-sim")
@click.argument("vendor", type=KINDS)
@click.option("--port", type=int, default=0, help="Where it listens on 127.0.0.1 (0: a free port).")
@click.option("--domain", default="school.example", show_default=True)
@click.option(
    "--key-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="google: write the service account key file the simulator accepts here (mode 0600).",
)
@click.option(
    "--secret-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="microsoft: write the client secret the simulator accepts here (mode 0600).",
)
@click.option("--quota", type=int, default=None, help="Requests a window before throttling.")
@click.option(
    "--window", type=float, default=60.0, show_default=True, help="The quota's window, seconds."
)
@click.option("--faults", default=None, help="As `rollsync mis-sim`: 429@2,500@3x2,drop@5.")
def downstream_sim(
    vendor: str,
    port: int,
    domain: str,
    key_out: Path | None,
    secret_out: Path | None,
    quota: int | None,
    window: float,
    faults: str | None,
) -> None:
    """Serve a simulated Google Directory API or Microsoft 365 tenant on 127.0.0.1, for
    tests and demos (never a real tenant). Stop with Ctrl-C."""
    import os

    from rollsync.downsim import GoogleDirectorySimulator, MicrosoftSimulator, make_service_account

    def private(path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    sim: Any
    if vendor == "google":
        account = make_service_account()
        sim = GoogleDirectorySimulator(
            account, domain=domain, port=port, faults=faults, quota=quota or 2400, window=window
        )
        if key_out is None:
            fail(
                "the Google simulator needs --key-out FILE (its service account key goes there)",
                code=2,
            )
        private(key_out, account.key_json(sim.token_url))
        click.echo(f"Google Directory API simulator on {sim.url} (token endpoint {sim.token_url})")
        click.echo(f"service account key: {key_out}; connect with --api-url {sim.url}")
    else:
        sim = MicrosoftSimulator(
            domain=domain, port=port, faults=faults, quota=quota, window=window
        )
        if secret_out is None:
            fail(
                "the Microsoft simulator needs --secret-out FILE (its client secret goes there)",
                code=2,
            )
        private(secret_out, sim.client_secret + "\n")
        click.echo(f"Microsoft 365 simulator on {sim.url}")
        click.echo(
            f"connect with --graph-url {sim.url} --login-url {sim.url} --tenant-id {sim.tenant_id} "
            f"--client-id {sim.client_id} --service-principal-id {sim.service_principal_id} "
            f"--job-id {sim.job_id} --client-secret-stdin < {secret_out}"
        )
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        sim.serve_forever()
