"""The deploy files stay true: each systemd unit is valid, and every rollsync command a
unit runs exists with the options it passes."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollsync.cli import main

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service")) + sorted(
    (DEPLOY / "systemd").glob("*.timer")
)


def test_there_are_units_for_web_worker_and_backup() -> None:
    assert {u.name for u in UNITS} == {
        "rollsync-web.service",
        "rollsync-worker.service",
        "rollsync-backup.service",
        "rollsync-backup.timer",
    }


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_each_unit_verifies(unit: Path) -> None:
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    # the install paths do not exist on a test machine; anything else is a defect
    problems = [
        line
        for line in done.stderr.splitlines()
        if line.strip() and "is not executable" not in line and "/opt/rollsync" not in line
    ]
    assert problems == [], problems


def _rollsync_commands() -> list[list[str]]:
    found = []
    for unit in UNITS:
        for line in unit.read_text().splitlines():
            if not line.startswith("ExecStart="):
                continue
            words = shlex.split(line.removeprefix("ExecStart="))
            if words[:2] == ["/bin/sh", "-c"]:
                words = shlex.split(words[2])
            words = [w for w in words if w != "exec"]
            if words and words[0].endswith("/rollsync"):
                found.append(words[1:])
    return found


def test_every_command_a_unit_runs_exists_with_its_options() -> None:
    commands = _rollsync_commands()
    assert {c[0] for c in commands} == {"serve", "worker", "backup"}
    runner = CliRunner()
    for words in commands:
        path = [w for w in words if not w.startswith("-") and not re.search(r"[/$]", w)]
        path = path[:2] if path[0] == "backup" else path[:1]
        shown = runner.invoke(main, [*path, "--help"])
        assert shown.exit_code == 0, (words, shown.output)
        for option in (w.split("=")[0] for w in words if w.startswith("--")):
            assert option in shown.output, (words, option)
