"""A fake SIMS installation folder: `CommandReporter` and `CommandReportImporter` beside
each other, as on a school's SIMS server, backed by the fake (`missim.commandreporter`).

    folder/
      CommandReporter          (CommandReporter.cmd on Windows) runs the fake reporter
      CommandReportImporter    (CommandReportImporter.cmd) runs the fake importer
      school.json              the simulated school's day (`rollsync simulate --mis-data`)
      users.json               the SIMS users and their permission groups
      state/                   the report definitions imported so far

The two executables carry the folder's paths in their environment, so the agent (or a
person) runs them with nothing but CommandReporter's own switches. `fake_sims_set_day`
swaps the school's day in place (the demo's next evening).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

from .commandreporter import ENV_DATA, ENV_STATE, ENV_USERS

REPORTER = "CommandReporter"
IMPORTER = "CommandReportImporter"
SCHOOL_FILE = "school.json"
USERS_FILE = "users.json"
# The SIMS user the demo and the tests configure the agent with: School Administrator and
# Third Party Reporting (without the latter SIMS leaves ID fields empty).
DEFAULT_USERS: dict[str, Any] = {
    "rollsync": {
        "password": "Sims-Demo-1",
        "groups": ["School Administrator", "Third Party Reporting", "Personnel Officer"],
    },
    "clerk": {"password": "Clerk-Demo-2", "groups": ["School Administrator"]},
}


def _script(folder: Path, mode: str) -> tuple[str, str]:
    """(file name, text) of one executable for this platform."""
    env = {
        ENV_DATA: str(folder / SCHOOL_FILE),
        ENV_USERS: str(folder / USERS_FILE),
        ENV_STATE: str(folder / "state"),
    }
    argv = [sys.executable, "-m", "rollsync.missim.commandreporter", *mode.split()]
    name = REPORTER if not mode else IMPORTER
    if os.name == "nt":
        sets = "".join(f'set "{k}={v}"\r\n' for k, v in env.items())
        command = " ".join(f'"{a}"' if " " in a else a for a in argv)
        return f"{name}.cmd", f"@echo off\r\n{sets}{command} %*\r\n"
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    command = " ".join(shlex.quote(a) for a in argv)
    return name, f'#!/bin/sh\n{exports}exec {command} "$@"\n'


def install_fake_sims(
    folder: Path, *, school_day: Path, users: dict[str, Any] | None = None
) -> Path:
    """Write a fake SIMS folder for the school day `school_day` (a `mis-data.json`);
    returns the path of its CommandReporter."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "state").mkdir(exist_ok=True)
    (folder / USERS_FILE).write_text(json.dumps(users or DEFAULT_USERS, indent=2), "utf-8")
    fake_sims_set_day(folder, school_day)
    reporter = folder
    for mode in ("", "importer"):
        name, text = _script(folder, mode)
        path = folder / name
        path.write_text(text, "utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP)
        if not mode:
            reporter = path
    return reporter


def fake_sims_set_day(folder: Path, school_day: Path) -> None:
    """Make the fake SIMS hold another day of the school (replaced whole, never half)."""
    target = folder / SCHOOL_FILE
    partial = folder / f".{SCHOOL_FILE}.part"
    shutil.copyfile(school_day, partial)
    os.replace(partial, target)


def install_command(argv: list[str], *, data_dir: Path, day: int | None) -> str:
    """`rollsync mis-sim sims --data DIR --school URN --install FOLDER`: the words to print."""
    import click

    from .data import SimData

    @click.command()
    @click.option("--school", "urn", required=True, help="The simulated school's URN.")
    @click.option(
        "--install",
        "folder",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="The folder to write the fake SIMS into.",
    )
    def command(urn: str, folder: Path) -> str:
        data = SimData.from_dir(data_dir, day=day)
        school_day = data.day_file(urn)
        if school_day is None:
            raise click.UsageError(f"{data_dir} has no school {urn} on day {data.day}")
        reporter = install_fake_sims(folder, school_day=school_day)
        user = next(iter(DEFAULT_USERS))
        return (
            f"fake SIMS for school {urn} (day {data.day}) in {folder}\n"
            f"  CommandReporter: {reporter}\n"
            f"  SIMS user: {user} (password {DEFAULT_USERS[user]['password']}, a test user)"
        )

    result = command.main(argv, prog_name="rollsync mis-sim sims", standalone_mode=False)
    return str(result)
