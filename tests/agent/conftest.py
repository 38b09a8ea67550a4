"""Agent fixtures: a folder with SIMS's two executables (the fake CommandReporter behind
tiny wrappers), a simulated school's mis-data.json, the protocol test server, and a way to
run the real `rollsync-agent` executable."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rollsync.missim.commandreporter import CAPTIONS, definition_xml
from rollsync.simulate import SchoolSnapshot, make_school_truth
from rollsync.simulate.mis_data import dump_snapshot
from tests.agent.protocol_server import ProtocolServer, State

LICENCE_KEY = "RSA-ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2-34567"
PASSWORD = "Pa55-agent-secret-9731"
AGENT = Path(sys.executable).parent / "rollsync-agent"
USERS = {
    "office": {"password": PASSWORD, "groups": ["School Administrator", "Third Party Reporter"]},
    "clerk": {"password": PASSWORD, "groups": ["School Administrator"]},
}

STUDENT_STATES = {
    "ID": "Mandatory",
    "UPN": "Mandatory",
    "Legal Surname": "Mandatory",
    "Legal Forename": "Mandatory",
    "Preferred Surname": "Uploaded",
    "Preferred Forename": "Uploaded",
    "Middle Name(s)": "Uploaded",
    "Gender": "Mandatory",
    "Date of Birth": "Mandatory",
    "Year": "Mandatory",
    "Reg Group": "Mandatory",
    "Admission Date": "Uploaded",
    "Leaving Date": "Uploaded",
    "Enrolment Status": "Mandatory",
    "Primary Email": "Not uploaded",
    "Postcode": "Not uploaded",
    "Address": "Not uploaded",
}
STAFF_STATES = {
    "ID": "Mandatory",
    "Staff Code": "Mandatory",
    "Legal Surname": "Mandatory",
    "Legal Forename": "Mandatory",
    "Primary Email": "Uploaded",
    "Phone": "Not uploaded",
}


@functools.cache
def snapshot() -> SchoolSnapshot:
    return make_school_truth(pupils=20, phase="Primary")


def _fields(states: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"caption": c, "field": c.lower().replace(" ", "_"), "label": c, "state": s}
        for c, s in states.items()
    ]


def _definition(name: str, recordset: str, captions: list[str], kind: str = "") -> dict[str, Any]:
    xml = definition_xml(name, recordset, captions, kind).decode("utf-8")
    return {
        "name": name,
        "recordset": recordset,
        "filter": kind,
        "sha256": hashlib.sha256(xml.encode()).hexdigest(),
        "xml": xml,
    }


def make_tree(*, stale_students: bool = False) -> dict[str, Any]:
    """Students and Staff accepted, Contacts available, Attendance not available. A stale
    Students definition still names Primary Email, which the school has since opted out of."""
    sent = [c for c, s in STUDENT_STATES.items() if s != "Not uploaded"]
    if stale_students:
        sent.append("Primary Email")
    staff = [c for c, s in STAFF_STATES.items() if s != "Not uploaded"]
    contacts = {c: "Mandatory" for c in CAPTIONS["Contacts"]}
    attendance = {c: "Mandatory" for c in CAPTIONS["Attendance"]}
    return {
        "reports": [
            {
                "report": "students",
                "label": "Students (Current)",
                "state": "accepted",
                "definition": _definition("rollsync Students", "Students", sent, "current"),
                "fields": _fields(STUDENT_STATES),
            },
            {
                "report": "staff",
                "label": "Staff (Current)",
                "state": "accepted",
                "definition": _definition("rollsync Staff", "Staff", staff, "current"),
                "fields": _fields(STAFF_STATES),
            },
            {
                "report": "contacts",
                "label": "Contacts",
                "state": "available",
                "definition": None,
                "fields": _fields(contacts),
            },
            {
                "report": "attendance",
                "label": "Attendance",
                "state": "not_available",
                "definition": None,
                "fields": _fields(attendance),
            },
        ]
    }


@dataclass
class Agent:
    """The real executable, with its home and the fake SIMS in its environment."""

    home: Path
    sims: Path
    env: dict[str, str]

    @property
    def reporter(self) -> Path:
        return self.sims / "CommandReporter"

    def __call__(
        self, *args: str, stdin: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AGENT), *args],
            input=stdin,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    def configure(self, server: str, *extra: str, user: str = "office") -> None:
        done = self(
            "configure",
            "--server",
            server,
            "--licence-key",
            LICENCE_KEY,
            "--command-reporter",
            str(self.reporter),
            "--sims-user",
            user,
            "--sims-password-stdin",
            "--server-name",
            r"SCHOOL-SRV\SIMS2008",
            "--database-name",
            "sims",
            *extra,
            stdin=PASSWORD + "\n",
        )
        assert done.returncode == 0, done

    def log(self) -> str:
        path = self.home / "agent.log"
        return path.read_text("utf-8") if path.exists() else ""

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.home / "status.json").read_text("utf-8"))
        return data

    def queued(self, folder: str = "queue") -> list[str]:
        path = self.home / folder
        return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


def write_wrappers(
    folder: Path, names: tuple[str, str] = ("CommandReporter", "CommandReportImporter")
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    module = "rollsync.missim.commandreporter"
    for name, extra in zip(names, ("", " importer"), strict=True):
        path = folder / name
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m {module}{extra} "$@"\n')
        path.chmod(0o755)


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    sims = tmp_path / "SIMS"
    write_wrappers(sims)
    data = tmp_path / "mis-data.json"
    data.write_bytes(dump_snapshot(snapshot()))
    users = tmp_path / "users.json"
    users.write_text(json.dumps(USERS))
    home = tmp_path / "agent-home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ROLLSYNC_AGENT_")},
        "ROLLSYNC_AGENT_HOME": str(home),
        "ROLLSYNC_AGENT_KEYRING": "off",
        "ROLLSYNC_AGENT_RETRY_WAIT": "0.01",
        "ROLLSYNC_FAKE_SIMS_DATA": str(data),
        "ROLLSYNC_FAKE_SIMS_USERS": str(users),
        "ROLLSYNC_FAKE_SIMS_STATE": str(tmp_path / "sims-db"),
    }
    return Agent(home, sims, env)


@pytest.fixture
def server() -> Any:
    srv = ProtocolServer(State(licence_key=LICENCE_KEY, tree=make_tree())).start()
    yield srv
    srv.stop()
