"""`rollsync mis agent-licence` (the key printed once) and `rollsync mis status` with the
agent's fields; the schedule and Force run refused for an agent school."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from rollsync.cli import main
from rollsync.directory import models as m
from rollsync.directory.services.agent import agent_contact, agent_status_record
from tests.agentserver.conftest import sims_school
from tests.agentserver.test_endpoints import STATUS


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_agent_licence_prints_the_key_once_and_status_shows_the_agent(db: Any) -> None:
    school = sims_school(accept=("students",))
    done = _cli("mis", "agent-licence", "--school", school.urn, "--json")
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert set(body) == {"school", "licence_key", "issued_at", "replaced"}
    key = body["licence_key"]
    assert (body["school"], body["replaced"]) == (school.urn, False)
    assert key.startswith("RSA-")
    status = json.loads(_cli("mis", "status", "--school", school.urn, "--json").stdout)
    assert (status["connector"], status["state"], status["light"]) == (
        "sims",
        "awaiting agent",
        "yellow",
    )
    assert status["agent"]["licence_hint"] == key[-4:] and key not in json.dumps(status)
    agent_status_record(licence_key=key, report=STATUS)
    text = _cli("mis", "status", "--school", school.urn).stdout
    assert f"licence key: …{key[-4:]}, issued " in text
    assert "agent: 0.1.0 on SIMS-SRV (Windows-10)" in text
    assert "    upload: red the server refused students" in text
    assert "state:     failing (red)" in text
    assert key not in text
    again = _cli("mis", "agent-licence", "--school", school.urn)
    assert "replaced (the old one no longer works)" in again.stdout
    new = again.stdout.split("licence key: ")[1].split()[0]
    assert new != key and agent_contact(licence_key=new).school_id == school.pk


def test_an_agent_school_has_no_schedule_nor_force_run_here(db: Any) -> None:
    school = sims_school(accept=("students",))
    _cli("mis", "agent-licence", "--school", school.urn)
    schedule = _cli("mis", "schedule", "--school", school.urn, "0 2 * * *")
    assert schedule.exit_code == 1 and "rollsync-agent schedule" in schedule.output
    run = _cli("mis", "run", "--school", school.urn)
    assert run.exit_code == 1 and "SIMS has no Force run" in run.output
    conn = m.MisConnection.objects.get(school=school)
    assert (conn.schedule, conn.next_pull_at) == ("", None)
    assert not m.QueuedTask.objects.exists()


def test_an_unknown_school_is_refused(db: Any) -> None:
    result = _cli("mis", "agent-licence", "--school", "999999")
    assert result.exit_code != 0 and not m.MisConnection.objects.exists()
