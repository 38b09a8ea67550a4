"""`rollsync mis ...` (connect, status, run, disconnect, schedule, rekey) and
`rollsync mis-sim`: click commands for the `rollsync` command to register.

Secrets are read from standard input (`--client-secret-stdin`, `--password-stdin`,
`--token-stdin`), never from an argument: arguments are visible to every user of the
machine and kept in shell history. Exit codes: 0 done, 1 refused or failed, 2 bad input."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click

from rollsync.cli_support import emit_json, fail, setup_django


def _read_secret(label: str) -> str:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value.strip():
        fail(f"{label} was asked for on standard input, but none came", code=2)
    return value


@click.group("mis")
def mis() -> None:
    """A school's MIS connection: connect once, then data is pulled on a schedule or at once."""


@mis.command("connect")
@click.option("--school", "urn", required=True)
@click.option(
    "--mis",
    "mis_name",
    required=True,
    help="isams, arbor, wonde, integris or pupil_asset (docs/connectors.md); ScholarPack "
    "and Arbor by approval on AutoUpdate Settings; Bromcom: rollsync mis push-credentials.",
)
@click.option("--url", default=None, help="The MIS URL (iSAMS, Arbor; Wonde: its API, optional).")
@click.option("--client-id", default=None, help="iSAMS: the REST API client ID.")
@click.option(
    "--client-secret-stdin", is_flag=True, help="iSAMS: read the client secret from stdin."
)
@click.option("--username", default=None, help="Arbor: the application user.")
@click.option("--password-stdin", is_flag=True, help="Arbor: read the password from stdin.")
@click.option("--wonde-school", default=None, help="Wonde: the school's Wonde ID.")
@click.option("--school-reference", default=None, help="Pupil Asset: the school reference number.")
@click.option(
    "--token-stdin", is_flag=True, help="Wonde: read the region's Wonde token from stdin."
)
@click.option("--schedule", default=None, help="Cron fields in the LA's time, e.g. '0 2 * * *'.")
@click.option("--json", "as_json", is_flag=True)
def mis_connect(
    urn: str,
    mis_name: str,
    url: str | None,
    client_id: str | None,
    client_secret_stdin: bool,
    username: str | None,
    password_stdin: bool,
    wonde_school: str | None,
    school_reference: str | None,
    token_stdin: bool,
    schedule: str | None,
    as_json: bool,
) -> None:
    """Connect a school's MIS; the credentials are checked at once (a token and one page)."""
    setup_django()
    from rollsync.cli import _school
    from rollsync.directory import selectors
    from rollsync.directory.services.connections import connection_connect

    school = _school(urn, as_json=as_json)
    settings = {
        k: v
        for k, v in {
            "url": url,
            "client_id": client_id,
            "username": username,
            "wonde_school": wonde_school,
            "school_reference": school_reference,
        }.items()
        if v
    }
    secrets: dict[str, str] = {}
    if client_secret_stdin:
        secrets["client_secret"] = _read_secret("the client secret")
    if password_stdin:
        secrets["password"] = _read_secret("the password")
    if token_stdin:
        secrets["token"] = _read_secret("the token")
    connection_connect(
        school=school,
        mis=mis_name,
        settings=settings,
        secrets=secrets,
        actor="cli",
        schedule=schedule,
    )
    status = selectors.connection_status(school=school)
    if as_json:
        emit_json(status)
    else:
        click.echo(
            f"{school.urn} {school.name}: {status['label']} {status['state']}. {status['status']}"
        )
        click.echo(f"next pull: {status['next_pull']} (schedule {status['schedule']})")


@mis.command("approval-link")
@click.option("--school", "urn", required=True)
@click.option("--mis", "mis_name", required=True, help="arbor or scholarpack.")
@click.option(
    "--return-url",
    default="http://127.0.0.1:8000/connections/return/",
    show_default=True,
    help="rollsync's web address the MIS sends the school back to (…/connections/return/).",
)
@click.option("--json", "as_json", is_flag=True)
def mis_approval_link(urn: str, mis_name: str, return_url: str, as_json: bool) -> None:
    """The link a school admin follows to approve rollsync in its MIS (Arbor, ScholarPack).
    The MIS sends them back to the web app, which finishes the connection."""
    setup_django()
    from rollsync.cli import _school
    from rollsync.directory.services.connections import connection_approval_begin

    school = _school(urn, as_json=as_json)
    link = connection_approval_begin(
        school=school, mis=mis_name, actor="cli", return_url=return_url
    )
    if as_json:
        emit_json({"school": school.urn, "mis": mis_name, "link": link})
    else:
        click.echo(f"{school.urn} {school.name}: awaiting approval. The school approves at:")
        click.echo(link)


@mis.command("status")
@click.option("--school", "urn", required=True)
@click.option("--json", "as_json", is_flag=True)
def mis_status(urn: str, as_json: bool) -> None:
    """The connection: MIS, state, last pull and outcome, next pull, light, last error."""
    setup_django()
    from rollsync.cli import _school
    from rollsync.directory import selectors

    status = selectors.connection_status(school=_school(urn, as_json=as_json))
    if as_json:
        emit_json(status)
        return
    click.echo(f"{status['school']}: {status.get('label') or status['mis'] or 'no MIS'}")
    click.echo(f"  state:     {status['state']} ({status['light']})")
    click.echo(f"  status:    {status['status']}")
    last = status["last_pull"]
    click.echo(f"  last pull: {last['at'] + ' ' + last['outcome'] if last else 'never'}")
    click.echo(f"  next pull: {status['next_pull'] or 'not scheduled'}")
    if status["last_error"]:
        click.echo(f"  last error: {status['last_error']}")
    agent = status.get("agent")
    if agent is not None:
        hint = agent["licence_hint"]
        click.echo(
            f"  licence key: {'…' + hint + ', issued ' + str(agent['licence_issued_at']) if hint else 'not issued'}"
        )
        click.echo(f"  last contact: {agent['last_contact'] or 'never'}")
        where = (
            f"{agent['hostname']} ({agent['platform']})" if agent["hostname"] else "not reported"
        )
        click.echo(f"  agent: {agent['version'] or 'version not reported'} on {where}")
        for name, light in agent["lights"].items():
            click.echo(f"    {name}: {light['light']} {light['message']}".rstrip())
        last = agent["last_upload"]
        if last:
            click.echo(
                f"  last upload: {last['received_at']} {last['report']} {last['outcome']}"
                f" (upload {last['upload']})"
            )


@mis.command("run")
@click.option("--school", "urn", required=True)
@click.option(
    "--report",
    "reports",
    multiple=True,
    type=click.Choice(
        ["students", "students_future", "staff", "staff_future", "contacts", "groups", "attendance"]
    ),
    help="Pull only this report (repeatable); default: every accepted report.",
)
@click.option("--dry-run", is_flag=True, help="Pull and plan; change nothing.")
@click.option("--json", "as_json", is_flag=True)
def mis_run(urn: str, reports: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Force run: pull every accepted report now, store each as an upload, sync it."""
    setup_django()
    from rollsync.cli import _print_summary, _run_summary, _school
    from rollsync.directory.services.connections import connection_pull

    school = _school(urn, as_json=as_json)
    outcome = connection_pull(
        school=school, actor="cli", reports=list(reports) or None, dry_run=dry_run
    )
    runs = [_run_summary(r) for r in outcome.runs]
    if as_json:
        body: dict[str, Any] = {"school": school.urn, "status": outcome.status, "runs": runs}
        if outcome.error:
            body["error"] = outcome.error
        emit_json(body)
    else:
        click.echo(f"{school.urn} {school.name}: pull {outcome.status}")
        if outcome.error:
            click.echo(f"  {outcome.error}")
        for summary in runs:
            _print_summary(summary)
    sys.exit(1 if outcome.status == "failed" else 0)


@mis.command("disconnect")
@click.option("--school", "urn", required=True)
@click.option("--json", "as_json", is_flag=True)
def mis_disconnect(urn: str, as_json: bool) -> None:
    """Forget the connection and its secrets (uploads and runs stay)."""
    setup_django()
    from rollsync.cli import _school
    from rollsync.directory.services.connections import connection_disconnect

    school = _school(urn, as_json=as_json)
    if not connection_disconnect(school=school, actor="cli"):
        fail(f"{school.urn} {school.name} has no MIS connection", as_json=as_json)
    if as_json:
        emit_json({"school": school.urn, "disconnected": True})
    else:
        click.echo(f"{school.urn} {school.name}: disconnected; its credentials are forgotten")


@mis.command("schedule")
@click.option("--school", "urn", required=True)
@click.argument("cron")
def mis_schedule(urn: str, cron: str) -> None:
    """Set when the school is pulled: five cron fields in the LA's time ('0 2 * * *')."""
    setup_django()
    from rollsync.cli import _school
    from rollsync.directory.services.connections import connection_schedule_set

    conn = connection_schedule_set(school=_school(urn), schedule=cron, actor="cli")
    click.echo(f"schedule {conn.schedule}; next pull {conn.next_pull_at}")


@mis.command("rekey")
def mis_rekey() -> None:
    """Encrypt every stored secret under the first key of ROLLSYNC_CONNECTION_KEYS."""
    setup_django()
    from rollsync.directory.services.connections import connections_rekey

    click.echo(f"{connections_rekey()} connection(s) encrypted under the newest key")


@click.command(
    "mis-sim", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.argument(
    "vendor",
    type=click.Choice(["isams", "arbor", "wonde", "scholarpack", "bromcom-push", "sims"]),
)
@click.option("--port", type=int, default=None, help="Where a simulated MIS API listens.")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="A simulated LA: `rollsync simulate --out DIR --mis-data`.",
)
@click.option("--day", type=int, default=None, help="Serve this day (default: the last).")
@click.option("--faults", default=None, help="e.g. 429@2,500@3x2,drop@5 (docs/connectors.md).")
@click.pass_context
def mis_sim(
    ctx: click.Context,
    vendor: str,
    port: int | None,
    data_dir: Path,
    day: int | None,
    faults: str | None,
) -> None:
    """Serve a simulated MIS API on 127.0.0.1:PORT, for tests and demos (never a real school).
    `bromcom-push` instead pushes a simulated school to rollsync as Bromcom does
    (`--to URL --licence-key K --supplier-id S --password-stdin [--school URN]`);
    `sims` writes a fake SIMS folder (CommandReporter and CommandReportImporter) holding
    one simulated school, for the rollsync agent (`--school URN --install FOLDER`)."""
    from rollsync.missim import FaultSpecError, SimData, simulator_class

    if vendor == "bromcom-push":
        from rollsync.missim.bromcom_push import push_command

        given = ["--data", str(data_dir), *(["--day", str(day)] if day is not None else [])]
        given += ["--faults", faults] if faults else []
        push_command.main([*given, *ctx.args], prog_name="rollsync mis-sim bromcom-push")
        return
    if vendor == "sims":
        from rollsync.missim.fake_sims import install_command

        try:
            click.echo(install_command(list(ctx.args), data_dir=data_dir, day=day))
        except FileNotFoundError as exc:
            fail(str(exc), code=2)
        except click.ClickException as exc:
            fail(exc.format_message(), code=2)
        return
    if ctx.args:
        fail(f"unknown option(s) for the {vendor} simulator: {' '.join(ctx.args)}", code=2)
    if port is None:
        fail("give --port: where the simulated MIS API listens", code=2)
    try:
        data = SimData.from_dir(data_dir, day=day)
        server = simulator_class(vendor)(data, port=port, faults=faults)
    except (FileNotFoundError, FaultSpecError, ValueError) as exc:
        fail(str(exc), code=2)
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}")
    click.echo(
        f"{vendor} simulator on {server.url} serving day {data.day} of {data_dir} (Ctrl+C to stop)"
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
