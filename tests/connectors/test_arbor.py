"""The Arbor connector against its simulator, over real sockets on 127.0.0.1: what a
pull asks, what the reader makes of the bundle, and every failure path."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rollsync.connectors import (
    BadResponse,
    Connection,
    CredentialsRefused,
    PullRequest,
    SetupIncomplete,
    UnsafeUrl,
    VendorUnavailable,
    connector_for,
)
from rollsync.connectors import arbor as arbor_connector
from rollsync.connectors.base import Pulled
from rollsync.domain import reports as r
from rollsync.domain.records import GroupKind, ImportBatch, MembershipRole, Role
from rollsync.domain.state import SchoolRef
from rollsync.domain.upn import make_upn
from rollsync.ingest import parse_upload
from rollsync.ingest.arbor_api import NOT_CARRIED
from rollsync.ingest.pulled import Answer, pack_pull, read_pull
from rollsync.missim.arbor import REMOVE, ArborSimulator, credentials_for
from rollsync.missim.data import SimData
from rollsync.simulate import make_school_truth
from rollsync.simulate.snapshot import SchoolSnapshot

NOW = datetime(2026, 9, 1, 18, 0, tzinfo=UTC)
ALL = frozenset({r.STUDENTS, r.STAFF, r.CONTACTS, r.GROUPS, r.ATTENDANCE})
ATTEMPTS = 5  # RetryPolicy's default tries
# A full students pull reads the feeds' heads first: students, people (156 people of
# the school: 2 pages of 100), UPN assignments.
FEED_REQUESTS = 4


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_WAIT", "0.01")
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_MAX_WAIT", "0.05")
    monkeypatch.delenv("ROLLSYNC_MIS_RETRY_ATTEMPTS", raising=False)


@pytest.fixture(scope="module")
def snap() -> SchoolSnapshot:
    return make_school_truth(pupils=60)


@pytest.fixture
def sim(snap: SchoolSnapshot) -> Iterator[ArborSimulator]:
    with ArborSimulator(SimData([snap])) as server:
        yield server


def connection(sim: ArborSimulator, urn: str, *, password: str | None = None) -> Connection:
    user, secret = credentials_for(urn)
    return Connection(
        urn,
        {"url": f"{sim.url}/schools/{urn}", "username": user},
        {"password": secret if password is None else password},
    )


def request(reports: frozenset[str] = ALL, **kwargs: object) -> PullRequest:
    return PullRequest(
        reports=reports,
        opted_out=kwargs.pop("opted_out", {}),  # type: ignore[arg-type]
        today=date(2026, 9, 1),
        now=NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def pull(sim: ArborSimulator, snap: SchoolSnapshot, **kwargs: object) -> dict[str, Pulled]:
    pulled = connector_for("arbor").pull(connection(sim, snap.urn), request(**kwargs))  # type: ignore[arg-type]
    return {p.report: p for p in pulled}


def read(payload: bytes, snap: SchoolSnapshot) -> ImportBatch:
    return parse_upload(
        payload,
        fmt="arbor-api",
        school=SchoolRef(snap.urn, snap.la_code, snap.estab),
        today=snap.date,
    )


def asked_paths(sim: ArborSimulator) -> list[str]:
    return [q.path for q in sim.requests]


def resources_asked(sim: ArborSimulator, urn: str) -> set[str]:
    prefix = f"/schools/{urn}/rest-v2/"
    return {p[len(prefix) :].split("/")[0] for p in asked_paths(sim) if p.startswith(prefix)}


# -- a full pull reads back as the school holds it -------------------------------------


def test_full_pull_reads_back_every_record_of_the_snapshot(
    sim: ArborSimulator, snap: SchoolSnapshot
) -> None:
    pulled = pull(sim, snap)
    assert list(pulled) == [r.STUDENTS, r.STAFF, r.CONTACTS, r.GROUPS, r.ATTENDANCE]
    batches = {report: read(p.payload, snap) for report, p in pulled.items()}
    for report, batch in batches.items():
        assert batch.errors == [], report
        assert batch.reports == {report}
        assert batch.source_format == "arbor-api"
    urn = snap.urn
    student_id = {p.mis_id: str(sim.arbor_id(urn, "student", p.person_id)) for p in snap.pupils}
    staff_id = {p.mis_id: str(sim.arbor_id(urn, "staff", p.person_id)) for p in snap.staff}
    guardian_id = {c.mis_id: str(sim.arbor_id(urn, "guardian", c.person_id)) for c in snap.contacts}

    pupils = {p.mis_id: p for p in batches[r.STUDENTS].people}
    current = [p for p in snap.pupils if not p.future]
    assert len(pupils) == len(current) == 62
    assert batches[r.STUDENTS].complete_for == {Role.PUPIL}
    for want in current:
        got = pupils[student_id[want.mis_id]]
        assert got.role is Role.PUPIL
        assert (got.legal_given_name, got.legal_family_name) == (
            want.legal_given,
            want.legal_family,
        )
        assert got.middle_names == want.middle
        assert (got.preferred_given_name, got.preferred_family_name) == (
            want.preferred_given,
            want.preferred_family,
        )
        assert (got.date_of_birth, got.gender, got.upn) == (want.dob, want.gender, want.upn)
        assert got.unknown_fields == NOT_CARRIED
        assert got.source == "/rest-v2/students"

    staff = {p.mis_id: p for p in batches[r.STAFF].people}
    assert len(staff) == len(snap.staff) == 7
    assert batches[r.STAFF].complete_for == {Role.STAFF}
    for want in snap.staff:
        got = staff[staff_id[want.mis_id]]
        assert (got.role, got.legal_given_name, got.legal_family_name, got.title) == (
            Role.STAFF,
            want.legal_given,
            want.legal_family,
            want.title,
        )
        assert (got.middle_names, got.date_of_birth, got.gender) == (
            want.middle,
            want.dob,
            want.gender,
        )

    contacts = batches[r.CONTACTS]
    assert contacts.complete_for == {Role.CONTACT}
    by_id = {p.mis_id: p for p in contacts.people}
    assert len(by_id) == len(snap.contacts) == 87
    for want in snap.contacts:
        got = by_id[guardian_id[want.mis_id]]
        assert (got.role, got.legal_given_name, got.legal_family_name, got.title) == (
            Role.CONTACT,
            want.legal_given,
            want.legal_family,
            want.title,
        )
        assert (got.date_of_birth, got.gender) == (want.dob, want.gender)
    links = {
        (x.contact_mis_id, x.pupil_mis_id, x.priority, x.parental_responsibility, x.relationship)
        for x in contacts.contact_links
    }
    assert len(contacts.contact_links) == len(snap.links) == 108
    assert links == {
        (
            guardian_id[x.contact_mis_id],
            student_id[x.pupil_mis_id],
            x.priority,
            x.parental_responsibility,
            x.relationship,
        )
        for x in snap.links
    }

    groups = batches[r.GROUPS]
    served = [g for g in snap.groups if g.kind in (GroupKind.CLASS, GroupKind.REGISTRATION)]
    assert sorted((g.name, g.kind) for g in groups.groups) == sorted(
        (g.name, g.kind) for g in served
    )
    name_of = {g.mis_id: g.name for g in groups.groups}
    person_id = {Role.PUPIL: student_id, Role.STAFF: staff_id}
    want_members = {
        (g.name, role, person_id[role][mis_id], as_)
        for g in served
        for role, mis_id, as_ in g.members
    }
    got_members = [
        (name_of[m.group_mis_id], m.person_role, m.person_mis_id, m.role)
        for m in groups.memberships
    ]
    assert len(got_members) == len(want_members) == 571
    assert set(got_members) == want_members
    assert {m.role for m in groups.memberships} == {MembershipRole.TEACHER, MembershipRole.STUDENT}

    marks = batches[r.ATTENDANCE].attendance
    assert len(marks) == len(snap.attendance) == 124
    assert {(m.pupil_mis_id, m.date, m.session, m.code) for m in marks} == {
        (student_id[m.pupil_mis_id], m.date, m.session, m.code) for m in snap.attendance
    }


def test_the_same_pull_twice_packs_to_the_same_bytes(
    sim: ArborSimulator, snap: SchoolSnapshot
) -> None:
    first = pull(sim, snap)
    again = pull(sim, snap)
    assert {k: p.payload for k, p in first.items()} == {k: p.payload for k, p in again.items()}
    # and another simulator of the same school serves the same ids
    with ArborSimulator(SimData([snap])) as other:
        assert pull(other, snap, reports=frozenset({r.STUDENTS}))[r.STUDENTS].payload == (
            first[r.STUDENTS].payload
        )


def test_ids_are_arbors_not_the_snapshots(sim: ArborSimulator, snap: SchoolSnapshot) -> None:
    batch = read(pull(sim, snap, reports=frozenset({r.STUDENTS}))[r.STUDENTS].payload, snap)
    assert not {p.mis_id for p in batch.people} & {p.mis_id for p in snap.pupils}


# -- paging ---------------------------------------------------------------------------


def _pages(sim: ArborSimulator, urn: str, resource: str) -> list[tuple[str, str]]:
    path = f"/schools/{urn}/rest-v2/{resource}"
    return [
        (q.query["page-number"][0], q.query["page-size"][0]) for q in sim.requests if q.path == path
    ]


@pytest.mark.parametrize(("size", "pages"), [(25, 3), (31, 3), (62, 2), (100, 1)])
def test_every_page_is_asked_up_to_the_last(
    sim: ArborSimulator,
    snap: SchoolSnapshot,
    monkeypatch: pytest.MonkeyPatch,
    size: int,
    pages: int,
) -> None:
    monkeypatch.setattr(
        arbor_connector, "API", dataclasses.replace(arbor_connector.API, page_size=size)
    )
    pulled = pull(sim, snap, reports=frozenset({r.STUDENTS}))
    assert _pages(sim, snap.urn, "students") == [(str(n), str(size)) for n in range(1, pages + 1)]
    assert len(read(pulled[r.STUDENTS].payload, snap).people) == 62
    assert pulled[r.STUDENTS].asked.startswith(f"students: 3 change feeds' heads, {pages} page")


def test_a_page_larger_than_arbor_serves_is_refused_not_cut_short(
    sim: ArborSimulator, snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    bigger = dataclasses.replace(arbor_connector.API, page_size=500, max_page_size=500)
    monkeypatch.setattr(arbor_connector, "API", bigger)
    with pytest.raises(BadResponse, match="400"):
        pull(sim, snap, reports=frozenset({r.STUDENTS}))
    assert len(sim.requests) == 1


# -- only what was accepted is asked ---------------------------------------------------


def test_only_the_accepted_reports_are_asked(sim: ArborSimulator, snap: SchoolSnapshot) -> None:
    pulled = pull(sim, snap, reports=frozenset({r.STAFF}))
    assert list(pulled) == [r.STAFF]
    assert resources_asked(sim, snap.urn) == {"staff", "people"}
    sim.requests.clear()
    pull(sim, snap, reports=frozenset({r.ATTENDANCE}))
    assert resources_asked(sim, snap.urn) == {"attendance-records", "attendance-marks"}
    day = [q.query for q in sim.requests if q.path.endswith("/attendance-records")]
    assert day == [
        {
            "filters.startDatetime.from": ["2026-09-01 00:00:00"],
            "filters.startDatetime.to": ["2026-09-02 00:00:00"],
            "page-number": ["1"],
            "page-size": ["100"],
        },
        {
            "filters.startDatetime.from": ["2026-09-01 00:00:00"],
            "filters.startDatetime.to": ["2026-09-02 00:00:00"],
            "page-number": ["2"],
            "page-size": ["100"],
        },
    ]
    sim.requests.clear()
    assert pull(sim, snap, reports=frozenset({r.STUDENTS_FUTURE, r.STAFF_FUTURE})) == {}
    assert sim.requests == []


def test_an_opted_out_upn_is_never_asked(sim: ArborSimulator, snap: SchoolSnapshot) -> None:
    pulled = pull(sim, snap, reports=frozenset({r.STUDENTS}), opted_out={r.STUDENTS: {"upn"}})
    assert resources_asked(sim, snap.urn) == {"students", "people"}
    batch = read(pulled[r.STUDENTS].payload, snap)
    assert len(batch.people) == 62 and batch.errors == []
    assert all(p.upn is None and "upn" in p.unknown_fields for p in batch.people)


# -- credentials and the URL rule ------------------------------------------------------


def test_check_reads_one_small_page(sim: ArborSimulator, snap: SchoolSnapshot) -> None:
    result = connector_for("arbor").check(connection(sim, snap.urn))
    assert "accepted" in result.summary
    (only,) = sim.requests
    assert only.path == f"/schools/{snap.urn}/rest-v2/students"
    assert only.query == {"page-number": ["1"], "page-size": ["1"]}


def test_wrong_credentials_are_refused_at_once_without_retry(
    sim: ArborSimulator, snap: SchoolSnapshot
) -> None:
    arbor = connector_for("arbor")
    with pytest.raises(CredentialsRefused, match="401"):
        arbor.check(connection(sim, snap.urn, password="wrong"))
    assert len(sim.requests) == 1
    with pytest.raises(CredentialsRefused):
        arbor.pull(connection(sim, snap.urn, password="wrong"), request())
    assert len(sim.requests) == 2
    # another school's credentials do not open this one
    other = dataclasses.replace(
        connection(sim, snap.urn),
        secrets={"password": credentials_for("999999")[1]},
    )
    with pytest.raises(CredentialsRefused):
        arbor.check(other)
    assert len(sim.requests) == 3


def test_a_connection_without_an_endpoint_asks_for_reauthorisation(sim: ArborSimulator) -> None:
    bare = Connection("100001", {"username": "demo-app-100001"}, {"password": "x"})
    arbor = connector_for("arbor")
    with pytest.raises(SetupIncomplete, match="MISSING ENDPOINT URL") as caught:
        arbor.check(bare)
    assert caught.value.state == "awaiting_approval" and caught.value.field == "url"
    with pytest.raises(SetupIncomplete, match="MISSING ENDPOINT URL"):
        arbor.pull(bare, request())
    assert sim.requests == []


def test_plain_http_to_another_host_is_refused_before_any_request(
    sim: ArborSimulator, snap: SchoolSnapshot
) -> None:
    user, password = credentials_for(snap.urn)
    remote = Connection(
        snap.urn, {"url": "http://school.uk.arbor.sc", "username": user}, {"password": password}
    )
    with pytest.raises(UnsafeUrl, match="plain http"):
        connector_for("arbor").pull(remote, request())
    with pytest.raises(UnsafeUrl):
        connector_for("arbor").check(remote)
    assert sim.requests == []


# -- a busy or failing Arbor -----------------------------------------------------------


def test_429_and_5xx_are_retried_and_the_pull_is_the_same(
    sim: ArborSimulator, snap: SchoolSnapshot
) -> None:
    clean = pull(sim, snap, reports=frozenset({r.STUDENTS}))[r.STUDENTS].payload
    clean_requests = len(sim.requests)
    for spec in ("429@3:0.01", "500@2x2", "503@5,502@9", "drop@4"):
        sim.requests.clear()
        sim.set_faults(spec)
        again = pull(sim, snap, reports=frozenset({r.STUDENTS}))[r.STUDENTS].payload
        assert again == clean, spec
        retries = 2 if spec in ("500@2x2", "503@5,502@9") else 1
        assert len(sim.requests) == clean_requests + retries, spec
    sim.set_faults("429@1:0.01")
    sim.requests.clear()
    connector_for("arbor").check(connection(sim, snap.urn))
    assert len(sim.requests) == 2
    assert sim.requests[0].query == sim.requests[1].query


def test_5xx_forever_gives_up_after_the_policys_tries(
    sim: ArborSimulator, snap: SchoolSnapshot
) -> None:
    sim.set_faults("503@*")
    with pytest.raises(VendorUnavailable, match="503"):
        pull(sim, snap)
    assert len(sim.requests) == ATTEMPTS
    assert {q.path for q in sim.requests} == {f"/schools/{snap.urn}/rest-v2/students/changelog"}


def test_a_connection_dropped_every_time_gives_up(
    sim: ArborSimulator, snap: SchoolSnapshot
) -> None:
    sim.set_faults("drop@3+")
    with pytest.raises(VendorUnavailable):
        pull(sim, snap, reports=frozenset({r.STUDENTS}))
    assert len(sim.requests) == 2 + ATTEMPTS


def test_a_stub_without_href_is_a_bad_response_naming_it(
    sim: ArborSimulator, snap: SchoolSnapshot
) -> None:
    sim.set_faults(f"bad@{FEED_REQUESTS + 1}")  # the students list, after the feeds' heads
    with pytest.raises(BadResponse) as caught:
        pull(sim, snap)
    assert caught.value.field == "students[0].href on page 1"
    assert len(sim.requests) == FEED_REQUESTS + 1


def test_a_student_without_its_person_is_a_bad_response_naming_it(
    sim: ArborSimulator, snap: SchoolSnapshot
) -> None:
    sim.set_faults(f"bad@{FEED_REQUESTS + 2}")  # the first student's record
    with pytest.raises(BadResponse) as caught:
        pull(sim, snap)
    first = sim.school(snap.urn).lists["students"][0]
    assert caught.value.field == f"{first}.person"
    assert len(sim.requests) == FEED_REQUESTS + 2


def test_a_damaged_change_feed_is_a_bad_response(sim: ArborSimulator, snap: SchoolSnapshot) -> None:
    sim.set_faults("bad@1")
    with pytest.raises(BadResponse) as caught:
        pull(sim, snap)
    assert caught.value.field == "changes[0] on page 1"


# -- one bad record is one row error ---------------------------------------------------


def test_hostile_records_are_row_errors_and_the_rest_is_read(
    sim: ArborSimulator, snap: SchoolSnapshot
) -> None:
    school = sim.school(snap.urn)
    students = school.lists["students"]
    person = [school.records[h]["person"]["href"] for h in students]
    sim.patch(snap.urn, students[0], id=REMOVE)
    sim.patch(snap.urn, person[1], legalFirstName="Ann\x07e")
    sim.patch(snap.urn, person[2], legalLastName="x" * 10_000)
    sim.patch(snap.urn, person[3], legalLastName=123)
    sim.patch(snap.urn, person[4], dateOfBirth="31/02/2015")
    sim.patch(snap.urn, person[5], gender="banana")
    sim.patch(snap.urn, person[6], legalMiddleNames=["a", "list"])
    batch = read(pull(sim, snap, reports=frozenset({r.STUDENTS}))[r.STUDENTS].payload, snap)
    assert not batch.fatal
    got = sorted((e.row, e.field) for e in batch.errors)
    assert got == [
        (1, "Student.id"),
        (2, "Person.legalFirstName"),
        (3, "Person.legalLastName"),
        (4, "Person.legalLastName"),
        (5, "Person.dateOfBirth"),
        (6, "Person.gender"),
        (7, "Person.legalMiddleNames"),
    ]
    assert {e.source for e in batch.errors} == {"/rest-v2/students"}
    messages = {e.row: e.message for e in batch.errors}
    assert "control character" in messages[2] and "skipped" in messages[2]
    assert "10,000 characters" in messages[3]
    assert "a number, not text" in messages[4]
    assert "not a real date" in messages[5] or "not a date" in messages[5]
    assert "imported without it" in messages[6]
    assert len(batch.people) == 62 - 5
    ids = [s.rsplit("/", 1)[1] for s in students]
    assert {(Role.PUPIL, i) for i in ids[:5]} <= batch.rejected_keys
    kept = {p.mis_id: p for p in batch.people}
    assert kept[ids[5]].gender is None and "gender" in kept[ids[5]].unknown_fields
    assert kept[ids[6]].middle_names is None and "middle_names" in kept[ids[6]].unknown_fields


def test_a_bad_contact_link_value_is_a_row_error(sim: ArborSimulator, snap: SchoolSnapshot) -> None:
    school = sim.school(snap.urn)
    links = school.lists["student-guardian-relationships"]
    sim.patch(snap.urn, links[0], emergencyContactPriority="first")
    sim.patch(snap.urn, links[1], isLegalGuardian="yes")
    batch = read(pull(sim, snap, reports=frozenset({r.CONTACTS}))[r.CONTACTS].payload, snap)
    assert sorted((e.row, e.field) for e in batch.errors) == [
        (1, "StudentGuardianRelationship.emergencyContactPriority"),
        (2, "StudentGuardianRelationship.isLegalGuardian"),
    ]
    assert len(batch.contact_links) == 108
    assert batch.contact_links[0].priority is None


# -- the reader refuses what is not a pull ---------------------------------------------


def _bundle(answers: list[Answer], report: str = r.STUDENTS, vendor: str = "arbor") -> bytes:
    return pack_pull(
        vendor=vendor, report=report, asked="x", pulled_at=NOW.isoformat(), answers=answers
    )


def test_the_reader_rejects_a_damaged_bundle(sim: ArborSimulator, snap: SchoolSnapshot) -> None:
    good = pull(sim, snap, reports=frozenset({r.STUDENTS}))[r.STUDENTS].payload
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pull.json", b"{not json")
    damaged = [
        b"",
        b"garbage",
        good[: len(good) // 2],
        buf.getvalue(),
        _bundle([], vendor="isams"),
        _bundle([Answer("GET", "/rest-v2/students", 200, "application/json", b"<html>")]),
        _bundle([Answer("GET", "/rest-v2/students", 200, "application/json", b"[1, 2]")]),
        _bundle([Answer("GET", "/rest-v2/students", 200, "", b'{"surprise": []}')]),
        _bundle([Answer("GET", "/rest-v2/students", 500, "", b'{"students": []}')]),
        _bundle([], report="homework"),
    ]
    for n, payload in enumerate(damaged):
        batch = read(payload, snap)
        assert batch.fatal, n
        assert (batch.people, batch.contact_links, batch.attendance) == ([], [], []), n
        assert len(batch.errors) == 1 and batch.errors[0].row is None, n


def test_an_empty_list_is_a_full_list_of_nobody(snap: SchoolSnapshot) -> None:
    body = json.dumps({"students": []}).encode()
    batch = read(_bundle([Answer("GET", "/rest-v2/students", 200, "", body)]), snap)
    assert not batch.fatal and batch.people == []
    assert batch.complete_for == {Role.PUPIL}  # the planner's guard then holds the run


# -- approval ------------------------------------------------------------------------


def test_approval_hands_over_the_endpoint_and_credentials(
    sim: ArborSimulator, snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROLLSYNC_ARBOR_APPROVAL_URL", sim.url)
    arbor = connector_for("arbor")
    pending = Connection(snap.urn, {}, {})
    back = "https://rollsync.example/mis/arbor/approved"
    url = arbor.approval_url(pending, return_url=back, state="s-123")
    assert url is not None and url.startswith(f"{sim.url}/approve?")
    assert parse_qs(urlsplit(url).query) == {
        "school": [snap.urn],
        "redirect_uri": [back],
        "state": ["s-123"],
    }
    page = httpx.get(url)
    assert page.status_code == 200
    assert f"Approve rollsync's access to {snap.school_name}?" in page.text
    assert '<form method="post" action="/approve">' in page.text
    approved = httpx.post(
        f"{sim.url}/approve",
        data={"school": snap.urn, "redirect_uri": back, "state": "s-123"},
        follow_redirects=False,
    )
    assert approved.status_code == 302
    location = approved.headers["location"]
    assert location.startswith(back + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["s-123"]
    done = arbor.complete_approval(pending, code=query["code"][0])
    assert dict(done.settings) == {
        "url": f"{sim.url}/schools/{snap.urn}",
        "username": f"demo-app-{snap.urn}",
    }
    assert dict(done.secrets) == {"password": f"demo-pass-{snap.urn}"}
    connected = Connection(snap.urn, done.settings, done.secrets)
    assert "accepted" in arbor.check(connected).summary
    # the code works once
    with pytest.raises(SetupIncomplete, match="approve"):
        arbor.complete_approval(pending, code=query["code"][0])


def test_the_approval_address_defaults_to_arbors_and_keeps_the_url_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arbor = connector_for("arbor")
    monkeypatch.delenv("ROLLSYNC_ARBOR_APPROVAL_URL", raising=False)
    url = arbor.approval_url(
        Connection("100001", {}, {}), return_url="https://x.example/", state="s"
    )
    assert url is not None and url.startswith("https://login.arbor.sc/rollsync/approve?")
    monkeypatch.setenv("ROLLSYNC_ARBOR_APPROVAL_URL", "http://login.example.org")
    with pytest.raises(UnsafeUrl):
        arbor.approval_url(Connection("100001", {}, {}), return_url="https://x.example/", state="s")


# -- the change feed -----------------------------------------------------------------


def _changed(snap: SchoolSnapshot, *, rename: int, new_upn: int) -> SchoolSnapshot:
    pupils = list(snap.pupils)
    pupils[rename] = dataclasses.replace(pupils[rename], legal_family="Changed-Name")
    upn = make_upn(snap.la_code, snap.estab, 2026, 999)
    pupils[new_upn] = dataclasses.replace(pupils[new_upn], upn=upn)
    return dataclasses.replace(snap, pupils=pupils)


def _student(sim: ArborSimulator, snap: SchoolSnapshot, n: int) -> str:
    return f"/rest-v2/students/{sim.arbor_id(snap.urn, 'student', snap.pupils[n].person_id)}"


def test_a_daily_pull_asks_only_what_changed(sim: ArborSimulator, snap: SchoolSnapshot) -> None:
    full = pull(sim, snap, reports=frozenset({r.STUDENTS}))[r.STUDENTS]
    heads = {"students": 62, "people": 156, "uk-dfe-upn-assignments": 62}
    assert not full.incremental and full.cursor == {"revisions": heads}
    changed = _changed(snap, rename=3, new_upn=5)
    sim.data.replace(changed)
    sim.requests.clear()
    daily = pull(
        sim,
        changed,
        reports=frozenset({r.STUDENTS}),
        cursors={r.STUDENTS: full.cursor},
        previous={r.STUDENTS: full.payload},
    )[r.STUDENTS]
    assert daily.incremental
    # the renamed student's record and UPN change too: their stubs show the name
    assert daily.cursor == {
        "revisions": {"students": 63, "people": 157, "uk-dfe-upn-assignments": 64}
    }
    renamed, new_upn = _student(sim, snap, 3), _student(sim, snap, 5)
    paths = [q.path.removeprefix(f"/schools/{snap.urn}") for q in sim.requests]
    assert paths[:3] == [
        "/rest-v2/students/changelog",
        "/rest-v2/people/changelog",
        "/rest-v2/uk-dfe-upn-assignments/changelog",
    ]
    assert [q.query["from-revision"] for q in sim.requests[:3]] == [["62"], ["156"], ["62"]]
    # the renamed student: record, person, UPN list; the new UPN: its assignment (which
    # says whose it is), then the student, person and UPN list
    assert renamed in paths and new_upn in paths and len(paths) == 3 + 4 + 4
    assert not any(p == "/rest-v2/students" for p in paths)
    assert read_pull(daily.payload, vendor="arbor").merged is not None
    batch = read(daily.payload, snap)
    assert batch.errors == [] and len(batch.people) == 62
    assert batch.complete_for == {Role.PUPIL}
    before = {p.mis_id: p for p in read(full.payload, snap).people}
    after = {p.mis_id: p for p in batch.people}
    renamed_id, upn_id = renamed.rsplit("/", 1)[1], new_upn.rsplit("/", 1)[1]
    assert {k for k in before if before[k] != after[k]} == {renamed_id, upn_id}
    assert after[renamed_id].legal_family_name == "Changed-Name"
    assert after[upn_id].upn == changed.pupils[5].upn != snap.pupils[5].upn
    # a day with no change asks the feeds only, and reads the same
    sim.requests.clear()
    quiet = pull(
        sim,
        changed,
        reports=frozenset({r.STUDENTS}),
        cursors={r.STUDENTS: daily.cursor},
        previous={r.STUDENTS: daily.payload},
    )[r.STUDENTS]
    assert quiet.incremental and quiet.cursor == daily.cursor and len(sim.requests) == 3
    assert {p.mis_id: p for p in read(quiet.payload, snap).people} == after


def test_a_change_to_someone_outside_the_report_asks_nobody(
    sim: ArborSimulator, snap: SchoolSnapshot
) -> None:
    full = pull(sim, snap, reports=frozenset({r.STAFF}))[r.STAFF]
    assert full.cursor == {"revisions": {"staff": 7, "people": 156}}
    contacts = list(snap.contacts)
    contacts[0] = dataclasses.replace(contacts[0], legal_given="Renamed")
    sim.data.replace(dataclasses.replace(snap, contacts=contacts))
    sim.requests.clear()
    daily = pull(
        sim,
        snap,
        reports=frozenset({r.STAFF}),
        cursors={r.STAFF: full.cursor},
        previous={r.STAFF: full.payload},
    )[r.STAFF]
    assert daily.incremental and len(sim.requests) == 2
    assert daily.cursor == {"revisions": {"staff": 7, "people": 157}}
    assert read(daily.payload, snap).people == read(full.payload, snap).people


def test_a_doubtful_daily_pull_is_a_full_one(sim: ArborSimulator, snap: SchoolSnapshot) -> None:
    full = pull(sim, snap, reports=frozenset({r.STUDENTS}))[r.STUDENTS]
    # a leaver: the change feed says delete, so the full list decides
    sim.data.replace(dataclasses.replace(snap, pupils=snap.pupils[1:]))
    again = pull(
        sim,
        snap,
        reports=frozenset({r.STUDENTS}),
        cursors={r.STUDENTS: full.cursor},
        previous={r.STUDENTS: full.payload},
    )[r.STUDENTS]
    assert not again.incremental
    assert again.cursor == {
        "revisions": {"students": 63, "people": 157, "uk-dfe-upn-assignments": 63}
    }
    assert len(read(again.payload, snap).people) == 61
    # no previous pull, one that cannot be read, an old cursor, a new opt-out: in full
    cases: list[tuple[dict[str, bytes], dict[str, object], dict[str, set[str]]]] = [
        ({}, again.cursor, {}),
        ({r.STUDENTS: b"garbage"}, again.cursor, {}),
        ({r.STUDENTS: again.payload}, {"revision": 63}, {}),
        ({r.STUDENTS: again.payload}, again.cursor, {r.STUDENTS: {"upn"}}),
    ]
    for previous, cursor, opted_out in cases:
        sim.requests.clear()
        pulled = pull(
            sim,
            snap,
            reports=frozenset({r.STUDENTS}),
            cursors={r.STUDENTS: cursor},
            previous=previous,
            opted_out=opted_out,
        )[r.STUDENTS]
        assert not pulled.incremental
        assert _pages(sim, snap.urn, "students") == [("1", "100")]


def test_the_simulator_takes_both_spellings_of_the_change_feed(
    sim: ArborSimulator, snap: SchoolSnapshot
) -> None:
    user, password = credentials_for(snap.urn)
    base = f"{sim.url}/schools/{snap.urn}/rest-v2/staff/changelog"
    answers = [
        httpx.get(f"{base}?{spelling}=5", auth=(user, password)).json()
        for spelling in ("from-revision", "fromRevision")
    ]
    assert answers[0] == answers[1]
    assert [c["toRevision"] for c in answers[0]["changes"]] == [6, 7]
    refused = httpx.get(base, auth=(user, password))
    assert refused.status_code == 400
    assert refused.json()["response"]["code"] == 400
