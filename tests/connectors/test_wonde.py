"""The Wonde connector against its simulator, over real sockets on 127.0.0.1, and the
reader of its pull bundles."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from rollsync.connectors import (
    AccessNotGranted,
    BadResponse,
    ConnectorError,
    CredentialsRefused,
    UnsafeUrl,
    VendorUnavailable,
    connector_for,
)
from rollsync.connectors.base import Connection, Pulled, PullRequest
from rollsync.connectors.wonde import API, WondeConnector
from rollsync.domain import reports as r
from rollsync.domain.records import ImportBatch, PersonRecord, Role
from rollsync.domain.state import SchoolRef
from rollsync.ingest.pulled import read_pull
from rollsync.ingest.rollsync_csv import RollsyncCsvReader
from rollsync.ingest.wonde_api import WondeApiReader
from rollsync.missim.data import SimData
from rollsync.missim.wonde import DEMO_TOKEN, DROP, WondeSimulator, wonde_school_id
from rollsync.simulate import make_school_truth
from rollsync.simulate.snapshot import SchoolSnapshot
from rollsync.simulate.writers.rollsync_csv import render

ALL = frozenset({r.STUDENTS, r.STUDENTS_FUTURE, r.STAFF, r.CONTACTS, r.GROUPS, r.ATTENDANCE})
NOW = datetime(2026, 9, 1, 19, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_WAIT", "0.01")
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_MAX_WAIT", "0.05")


@pytest.fixture(scope="module")
def snap() -> SchoolSnapshot:
    school = make_school_truth(pupils=60)
    # One future starter, so Students (future) has someone to list.
    first = school.pupils[0]
    future = dataclasses.replace(
        first,
        mis_id="F9001",
        person_id="PFUT1",
        upn=None,
        start_date=date(2026, 11, 2),
        future=True,
        reg_group=None,
    )
    school.pupils.append(future)
    return school


@pytest.fixture()
def sim(snap: SchoolSnapshot) -> Iterator[WondeSimulator]:
    with WondeSimulator(SimData([snap])) as server:
        assert isinstance(server, WondeSimulator)
        yield server


def connection(
    sim: WondeSimulator, snap: SchoolSnapshot, *, token: str = DEMO_TOKEN, **settings: str
) -> Connection:
    values = {"wonde_school": wonde_school_id(snap.urn), "url": sim.base_url, **settings}
    return Connection(school_urn=snap.urn, settings=values, secrets={"token": token})


def request(
    reports: frozenset[str] = ALL,
    opted_out: dict[str, frozenset[str]] | None = None,
    **kwargs: Any,
) -> PullRequest:
    return PullRequest(
        reports=reports,
        opted_out=opted_out or {},
        today=date(2026, 9, 1),
        now=kwargs.pop("now", NOW),
        **kwargs,
    )


def school_ref(snap: SchoolSnapshot) -> SchoolRef:
    return SchoolRef(urn=snap.urn, la_code=snap.la_code, estab=snap.estab)


def read(pulled: Pulled, snap: SchoolSnapshot) -> ImportBatch:
    return WondeApiReader().parse(
        pulled.payload, school=school_ref(snap), report=None, today=date(2026, 9, 1)
    )


def expected(snap: SchoolSnapshot, report: str) -> ImportBatch:
    """What the documented rollsync CSV of the same snapshot reads as: the truth."""
    files = render(snap)
    return RollsyncCsvReader().parse(
        files[f"{report}.csv"], school=school_ref(snap), report=report, today=date(2026, 9, 1)
    )


def plain(records: list[Any]) -> list[Any]:
    """Records without where they came from, in a stable order."""
    out = []
    for record in records:
        changes: dict[str, Any] = {"row": None}
        if isinstance(record, PersonRecord):
            changes["source"] = None
        out.append(dataclasses.replace(record, **changes))
    return sorted(out, key=repr)


def wonde_requests(sim: WondeSimulator) -> list[str]:
    return [req.path.removeprefix("/v1.0/") for req in sim.requests]


def pull_all(sim: WondeSimulator, snap: SchoolSnapshot, **kwargs: Any) -> dict[str, Pulled]:
    pulled = WondeConnector().pull(connection(sim, snap), request(**kwargs))
    return {p.report: p for p in pulled}


# -- a full pull equals the snapshot ------------------------------------------------------


def test_full_pull_reads_back_as_the_snapshot(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    pulled = pull_all(sim, snap)
    assert set(pulled) == ALL - {r.STAFF_FUTURE}
    for report, one in pulled.items():
        batch = read(one, snap)
        truth = expected(snap, report)
        assert batch.errors == [], (report, batch.errors[:3])
        assert truth.errors == []
        assert plain(batch.people) == plain(truth.people), report
        assert plain(batch.contact_links) == plain(truth.contact_links), report
        assert plain(batch.groups) == plain(truth.groups), report
        assert plain(batch.memberships) == plain(truth.memberships), report
        assert plain(batch.attendance) == plain(truth.attendance), report
        assert batch.reports == frozenset({report})
        assert batch.complete_for == truth.complete_for, report
        assert batch.declared_urn == snap.urn
        assert one.fmt == "wonde-api"
    # Exact counts, against the snapshot itself.
    people = {k: read(p, snap).people for k, p in pulled.items()}
    assert len(people[r.STUDENTS]) == 62 == len([p for p in snap.pupils if not p.future])
    assert [p.mis_id for p in people[r.STUDENTS_FUTURE]] == ["F9001"]
    assert people[r.STUDENTS_FUTURE][0].future is True
    assert len(people[r.STAFF]) == len(snap.staff) == 7
    assert len(people[r.CONTACTS]) == len(snap.contacts) == 87
    batch = read(pulled[r.CONTACTS], snap)
    assert len(batch.contact_links) == len(snap.links) == 108
    groups = read(pulled[r.GROUPS], snap)
    assert len(groups.groups) == len(snap.groups) == 70
    assert len(groups.memberships) == sum(len(g.members) for g in snap.groups)
    assert len(read(pulled[r.ATTENDANCE], snap).attendance) == len(snap.attendance) == 124
    # Pupils carry the include-borne fields, UPN check letter verified.
    pupil = next(p for p in people[r.STUDENTS] if p.mis_id == snap.pupils[0].mis_id)
    assert pupil.upn == snap.pupils[0].upn
    assert pupil.registration_group == snap.pupils[0].reg_group
    assert pupil.year_group == snap.pupils[0].year_group
    assert pupil.address == snap.pupils[0].address.one_line(postcode=False)  # type: ignore[union-attr]


def test_mis_id_is_wondes_mis_id_not_its_id(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    pulled = pull_all(sim, snap, reports=frozenset({r.STUDENTS}))
    bundle = read_pull(pulled[r.STUDENTS].payload, vendor="wonde")
    first = json.loads(bundle.answers[1].body)["data"][0]
    assert first["id"].startswith("A") and first["id"] != first["mis_id"]
    assert read(pulled[r.STUDENTS], snap).people[0].mis_id == first["mis_id"]


# -- what is asked ------------------------------------------------------------------------


def test_only_accepted_reports_are_asked(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    pulled = pull_all(sim, snap, reports=frozenset({r.STAFF}))
    assert list(pulled) == [r.STAFF]
    school = wonde_school_id(snap.urn)
    assert wonde_requests(sim) == [f"schools/{school}", f"schools/{school}/employees"]
    assert sim.requests[1].query["include"] == ["employment_details,contact_details"]
    assert sim.requests[1].query["per_page"] == [str(API.per_page)]


def test_opted_out_fields_are_not_asked(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    opted = {
        r.STUDENTS: frozenset(
            {"upn", "start_date", "leaving_date", "email", "postcode", "address"}
        ),
        r.STAFF: frozenset({"email", "phone", "postcode"}),
        r.CONTACTS: frozenset({"email", "phone", "postcode", "address"}),
    }
    pulled = pull_all(
        sim, snap, reports=frozenset({r.STUDENTS, r.STAFF, r.CONTACTS}), opted_out=opted
    )
    includes = {
        req.path.rsplit("/", 1)[-1] + str(n): req.arg("include")
        for n, req in enumerate(sim.requests)
    }
    assert includes == {
        f"{wonde_school_id(snap.urn)}0": None,
        "students1": "contacts",  # contacts (sorted first): no contact_details
        "employees2": "employment_details",
        "students3": "year,groups",
    }
    for req in sim.requests:
        assert "contact_details" not in (req.arg("include") or "")
        assert "education_details" not in (req.arg("include") or "")
    # What was not asked is unknown, never "now blank".
    pupil = read(pulled[r.STUDENTS], snap).people[0]
    assert pupil.upn is None and {"upn", "email", "address"} <= pupil.unknown_fields
    assert pupil.year_group is not None


def test_paging_follows_next_to_the_last_page(snap: SchoolSnapshot) -> None:
    with WondeSimulator(SimData([snap]), faults="max-per-page=25") as sim:
        assert isinstance(sim, WondeSimulator)
        pulled = pull_all(sim, snap, reports=frozenset({r.STUDENTS}))
        pages = [req.arg("page") for req in sim.requests[1:]]
    assert pages == [None, "2", "3"]  # 62 pupils, 25 a page
    assert pulled[r.STUDENTS].asked == "students (3 pages)"
    assert len(read(pulled[r.STUDENTS], snap).people) == 62
    bundle = read_pull(pulled[r.STUDENTS].payload, vendor="wonde")
    assert [a.url.split("?")[0] for a in bundle.answers][1:] == [
        f"/schools/{wonde_school_id(snap.urn)}/students"
    ] * 3


# -- failures -----------------------------------------------------------------------------


def test_wrong_token_is_refused_without_retry(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    with pytest.raises(CredentialsRefused):
        WondeConnector().pull(connection(sim, snap, token="not-the-token"), request())
    assert len(sim.requests) == 1
    with pytest.raises(CredentialsRefused):
        WondeConnector().check(connection(sim, snap, token="wrong"))
    assert len(sim.requests) == 2


def test_a_school_not_granted_is_access_not_granted(
    sim: WondeSimulator, snap: SchoolSnapshot
) -> None:
    conn = connection(sim, snap, wonde_school="A9999999999")
    with pytest.raises(AccessNotGranted, match="Wonde has not been granted access to this school"):
        WondeConnector().pull(conn, request())
    assert len(sim.requests) == 1


def test_a_wonde_school_of_another_urn_is_refused(
    sim: WondeSimulator, snap: SchoolSnapshot
) -> None:
    conn = Connection(
        school_urn="999999",
        settings={"wonde_school": wonde_school_id(snap.urn), "url": sim.base_url},
        secrets={"token": DEMO_TOKEN},
    )
    with pytest.raises(ConnectorError, match="not this school") as caught:
        WondeConnector().pull(conn, request())
    assert caught.value.field == "wonde_school"
    assert len(sim.requests) == 1


def test_429_and_5xx_are_retried_with_identical_data(
    sim: WondeSimulator, snap: SchoolSnapshot
) -> None:
    clean = pull_all(sim, snap, reports=frozenset({r.STUDENTS, r.STAFF}))
    sim.set_faults("429@2:0.01,503@3,500@5x2")
    sim.requests.clear()
    again = pull_all(sim, snap, reports=frozenset({r.STUDENTS, r.STAFF}))
    assert {k: p.payload for k, p in again.items()} == {k: p.payload for k, p in clean.items()}
    assert len(sim.requests) == 3 + 4


def test_5xx_forever_is_vendor_unavailable_after_the_policy(
    sim: WondeSimulator, snap: SchoolSnapshot
) -> None:
    sim.set_faults("500@2+")
    with pytest.raises(VendorUnavailable):
        pull_all(sim, snap)
    assert len(sim.requests) == 1 + 5  # the school, then the policy's 5 tries


def test_a_dropped_answer_is_retried(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    clean = pull_all(sim, snap, reports=frozenset({r.STAFF}))
    sim.set_faults("drop@2")
    sim.requests.clear()
    again = pull_all(sim, snap, reports=frozenset({r.STAFF}))
    assert again[r.STAFF].payload == clean[r.STAFF].payload
    assert len(sim.requests) == 3
    sim.set_faults("drop@2+")
    with pytest.raises(VendorUnavailable):
        pull_all(sim, snap, reports=frozenset({r.STAFF}))


def test_bad_answer_names_the_field(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    sim.set_faults("bad@3")
    with pytest.raises(BadResponse, match=r"meta\.pagination") as caught:
        pull_all(sim, snap, reports=frozenset({r.STUDENTS, r.STAFF}))
    assert caught.value.field == "students page 1.meta.pagination"
    sim.set_faults("bad@1")
    with pytest.raises(BadResponse) as school:
        pull_all(sim, snap)
    assert school.value.field == "data"


def test_hostile_records_are_row_errors_and_the_rest_is_read(
    sim: WondeSimulator, snap: SchoolSnapshot
) -> None:
    pupils = [p for p in snap.pupils if not p.future]
    sim.tamper = {
        (snap.urn, "students", pupils[2].mis_id): {"mis_id": DROP},
        (snap.urn, "students", pupils[4].mis_id): {
            "forename": "Ann\x07e",
            "legal_forename": "Ann\x07e",
        },
        (snap.urn, "students", pupils[6].mis_id): {"legal_surname": "X" * 10_000},
        (snap.urn, "students", pupils[8].mis_id): {"gender": ["F"]},
        (snap.urn, "students", pupils[9].mis_id): {"date_of_birth": {"when": 3}},
    }
    batch = read(pull_all(sim, snap, reports=frozenset({r.STUDENTS}))[r.STUDENTS], snap)
    by_row = {e.row: e for e in batch.errors}
    assert sorted(by_row) == [3, 5, 7, 9, 10]
    assert by_row[3].field == "mis_id" and by_row[3].source == "students"
    assert by_row[5].field == "legal_forename" and "control character" in by_row[5].message
    assert by_row[7].field == "legal_surname" and "10,000" in by_row[7].message
    assert by_row[9].field == "gender" and "rest of the row was imported" in by_row[9].message
    assert by_row[10].field == "date_of_birth" and "skipped" in by_row[10].message
    kept = {p.mis_id for p in batch.people}
    assert len(kept) == 62 - 4
    assert pupils[8].mis_id in kept  # a bad optional value: kept without it
    assert {(Role.PUPIL, pupils[i].mis_id) for i in (4, 6, 9)} <= batch.rejected_keys
    assert not batch.fatal


def test_reader_refuses_a_damaged_bundle(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    payload = pull_all(sim, snap, reports=frozenset({r.STAFF}))[r.STAFF].payload
    for damaged in (payload[: len(payload) // 2], b"garbage", b"", _without_answers(payload)):
        batch = WondeApiReader().parse(damaged, school=school_ref(snap), report=None)
        assert batch.fatal
        assert batch.people == [] and batch.groups == [] and batch.attendance == []
        assert batch.complete_for == frozenset()


def _without_answers(payload: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as src, zipfile.ZipFile(out, "w") as dst:
        dst.writestr("pull.json", src.read("pull.json"))
    return out.getvalue()


def test_the_same_pull_packs_to_the_same_bytes(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    first = pull_all(sim, snap)
    second = pull_all(sim, snap)
    assert {k: p.payload for k, p in first.items()} == {k: p.payload for k, p in second.items()}


def test_check(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    result = connector_for("wonde").check(connection(sim, snap))
    assert snap.school_name in result.summary and "students are readable" in result.summary
    assert [req.arg("per_page") for req in sim.requests] == [None, "1"]


def test_plain_http_off_loopback_is_refused_before_any_request(
    sim: WondeSimulator, snap: SchoolSnapshot
) -> None:
    conn = connection(sim, snap, url="http://api.wonde.example/v1.0")
    with pytest.raises(UnsafeUrl):
        WondeConnector().pull(conn, request())
    with pytest.raises(UnsafeUrl):
        WondeConnector().check(conn)
    assert sim.requests == []


def test_settings_missing_are_named(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    with pytest.raises(ConnectorError) as caught:
        WondeConnector().check(connection(sim, snap, wonde_school=""))
    assert caught.value.field == "wonde_school"
    with pytest.raises(ConnectorError) as token:
        WondeConnector().check(connection(sim, snap, token=""))
    assert token.value.field == "token"
    with pytest.raises(ConnectorError, match="line break") as pasted:
        WondeConnector().check(connection(sim, snap, token=DEMO_TOKEN + "\n"))
    assert pasted.value.field == "token"
    assert sim.requests == []


# -- incremental --------------------------------------------------------------------------


def test_incremental_pull_merges_changes_and_deletions(snap: SchoolSnapshot) -> None:
    data = SimData([snap])
    with WondeSimulator(data) as sim:
        assert isinstance(sim, WondeSimulator)
        sim.clock = datetime(2026, 9, 1, 18, 0)
        full = pull_all(sim, snap, reports=frozenset({r.STUDENTS}))[r.STUDENTS]
        assert full.cursor[API.updated_after] == "2026-09-01 18:50:00"  # less the margin
        pupils = [p for p in snap.pupils if not p.future]
        changed = dataclasses.replace(pupils[0], legal_family="Renamed")
        left = pupils[1]
        new = dataclasses.replace(pupils[2], mis_id="N1", person_id="PN1", upn=None)
        later = dataclasses.replace(
            snap,
            pupils=[changed, *[p for p in snap.pupils[1:] if p is not left], new],
        )
        sim.clock = datetime(2026, 9, 2, 12, 0)
        data.replace(later)
        sim.requests.clear()
        nxt = WondeConnector().pull(
            connection(sim, snap),
            request(
                reports=frozenset({r.STUDENTS}),
                cursors={r.STUDENTS: full.cursor},
                previous={r.STUDENTS: full.payload},
                now=NOW + timedelta(days=1),
            ),
        )[0]
        asked = [(req.path.rsplit("/", 1)[-1], req.arg("updated_after")) for req in sim.requests]
    assert nxt.incremental
    assert asked[1:] == [
        ("students", "2026-09-01 18:50:00"),
        ("deletions", "2026-09-01 18:50:00"),
        ("students-leaver", "2026-09-01 18:50:00"),
    ]
    leavers = json.loads(read_pull(nxt.payload, vendor="wonde").answers[3].body)["data"]
    assert [x["mis_id"] for x in leavers] == [left.mis_id]
    changed_page = json.loads(read_pull(nxt.payload, vendor="wonde").answers[1].body)["data"]
    assert sorted(x["mis_id"] for x in changed_page) == sorted([changed.mis_id, "N1"])
    batch = read(nxt, snap)
    truth = expected(later, r.STUDENTS)
    assert plain(batch.people) == plain(truth.people)
    assert batch.complete_for == frozenset({Role.PUPIL})
    assert nxt.cursor[API.updated_after] == "2026-09-02 18:50:00"
    assert nxt.cursor["full_pull_at"] == full.cursor["full_pull_at"]


def test_incremental_falls_back_to_full_when_includes_change(snap: SchoolSnapshot) -> None:
    with WondeSimulator(SimData([snap])) as sim:
        assert isinstance(sim, WondeSimulator)
        full = pull_all(sim, snap, reports=frozenset({r.STAFF}))[r.STAFF]
        sim.requests.clear()
        again = WondeConnector().pull(
            connection(sim, snap),
            request(
                reports=frozenset({r.STAFF}),
                opted_out={r.STAFF: frozenset({"email", "phone", "postcode"})},
                cursors={r.STAFF: full.cursor},
                previous={r.STAFF: full.payload},
            ),
        )[0]
        assert not again.incremental
        assert [req.arg("updated_after") for req in sim.requests] == [None, None]


def test_incremental_pulls_in_full_once_a_week(snap: SchoolSnapshot) -> None:
    with WondeSimulator(SimData([snap])) as sim:
        assert isinstance(sim, WondeSimulator)
        full = pull_all(sim, snap, reports=frozenset({r.STAFF}))[r.STAFF]
        sim.requests.clear()
        week = WondeConnector().pull(
            connection(sim, snap),
            request(
                reports=frozenset({r.STAFF}),
                cursors={r.STAFF: full.cursor},
                previous={r.STAFF: full.payload},
                now=NOW + timedelta(days=7),
            ),
        )[0]
        assert not week.incremental
        assert [req.arg("updated_after") for req in sim.requests] == [None, None]
        assert week.cursor["full_pull_at"] == (NOW + timedelta(days=7)).isoformat()


def test_incremental_staff_deletion_and_mark_changed(snap: SchoolSnapshot) -> None:
    data = SimData([snap])
    with WondeSimulator(data) as sim:
        assert isinstance(sim, WondeSimulator)
        sim.clock = datetime(2026, 9, 1, 18, 0)
        full = pull_all(sim, snap, reports=frozenset({r.STAFF}))[r.STAFF]
        gone = snap.staff[-1]
        sim.clock = datetime(2026, 9, 2, 9, 0)
        data.replace(dataclasses.replace(snap, staff=snap.staff[:-1]))
        sim.mark_changed(snap.urn, "employees", snap.staff[0].mis_id, datetime(2026, 9, 2, 8, 0))
        nxt = WondeConnector().pull(
            connection(sim, snap),
            request(
                reports=frozenset({r.STAFF}),
                cursors={r.STAFF: full.cursor},
                previous={r.STAFF: full.payload},
                now=NOW + timedelta(days=1),
            ),
        )[0]
    bundle = read_pull(nxt.payload, vendor="wonde")
    changed = json.loads(bundle.answers[1].body)["data"]
    deleted = json.loads(bundle.answers[2].body)["data"]
    assert [x["mis_id"] for x in changed] == [snap.staff[0].mis_id]
    assert [(x["mis_id"], x["type"]) for x in deleted] == [(gone.mis_id, "employee")]
    people = read(nxt, snap).people
    assert sorted(p.mis_id for p in people) == sorted(s.mis_id for s in snap.staff[:-1])


# -- hostile contacts, groups, marks ------------------------------------------------------


def _first_record(payload: bytes) -> dict[str, Any]:
    return dict(json.loads(read_pull(payload, vendor="wonde").answers[1].body)["data"][0])


def test_hostile_contacts_are_row_errors(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    clean = pull_all(sim, snap, reports=frozenset({r.CONTACTS}))[r.CONTACTS]
    first = _first_record(clean.payload)
    contacts = [dict(c) for c in first["contacts"]["data"]]
    assert contacts, "the first pupil has contacts"
    broken = [
        {**contacts[0], "relationship": {**contacts[0]["relationship"], "priority": "first"}},
        {**contacts[0], "mis_id": None, "forename": "Nobody"},
    ]
    pupils = [p for p in snap.pupils if not p.future]
    sim.tamper = {
        (snap.urn, "students", pupils[0].mis_id): {"contacts": {"data": broken}},
        (snap.urn, "students", pupils[1].mis_id): {"contacts": DROP},
    }
    batch = read(pull_all(sim, snap, reports=frozenset({r.CONTACTS}))[r.CONTACTS], snap)
    found = sorted((e.row, e.field) for e in batch.errors)
    assert found == [
        (1, "contacts[1].relationship.priority"),
        (1, "contacts[2].mis_id"),
        (2, "contacts"),
    ]
    link = next(x for x in batch.contact_links if x.pupil_mis_id == pupils[0].mis_id)
    assert link.priority is None and link.contact_mis_id == contacts[0]["mis_id"]
    assert Role.CONTACT not in batch.complete_for  # a pupil's contacts are unknown
    assert len(batch.contact_links) > 90


def test_hostile_groups_and_marks_are_row_errors(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    classes = [g for g in snap.groups if g.kind.value == "class"]
    mark = snap.attendance[3]
    sim.tamper = {
        (snap.urn, "classes", classes[0].mis_id): {"mis_id": DROP},
        (snap.urn, "classes", classes[1].mis_id): {"students": {"data": [{"id": "A1"}]}},
        (snap.urn, "attendance/session", f"{mark.pupil_mis_id}:{mark.date}:{mark.session}"): {
            "attendance_code": {"data": {"code": "ZZ"}}
        },
    }
    pulled = pull_all(sim, snap, reports=frozenset({r.GROUPS, r.ATTENDANCE}))
    groups = read(pulled[r.GROUPS], snap)
    assert sorted((e.source, e.row, e.field) for e in groups.errors) == [
        ("classes", 1, "mis_id"),
        ("classes", 2, "students[1].mis_id"),
    ]
    assert len(groups.groups) == len(snap.groups) - 1
    assert not any(
        m.group_mis_id == classes[1].mis_id and m.person_role is Role.PUPIL
        for m in groups.memberships
    )
    marks = read(pulled[r.ATTENDANCE], snap)
    assert [(e.row, e.field) for e in marks.errors] == [(4, "attendance_code.code")]
    assert len(marks.attendance) == len(snap.attendance) - 1


def test_a_validation_error_is_a_bad_response_with_wondes_words(
    sim: WondeSimulator, snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rollsync.connectors.wonde as wonde

    monkeypatch.setattr(wonde, "STAFF_INCLUDES", {"bogus": frozenset({"email"})})
    with pytest.raises(BadResponse, match=r"422.*The include bogus is not available"):
        pull_all(sim, snap, reports=frozenset({r.STAFF}))
    assert len(sim.requests) == 2  # never retried


def test_simulator_takes_basic_auth_and_refuses_unknown_schools(
    sim: WondeSimulator, snap: SchoolSnapshot
) -> None:
    import httpx

    school = wonde_school_id(snap.urn)
    ok = httpx.get(f"{sim.base_url}/schools/{school}", auth=(DEMO_TOKEN, ""))
    assert ok.status_code == 200 and ok.json()["data"]["urn"] == int(snap.urn)
    assert httpx.get(f"{sim.base_url}/schools/{school}", auth=("nope", "")).status_code == 401
    other = httpx.get(
        f"{sim.base_url}/schools/A0000000001/students",
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
    )
    assert other.status_code == 403
    assert "not been granted" in other.json()["message"]
    assert wonde_school_id("120798") == "A0000120798"


def test_check_on_a_school_not_granted(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    with pytest.raises(AccessNotGranted) as caught:
        WondeConnector().check(connection(sim, snap, wonde_school="A0000000001"))
    assert caught.value.field == "wonde_school"
    assert len(sim.requests) == 1


def test_every_request_of_a_full_pull(sim: WondeSimulator, snap: SchoolSnapshot) -> None:
    pull_all(sim, snap)
    school = f"schools/{wonde_school_id(snap.urn)}"
    asked = [(path, sim.requests[n].arg("include")) for n, path in enumerate(wonde_requests(sim))]
    assert asked == [
        (school, None),
        (f"{school}/attendance/session", "student,attendance_code"),
        (f"{school}/students", "contacts,contacts.contact_details"),
        (f"{school}/classes", "students,employees"),
        (f"{school}/groups", "students,employees"),
        (f"{school}/employees", "employment_details,contact_details"),
        (f"{school}/students", "education_details,year,groups,contact_details"),
        (f"{school}/students-pre-admission", "education_details,year,groups,contact_details"),
    ]
    assert sim.requests[1].arg("date") == "2026-09-01"
    assert all(req.headers["authorization"] == f"Bearer {DEMO_TOKEN}" for req in sim.requests)


def test_bad_answer_on_page_2_names_the_page(snap: SchoolSnapshot) -> None:
    with WondeSimulator(SimData([snap]), faults="max-per-page=25,bad@3") as sim:
        with pytest.raises(BadResponse) as caught:
            pull_all(sim, snap, reports=frozenset({r.STUDENTS}))
        assert len(sim.requests) == 3  # nothing asked after the bad page
    assert caught.value.field == "students page 2.meta.pagination"


def test_reader_refuses_merged_records_without_the_list(
    sim: WondeSimulator, snap: SchoolSnapshot
) -> None:
    from rollsync.ingest.pulled import pack_pull

    payload = pack_pull(
        vendor="wonde",
        report=r.STUDENTS,
        asked="students changed",
        pulled_at=NOW.isoformat(),
        answers=[],
        incremental=True,
        merged={"employees": []},
    )
    batch = WondeApiReader().parse(payload, school=school_ref(snap), report=None)
    assert batch.fatal and batch.people == [] and batch.complete_for == frozenset()
    assert "no students list" in batch.errors[0].message


def test_a_record_back_after_its_deletion_is_changed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator: a school seen first on a later day, then on an earlier one, then the
    later again (the demo walks its days so): the later day's records, deleted in between,
    come back stamped with the time they came back, so `updated_after` finds them."""
    import dataclasses as dc
    from datetime import UTC, datetime, timedelta

    import httpx

    snap = make_school_truth(pupils=20, phase="Primary")
    other = dc.replace(snap, staff=[dc.replace(s, mis_id=f"N{s.mis_id}") for s in snap.staff])
    data = SimData([other])
    with WondeSimulator(data) as sim:
        base = f"{sim.url}/v1.0/schools/{wonde_school_id(snap.urn)}/employees"
        auth = {"Authorization": "Bearer demo-wonde-token"}
        assert len(httpx.get(base, headers=auth).json()["data"]) == len(snap.staff)
        data.replace(snap)
        httpx.get(base, headers=auth)
        since = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%d %H:%M:%S")
        data.replace(other)
        back = httpx.get(base, headers=auth, params={"updated_after": since}).json()["data"]
        assert sorted(e["mis_id"] for e in back) == sorted(s.mis_id for s in other.staff)
