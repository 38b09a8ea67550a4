"""`rollsync api-token ...`: make, list and revoke API tokens. A click group for the
`rollsync` command to register (`main.add_command(api_token)` in rollsync/cli.py).

Exit codes follow the command's rules: 0 done, 1 refused, 2 bad input."""

from __future__ import annotations

import json
from typing import Any

import click

from rollsync.cli_support import one_school_or_la, school_or_la, setup_django


def _token_row(token: Any) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "school": token.school.urn if token.school else None,
        "la": token.la.code if token.la else None,
        "read_only": token.read_only,
        "created_at": token.created_at.isoformat(),
        "created_by": token.created_by,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


@click.group("api-token")
def api_token() -> None:
    """Tokens for the JSON API (docs/api.md): scoped to a school or an LA."""


@api_token.command("create")
@click.option("--name", required=True, help="What uses the token.")
@click.option("--school", "urn", default=None, help="Scope: this school (URN).")
@click.option("--la", "la_code", default=None, help="Scope: every school of this LA (code).")
@click.option("--read-only", is_flag=True, help="The token may read but never change anything.")
@click.option("--by", "actor", default="operator", help="Who makes it (recorded in the audit).")
@click.option("--json", "as_json", is_flag=True)
def create_cmd(
    name: str, urn: str | None, la_code: str | None, read_only: bool, actor: str, as_json: bool
) -> None:
    """Make a token. Its secret is printed once and cannot be shown again."""
    one_school_or_la(urn, la_code)
    setup_django()
    from rollsync.api.services import api_token_create

    school, la = school_or_la(urn, la_code, as_json=as_json)
    token, secret = api_token_create(
        name=name, school=school, la=la, read_only=read_only, actor=actor
    )
    if as_json:
        click.echo(json.dumps({**_token_row(token), "secret": secret}))
        return
    scope = f"school {urn}" if urn else f"LA {la_code}"
    access = "read-only" if read_only else "read and write"
    click.echo(f"API token {token.pk} '{token.name}' for {scope} ({access})")
    click.echo(secret)
    click.echo("Keep the secret now: it is not stored and cannot be shown again.", err=True)


@api_token.command("list")
@click.option("--school", "urn", default=None)
@click.option("--la", "la_code", default=None)
@click.option("--json", "as_json", is_flag=True)
def list_cmd(urn: str | None, la_code: str | None, as_json: bool) -> None:
    """The tokens (never their secrets), optionally of one school or LA."""
    setup_django()
    from rollsync.api.selectors import api_tokens

    school, la = school_or_la(urn, la_code)
    rows = [_token_row(t) for t in api_tokens(school=school, la=la)]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        scope = f"school {r['school']}" if r["school"] else f"LA {r['la']}"
        state = "revoked" if r["revoked_at"] else ("read-only" if r["read_only"] else "read-write")
        used = r["last_used_at"][:16] if r["last_used_at"] else "never used"
        click.echo(f"{r['id']:>4} {r['prefix']}…  {r['name']:<30} {scope:<14} {state:<10} {used}")


@api_token.command("revoke")
@click.argument("token_id", type=int)
@click.option("--by", "actor", default="operator")
def revoke_cmd(token_id: int, actor: str) -> None:
    """Stop a token working, at once and for good."""
    setup_django()
    from rollsync.api.services import api_token_revoke

    token = api_token_revoke(token_id=token_id, actor=actor)
    click.echo(f"API token {token.pk} '{token.name}' revoked")
