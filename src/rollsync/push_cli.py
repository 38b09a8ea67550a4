"""`rollsync mis push-credentials`: issue (or replace) a Bromcom school's push credentials.

Registered on the `rollsync mis` group (`cli._register_commands`). The supplier password is
printed this once: rollsync keeps only its hash, so no command can show it again; issuing
new credentials makes the old ones stop working at once. See docs/push-api.md."""

from __future__ import annotations

import click

from rollsync.cli_support import emit_json, setup_django


@click.command("push-credentials")
@click.option("--school", "urn", required=True)
@click.option("--json", "as_json", is_flag=True)
def push_credentials(urn: str, as_json: bool) -> None:
    """Issue a Bromcom school's licence key, supplier ID and supplier password (shown once;
    any earlier credentials stop working)."""
    setup_django()
    from rollsync.cli import _school
    from rollsync.directory.services.push import push_credentials_issue

    school = _school(urn, as_json=as_json)
    issued = push_credentials_issue(school=school, actor="cli")
    if as_json:
        emit_json(
            {
                "school": issued.school_urn,
                "licence_key": issued.licence_key,
                "supplier_id": issued.supplier_id,
                "password": issued.password,
                "issued_at": issued.issued_at.isoformat(),
                "replaced": issued.replaced,
            }
        )
        return
    click.echo(
        f"{school.urn} {school.name}: Bromcom push credentials "
        f"{'replaced (the old ones no longer work)' if issued.replaced else 'issued'}"
    )
    click.echo(f"  licence key:       {issued.licence_key}")
    click.echo(f"  supplier ID:       {issued.supplier_id}")
    click.echo(f"  supplier password: {issued.password}")
    click.echo(
        "The password is shown this once (only its hash is kept). Enter the three in Bromcom "
        "and press Save (not Save & Run) so it pushes every evening after 18:00."
    )
