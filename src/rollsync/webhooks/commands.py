"""`rollsync webhook ...`: endpoints that receive the directory's change events as
Standard Webhooks (docs/downstream.md#webhooks). The command acts as the region operator.

Exit codes follow the command's rules: 0 done, 1 refused or not found, 2 bad input."""

from __future__ import annotations

from datetime import datetime, timedelta

import click

from rollsync.cli_support import emit_json, fail, one_school_or_la, school_or_la, setup_django


@click.group("webhook")
def webhook() -> None:
    """Change events pushed to a URL, signed (Standard Webhooks)."""


def _endpoint(endpoint_id: int, as_json: bool):  # type: ignore[no-untyped-def]
    from rollsync.access.selectors import OPERATOR
    from rollsync.webhooks.selectors import endpoint_for

    endpoint = endpoint_for(OPERATOR, endpoint_id)
    if endpoint is None:
        fail(f"there is no webhook {endpoint_id}", as_json=as_json)
    return endpoint


@webhook.command("add")
@click.option("--url", required=True, help="https:// (plain http only to this machine).")
@click.option("--school", "urn", default=None, help="Scope: this school (URN).")
@click.option("--la", "la_code", default=None, help="Scope: every school of this LA (code).")
@click.option("--by", "actor", default="operator", help="Who adds it (recorded in the audit).")
@click.option("--json", "as_json", is_flag=True)
def add_cmd(url: str, urn: str | None, la_code: str | None, actor: str, as_json: bool) -> None:
    """Add an endpoint. Its signing secret is printed once and cannot be shown again."""
    one_school_or_la(urn, la_code)
    setup_django()
    from rollsync.webhooks.services import webhook_endpoint_add

    school, la = school_or_la(urn, la_code, as_json=as_json)
    endpoint, secret = webhook_endpoint_add(url=url, school=school, la=la, actor=actor)
    if as_json:
        emit_json({"id": endpoint.pk, "secret": secret})
        return
    click.echo(f"webhook {endpoint.pk} for {'school ' + urn if urn else 'LA ' + str(la_code)}")
    click.echo(secret)
    click.echo("Keep the secret now: it cannot be shown again.", err=True)


@webhook.command("list")
@click.option("--all", "removed", is_flag=True, help="Removed endpoints too.")
@click.option("--json", "as_json", is_flag=True)
def list_cmd(removed: bool, as_json: bool) -> None:
    """The endpoints (never their secrets)."""
    setup_django()
    from rollsync.access.selectors import OPERATOR
    from rollsync.webhooks.selectors import endpoint_row, endpoints_for

    rows = [endpoint_row(e) for e in endpoints_for(OPERATOR, removed=removed)]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        scope = f"school {r['school']}" if r["school"] else f"LA {r['la']}"
        note = f" ({r['state_reason']})" if r["state_reason"] else ""
        click.echo(
            f"{r['id']}\t{r['state']}{note}\t{scope}\t{r['url']}\t"
            f"{r['pending']} pending, {r['failed']} failed"
        )


def _state_change(name: str, done: str, doc: str) -> None:
    """`webhook remove ID` and `webhook enable ID`: one service call each, the same shape."""

    @webhook.command(name, help=doc)
    @click.argument("endpoint_id", type=int)
    @click.option("--by", "actor", default="operator")
    @click.option("--json", "as_json", is_flag=True)
    def command(endpoint_id: int, actor: str, as_json: bool) -> None:
        setup_django()
        from rollsync.webhooks import services

        endpoint = _endpoint(endpoint_id, as_json)
        change = getattr(services, f"webhook_endpoint_{name}")
        state = change(endpoint_id=endpoint.pk, actor=actor).state
        if as_json:
            emit_json({"id": endpoint.pk, "state": state})
        else:
            click.echo(f"webhook {endpoint.pk} {done}")


_state_change(
    "remove", "removed", "Stop sending to an endpoint and forget its secret (its log is kept)."
)
_state_change("enable", "enabled", "Send again to an endpoint that was disabled (410 Gone).")


@webhook.command("rotate")
@click.argument("endpoint_id", type=int)
@click.option(
    "--keep-old-hours",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="The old secret also signs this long (0: stop at once).",
)
@click.option("--by", "actor", default="operator")
@click.option("--json", "as_json", is_flag=True)
def rotate_cmd(endpoint_id: int, keep_old_hours: float, actor: str, as_json: bool) -> None:
    """A new signing secret, printed once."""
    setup_django()
    from rollsync.webhooks.services import webhook_endpoint_rotate

    endpoint = _endpoint(endpoint_id, as_json)
    endpoint, secret = webhook_endpoint_rotate(
        endpoint_id=endpoint.pk, actor=actor, keep_previous=timedelta(hours=keep_old_hours)
    )
    if as_json:
        emit_json({"id": endpoint.pk, "secret": secret})
        return
    click.echo(secret)
    click.echo("Keep the secret now: it cannot be shown again.", err=True)


@webhook.command("deliveries")
@click.argument("endpoint_id", type=int)
@click.option(
    "--status", type=click.Choice(["pending", "succeeded", "failed", "cancelled"]), default=None
)
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def deliveries_cmd(endpoint_id: int, status: str | None, limit: int, as_json: bool) -> None:
    """The endpoint's delivery log, newest first, with every attempt."""
    setup_django()
    from rollsync.webhooks.selectors import deliveries_of

    rows = deliveries_of(_endpoint(endpoint_id, as_json), status=status, limit=limit)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        last = f" {r['last_status_code'] or ''} {r['last_error']}".rstrip()
        click.echo(
            f"{r['id']}\t{r['created_at']}\t{r['type']}\t{r['account'] or ''}\t{r['status']}"
            f"\t{r['attempts']} attempts{last}"
        )


@webhook.command("replay")
@click.argument("endpoint_id", type=int)
@click.option("--delivery", "delivery_ids", type=int, multiple=True, help="This delivery (repeat).")
@click.option("--failed", is_flag=True, help="Every failed delivery.")
@click.option("--since", type=click.DateTime(), default=None, help="Every delivery since (UTC).")
@click.option("--by", "actor", default="operator")
@click.option("--json", "as_json", is_flag=True)
def replay_cmd(
    endpoint_id: int,
    delivery_ids: tuple[int, ...],
    failed: bool,
    since: datetime | None,
    actor: str,
    as_json: bool,
) -> None:
    """Send deliveries again, with the same webhook-id."""
    setup_django()
    from datetime import UTC

    from rollsync.webhooks.services import webhook_deliveries_replay

    endpoint = _endpoint(endpoint_id, as_json)
    count = webhook_deliveries_replay(
        endpoint_id=endpoint.pk,
        actor=actor,
        delivery_ids=delivery_ids,
        failed=failed,
        since=since.replace(tzinfo=UTC) if since and since.tzinfo is None else since,
    )
    emit_json({"id": endpoint.pk, "queued": count}) if as_json else click.echo(
        f"{count} deliveries queued again"
    )


@webhook.command("rekey")
@click.option("--by", "actor", default="operator")
@click.option("--json", "as_json", is_flag=True)
def rekey_cmd(actor: str, as_json: bool) -> None:
    """Seal every endpoint's secret again under the newest key of ROLLSYNC_CONNECTION_KEYS."""
    setup_django()
    from rollsync.webhooks.services import webhook_secrets_reseal

    count = webhook_secrets_reseal(actor=actor)
    emit_json({"resealed": count}) if as_json else click.echo(f"{count} webhook secrets resealed")


@webhook.command("listen")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option(
    "--secret",
    envvar="ROLLSYNC_WEBHOOK_SECRET",
    required=True,
    help="The endpoint's whsec_ secret (or ROLLSYNC_WEBHOOK_SECRET).",
)
def listen_cmd(port: int, secret: str) -> None:
    """Receive webhooks on 127.0.0.1 to try an install: each verified event is printed."""
    from rollsync.webhooks.listen import make_server
    from rollsync.webhooks.sending import check_secret

    try:
        check_secret(secret)
    except ValueError as exc:
        raise click.UsageError(f"--secret is not a whsec_ secret: {exc}") from None
    try:
        server = make_server(port=port, secret=secret)
    except OSError as exc:
        fail(f"cannot listen on port {port}: {exc.strerror}")
    click.echo(f"listening on http://127.0.0.1:{server.server_address[1]}/", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@webhook.command("send")
@click.option("--json", "as_json", is_flag=True)
def send_cmd(as_json: bool) -> None:
    """Send what is due now, in this process (the worker does it every minute)."""
    setup_django()
    from rollsync.webhooks.services import deliveries_dispatch

    result = deliveries_dispatch()
    summary = {
        "sent": result.sent,
        "succeeded": result.succeeded,
        "retrying": result.retrying,
        "failed": result.failed,
        "disabled": result.disabled,
    }
    emit_json(summary) if as_json else click.echo(
        f"{result.sent} sent: {result.succeeded} delivered, {result.retrying} to retry,"
        f" {result.failed} failed"
    )
