"""The ScholarPack connector against its simulator, over real sockets on 127.0.0.1: the
approval, tokens refreshed and withdrawn, every report read back, paging and faults;
and the reader of its pull bundles."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rollsync.connectors import (
    AccessNotGranted,
    ApprovalWithdrawn,
    BadResponse,
    ConnectorError,
    SetupIncomplete,
    UnsafeUrl,
    VendorUnavailable,
    connector_for,
)
from rollsync.connectors import scholarpack as sp
from rollsync.connectors.base import Connection, Pulled, PullRequest
from rollsync.connectors.scholarpack import API, ScholarpackConnector
from rollsync.domain import reports as r
from rollsync.domain.records import GroupKind, ImportBatch, PersonRecord, Role
from rollsync.domain.state import SchoolRef
from rollsync.ingest.pulled import read_pull
from rollsync.ingest.rollsync_csv import RollsyncCsvReader
from rollsync.ingest.scholarpack_api import ScholarpackApiReader
from rollsync.missim.data import SimData
from rollsync.missim.scholarpack import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DROP,
    ScholarpackSimulator,
    approve_by_form,
    demo_refresh_token,
    sp_uuid,
)
from rollsync.simulate import make_school_truth
from rollsync.simulate.snapshot import SchoolSnapshot
from rollsync.simulate.writers.rollsync_csv import render

ALL = frozenset({r.STUDENTS, r.STAFF, r.CONTACTS, r.GROUPS, r.ATTENDANCE})
TODAY = date(2026, 9, 1)
NOW = datetime(2026, 9, 1, 19, 0, 0, tzinfo=UTC)
RETURN = "https://rollsync.example/mis/approved"
DATA_PATHS = (API.students_path, API.staff_path, API.contacts_path, API.register_path)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_WAIT", "0.01")
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_MAX_WAIT", "0.05")
    monkeypatch.setenv(API.client_id_env, DEMO_CLIENT_ID)
    monkeypatch.setenv(API.client_secret_env, DEMO_CLIENT_SECRET)


@pytest.fixture(scope="module")
def snap() -> SchoolSnapshot:
    return make_school_truth(pupils=60)


@pytest.fixture()
def sim(snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScholarpackSimulator]:
    with ScholarpackSimulator(SimData([snap])) as server:
        assert isinstance(server, ScholarpackSimulator)
        monkeypatch.setenv(API.url_env, server.url)
        yield server


def make_sim(
    snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch, faults: str
) -> ScholarpackSimulator:
    server = ScholarpackSimulator(SimData([snap]), faults=faults)
    monkeypatch.setenv(API.url_env, server.url)
    return server


def approved(sim: ScholarpackSimulator, snap: SchoolSnapshot, **scopes: Any) -> Connection:
    """A connection as the approval leaves it (access and refresh tokens)."""
    code = sim.approve(snap.urn, **scopes)
    done = ScholarpackConnector().complete_approval(blank(snap), code=code)
    return Connection(snap.urn, dict(done.settings), dict(done.secrets))


def blank(snap: SchoolSnapshot) -> Connection:
    return Connection(school_urn=snap.urn, settings={}, secrets={})


def request(reports: frozenset[str] = ALL) -> PullRequest:
    return PullRequest(reports=reports, opted_out={}, today=TODAY, now=NOW)


def school_ref(snap: SchoolSnapshot) -> SchoolRef:
    return SchoolRef(urn=snap.urn, la_code=snap.la_code, estab=snap.estab)


def read(payload: bytes, snap: SchoolSnapshot) -> ImportBatch:
    return ScholarpackApiReader().parse(payload, school=school_ref(snap), report=None, today=TODAY)


def pull(sim: ScholarpackSimulator, snap: SchoolSnapshot, **kw: Any) -> dict[str, Pulled]:
    conn = approved(sim, snap)
    sim.requests.clear()
    return {p.report: p for p in ScholarpackConnector().pull(conn, request(**kw))}


def data_requests(sim: ScholarpackSimulator) -> list[str]:
    return [q.path for q in sim.requests if q.path.startswith("/api/")]


# -- the truth: the rollsync CSV of the same snapshot, ids as ScholarPack's uuids --------


def expected(snap: SchoolSnapshot, report: str) -> ImportBatch:
    source = r.STUDENTS if report == r.GROUPS else report
    files = render(snap)
    batch = RollsyncCsvReader().parse(
        files[f"{source}.csv"], school=school_ref(snap), report=source, today=TODAY
    )
    assert batch.errors == []
    return batch


def as_uuid(snap: SchoolSnapshot, role: Role, mis_id: str) -> str:
    kind = {Role.PUPIL: "student", Role.STAFF: "staff", Role.CONTACT: "contact"}[role]
    return sp_uuid(snap.urn, kind, mis_id)


def plain(records: list[Any]) -> list[Any]:
    out = []
    for record in records:
        changes: dict[str, Any] = {"row": None}
        if isinstance(record, PersonRecord):
            changes["source"] = None
        out.append(dataclasses.replace(record, **changes))
    return sorted(out, key=repr)


def truth_people(snap: SchoolSnapshot, report: str) -> list[PersonRecord]:
    return [
        dataclasses.replace(p, mis_id=as_uuid(snap, p.role, p.mis_id))
        for p in expected(snap, report).people
    ]


# -- the approval -------------------------------------------------------------------------


def test_approval_link_asks_every_scope(sim: ScholarpackSimulator, snap: SchoolSnapshot) -> None:
    link = ScholarpackConnector().approval_url(blank(snap), return_url=RETURN, state="s1")
    assert link is not None
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == sim.url
    assert parts.path == "/oauth2/authorize/"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "response_type": "code",
        "client_id": DEMO_CLIENT_ID,
        "redirect_uri": RETURN,
        "scope": "school-info:read student:read staff:read contacts:first-party:read "
        "student-register:read",
        "state": "s1",
    }
    assert sim.requests == []  # making the link asks nothing


def test_the_whole_approval_in_the_browser(sim: ScholarpackSimulator, snap: SchoolSnapshot) -> None:
    link = ScholarpackConnector().approval_url(blank(snap), return_url=RETURN, state="s1")
    assert link is not None
    with httpx.Client() as browser:
        page = browser.get(link)
        assert page.status_code == 200
        for scope in ("student:read", "staff:read", "contacts:first-party:read"):
            assert f"<li>{scope}</li>" in page.text
        form = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
        # Without both admin roles: refused, and no code issued.
        refused = browser.post(
            sim.url + API.authorize_path,
            data={**form, "school": snap.urn, "admin": "on", "decision": "approve"},
        )
        assert refused.status_code == 403
        assert "Admin and System Admin" in refused.text
        assert sim.pending_codes == 0
        ok = browser.post(
            sim.url + API.authorize_path,
            data={
                **form,
                "school": snap.urn,
                "admin": "on",
                "system_admin": "on",
                "decision": "approve",
            },
        )
    assert ok.status_code == 302
    back = urlsplit(ok.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == RETURN
    answer = {k: v[0] for k, v in parse_qs(back.query).items()}
    assert answer["state"] == "s1"
    done = ScholarpackConnector().complete_approval(blank(snap), code=answer["code"])
    assert done.settings == {"url": sim.url}
    assert set(done.secrets) == {"access_token", "refresh_token", "expires_at"}
    assert sim.pending_codes == 0
    token_posts = [q for q in sim.requests if q.path == API.token_path]
    assert len(token_posts) == 1
    assert token_posts[0].form()["grant_type"] == "authorization_code"
    # The code is single-use: a second exchange is refused, as an approval to redo.
    with pytest.raises(SetupIncomplete, match="approve rollsync's access"):
        ScholarpackConnector().complete_approval(blank(snap), code=answer["code"])
    # And the tokens work.
    result = ScholarpackConnector().check(Connection(snap.urn, done.settings, done.secrets))
    assert (
        result.summary == f"ScholarPack approval works for {snap.school_name}; 62 students visible"
    )


def test_approve_by_form_helper(sim: ScholarpackSimulator, snap: SchoolSnapshot) -> None:
    link = ScholarpackConnector().approval_url(blank(snap), return_url=RETURN, state="s3")
    assert link is not None
    with pytest.raises(PermissionError):
        approve_by_form(link, snap.urn, roles=("admin",))
    back = parse_qs(urlsplit(approve_by_form(link, snap.urn)).query)
    assert back["state"] == ["s3"]
    done = ScholarpackConnector().complete_approval(blank(snap), code=back["code"][0])
    assert done.secrets["refresh_token"]


def test_deny_sends_the_browser_back_without_a_code(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    link = ScholarpackConnector().approval_url(blank(snap), return_url=RETURN, state="s2")
    assert link is not None
    form = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    answer = httpx.post(sim.url + API.authorize_path, data={**form, "decision": "deny"})
    assert answer.status_code == 302
    assert parse_qs(urlsplit(answer.headers["Location"]).query) == {
        "error": ["access_denied"],
        "state": ["s2"],
    }
    assert sim.pending_codes == 0


def test_region_without_client_is_setup_incomplete(
    sim: ScholarpackSimulator, snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(API.client_id_env)
    with pytest.raises(SetupIncomplete, match=API.client_id_env):
        ScholarpackConnector().approval_url(blank(snap), return_url=RETURN, state="x")
    assert sim.requests == []


def test_not_approved_yet_asks_nothing(sim: ScholarpackSimulator, snap: SchoolSnapshot) -> None:
    with pytest.raises(SetupIncomplete, match="approval link"):
        ScholarpackConnector().pull(blank(snap), request())
    assert sim.requests == []


# -- a full pull equals the snapshot ------------------------------------------------------


def test_full_pull_reads_back_as_the_snapshot(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    pulled = pull(sim, snap)
    assert list(pulled) == [r.STUDENTS, r.STAFF, r.CONTACTS, r.GROUPS, r.ATTENDANCE]
    batches = {report: read(p.payload, snap) for report, p in pulled.items()}
    for report, batch in batches.items():
        assert batch.errors == [], (report, batch.errors[:3])
        assert batch.reports == frozenset({report})
        assert batch.declared_urn == snap.urn
        assert pulled[report].fmt == "scholarpack-api"
    for report in (r.STUDENTS, r.STAFF, r.CONTACTS):
        assert plain(batches[report].people) == plain(truth_people(snap, report)), report
        assert batches[report].complete_for == expected(snap, report).complete_for
    pupils = batches[r.STUDENTS].people
    assert len(pupils) == len(snap.pupils) == 62
    assert len(batches[r.STAFF].people) == len(snap.staff) == 7
    assert len(batches[r.CONTACTS].people) == len(snap.contacts) == 87
    first = next(
        p for p in pupils if p.mis_id == sp_uuid(snap.urn, "student", snap.pupils[0].mis_id)
    )
    assert first.upn == snap.pupils[0].upn and first.registration_group == snap.pupils[0].reg_group
    # Contact links: priority, parental responsibility, relationship.
    truth_links = [
        dataclasses.replace(
            link,
            contact_mis_id=as_uuid(snap, Role.CONTACT, link.contact_mis_id),
            pupil_mis_id=as_uuid(snap, Role.PUPIL, link.pupil_mis_id),
        )
        for link in expected(snap, r.CONTACTS).contact_links
    ]
    assert len(batches[r.CONTACTS].contact_links) == len(snap.links) == 108
    assert plain(batches[r.CONTACTS].contact_links) == plain(truth_links)
    # Groups: the registration classes, their pupils and tutors.
    regs = [g for g in snap.groups if g.kind is GroupKind.REGISTRATION]
    groups = batches[r.GROUPS]
    assert sorted((g.mis_id, g.name, g.kind) for g in groups.groups) == sorted(
        (sp_uuid(snap.urn, "group", g.mis_id), g.name, GroupKind.REGISTRATION) for g in regs
    )
    truth_members = sorted(
        (sp_uuid(snap.urn, "group", g.mis_id), role, as_uuid(snap, role, mis_id), membership)
        for g in regs
        for role, mis_id, membership in g.members
    )
    got_members = sorted(
        (m.group_mis_id, m.person_role, m.person_mis_id, m.role) for m in groups.memberships
    )
    assert got_members == truth_members
    assert any(m[1] is Role.STAFF for m in got_members)  # tutors are there
    # Attendance: every mark of the day.
    marks = sorted(
        (m.pupil_mis_id, m.date, m.session, m.code) for m in batches[r.ATTENDANCE].attendance
    )
    assert marks == sorted(
        (as_uuid(snap, Role.PUPIL, m.pupil_mis_id), m.date, m.session, m.code)
        for m in snap.attendance
    )
    assert len(marks) == len(snap.attendance) == 124
    assert sim.requests[-1].arg(API.register_date_param) == TODAY.isoformat()


def test_requests_and_sizes_of_a_whole_pull(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    pulled = pull(sim, snap)
    # The school record once, then one page of each list (100 a page); no token request
    # (the approval's access token is fresh).
    assert [q.path for q in sim.requests] == [
        API.school_path,
        API.students_path,
        API.staff_path,
        API.contacts_path,
        API.register_path,
        API.register_path,  # 124 marks: two pages of 100
    ]
    assert all(q.arg(API.per_page_param) == str(API.per_page) for q in sim.requests[1:])
    assert all(len(p.payload) < 60_000 for p in pulled.values())


def test_mis_id_is_the_uuid(sim: ScholarpackSimulator, snap: SchoolSnapshot) -> None:
    pulled = pull(sim, snap, reports=frozenset({r.STUDENTS}))
    bundle = read_pull(pulled[r.STUDENTS].payload, vendor="scholarpack")
    first = json.loads(bundle.answers[1].body)["data"][0]
    assert read(pulled[r.STUDENTS].payload, snap).people[0].mis_id == first["student_uuid"]


# -- what is asked ------------------------------------------------------------------------


def test_only_accepted_reports_are_asked(sim: ScholarpackSimulator, snap: SchoolSnapshot) -> None:
    pulled = pull(sim, snap, reports=frozenset({r.STAFF, r.STUDENTS_FUTURE, r.STAFF_FUTURE}))
    assert list(pulled) == [r.STAFF]
    assert data_requests(sim) == [API.school_path, API.staff_path]
    # ScholarPack offers no field list: nothing but the page size is asked, so an
    # opted-out field is never asked either.
    assert [q.query for q in sim.requests] == [{}, {"per_page": [str(API.per_page)]}]


def test_groups_alone_read_the_students_list(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    pulled = pull(sim, snap, reports=frozenset({r.GROUPS}))
    assert list(pulled) == [r.GROUPS]
    assert data_requests(sim) == [API.school_path, API.students_path]
    batch = read(pulled[r.GROUPS].payload, snap)
    assert batch.people == [] and batch.complete_for == frozenset()
    assert len(batch.groups) == len([g for g in snap.groups if g.kind is GroupKind.REGISTRATION])


def test_nothing_asked_for_reports_scholarpack_cannot_send(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    conn = approved(sim, snap)
    sim.requests.clear()
    assert ScholarpackConnector().pull(conn, request(frozenset({r.STUDENTS_FUTURE}))) == []
    assert sim.requests == []


def test_paging_follows_next_uri_to_the_last_page(
    snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_sim(snap, monkeypatch, "max-per-page=25") as sim:
        assert isinstance(sim, ScholarpackSimulator)
        pulled = pull(sim, snap, reports=frozenset({r.STUDENTS}))
        asked = [(q.path, q.arg("page")) for q in sim.requests]
    assert asked == [
        (API.school_path, None),
        (API.students_path, None),
        (API.students_path, "2"),
        (API.students_path, "3"),
    ]
    assert pulled[r.STUDENTS].asked == "students (3 pages, 62)"
    assert len(read(pulled[r.STUDENTS].payload, snap).people) == 62


def test_the_same_pull_twice_packs_the_same_bytes(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    conn = approved(sim, snap)
    one = ScholarpackConnector().pull(conn, request())
    two = ScholarpackConnector().pull(conn, request())
    assert [p.payload for p in one] == [p.payload for p in two]


# -- tokens ---------------------------------------------------------------------------------


def test_token_refreshed_mid_pull(snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    with make_sim(snap, monkeypatch, "token-uses=3,max-per-page=25") as sim:
        assert isinstance(sim, ScholarpackSimulator)
        conn = approved(sim, snap)
        before = dict(conn.secrets)
        sim.requests.clear()
        pulled = ScholarpackConnector().pull(conn, request(frozenset({r.STUDENTS})))
        paths = [q.path for q in sim.requests]
    # school, page 1, page 2, page 3 refused (401), a refresh, page 3 again.
    assert paths == [
        API.school_path,
        API.students_path,
        API.students_path,
        API.students_path,
        API.token_path,
        API.students_path,
    ]
    assert sim.requests[4].form()["grant_type"] == "refresh_token"
    assert sim.requests[4].form()["refresh_token"] == before["refresh_token"]
    assert set(conn.renewed) == {"access_token", "refresh_token", "expires_at"}
    assert conn.renewed["refresh_token"] != before["refresh_token"]  # rotated
    assert conn.renewed["access_token"] != before["access_token"]
    assert len(read(pulled[0].payload, snap).people) == 62
    bundle = read_pull(pulled[0].payload, vendor="scholarpack")
    assert all(a.path != API.token_path for a in bundle.answers)  # tokens never kept
    assert all(b"access_token" not in a.body for a in bundle.answers)


def test_each_refusal_gets_one_new_token_up_to_the_bound(
    snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tokens good for 2 requests: a whole pull needs 3 refreshes (every 401 gets one).
    with make_sim(snap, monkeypatch, "token-uses=2") as sim:
        assert isinstance(sim, ScholarpackSimulator)
        conn = approved(sim, snap)
        sim.requests.clear()
        pulled = ScholarpackConnector().pull(conn, request(frozenset({r.STUDENTS, r.STAFF})))
        assert [q.path for q in sim.requests] == [
            API.school_path,
            API.students_path,
            API.staff_path,  # 401
            API.token_path,
            API.staff_path,
        ]
        assert len(read(pulled[1].payload, snap).people) == 7
        # Tokens good for one request: a whole pull would need more refreshes than one
        # call may make, so it stops rather than loops. (The tokens as the service
        # stores them after the call: the renewed ones.)
        stored = Connection(snap.urn, conn.settings, {**conn.secrets, **conn.renewed})
        sim.set_faults("token-uses=1")
        sim.requests.clear()
        with pytest.raises(ApprovalWithdrawn):
            ScholarpackConnector().pull(stored, request())
        assert [q.path for q in sim.requests] == [
            API.school_path,  # 401: its token was used already
            API.token_path,
            API.school_path,
            API.students_path,
            API.token_path,
            API.students_path,
            API.staff_path,
            API.token_path,
            API.staff_path,
            API.contacts_path,  # the 4th refusal: no more refreshes
        ]
        assert API.max_refreshes == 3


def test_expired_token_is_refreshed_before_asking(
    sim: ScholarpackSimulator, snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = approved(sim, snap)
    monkeypatch.setattr(sp, "_clock", lambda: float(conn.secrets["expires_at"]) + 1)
    sim.requests.clear()
    ScholarpackConnector().pull(conn, request(frozenset({r.STAFF})))
    assert [q.path for q in sim.requests] == [API.token_path, API.school_path, API.staff_path]
    assert conn.renewed["refresh_token"] != conn.secrets["refresh_token"]


def test_demo_refresh_token_connects(sim: ScholarpackSimulator, snap: SchoolSnapshot) -> None:
    conn = Connection(snap.urn, {}, {"refresh_token": demo_refresh_token(snap.urn)})
    result = ScholarpackConnector().check(conn)
    assert "students visible" in result.summary
    assert set(conn.renewed) == {"access_token", "refresh_token", "expires_at"}


def test_rotated_refresh_token_is_refused(
    sim: ScholarpackSimulator, snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = approved(sim, snap)
    monkeypatch.setattr(sp, "_clock", lambda: float(conn.secrets["expires_at"]) + 1)
    ScholarpackConnector().pull(conn, request(frozenset({r.STAFF})))
    # The old refresh token was spent by that pull: using it again is refused.
    with pytest.raises(ApprovalWithdrawn):
        ScholarpackConnector().pull(conn, request(frozenset({r.STAFF})))


def test_approval_withdrawn(sim: ScholarpackSimulator, snap: SchoolSnapshot) -> None:
    conn = approved(sim, snap)
    sim.revoke(snap.urn)
    sim.requests.clear()
    with pytest.raises(ApprovalWithdrawn) as caught:
        ScholarpackConnector().pull(conn, request())
    assert caught.value.message.startswith("Approval withdrawn")
    assert caught.value.state == "awaiting_approval"
    # The access token refused, one refresh refused (400 invalid_grant), nothing more.
    assert [q.path for q in sim.requests] == [API.school_path, API.token_path]


def test_revoke_option_withdraws_every_approval(
    snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_sim(snap, monkeypatch, "revoke=1") as sim:
        conn = Connection(snap.urn, {}, {"refresh_token": demo_refresh_token(snap.urn)})
        with pytest.raises(ApprovalWithdrawn):
            ScholarpackConnector().check(conn)
        assert [q.path for q in sim.requests] == [API.token_path]
        assert conn.renewed == {}


def test_scope_not_granted_is_access_not_granted(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    conn = approved(sim, snap, scopes=("school-info:read", "student:read"))
    sim.requests.clear()
    with pytest.raises(AccessNotGranted, match="'staff:read'"):
        ScholarpackConnector().pull(conn, request(frozenset({r.STUDENTS, r.STAFF})))
    assert [q.path for q in sim.requests] == [
        API.school_path,
        API.students_path,
        API.staff_path,
    ]


def test_wrong_region_secret_cannot_refresh(
    sim: ScholarpackSimulator, snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API.client_secret_env, "not-the-secret")
    conn = Connection(snap.urn, {}, {"refresh_token": demo_refresh_token(snap.urn)})
    with pytest.raises(ApprovalWithdrawn):
        ScholarpackConnector().check(conn)
    assert len(sim.requests) == 1  # the 401 is not retried


# -- faults ---------------------------------------------------------------------------------


def test_401_on_data_is_one_refresh_then_withdrawn(
    snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_sim(snap, monkeypatch, "401@2+") as sim:
        assert isinstance(sim, ScholarpackSimulator)
        conn = Connection(snap.urn, {}, {"refresh_token": demo_refresh_token(snap.urn)})
        with pytest.raises(ApprovalWithdrawn):
            ScholarpackConnector().pull(conn, request())
        # A token (1), then the school refused (2): the one refresh of the call is
        # spent, so the approval is taken as withdrawn; nothing is retried.
        assert [q.path for q in sim.requests] == [API.token_path, API.school_path]
        assert conn.renewed != {}  # the token issued is kept all the same


@pytest.mark.parametrize("fault", ["429@3:5", "500@3x2", "503@4", "drop@3"])
def test_transient_faults_are_retried(
    snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    with make_sim(snap, monkeypatch, "") as clean:
        good = pull(clean, snap)
    with make_sim(snap, monkeypatch, fault) as sim:
        assert isinstance(sim, ScholarpackSimulator)
        conn = Connection(snap.urn, {}, {"refresh_token": demo_refresh_token(snap.urn)})
        pulled = {p.report: p for p in ScholarpackConnector().pull(conn, request())}
        extra = 2 if "x2" in fault else 1
        # a token, the school, 4 lists (the register in 2 pages), and the retries
        assert len(sim.requests) == 1 + 1 + 5 + extra
    for report, one in pulled.items():
        assert read(one.payload, snap).people == read(good[report].payload, snap).people
        assert one.payload == good[report].payload


@pytest.mark.parametrize("fault", ["500@3+", "drop@3+"])
def test_persistent_failure_is_vendor_unavailable(
    snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    with make_sim(snap, monkeypatch, fault) as sim:
        conn = Connection(snap.urn, {}, {"refresh_token": demo_refresh_token(snap.urn)})
        with pytest.raises(VendorUnavailable, match="after 5 tries"):
            ScholarpackConnector().pull(conn, request())
        assert len(sim.requests) == 2 + 5


def test_bad_page_is_bad_response_naming_the_field(
    snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_sim(snap, monkeypatch, "bad@4,max-per-page=25") as sim:
        conn = Connection(snap.urn, {}, {"refresh_token": demo_refresh_token(snap.urn)})
        with pytest.raises(BadResponse) as caught:
            ScholarpackConnector().pull(conn, request(frozenset({r.STUDENTS})))
        assert caught.value.field == "has_next on page 2 of students"
        assert len(sim.requests) == 4  # nothing after


def test_bad_school_record_is_bad_response(
    snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_sim(snap, monkeypatch, "bad@2") as sim:
        conn = Connection(snap.urn, {}, {"refresh_token": demo_refresh_token(snap.urn)})
        with pytest.raises(BadResponse) as caught:
            ScholarpackConnector().pull(conn, request())
        assert caught.value.field == "data"
        assert len(sim.requests) == 2  # the token and the school: nothing after


def test_a_page_out_of_order_is_bad_response(
    sim: ScholarpackSimulator, snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.set_faults("max-per-page=25")
    original = sim.handle

    def replay_page_one(req: Any) -> Any:
        if req.arg("page") == "2":  # a next_uri that leads back to page 1
            req.query["page"] = ["1"]
        return original(req)

    monkeypatch.setattr(sim, "handle", replay_page_one)
    with pytest.raises(BadResponse) as caught:
        pull(sim, snap, reports=frozenset({r.STUDENTS}))
    assert caught.value.field == "page on page 2 of students"
    assert [q.arg("page") for q in sim.requests] == [None, None, "1"]


def test_wrong_id_type_is_bad_response(sim: ScholarpackSimulator, snap: SchoolSnapshot) -> None:
    target = sp_uuid(snap.urn, "staff", snap.staff[2].mis_id)
    sim.tamper[(snap.urn, API.staff_path, target)] = {"staff_uuid": 1234}
    with pytest.raises(BadResponse) as caught:
        pull(sim, snap, reports=frozenset({r.STAFF}))
    assert caught.value.field == "data[2].staff_uuid on page 1 of staff"


def test_hostile_records_are_row_errors(sim: ScholarpackSimulator, snap: SchoolSnapshot) -> None:
    ids = [sp_uuid(snap.urn, "student", p.mis_id) for p in snap.pupils[:5]]
    sim.tamper.update(
        {
            (snap.urn, API.students_path, ids[0]): {"student_uuid": DROP},
            (snap.urn, API.students_path, ids[1]): {"legal_surname": "Smith\x07"},
            (snap.urn, API.students_path, ids[2]): {"legal_forename": "A" * 10_000},
            (snap.urn, API.students_path, ids[3]): {"date_of_birth": True},
            (snap.urn, API.students_path, ids[4]): {"email": ["not", "text"]},
        }
    )
    pulled = pull(sim, snap, reports=frozenset({r.STUDENTS}))
    batch = read(pulled[r.STUDENTS].payload, snap)
    found = {(e.row, e.field) for e in batch.errors}
    assert found == {
        (1, "student_uuid"),
        (2, "legal_surname"),
        (3, "legal_forename"),
        (4, "date_of_birth"),
        (5, "email"),
    }
    assert all(e.source == API.students_path for e in batch.errors)
    assert len(batch.people) == 62 - 4  # the bad email only loses the email
    kept = next(p for p in batch.people if p.mis_id == ids[4])
    assert kept.email is None and "email" in kept.unknown_fields


def test_contact_with_bad_link_values_is_kept_without_them(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    contact = snap.contacts[0]
    cid = sp_uuid(snap.urn, "contact", contact.mis_id)
    sim.tamper[(snap.urn, API.contacts_path, cid)] = {
        "students": [
            {
                "student_uuid": sp_uuid(snap.urn, "student", snap.pupils[0].mis_id),
                "priority": "first",
            }
        ]
    }
    pulled = pull(sim, snap, reports=frozenset({r.CONTACTS}))
    batch = read(pulled[r.CONTACTS].payload, snap)
    assert [(e.row, e.field) for e in batch.errors] == [(1, "students[1].priority")]
    link = next(x for x in batch.contact_links if x.contact_mis_id == cid)
    assert link.priority is None
    assert len(batch.people) == 87


def test_plain_http_elsewhere_is_refused_before_any_request(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    conn = Connection(
        snap.urn, {"url": "http://scholarpack.example"}, {"refresh_token": "demo-refresh-1"}
    )
    with pytest.raises(UnsafeUrl):
        ScholarpackConnector().pull(conn, request())
    assert sim.requests == []


def test_another_schools_approval_is_refused(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    conn = approved(sim, snap)
    other = Connection("999999", conn.settings, conn.secrets)
    sim.requests.clear()
    with pytest.raises(ConnectorError, match="not this school") as caught:
        ScholarpackConnector().pull(other, request())
    assert caught.value.field == "url"
    assert [q.path for q in sim.requests] == [API.school_path]  # nothing else asked


# -- the reader alone -----------------------------------------------------------------------


def test_reader_refuses_a_damaged_bundle(
    snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_sim(snap, monkeypatch, "max-per-page=25") as sim:
        assert isinstance(sim, ScholarpackSimulator)
        full = pull(sim, snap, reports=frozenset({r.STUDENTS}))[r.STUDENTS]
    payload = full.payload
    for damaged in (payload[: len(payload) // 2], b"garbage", b"", payload[:-30]):
        batch = read(damaged, snap)
        assert batch.fatal and batch.people == [] and batch.errors[0].row is None
    # A bundle that lost its second page.
    with zipfile.ZipFile(io.BytesIO(full.payload)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["pull.json"])
    kept = [
        a for a in manifest["answers"] if parse_qs(urlsplit(a["url"]).query).get("page") != ["2"]
    ]
    assert len(kept) == len(manifest["answers"]) - 1
    manifest["answers"] = kept
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pull.json", json.dumps(manifest))
        for name, body in members.items():
            if name != "pull.json":
                zf.writestr(name, body)
    batch = read(buf.getvalue(), snap)
    assert batch.fatal and batch.people == []
    assert "incomplete" in batch.errors[0].message


def test_registered() -> None:
    connector = connector_for("scholarpack")
    assert isinstance(connector, ScholarpackConnector)
    assert connector.needs_approval and connector.mis == "ScholarPack"
    assert connector.fmt == ScholarpackApiReader.format


def test_approval_link_asks_only_the_reports_named(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    conn = Connection(snap.urn, {"reports": "staff,attendance"}, {})
    link = ScholarpackConnector().approval_url(conn, return_url=RETURN, state="s")
    assert link is not None
    scope = parse_qs(urlsplit(link).query)["scope"]
    assert scope == ["school-info:read staff:read student-register:read"]


def test_an_empty_code_asks_nothing(sim: ScholarpackSimulator, snap: SchoolSnapshot) -> None:
    with pytest.raises(SetupIncomplete, match="no approval code"):
        ScholarpackConnector().complete_approval(blank(snap), code="  ")
    assert sim.requests == []


def test_approval_page_refuses_an_unknown_client(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    link = ScholarpackConnector().approval_url(blank(snap), return_url=RETURN, state="s")
    assert link is not None
    page = httpx.get(link.replace(DEMO_CLIENT_ID, "someone-else"))
    assert page.status_code == 400 and "unknown client_id" in page.text


def test_hostile_group_and_mark_records_are_row_errors(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    pupils = [p for p in snap.pupils if p.reg_group]
    ids = [sp_uuid(snap.urn, "student", p.mis_id) for p in pupils[:2]]
    sim.tamper.update(
        {
            (snap.urn, API.students_path, ids[0]): {"registration_group": "3A"},
            (snap.urn, API.students_path, ids[1]): {
                "registration_group": {"group_uuid": "g\x00", "name": "3A"}
            },
            (snap.urn, API.register_path, ids[0]): {"mark": "not-a-code"},
        }
    )
    pulled = pull(sim, snap, reports=frozenset({r.GROUPS, r.ATTENDANCE}))
    groups = read(pulled[r.GROUPS].payload, snap)
    rows = {p.mis_id: n for n, p in enumerate(snap.pupils, start=1)}
    assert sorted((e.row, e.field) for e in groups.errors) == sorted(
        [
            (rows[pupils[0].mis_id], "registration_group"),
            (rows[pupils[1].mis_id], "registration_group.group_uuid"),
        ]
    )
    members = {m.person_mis_id for m in groups.memberships}
    assert ids[0] not in members and ids[1] not in members
    assert (
        len(groups.memberships)
        == sum(len(g.members) for g in snap.groups if g.kind is GroupKind.REGISTRATION) - 2
    )
    marks = read(pulled[r.ATTENDANCE].payload, snap)
    # Marks are tampered by pupil: both the AM and the PM mark of that pupil.
    assert [e.field for e in marks.errors] == ["mark", "mark"]
    assert all(e.source == API.register_path for e in marks.errors)
    assert len(marks.attendance) == len(snap.attendance) - len(marks.errors)
    assert ids[0] not in {m.pupil_mis_id for m in marks.attendance}


def test_a_contact_without_pupils_is_refused_not_a_leaver(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    cid = sp_uuid(snap.urn, "contact", snap.contacts[3].mis_id)
    sim.tamper[(snap.urn, API.contacts_path, cid)] = {"students": DROP}
    batch = read(pull(sim, snap, reports=frozenset({r.CONTACTS}))[r.CONTACTS].payload, snap)
    assert [(e.row, e.field) for e in batch.errors] == [(4, "students")]
    assert (Role.CONTACT, cid) in batch.rejected_keys
    assert len(batch.people) == 86
    assert all(link.contact_mis_id != cid for link in batch.contact_links)


def test_a_contact_of_no_pupil_on_roll_is_left_out(
    sim: ScholarpackSimulator, snap: SchoolSnapshot
) -> None:
    cid = sp_uuid(snap.urn, "contact", snap.contacts[3].mis_id)
    sim.tamper[(snap.urn, API.contacts_path, cid)] = {"students": []}
    batch = read(pull(sim, snap, reports=frozenset({r.CONTACTS}))[r.CONTACTS].payload, snap)
    assert batch.errors == []
    assert (Role.CONTACT, cid) not in batch.rejected_keys
    assert cid not in {p.mis_id for p in batch.people} and len(batch.people) == 86


def test_contacts_of_a_future_starter_only_are_not_listed(
    snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    starter = dataclasses.replace(snap.pupils[-1], future=True)
    future = dataclasses.replace(snap, pupils=[*snap.pupils[:-1], starter])
    only_theirs = {x.contact_mis_id for x in snap.links if x.pupil_mis_id == starter.mis_id} - {
        x.contact_mis_id for x in snap.links if x.pupil_mis_id != starter.mis_id
    }
    assert only_theirs  # the school has such contacts, so the test means something
    with ScholarpackSimulator(SimData([future])) as sim:
        monkeypatch.setenv(API.url_env, sim.url)
        conn = Connection(snap.urn, {}, {"refresh_token": demo_refresh_token(snap.urn)})
        pulled = ScholarpackConnector().pull(conn, request(frozenset({r.STUDENTS, r.CONTACTS})))
    students, contacts = (read(p.payload, future) for p in pulled)
    assert len(students.people) == 61 and contacts.errors == []
    listed = {p.mis_id for p in contacts.people}
    assert listed == {as_uuid(snap, Role.CONTACT, c.mis_id) for c in snap.contacts} - {
        as_uuid(snap, Role.CONTACT, c) for c in only_theirs
    }
