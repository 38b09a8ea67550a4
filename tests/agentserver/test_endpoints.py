"""The agent protocol (docs/agent.md) through Django's test client: hello, the report tree,
chunked resumable uploads stored once, the agent's status; every refusal with its status,
its `error` and `field`, and nothing stored."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from rollsync.directory import models as m
from rollsync.directory.services import uploads
from rollsync.directory.services.agent import CHUNK_SIZE, agent_licence_issue
from rollsync.directory.services.schools import school_field_opt_out_set
from rollsync.directory.tasks import run_queued
from rollsync.missim.commandreporter import error_xml, parse_definition
from tests.agentserver.conftest import Agent, make_agent, stored


def _contact(agent: Agent) -> Any:
    return m.MisConnection.objects.get(school=agent.school).last_contact_at


def _refused(response: Any, status: int, error: str, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert (body["error"], body["field"]) == (error, field), body
    assert body["message"]
    return body


# --- hello and the licence key --------------------------------------------------------------


def test_hello_with_the_key(agent: Agent) -> None:
    assert _contact(agent) is None
    response = agent.get("hello")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "school": {"urn": agent.school.urn, "name": agent.school.name},
        "la": "Testshire",
        "mis": "SIMS",
        "server_version": body["server_version"],
        "chunk_size": 262144,
    }
    assert body["server_version"]
    assert _contact(agent) is not None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "Bearer RSA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"},
        {"HTTP_AUTHORIZATION": "Basic abc"},
        {"HTTP_AUTHORIZATION": "Bearer " + "A" * 5000},
    ],
)
def test_hello_with_no_or_a_wrong_key_is_401_and_records_nothing(
    agent: Agent, headers: dict[str, str]
) -> None:
    from django.test import Client

    before = stored()
    response = Client().get("/agent/v1/hello", **headers)
    _refused(response, 401, "unauthorised", "licence_key")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert _contact(agent) is None and stored() == before


def test_a_replaced_key_is_401_at_once_and_the_new_one_works(agent: Agent) -> None:
    old = agent.key
    new = agent_licence_issue(school=agent.school, actor="admin")
    assert new.replaced and new.licence_key != old
    _refused(agent.get("hello", key=old), 401, "unauthorised", "licence_key")
    assert _contact(agent) is None
    assert agent.get("hello", key=new.licence_key).status_code == 200
    assert _contact(agent) is not None


def test_the_key_is_stored_only_as_its_hash(agent: Agent) -> None:
    conn = m.MisConnection.objects.get(school=agent.school)
    assert conn.connector == "sims" and agent.key.startswith("RSA-")
    assert len(agent.key.split("-")) == 7 and all(len(g) == 5 for g in agent.key.split("-")[1:])
    assert conn.settings["licence_key_sha256"] == hashlib.sha256(agent.key.encode()).hexdigest()
    assert conn.settings["licence_hint"] == agent.key[-4:]
    assert agent.key not in str(conn.settings) + bytes(conn.secrets).decode()
    audit = m.AuditEvent.objects.filter(action="agent_licence_issued")
    assert audit.count() == 1
    assert agent.key not in str(list(audit.values()))


# --- the report tree ------------------------------------------------------------------------


def test_the_report_tree_with_an_opt_out(agent: Agent) -> None:
    school_field_opt_out_set(
        school=agent.school, report="students", field_name="email", opted_out=True, actor="a"
    )
    response = agent.get("reports")
    assert response.status_code == 200
    tree = response.json()["reports"]
    assert [(r["report"], r["state"]) for r in tree] == [
        ("students", "accepted"),
        ("students_future", "accepted"),
        ("staff", "accepted"),
        ("staff_future", "accepted"),
        ("contacts", "accepted"),
        ("groups", "accepted"),
        # SIMS sends Attendance whether or not the school uses a service that needs it
        # (the help pages grey it out for Arbor and ScholarPack only)
        ("attendance", "available"),
    ]
    students = tree[0]
    fields = {f["field"]: (f["caption"], f["state"]) for f in students["fields"]}
    assert fields["mis_id"] == ("ID", "Mandatory")
    assert fields["email"] == ("Primary Email", "Not uploaded")
    assert fields["postcode"] == ("Postcode", "Uploaded")
    definition = students["definition"]
    assert (definition["name"], definition["recordset"], definition["filter"]) == (
        "rollsync Students",
        "Students",
        "current",
    )
    xml = definition["xml"].encode("utf-8")
    assert definition["sha256"] == hashlib.sha256(xml).hexdigest()
    parsed = parse_definition(xml)  # the fake CommandReportImporter takes it
    assert "Primary Email" not in parsed.captions
    assert parsed.captions == tuple(
        c
        for c, s in ((f["caption"], f["state"]) for f in students["fields"])
        if s != "Not uploaded"
    )
    assert tree[-1]["definition"] is None  # not accepted: nothing to extract


def test_groups_available_when_not_accepted(db: Any) -> None:
    agent = make_agent(accept=("students",))
    tree = {r["report"]: r for r in agent.get("reports").json()["reports"]}
    assert tree["groups"]["state"] == "available" and tree["groups"]["definition"] is None
    assert [f["state"] for f in tree["groups"]["fields"]] == ["Mandatory"] * 6


# --- uploads --------------------------------------------------------------------------------


def test_begin_chunks_and_finish_store_one_upload_and_queue_one_sync(agent: Agent) -> None:
    data = agent.extract("students")
    begun = agent.begin("students", data)
    assert begun.status_code == 201, begun.content
    state = begun.json()
    assert state["id"].startswith("u_")
    assert (state["offset"], state["size"], state["state"], state["chunk_size"]) == (
        0,
        len(data),
        "receiving",
        CHUNK_SIZE,
    )
    half = len(data) // 2
    first = agent.patch(state["id"], 0, data[:half])
    assert first.status_code == 200
    assert first.json() == {
        "id": state["id"],
        "offset": half,
        "size": len(data),
        "state": "receiving",
        "chunk_size": CHUNK_SIZE,
    }
    assert m.Upload.objects.count() == 0
    last = agent.patch(state["id"], half, data[half:])
    assert last.status_code == 200, last.content
    answer = last.json()
    assert answer["state"] == "stored" and answer["replayed"] is False
    upload = m.Upload.objects.get()
    assert answer["upload"] == upload.pk
    assert (upload.source, upload.fmt, upload.report, upload.filename) == (
        "SIMS agent",
        "sims-superstar",
        "students",
        "students.xml",
    )
    assert bytes(upload.data) == data and upload.sha256 == hashlib.sha256(data).hexdigest()
    task = m.QueuedTask.objects.get()
    assert (task.pk, task.upload_id, task.kind) == (answer["task"], upload.pk, "sync")
    assert m.AgentUploadChunk.objects.count() == 0
    assert m.AuditEvent.objects.filter(action="agent_uploaded").count() == 1
    got = agent.get(f"uploads/{state['id']}").json()
    assert (got["state"], got["offset"], got["upload"]) == ("stored", len(data), upload.pk)
    # processed on arrival: the worker runs the queued sync, nothing waits for the night
    run_queued()
    upload.refresh_from_db()
    assert upload.outcome == "applied", upload.outcome
    assert m.SyncRun.objects.get().status == "applied"


def test_a_chunk_at_a_wrong_offset_is_409_and_nothing_appended(agent: Agent) -> None:
    data = agent.extract("staff")
    uid = agent.begin("staff", data).json()["id"]
    assert agent.patch(uid, 0, data[:100]).json()["offset"] == 100
    before = stored()
    body = _refused(agent.patch(uid, 50, data[50:150]), 409, "offset_mismatch", "Upload-Offset")
    assert body["offset"] == 100
    _refused(agent.patch(uid, 200, data[200:300]), 409, "offset_mismatch", "Upload-Offset")
    assert stored() == before
    assert m.AgentUpload.objects.get(uid=uid).offset == 100


def test_a_short_body_keeps_nothing(agent: Agent) -> None:
    data = agent.extract("staff")
    uid = agent.begin("staff", data).json()["id"]
    before = stored()
    # the connection was cut: Content-Length says more than arrived
    cut = agent.patch(
        uid,
        0,
        data[:100],
        CONTENT_LENGTH="1000",
        **{"wsgi.input": io.BytesIO(data[:100])},
    )
    body = _refused(cut, 422, "invalid", "body")
    assert "cut short" in body["message"]
    assert stored() == before and m.AgentUpload.objects.get(uid=uid).offset == 0


def test_oversized_and_overlong_chunks_are_refused(agent: Agent) -> None:
    data = agent.extract("contacts")
    uid = agent.begin("contacts", data).json()["id"]
    _refused(agent.patch(uid, 0, b"x" * (CHUNK_SIZE + 1)), 422, "invalid", "body")
    _refused(agent.patch(uid, 0, data + b"more"), 422, "invalid", "body")
    _refused(agent.patch(uid, 0, b""), 422, "invalid", "body")
    assert m.AgentUploadChunk.objects.count() == 0


def test_resume_after_a_restart_begins_again_at_the_offset(agent: Agent) -> None:
    data = agent.extract("students")
    uid = agent.begin("students", data).json()["id"]
    agent.patch(uid, 0, data[:300])
    again = agent.begin("students", data)
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["offset"]) == (uid, 300)
    assert agent.get(f"uploads/{uid}").json() == {
        "id": uid,
        "offset": 300,
        "size": len(data),
        "state": "receiving",
    }
    assert agent.patch(uid, 300, data[300:]).json()["state"] == "stored"
    assert m.Upload.objects.count() == 1


def test_the_same_bytes_twice_are_stored_once(agent: Agent) -> None:
    data = agent.extract("students")
    first = agent.send("students", data).json()
    again = agent.begin("students", data)
    assert again.status_code == 200
    body = again.json()
    assert (body["state"], body["replayed"], body["upload"], body["task"]) == (
        "stored",
        True,
        first["upload"],
        first["task"],
    )
    assert m.Upload.objects.count() == 1 and m.QueuedTask.objects.count() == 1


def test_a_checksum_mismatch_is_422_and_nothing_stored(agent: Agent) -> None:
    data = agent.extract("students")
    uid = agent.begin("students", data, sha256="0" * 64).json()["id"]
    before = stored()
    body = _refused(agent.patch(uid, 0, data), 422, "invalid", "sha256")
    assert hashlib.sha256(data).hexdigest() in body["message"]
    assert stored() == before
    assert not m.AgentUpload.objects.filter(uid=uid).exists()  # discarded: begin again
    _refused(agent.get(f"uploads/{uid}"), 404, "not_found", "id")


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (error_xml("Report not found"), "SIMS CommandReporter reported an error"),
        (
            b"<SuperStarReport><Record><ID></ID><Legal_x0020_Surname>Smith</Legal_x0020_Surname>"
            b"<Legal_x0020_Forename>Al</Legal_x0020_Forename><Date_x0020_of_x0020_Birth>"
            b"2015-01-02T00:00:00</Date_x0020_of_x0020_Birth></Record></SuperStarReport>",
            "Third Party Reporter",
        ),
        (b"<SuperStarReport><Record>", "cut short or damaged"),
    ],
)
def test_an_unreadable_extract_is_422_naming_the_problem(
    agent: Agent, payload: bytes, words: str
) -> None:
    uid = agent.begin("students", payload).json()["id"]
    before = stored()
    body = _refused(agent.patch(uid, 0, payload), 422, "invalid", "file")
    assert words in body["message"]
    assert stored() == before and m.AgentUpload.objects.count() == 0
    assert words in m.MisConnection.objects.get(school=agent.school).last_error


def test_another_schools_upload_is_404(agent: Agent) -> None:
    other = make_agent(2)
    data = other.extract("staff")
    uid = other.begin("staff", data).json()["id"]
    _refused(agent.get(f"uploads/{uid}"), 404, "not_found", "id")
    _refused(agent.patch(uid, 0, data), 404, "not_found", "id")
    assert m.AgentUploadChunk.objects.count() == 0


def test_a_key_replaced_mid_upload_is_401(agent: Agent) -> None:
    data = agent.extract("staff")
    uid = agent.begin("staff", data).json()["id"]
    agent.patch(uid, 0, data[:100])
    agent_licence_issue(school=agent.school, actor="admin")
    before = stored()
    _refused(agent.patch(uid, 100, data[100:]), 401, "unauthorised", "licence_key")
    assert stored() == {**before} and m.Upload.objects.count() == 0


def test_expired_unfinished_uploads_are_forgotten_when_one_begins(agent: Agent) -> None:
    data = agent.extract("staff")
    uid = agent.begin("staff", data).json()["id"]
    agent.patch(uid, 0, data[:100])
    m.AgentUpload.objects.filter(uid=uid).update(created_at=timezone.now() - timedelta(days=8))
    _refused(agent.get(f"uploads/{uid}"), 404, "not_found", "id")
    fresh = agent.begin("staff", data)
    assert fresh.status_code == 201 and fresh.json()["offset"] == 0
    assert not m.AgentUpload.objects.filter(uid=uid).exists()
    assert m.AgentUploadChunk.objects.count() == 0


def test_a_school_holds_at_most_so_many_unfinished_uploads(agent: Agent) -> None:
    from rollsync.directory.services.agent import MAX_UNFINISHED

    data = agent.extract("staff")
    first = agent.begin("staff", data).json()["id"]
    agent.patch(first, 0, data[:100])
    others = [
        agent.begin("staff", data, sha256=f"{n:064x}", size=len(data) + n).json()["id"]
        for n in range(1, MAX_UNFINISHED + 1)
    ]
    # the oldest (and its chunk) made way for the newest; the rest are kept, resumable
    unfinished = m.AgentUpload.objects.filter(state=m.AgentUpload.State.RECEIVING)
    assert sorted(unfinished.values_list("uid", flat=True)) == sorted(others)
    assert m.AgentUploadChunk.objects.count() == 0
    _refused(agent.get(f"uploads/{first}"), 404, "not_found", "id")
    assert m.Upload.objects.count() == 0


@pytest.mark.parametrize(
    ("over", "status", "error", "field"),
    [
        ({"report": "timetable"}, 422, "invalid", "report"),
        ({"report": "attendance"}, 403, "not_accepted", "report"),
        ({"sha256": "xyz"}, 422, "invalid", "sha256"),
        ({"size": 0}, 422, "invalid", "size"),
        ({"size": "12"}, 422, "invalid", "size"),
        ({"size": uploads.upload_limit() + 1}, 413, "too_large", "file"),
        ({"extracted_at": "yesterday"}, 422, "invalid", "extracted_at"),
        ({"filename": "x" * 300}, 422, "invalid", "filename"),
    ],
)
def test_a_bad_begin_is_refused_naming_the_field(
    agent: Agent, over: dict[str, Any], status: int, error: str, field: str
) -> None:
    before = stored()
    body = {"report": "students", **over}
    report = body.pop("report")
    _refused(agent.begin(report, b"abc", **body), status, error, field)
    assert stored() == before and m.AgentUpload.objects.count() == 0


def test_a_report_not_accepted_or_a_school_no_longer_on_sims_is_403(db: Any) -> None:
    agent = make_agent(accept=("students",))
    _refused(agent.begin("staff", b"abc"), 403, "not_accepted", "report")
    from rollsync.directory.services.schools import school_mis_set

    school_mis_set(school=agent.school, mis="Arbor", actor="a")
    body = _refused(agent.begin("students", b"abc"), 403, "not_accepted", "report")
    assert "Arbor" in body["message"]
    assert m.AgentUpload.objects.count() == 0


def test_the_endpoints_take_no_session_and_refuse_other_methods(agent: Agent) -> None:
    from django.test import Client

    assert (
        Client(enforce_csrf_checks=True)
        .post("/agent/v1/status", data="{}", content_type="application/json", **agent.headers())
        .status_code
        == 422
    )  # CSRF-exempt: refused for its body, not for a token
    assert Client().delete("/agent/v1/hello", **agent.headers()).status_code == 405


# --- status -----------------------------------------------------------------------------


STATUS = {
    "agent_version": "0.1.0",
    "hostname": "SIMS-SRV",
    "platform": "Windows-10",
    "python": "3.9.13",
    "lights": {
        "configuration": {"light": "green", "message": "configured"},
        "extract": {"light": "green", "message": "7 reports extracted"},
        "filter": {"light": "green", "message": "2 fields dropped"},
        "upload": {"light": "red", "message": "the server refused students"},
    },
    "last_run": {
        "started_at": "2026-11-30T18:30:00+00:00",
        "finished_at": "2026-11-30T18:31:00+00:00",
        "outcome": "failed",
    },
    "queued": 1,
    "log": ["18:30 extract started", "18:31 upload failed"],
}


def test_a_status_report_is_stored(agent: Agent) -> None:
    response = agent.post("status", STATUS)
    assert response.status_code == 204 and response.content == b""
    conn = m.MisConnection.objects.get(school=agent.school)
    saved = dict(conn.agent_status)
    assert saved.pop("reported_at")
    assert saved == STATUS
    assert conn.last_contact_at is not None


@pytest.mark.parametrize(
    ("junk", "field"),
    [
        ({"agent_version": ""}, "agent_version"),
        ({"agent_version": 3}, "agent_version"),
        ({"hostname": "h" * 300}, "hostname"),
        ({"lights": []}, "lights"),
        ({"lights": {"bogus": {"light": "red"}}}, "lights.bogus"),
        ({"lights": {"upload": {"light": "purple"}}}, "lights.upload.light"),
        ({"lights": {"upload": {"light": "red", "message": "m" * 501}}}, "lights.upload.message"),
        ({"last_run": {"started_at": "soon"}}, "last_run.started_at"),
        ({"queued": -1}, "queued"),
        ({"queued": True}, "queued"),
        ({"log": ["x"] * 51}, "log"),
        ({"log": ["ok", 7]}, "log[1]"),
    ],
)
def test_junk_status_is_refused_naming_the_field(
    agent: Agent, junk: dict[str, Any], field: str
) -> None:
    agent.post("status", STATUS)
    before = m.MisConnection.objects.get(school=agent.school).agent_status
    _refused(agent.post("status", {**STATUS, **junk}), 422, "invalid", field)
    assert m.MisConnection.objects.get(school=agent.school).agent_status == before


def test_status_that_is_not_json_is_refused(agent: Agent) -> None:
    from django.test import Client

    response = Client().post(
        "/agent/v1/status", data=b"{not json", content_type="application/json", **agent.headers()
    )
    _refused(response, 422, "invalid", "body")
    assert m.MisConnection.objects.get(school=agent.school).agent_status == {}
