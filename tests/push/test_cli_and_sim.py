"""`rollsync mis push-credentials` (shown once, replaceable, JSON) and the sender simulator
`rollsync mis-sim bromcom-push` / `push_school` pushing a simulated school to a live
rollsync, with its faults (a replay, a wrong password, a cut file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rollsync.cli import main
from rollsync.directory import models as m
from rollsync.directory.secrets import unseal
from rollsync.directory.services.push import push_credentials_issue, push_receive
from rollsync.directory.services.schools import school_add
from rollsync.directory.tasks import run_queued
from rollsync.missim.bromcom_push import (
    PushCredentials,
    SenderFaultError,
    bromcom_reports,
    parse_faults,
    push_school,
)
from rollsync.missim.data import SimData
from rollsync.simulate import simulate_region
from tests.push.conftest import ACCEPTED, bromcom_school, snapshot_of


def _cli(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


def test_push_credentials_from_the_command_line(db: Any) -> None:
    school = bromcom_school()
    done = _cli("mis", "push-credentials", "--school", school.urn, "--json")
    assert done.exit_code == 0, done.output
    first = json.loads(done.stdout)
    assert set(first) == {
        "school",
        "licence_key",
        "supplier_id",
        "password",
        "issued_at",
        "replaced",
    }
    assert first["school"] == school.urn and first["replaced"] is False
    conn = m.MisConnection.objects.get(school=school)
    assert first["password"] not in json.dumps(unseal(conn.secrets))
    status = _cli("mis", "status", "--school", school.urn, "--json").stdout
    assert first["password"] not in status and json.loads(status)["push"] is True
    # issued again: the old ones stop working
    again = _cli("mis", "push-credentials", "--school", school.urn)
    assert again.exit_code == 0
    assert "replaced (the old ones no longer work)" in again.stdout
    assert "supplier password:" in again.stdout and "Save (not Save & Run)" in again.stdout
    with pytest.raises(Exception, match="supplier password is wrong"):
        push_receive(
            licence_key=first["licence_key"],
            supplier_id=first["supplier_id"],
            password=first["password"],
            report="students",
            payload=b"x",
        )
    unknown = _cli("mis", "push-credentials", "--school", "999999")
    assert unknown.exit_code == 1


def test_no_force_run_and_no_schedule_for_bromcom(db: Any) -> None:
    school = bromcom_school()
    push_credentials_issue(school=school, actor="t")
    run = _cli("mis", "run", "--school", school.urn)
    assert run.exit_code == 1
    assert "Bromcom has no Force run: started from Bromcom" in run.output
    schedule = _cli("mis", "schedule", "--school", school.urn, "0 2 * * *")
    assert schedule.exit_code == 1
    assert "its schedule is kept in the MIS" in schedule.output
    connect = _cli("mis", "connect", "--school", school.urn, "--mis", "bromcom")
    assert connect.exit_code == 1
    assert "run it from Bromcom" in connect.output


def test_sender_faults_are_parsed() -> None:
    assert parse_faults("replay@2,garbage@*, wrong-password@1") == {
        "replay": {2},
        "garbage": None,
        "wrong-password": {1},
    }
    with pytest.raises(SenderFaultError):
        parse_faults("explode@1")


def test_bromcom_never_sends_groups(db: Any) -> None:
    snap = snapshot_of(bromcom_school())
    assert "groups" in snap.reports
    assert bromcom_reports(snap) == [
        "students",
        "students_future",
        "staff",
        "staff_future",
        "contacts",
        "attendance",
    ]


def test_push_school_against_a_live_rollsync(transactional_db: Any, live_server: Any) -> None:
    school = bromcom_school()
    issued = push_credentials_issue(school=school, actor="t")
    creds = PushCredentials(issued.licence_key, issued.supplier_id, issued.password)
    snap = snapshot_of(school)
    results = push_school(snap, live_server.url, creds, faults="replay@1,wrong-password@2")
    by_report = [(r.report, r.status, r.answer.get("replayed")) for r in results]
    assert by_report == [
        ("students", 202, False),
        ("students", 202, True),
        ("students_future", 401, None),
        ("staff", 202, False),
        ("staff_future", 202, False),
        ("contacts", 202, False),
        ("attendance", 202, False),
    ]
    assert m.Upload.objects.filter(school=school, source="Bromcom").count() == 5
    run_queued()
    statuses = dict(m.SyncRun.objects.filter(school=school).values_list("upload__report", "status"))
    for report in ("students", "staff", "contacts", "attendance"):
        assert statuses[report] == "applied", report
    assert set(ACCEPTED) >= set(statuses)


def test_the_sender_command(transactional_db: Any, live_server: Any, tmp_path: Path) -> None:
    out = tmp_path / "la"
    simulate_region(out, schools=1, seed=3, days=1, scale=0.05, mis_data=True)
    data = SimData.from_dir(out)
    (urn,) = data.urns()
    snap = data.school(urn)
    assert snap is not None
    school = school_add(
        urn=urn,
        la_code=snap.la_code,
        estab=snap.estab,
        name=snap.school_name,
        mis="Bromcom",
        accept_reports=("students", "staff"),
        actor="t",
    )
    issued = push_credentials_issue(school=school, actor="t")
    args = [
        "mis-sim",
        "bromcom-push",
        "--data",
        str(out),
        "--to",
        live_server.url,
        "--licence-key",
        issued.licence_key,
        "--supplier-id",
        issued.supplier_id,
        "--password-stdin",
        "--report",
        "students",
        "--report",
        "staff",
    ]
    done = _cli(*args, stdin=issued.password + "\n")
    assert done.exit_code == 0, done.output
    assert f"pushed {urn}" in done.stdout
    assert "students: 202 upload" in done.stdout and "staff: 202 upload" in done.stdout
    # a cut file is refused (exit 1), and nothing of it is stored
    before = m.Upload.objects.count()
    cut = _cli(*args, "--faults", "truncate@1,garbage@2", stdin=issued.password + "\n")
    assert cut.exit_code == 1
    assert "students: 422 checksum: the body's SHA-256 is" in cut.stdout
    assert "staff: 422 file: the body cannot be read as csv" in cut.stdout
    assert m.Upload.objects.count() == before
    # a report the school has not accepted: refused with the reason
    contacts = [*args[:-4], "--report", "contacts"]
    refused = _cli(*contacts, stdin=issued.password + "\n")
    assert refused.exit_code == 1
    assert "contacts: 403" in refused.stdout and "has not accepted the Contacts" in refused.stdout
    # the sender never sends a password given as an argument, and checks its input
    assert _cli(*args[:-5]).exit_code == 2
    assert _cli(*args, "--faults", "boom@1", stdin="pw\n").exit_code == 2
