"""MIS connections through the services, against the iSAMS simulator over real sockets:
connect (credentials checked at once, secrets sealed), Force run (a pull per report,
stored as uploads and synced), failures that apply nothing, the pull lease, the
schedule, disconnect."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.secrets import unseal
from rollsync.directory.services.connections import (
    MisConnectionError,
    connection_connect,
    connection_disconnect,
    connection_pull,
    connection_schedule_set,
    connections_queue_due,
)
from rollsync.ingest.pulled import read_pull
from tests.connections.conftest import Isams
from tests.directory.helpers import snapshot


def _connect(isams: Isams, **overrides: Any) -> m.MisConnection:
    return connection_connect(
        school=isams.school,
        mis="isams",
        settings={**isams.settings, **overrides.pop("settings", {})},
        secrets={**isams.secrets, **overrides.pop("secrets", {})},
        actor="tester",
        **overrides,
    )


def _everything_stored() -> dict[str, Any]:
    return {
        **snapshot(),
        "connections": list(m.MisConnection.objects.values()),
        "uploads": m.Upload.objects.count(),
        "mis": list(m.School.objects.values_list("urn", "mis")),
    }


# --- connect --------------------------------------------------------------------------


def test_connect_checks_at_once_and_seals_the_secret(isams: Isams) -> None:
    conn = _connect(isams)
    secret = isams.secrets["client_secret"]
    assert conn.state == m.MisConnection.State.CONNECTED
    assert conn.settings == isams.settings
    assert secret.encode() not in bytes(conn.secrets)
    assert unseal(conn.secrets) == isams.secrets
    # the school's MIS follows the connection (Change MIS)
    isams.school.refresh_from_db()
    assert isams.school.mis == "IRIS iSAMS"
    # the check asked for a token and one page, nothing more
    asked = [(r.method, r.path) for r in isams.sim.requests]
    assert asked[0][0] == "POST" and asked[0][1].endswith("/connect/token")
    assert [p for _, p in asked[1:]] == [f"/schools/{isams.snap.urn}/api/students"]
    # the secret is nowhere a person or the audit can read it
    status = selectors.connection_status(school=isams.school)
    assert secret not in json.dumps(status)
    assert status["secrets_set"] == ["client_secret"]
    assert status["state"] == "connected" and status["light"] == "green"
    events = m.AuditEvent.objects.filter(school=isams.school)
    assert all(secret not in json.dumps([e.reason, e.changes]) for e in events)
    made = events.get(action="connection_made")
    assert made.changes["secrets_entered"] == ["client_secret"]


def test_wrong_credentials_store_nothing(isams: Isams) -> None:
    before = _everything_stored()
    with pytest.raises(MisConnectionError) as refused:
        _connect(isams, secrets={"client_secret": "wrong"})
    assert refused.value.code == "refused"
    assert "refused" in str(refused.value).lower()
    assert _everything_stored() == before


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("http://mis.example.org/schools/1", "url"),
        ("https://user:pw@mis.example.org", "url"),
        ("not a url", "url"),
    ],
)
def test_unsafe_urls_are_refused_before_any_request(isams: Isams, url: str, field: str) -> None:
    before = _everything_stored()
    with pytest.raises(MisConnectionError) as refused:
        _connect(isams, settings={"url": url})
    assert refused.value.field == field
    assert refused.value.code == "invalid"
    assert isams.sim.requests == []
    assert _everything_stored() == before


def test_a_missing_setting_names_its_field(isams: Isams) -> None:
    with pytest.raises(MisConnectionError) as refused:
        connection_connect(
            school=isams.school,
            mis="isams",
            settings={"url": isams.url},
            secrets=isams.secrets,
            actor="t",
        )
    assert refused.value.field == "client_id"
    assert isams.sim.requests == []
    assert not m.MisConnection.objects.exists()


def test_a_blank_secret_keeps_the_stored_one(isams: Isams) -> None:
    _connect(isams)
    conn = _connect(isams, secrets={"client_secret": ""}, schedule="30 18 * * 1-5")
    assert unseal(conn.secrets) == isams.secrets
    assert conn.schedule == "30 18 * * 1-5"


# --- Force run ----------------------------------------------------------------------------


def test_force_run_pulls_each_report_stores_it_and_syncs_it(isams: Isams) -> None:
    _connect(isams)
    outcome = connection_pull(school=isams.school, actor="tester")
    assert outcome.status == "applied", outcome.error
    assert [r.upload.report for r in outcome.runs] == ["students", "staff"]
    assert {r.status for r in outcome.runs} == {"applied"}
    for upload in outcome.uploads:
        assert (upload.source, upload.fmt) == ("IRIS iSAMS", "isams-api")
        assert upload.asked
        bundle = read_pull(bytes(upload.data), vendor="isams")
        assert bundle.report == upload.report
    pupils = m.Allocation.objects.filter(school=isams.school, role="pupil", status="active")
    staff = m.Allocation.objects.filter(school=isams.school, role="staff", status="active")
    assert pupils.count() == len([p for p in isams.snap.pupils if not p.future])
    assert staff.count() == len([p for p in isams.snap.staff if not p.future])
    conn = m.MisConnection.objects.get(school=isams.school)
    assert (conn.last_outcome, conn.failures, conn.pulling_since) == ("applied", 0, None)
    assert set(conn.cursors) == {"students", "staff"}
    # the same data again changes nothing
    again = connection_pull(school=isams.school, actor="tester")
    assert again.status == "applied"
    assert all(r.counts.get("created", 0) == 0 for r in again.runs)
    assert pupils.count() == len([p for p in isams.snap.pupils if not p.future])


def test_only_accepted_reports_are_pulled(isams: Isams) -> None:
    _connect(isams)
    from rollsync.directory.services.schools import school_report_set

    school_report_set(school=isams.school, report="staff", accepted=False, actor="t")
    isams.sim.requests.clear()
    outcome = connection_pull(school=isams.school, actor="tester")
    assert [u.report for u in outcome.uploads] == ["students"]
    assert not any("humanresources" in r.path for r in isams.sim.requests)
    with pytest.raises(MisConnectionError) as refused:
        connection_pull(school=isams.school, actor="tester", reports=["contacts"])
    assert refused.value.field == "report"


@pytest.mark.parametrize(
    ("faults", "words"),
    [
        ("500@3+", "did not answer"),
        ("drop@3+", "did not answer"),
        ("bad@3", ""),
    ],
)
def test_a_pull_that_fails_applies_nothing(isams: Isams, faults: str, words: str) -> None:
    _connect(isams)
    first = connection_pull(school=isams.school, actor="tester")
    assert first.status == "applied"
    before = snapshot()
    uploads_before = m.Upload.objects.count()
    isams.sim.set_faults(faults)
    outcome = connection_pull(school=isams.school, actor="tester")
    assert outcome.status == "failed"
    assert words in outcome.error
    assert outcome.runs == []
    after = snapshot()
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }
    # Upload History shows the failed pull, with why, and no data
    failed = m.Upload.objects.order_by("-pk").first()
    assert m.Upload.objects.count() == uploads_before + 1
    assert failed is not None and (failed.outcome, failed.size) == ("pull failed", 0)
    assert failed.filename.startswith("pull failed: ")
    conn = m.MisConnection.objects.get(school=isams.school)
    assert (conn.state, conn.failures, conn.last_outcome) == ("failing", 1, "failed")
    status = selectors.connection_status(school=isams.school)
    assert status["light"] == "yellow"
    # the next try starts clean and works
    isams.sim.set_faults(None)
    assert connection_pull(school=isams.school, actor="tester").status == "applied"
    conn.refresh_from_db()
    assert (conn.state, conn.failures, conn.last_error) == ("connected", 0, "")


def test_credentials_refused_turn_red_and_stop_the_schedule(isams: Isams) -> None:
    _connect(isams)
    isams.sim.set_faults("401@*")
    isams.sim.requests.clear()
    outcome = connection_pull(school=isams.school, actor="schedule", trigger="schedule")
    assert outcome.status == "failed"
    # one token request, refused, and no retry storm
    assert len(isams.sim.requests) == 1
    conn = m.MisConnection.objects.get(school=isams.school)
    assert conn.credentials_refused and conn.next_pull_at is None
    status = selectors.connection_status(school=isams.school)
    assert (status["state"], status["light"]) == ("failing", "red")
    assert status["status"].startswith("Credentials refused")
    assert connections_queue_due(now=timezone.now() + timedelta(days=2)) == []


def test_failures_in_a_row_turn_the_light_red(isams: Isams) -> None:
    _connect(isams)
    isams.sim.set_faults("503@*")
    connection_pull(school=isams.school, actor="schedule", trigger="schedule")
    assert selectors.connection_status(school=isams.school)["light"] == "yellow"
    conn = m.MisConnection.objects.get(school=isams.school)
    # a failed scheduled pull is tried again within the hour, not tomorrow
    assert conn.next_pull_at is not None
    assert conn.next_pull_at <= timezone.now() + timedelta(minutes=31)
    connection_pull(school=isams.school, actor="schedule", trigger="schedule")
    status = selectors.connection_status(school=isams.school)
    assert (status["light"], status["failures"]) == ("red", 2)
    assert "2 pulls in a row failed" in status["status"]


def test_a_second_pull_of_a_school_is_refused_while_one_runs(isams: Isams) -> None:
    _connect(isams)
    m.MisConnection.objects.filter(school=isams.school).update(
        pulling_since=timezone.now(), pull_holder="other"
    )
    with pytest.raises(MisConnectionError) as refused:
        connection_pull(school=isams.school, actor="tester")
    assert refused.value.code == "conflict"
    assert not m.Upload.objects.exists()
    # a hold left by a killed worker is taken over once it is stale
    m.MisConnection.objects.filter(school=isams.school).update(
        pulling_since=timezone.now() - timedelta(hours=2)
    )
    assert connection_pull(school=isams.school, actor="tester").status == "applied"


# --- the schedule -------------------------------------------------------------------------


def test_each_due_pull_is_queued_once(isams: Isams) -> None:
    conn = _connect(isams)
    assert conn.schedule == "0 2 * * *"
    later = conn.next_pull_at + timedelta(minutes=1)
    first = connections_queue_due(now=later)
    assert len(first) == 1
    assert connections_queue_due(now=later) == []  # moved on in the same transaction
    task = m.QueuedTask.objects.get(pk=first[0])
    assert (task.kind, task.school_id, task.actor) == ("pull", isams.school.pk, "schedule")
    conn.refresh_from_db()
    assert conn.next_pull_at > later
    # its next period comes, but the first pull has not run yet: no second task
    assert connections_queue_due(now=conn.next_pull_at + timedelta(minutes=1)) == []
    assert m.QueuedTask.objects.count() == 1


def test_the_worker_runs_a_queued_pull(isams: Isams) -> None:
    from rollsync.directory.tasks import run_queued, task_status

    conn = _connect(isams)
    [task_id] = connections_queue_due(now=conn.next_pull_at + timedelta(minutes=1))
    assert run_queued() == 1
    status = task_status(task_id)
    assert (status["status"], status["school"]) == ("succeeded", isams.snap.urn)
    assert m.SyncRun.objects.filter(school=isams.school, status="applied").count() == 2


def test_schedule_must_be_cron(isams: Isams) -> None:
    _connect(isams)
    with pytest.raises(MisConnectionError) as refused:
        connection_schedule_set(school=isams.school, schedule="every day", actor="t")
    assert refused.value.field == "schedule"
    conn = connection_schedule_set(school=isams.school, schedule="30 18 * * 1-5", actor="t")
    local = timezone.localtime(conn.next_pull_at)
    assert (local.hour, local.minute) == (18, 30) and local.isoweekday() <= 5


# --- disconnect ------------------------------------------------------------------------


def test_disconnect_forgets_the_secrets_and_keeps_the_history(isams: Isams) -> None:
    _connect(isams)
    connection_pull(school=isams.school, actor="tester")
    uploads = m.Upload.objects.count()
    assert connection_disconnect(school=isams.school, actor="tester")
    assert not m.MisConnection.objects.exists()
    assert m.Upload.objects.count() == uploads
    assert selectors.connection_status(school=isams.school)["state"] == "not set up"
    assert not connection_disconnect(school=isams.school, actor="tester")
    with pytest.raises(MisConnectionError) as refused:
        connection_pull(school=isams.school, actor="tester")
    assert refused.value.code == "not_found"


def test_a_second_force_run_follows_the_pull_under_way(isams: Isams) -> None:
    from rollsync.directory.services.connections import connection_pull_queue

    _connect(isams)
    first = connection_pull_queue(school=isams.school, actor="a")
    assert connection_pull_queue(school=isams.school, actor="b") == first
    assert m.QueuedTask.objects.filter(kind="pull").count() == 1
    assert isams.sim.requests[2:] == []  # queued only: nothing pulled yet


def test_an_approval_refused_in_the_mis_spends_the_link(db: Any, isams: Isams) -> None:
    from rollsync.directory.services.connections import (
        connection_approval_abandon,
        connection_approval_begin,
        connection_approval_complete,
    )

    link = connection_approval_begin(
        school=isams.school, mis="arbor", actor="t", return_url="https://rollsync.example/return"
    )
    state = m.MisConnection.objects.get(school=isams.school).approval_state
    assert state and f"state={state}" in link
    assert connection_approval_abandon(state=state, actor="t", why="access denied")
    assert not connection_approval_abandon(state=state, actor="t", why="again")
    with pytest.raises(MisConnectionError) as refused:
        connection_approval_complete(state=state, code="anything", actor="t")
    assert refused.value.code == "refused"
    conn = m.MisConnection.objects.get(school=isams.school)
    assert (conn.state, conn.approval_state, bytes(conn.secrets)) == ("awaiting_approval", "", b"")
    assert selectors.connection_status(school=isams.school)["light"] == "yellow"
