"""The `rollsync` command imports a command group's modules only when a command line
names it, and setting Django up imports no HTTP client: the suite starts about a
thousand `rollsync` processes, each of which paid for every command's imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click

from rollsync.cli import main

# Modules a process that runs `rollsync accounts` (or sets Django up) has no use for.
NOT_IMPORTED = (
    "httpx",
    "standardwebhooks",
    "rollsync.matching.link_cli",
    "rollsync.export",
    "rollsync.mis_cli",
    "rollsync.provision_cli",
    "rollsync.ops_cli",
    "rollsync.api.commands",
    "rollsync.downstream.commands",
    "rollsync.webhooks.commands",
)

_PROBE = """
import json, sys
from rollsync.cli_support import setup_django
import rollsync.cli
setup_django()
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "rollsync.config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stdout))


def test_the_command_and_django_import_no_command_group_and_no_http_client() -> None:
    loaded = _modules_after(_PROBE)
    assert "rollsync.cli" in loaded and "django.apps" in loaded
    assert sorted(name for name in NOT_IMPORTED if name in loaded) == []


def test_a_named_group_is_imported_then() -> None:
    loaded = _modules_after(
        _PROBE.replace(
            "setup_django()",
            "setup_django()\nimport click\n"
            "rollsync.cli.main.get_command(click.Context(rollsync.cli.main), 'webhook')",
        )
    )
    assert "rollsync.webhooks.commands" in loaded
    assert "rollsync.matching.link_cli" not in loaded


def test_every_lazy_command_is_listed_and_loads_as_the_command_of_that_name() -> None:
    ctx = click.Context(main)
    names = main.list_commands(ctx)
    lazy = {
        "api-token",
        "backup",
        "downstream",
        "downstream-sim",
        "link",
        "mis",
        "mis-sim",
        "provision",
        "retention",
        "webhook",
    }
    assert lazy <= set(names) and names == sorted(names) and len(names) == len(set(names))
    for name in names:
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name, name
    mis = main.get_command(ctx, "mis")
    assert isinstance(mis, click.Group)
    assert {"push-credentials", "agent-licence"} <= set(mis.list_commands(ctx))
    export = main.get_command(ctx, "export")
    assert isinstance(export, click.Group)
    assert export.list_commands(ctx) == ["schedule"]
    schedule = export.get_command(ctx, "schedule")
    assert schedule is not None and schedule.name == "schedule"
    assert main.get_command(ctx, "no-such-command") is None
