"""The demo's SIMS school: the real rollsync agent (`agent/`, its own package, run as its
own process) on a fake SIMS (`missim.fake_sims`), uploading to rollsync's agent
endpoints each evening, as a school's server would. rollsync issues the licence key
(shown once: the demo hands it straight to the agent's configure); each evening the
fake SIMS holds that day of the school, the agent extracts, filters and uploads, and the
worker syncs what arrived.

    var/demo/sims-agent/<URN>/SIMS/         the fake SIMS (CommandReporter, ...)
    var/demo/sims-agent/<URN>/agent-home/   the agent's configuration, queue, log, status
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from rollsync.directory import models as m
from rollsync.missim.fake_sims import DEFAULT_USERS, fake_sims_set_day, install_fake_sims
from rollsync.simulate.mis_data import MIS_DATA_FILE

MISSING = "the rollsync agent is not installed here (pip install ./agent)"
SIMS_USER = "rollsync"
FOLDER = "sims-agent"
_LICENCE: dict[str, str] = {}  # URN -> licence key, until the agent has it


def executable() -> str | None:
    """The `rollsync-agent` beside this Python (the venv `./dev` made), or on PATH."""
    return shutil.which("rollsync-agent", path=str(Path(sys.executable).parent)) or shutil.which(
        "rollsync-agent"
    )


def available() -> bool:
    return executable() is not None


def _folders(out: Path, urn: str) -> tuple[Path, Path]:
    base = out / FOLDER / urn
    return base / "SIMS", base / "agent-home"


def _env(home: Path) -> dict[str, str]:
    # The demo's secrets go to a file in the demo's folder, never a person's desktop keyring.
    return {
        **os.environ,
        "ROLLSYNC_AGENT_HOME": str(home.resolve()),
        "ROLLSYNC_AGENT_KEYRING": "off",
        "NO_COLOR": "1",
    }


def _agent(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = executable()
    assert exe is not None, MISSING
    return subprocess.run(
        [exe, *args], env=_env(home), input=stdin, capture_output=True, text=True, timeout=600
    )


def _day_file(out: Path, urn: str, day: int) -> Path:
    return out / f"day-{day:02d}" / urn / MIS_DATA_FILE


def install(out: Path, school: m.School) -> None:
    """Set the school up as SIMS with the agent: a licence key (kept for the agent's
    configure), a fake SIMS on the school's first day."""
    from rollsync.directory.services.agent import agent_licence_issue

    sims, _ = _folders(out, school.urn)
    issued = agent_licence_issue(school=school, actor="demo")
    _LICENCE[school.urn] = issued.licence_key
    install_fake_sims(sims, school_day=_day_file(out, school.urn, 1))


def configure(out: Path, urn: str, server_url: str) -> subprocess.CompletedProcess[str]:
    """Point the school's agent at `server_url` (the first time with the licence key, the
    fake SIMS and its user, as a technician does)."""
    sims, home = _folders(out, urn)
    args = ["configure", "--server", server_url]
    key = _LICENCE.pop(urn, None)
    if key is not None:
        args += [
            "--licence-key",
            key,
            "--command-reporter",
            str((sims / "CommandReporter").resolve()),
            "--sims-user",
            SIMS_USER,
            "--sims-password-stdin",
            "--server-name",
            "DEMO-SRV\\SIMS",
            "--database-name",
            "SIMS",
        ]
    stdin = f"{DEFAULT_USERS[SIMS_USER]['password']}\n" if key is not None else None
    return _agent(home, *args, stdin=stdin)


def evening(out: Path, school: m.School, day: int, server_url: str) -> str:
    """The school's evening: SIMS holds the day, the agent runs (extract, filter, upload),
    the worker syncs what arrived. Returns words when something went wrong, else ""."""
    from rollsync.directory.tasks import run_queued

    sims, home = _folders(out, school.urn)
    fake_sims_set_day(sims, _day_file(out, school.urn, day))
    done = configure(out, school.urn, server_url)
    if done.returncode != 0:
        return f"configure failed: {(done.stderr or done.stdout).strip()}"
    done = _agent(home, "run", "--json")
    run_queued()
    if done.returncode == 0:
        return ""
    status = _agent(home, "status", "--json")
    try:
        lights = json.loads(status.stdout)["lights"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return (done.stderr or done.stdout).strip()[-300:]
    red = [f"{k}: {v.get('message', '')}" for k, v in lights.items() if v.get("light") == "red"]
    return "; ".join(red) or f"the agent exited {done.returncode}"


def point_at(out: Path, server_url: str) -> None:
    """The demo served: each agent now talks to the served web app (a person may run
    `rollsync-agent run` against it)."""
    for base in sorted((out / FOLDER).glob("*")):
        if base.is_dir() and available():
            configure(out, base.name, server_url)


def agent_command(out: Path, urn: str) -> str:
    """How a person runs the demo school's agent by hand."""
    _, home = _folders(out, urn)
    return f"ROLLSYNC_AGENT_HOME={home} ROLLSYNC_AGENT_KEYRING=off rollsync-agent run"


class Server:
    """The web app on a free loopback port in this process, for the agent to upload to
    while the demo syncs (the demo's own `--serve` comes after)."""

    def __init__(self) -> None:
        from rollsync.web.serve import make

        self._server: Any
        self._server, self._stop = make("127.0.0.1", 0, worker=False, threads=4)
        self.url = f"http://127.0.0.1:{self._server.effective_port}"
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="agent-door")

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._server.close()
        self._thread.join(timeout=10)
