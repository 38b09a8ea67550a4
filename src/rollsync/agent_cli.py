"""`rollsync mis agent-licence`: issue (or replace) a SIMS school's rollsync agent licence key.

Registered on the `rollsync mis` group (`cli._register_commands`). The key is printed this
once: rollsync keeps only its hash, so no command can show it again; a new key makes the
old one stop working at once. See docs/agent.md."""

from __future__ import annotations

import click

from rollsync.cli_support import emit_json, setup_django


@click.command("agent-licence")
@click.option("--school", "urn", required=True)
@click.option("--json", "as_json", is_flag=True)
def agent_licence(urn: str, as_json: bool) -> None:
    """Issue a SIMS school's rollsync agent licence key (shown once; an earlier key stops
    working). The school's MIS becomes SIMS."""
    setup_django()
    from rollsync.cli import _school
    from rollsync.directory.services.agent import agent_licence_issue

    school = _school(urn, as_json=as_json)
    issued = agent_licence_issue(school=school, actor="cli")
    if as_json:
        emit_json(
            {
                "school": issued.school_urn,
                "licence_key": issued.licence_key,
                "issued_at": issued.issued_at.isoformat(),
                "replaced": issued.replaced,
            }
        )
        return
    click.echo(
        f"{school.urn} {school.name}: rollsync agent licence key "
        f"{'replaced (the old one no longer works)' if issued.replaced else 'issued'}"
    )
    click.echo(f"  licence key: {issued.licence_key}")
    click.echo(
        "It is shown this once (only its hash is kept). Enter it in the agent on the SIMS "
        "server (rollsync-agent configure)."
    )
