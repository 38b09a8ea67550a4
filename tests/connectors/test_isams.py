"""The IRIS iSAMS / Ed:gen connector against its simulator, over real sockets on 127.0.0.1,
and the reader of its pull bundles."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
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
from rollsync.connectors import isams as isams_connector
from rollsync.connectors.base import Connection, Pulled, PullRequest
from rollsync.connectors.isams import API
from rollsync.domain.records import Gender, ImportBatch, PersonRecord, Role
from rollsync.domain.state import SchoolRef
from rollsync.ingest.isams_api import IsamsApiReader
from rollsync.ingest.pulled import Answer, pack_pull, read_pull
from rollsync.missim import SimData
from rollsync.missim.isams import (
    IsamsSimulator,
    client_id_for,
    client_secret_for,
    employee_id_for,
    school_id_for,
    student_id_for,
)
from rollsync.simulate import make_school_truth
from rollsync.simulate.snapshot import SchoolSnapshot

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
STUDENTS = f"/{API.students_path}"
EMPLOYEES = f"/{API.employees_path}"
TOKEN = f"/{API.token_path}"
BOTH = frozenset({"students", "staff"})


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_WAIT", "0.01")
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_MAX_WAIT", "0.05")
    monkeypatch.delenv("ROLLSYNC_MIS_RETRY_ATTEMPTS", raising=False)


@pytest.fixture(scope="module")
def snap() -> SchoolSnapshot:
    return make_school_truth(pupils=60)


@pytest.fixture
def sim(snap: SchoolSnapshot) -> Iterator[IsamsSimulator]:
    with IsamsSimulator(SimData([snap])) as server:
        assert isinstance(server, IsamsSimulator)
        yield server


def connection(sim: IsamsSimulator, urn: str, *, secret: str | None = None) -> Connection:
    return Connection(
        urn,
        {"url": f"{sim.url}/schools/{urn}", "client_id": client_id_for(urn)},
        {"client_secret": secret if secret is not None else client_secret_for(urn)},
    )


def pull(
    sim: IsamsSimulator,
    snap: SchoolSnapshot,
    reports: frozenset[str] = BOTH,
    opted_out: Mapping[str, frozenset[str]] | None = None,
) -> list[Pulled]:
    request = PullRequest(reports, opted_out or {}, now=NOW)
    return connector_for("isams").pull(connection(sim, snap.urn), request)


def read(pulled: Pulled, snap: SchoolSnapshot) -> ImportBatch:
    school = SchoolRef(urn=snap.urn, la_code=snap.la_code, estab=snap.estab)
    return IsamsApiReader().parse(pulled.payload, school=school, report=None, today=snap.date)


def asked(sim: IsamsSimulator) -> list[tuple[str, str, dict[str, list[str]]]]:
    """(method, path under the school, query) of every request the simulator got."""
    out = []
    for q in sim.requests:
        path = q.path.split("/", 3)[3] if q.path.startswith("/schools/") else q.path
        out.append((q.method, "/" + path, q.query))
    return out


def pages_asked(sim: IsamsSimulator, path: str) -> list[dict[str, list[str]]]:
    return [query for method, p, query in asked(sim) if p == path]


def token_requests(sim: IsamsSimulator) -> int:
    return sum(1 for method, p, _ in asked(sim) if p == TOKEN and method == "POST")


# -- a full pull ---------------------------------------------------------------------------


def expected_pupil(snap: SchoolSnapshot, p: Any) -> dict[str, Any]:
    a = p.address
    return {
        "mis_id": school_id_for(snap.urn, p.mis_id),
        "legal_given_name": p.legal_given,
        "legal_family_name": p.legal_family,
        "preferred_given_name": p.preferred_given,
        "preferred_family_name": None,
        "middle_names": p.middle,
        "date_of_birth": p.dob,
        "gender": p.gender,
        "upn": p.upn,
        "start_date": p.start_date,
        "leaving_date": p.leaving_date,
        "year_group": p.year_group,
        "registration_group": p.reg_group,
        "email": p.email,
        "postcode": a.postcode if a else None,
        "address": a.one_line(postcode=False) if a else None,
        "title": None,
        "staff_code": None,
        "phone": None,
        "future": False,
        "unknown_fields": frozenset({"preferred_family_name"}),
    }


def expected_staff(snap: SchoolSnapshot, p: Any) -> dict[str, Any]:
    return {
        "mis_id": str(employee_id_for(snap.urn, p.mis_id)),
        "legal_given_name": p.legal_given,
        "legal_family_name": p.legal_family,
        "preferred_given_name": p.preferred_given,
        "preferred_family_name": None,
        "middle_names": p.middle,
        "date_of_birth": p.dob,
        "gender": p.gender,
        "upn": None,
        "start_date": p.start_date,
        "leaving_date": p.leaving_date,
        "year_group": None,
        "registration_group": None,
        "email": p.email,
        "postcode": None,
        "address": None,
        "title": p.title,
        "staff_code": p.staff_code,
        "phone": p.phone,
        "future": False,
        "unknown_fields": frozenset({"preferred_family_name", "postcode"}),
    }


def as_dict(record: PersonRecord, keys: Any) -> dict[str, Any]:
    return {k: getattr(record, k) for k in keys}


def test_a_full_pull_reads_back_as_the_snapshot(sim: IsamsSimulator, snap: SchoolSnapshot) -> None:
    pulled = pull(sim, snap)

    assert [(p.report, p.fmt, p.asked) for p in pulled] == [
        ("students", "isams-api", f"students (1 page, {len(snap.pupils)})"),
        ("staff", "isams-api", f"employees (1 page, {len(snap.staff)})"),
    ]
    pupils, staff = read(pulled[0], snap), read(pulled[1], snap)
    assert not pupils.errors and not staff.errors
    assert pupils.reports == {"students"} and pupils.complete_for == {Role.PUPIL}
    assert staff.reports == {"staff"} and staff.complete_for == {Role.STAFF}
    assert pupils.generated_at == NOW.isoformat()

    on_roll = [p for p in snap.pupils if not p.future]
    assert len(on_roll) == len(snap.pupils) > 50  # make_school_truth: nobody future here
    want_pupils = [expected_pupil(snap, p) for p in on_roll]
    assert [as_dict(r, want_pupils[0]) for r in pupils.people] == want_pupils
    assert [(r.role, r.row, r.source) for r in pupils.people] == [
        (Role.PUPIL, n, f"{STUDENTS} page 1") for n in range(1, len(on_roll) + 1)
    ]
    want_staff = [expected_staff(snap, p) for p in snap.staff]
    assert [as_dict(r, want_staff[0]) for r in staff.people] == want_staff
    assert all(r.role is Role.STAFF for r in staff.people)
    assert pupils.rows_read == len(on_roll) and staff.rows_read == len(snap.staff)
    # iSAMS carries no contacts, groups or attendance
    for batch in (pupils, staff):
        assert not (batch.contact_links or batch.groups or batch.memberships or batch.attendance)

    # the MIS ID is the schoolId, never the internal id, and not the snapshot's own ID
    body = json.loads(read_pull(pulled[0].payload, vendor="isams").answers[0].body)
    first = body["students"][0]
    assert first["schoolId"] == pupils.people[0].mis_id != str(first["id"])
    assert first["id"] == student_id_for(snap.urn, on_roll[0].mis_id)
    assert len(first["schoolId"]) == 14 and pupils.people[0].mis_id != on_roll[0].mis_id

    # one token, one page of each, with nothing else asked
    assert asked(sim) == [
        ("POST", TOKEN, {}),
        ("GET", STUDENTS, {"page": ["1"], "pageSize": ["100"]}),
        ("GET", EMPLOYEES, {"page": ["1"], "pageSize": ["100"]}),
    ]
    # the token answer is never kept; nor is any secret
    for p in pulled:
        bundle = read_pull(p.payload, vendor="isams")
        assert all(a.path != TOKEN for a in bundle.answers)
        assert b"sim-token" not in p.payload and b"demo-secret" not in p.payload


def test_the_token_request_is_client_credentials_with_the_restapi_scope(
    sim: IsamsSimulator, snap: SchoolSnapshot
) -> None:
    pull(sim, snap, frozenset({"staff"}))
    token, data = sim.requests
    assert token.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token.form() == {
        "grant_type": "client_credentials",
        "client_id": client_id_for(snap.urn),
        "client_secret": client_secret_for(snap.urn),
        "scope": "restapi",
    }
    assert data.headers["authorization"].startswith("Bearer sim-token-")
    assert "demo-secret" not in json.dumps(data.headers)


def test_paging_runs_to_the_last_page(sim: IsamsSimulator, snap: SchoolSnapshot) -> None:
    whole = read(pull(sim, snap)[0], snap)
    sim.requests.clear()
    sim.set_faults("page-size-max=25")

    pulled = pull(sim, snap, frozenset({"students"}))

    assert pages_asked(sim, STUDENTS) == [
        {"page": [str(n)], "pageSize": ["100"]} for n in (1, 2, 3)
    ]
    assert pulled[0].asked == f"students (3 pages, {len(snap.pupils)})"
    paged = read(pulled[0], snap)
    assert not paged.errors
    # the same records as from one page; only the page named in `source` differs
    assert [dataclasses.replace(r, source=None) for r in paged.people] == [
        dataclasses.replace(r, source=None) for r in whole.people
    ]
    # rows count along the whole list; the source names the page
    assert [(r.row, r.source) for r in paged.people[24:26]] == [
        (25, f"{STUDENTS} page 1"),
        (26, f"{STUDENTS} page 2"),
    ]
    assert len(read_pull(pulled[0].payload, vendor="isams").answers) == 3


def test_only_accepted_reports_are_asked(sim: IsamsSimulator, snap: SchoolSnapshot) -> None:
    pulled = pull(sim, snap, frozenset({"staff", "contacts", "groups", "attendance"}))
    assert [p.report for p in pulled] == ["staff"]
    assert [p for _, p, _ in asked(sim)] == [TOKEN, EMPLOYEES]

    sim.requests.clear()
    assert pull(sim, snap, frozenset({"contacts", "groups", "students_future"})) == []
    assert sim.requests == []  # not even a token


def test_opted_out_fields_change_nothing_asked(sim: IsamsSimulator, snap: SchoolSnapshot) -> None:
    plain = pull(sim, snap, frozenset({"students"}))
    plain_asked = asked(sim)
    sim.requests.clear()
    opted = pull(
        sim, snap, frozenset({"students"}), {"students": frozenset({"email", "upn", "postcode"})}
    )
    # iSAMS is asked for no field list and no expand, with or without opt-outs
    assert asked(sim) == plain_asked
    assert all(set(q) == {"page", "pageSize"} for q in pages_asked(sim, STUDENTS))
    assert opted[0].payload == plain[0].payload


def test_the_same_pull_packs_to_the_same_bytes(sim: IsamsSimulator, snap: SchoolSnapshot) -> None:
    first = pull(sim, snap)
    second = pull(sim, snap)
    assert [p.payload for p in first] == [p.payload for p in second]
    assert sim.tokens_issued == 2  # a new token each pull: nothing cached between pulls


# -- credentials and tokens ----------------------------------------------------------------


def test_a_wrong_secret_is_refused_at_once(sim: IsamsSimulator, snap: SchoolSnapshot) -> None:
    request = PullRequest(BOTH, {}, now=NOW)
    with pytest.raises(CredentialsRefused) as refused:
        connector_for("isams").pull(connection(sim, snap.urn, secret="wrong"), request)
    assert refused.value.message.startswith("IRIS iSAMS refused the client ID and secret")
    assert refused.value.field == "client_secret"
    assert asked(sim) == [("POST", TOKEN, {})]  # never retried, no data asked


@pytest.mark.parametrize("status", [401, 403])
def test_a_401_or_403_from_the_token_endpoint_is_refused_at_once(
    sim: IsamsSimulator, snap: SchoolSnapshot, status: int
) -> None:
    sim.set_faults(f"{status}@1")
    with pytest.raises(CredentialsRefused, match="refused the client ID and secret"):
        pull(sim, snap)
    assert len(sim.requests) == 1


def test_a_used_up_token_is_replaced_once_and_the_pull_is_the_same(
    sim: IsamsSimulator, snap: SchoolSnapshot
) -> None:
    sim.set_faults("page-size-max=25")
    clean = pull(sim, snap, frozenset({"students"}))
    sim.requests.clear()
    sim.set_faults("page-size-max=25,token-requests=1")

    refreshed = pull(sim, snap, frozenset({"students"}))

    assert [(m, p, q.get("page")) for m, p, q in asked(sim)] == [
        ("POST", TOKEN, None),
        ("GET", STUDENTS, ["1"]),
        ("GET", STUDENTS, ["2"]),  # 401: the token was used up
        ("POST", TOKEN, None),
        ("GET", STUDENTS, ["2"]),
        ("GET", STUDENTS, ["3"]),  # 401 again
        ("POST", TOKEN, None),
        ("GET", STUDENTS, ["3"]),
    ]
    assert refreshed[0].payload == clean[0].payload  # refused answers are not kept


def test_a_new_token_refused_too_is_credentials_refused(
    sim: IsamsSimulator, snap: SchoolSnapshot
) -> None:
    # 1 token, 2 page 1, 3 page 2 (401: used up), 4 new token, 5 page 2 (401)
    sim.set_faults("page-size-max=25,token-requests=1,401@5")
    with pytest.raises(CredentialsRefused) as refused:
        pull(sim, snap, frozenset({"students"}))
    assert "a new token was refused too" in refused.value.message
    assert len(sim.requests) == 5
    assert token_requests(sim) == 2


def test_a_token_about_to_expire_is_replaced_before_use(
    sim: IsamsSimulator, snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The clock jumps 1000 s at each look: every token (60 s) has expired by its next use.
    ticks = iter(range(0, 10**9, 1000))
    monkeypatch.setattr(isams_connector, "_clock", lambda: float(next(ticks)))
    sim.set_faults("token-expiry=60,page-size-max=25")

    pull(sim, snap, frozenset({"students"}))

    assert [p for _, p, _ in asked(sim)] == [TOKEN, STUDENTS] * 3  # no 401 met
    assert sim.tokens_issued == 3


def test_a_cached_token_is_reused_until_near_expiry(
    sim: IsamsSimulator, snap: SchoolSnapshot
) -> None:
    sim.set_faults("token-expiry=3600,page-size-max=10")
    pull(sim, snap)
    assert token_requests(sim) == 1
    assert len(pages_asked(sim, STUDENTS)) == 7  # 62 pupils, 10 a page


def test_the_simulator_accepts_every_documented_token_path(
    sim: IsamsSimulator, snap: SchoolSnapshot
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id_for(snap.urn),
        "client_secret": client_secret_for(snap.urn),
        "scope": "anything",
    }
    sim.set_faults("token-expiry=90")
    for path in ("auth/connect/token", "main/auth/connect/token", "main/sso/idp/connect/token"):
        answer = httpx.post(f"{sim.url}/schools/{snap.urn}/{path}", data=form)
        assert answer.status_code == 200
        assert answer.json()["expires_in"] == 90 and answer.json()["token_type"] == "Bearer"
    wrong = httpx.post(
        f"{sim.url}/schools/{snap.urn}/auth/connect/token", data=form | {"client_id": "x"}
    )
    assert (wrong.status_code, wrong.json()) == (400, {"error": "invalid_client"})
    # data without a token is refused
    other = httpx.get(f"{sim.url}/schools/{snap.urn}/{API.students_path}")
    assert other.status_code == 401 and other.json()["message"]


# -- a vendor that is busy, down or not as documented ------------------------------------


def test_429_and_5xx_are_retried_and_the_pull_is_the_same(
    sim: IsamsSimulator, snap: SchoolSnapshot
) -> None:
    clean = pull(sim, snap)
    sim.requests.clear()
    sim.set_faults("429@2:30,502@4")  # Retry-After 30 s is capped by the max wait

    again = pull(sim, snap)

    assert [p.payload for p in again] == [p.payload for p in clean]
    assert [p for _, p, _ in asked(sim)] == [TOKEN, STUDENTS, STUDENTS, EMPLOYEES, EMPLOYEES]


def test_5xx_for_ever_gives_up_after_the_policy_attempts(
    sim: IsamsSimulator, snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_ATTEMPTS", "3")
    sim.set_faults("503@2+")
    with pytest.raises(VendorUnavailable) as down:
        pull(sim, snap)
    assert down.value.transient
    assert [p for _, p, _ in asked(sim)] == [TOKEN, STUDENTS, STUDENTS, STUDENTS]


def test_a_dropped_answer_is_retried_and_a_lasting_drop_gives_up(
    sim: IsamsSimulator, snap: SchoolSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = pull(sim, snap)
    sim.requests.clear()
    sim.set_faults("drop@3")
    again = pull(sim, snap)
    assert [p.payload for p in again] == [p.payload for p in clean]
    assert [p for _, p, _ in asked(sim)] == [TOKEN, STUDENTS, EMPLOYEES, EMPLOYEES]

    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_ATTEMPTS", "2")
    sim.requests.clear()
    sim.set_faults("drop@2+")
    with pytest.raises(VendorUnavailable):
        pull(sim, snap)
    assert [p for _, p, _ in asked(sim)] == [TOKEN, STUDENTS, STUDENTS]


@pytest.mark.parametrize(
    ("faults", "field", "words"),
    [
        ("bad@2", "students[0].schoolId", "students[0].schoolId on page 1 as int"),
        ("page-size-max=25,bad@3", "students[0].schoolId", "on page 2"),
        ("bad@3", "totalPages", "'totalPages'"),
        ("bad@1", "access_token", "no access_token"),
    ],
)
def test_an_answer_not_as_documented_fails_the_pull_naming_the_field(
    sim: IsamsSimulator, snap: SchoolSnapshot, faults: str, field: str, words: str
) -> None:
    sim.set_faults(faults)
    with pytest.raises(BadResponse) as bad:
        pull(sim, snap)
    assert bad.value.field == field
    assert words in bad.value.message
    assert len(sim.requests) == int(faults.rsplit("@", 1)[1])  # nothing asked after it


def test_403_on_data_is_access_not_granted(sim: IsamsSimulator, snap: SchoolSnapshot) -> None:
    sim.set_faults("403@3")
    with pytest.raises(AccessNotGranted, match="humanresources/employees"):
        pull(sim, snap)
    assert len(sim.requests) == 3


def test_a_url_with_no_isams_behind_it_names_the_url(sim: IsamsSimulator) -> None:
    conn = Connection(
        "999999", {"url": f"{sim.url}/schools/999999", "client_id": "x"}, {"client_secret": "y"}
    )
    with pytest.raises(ConnectorError) as problem:
        connector_for("isams").check(conn)
    assert problem.value.field == "url" and "check the MIS URL" in problem.value.message
    assert len(sim.requests) == 1


def test_a_school_with_nobody_on_roll_is_an_empty_full_list(snap: SchoolSnapshot) -> None:
    empty = dataclasses.replace(snap, pupils=[])
    with IsamsSimulator(SimData([empty])) as sim:
        assert isinstance(sim, IsamsSimulator)
        assert connector_for("isams").check(connection(sim, snap.urn)).summary == (
            "Token issued; 0 students visible"
        )
        pulled = pull(sim, empty, frozenset({"students"}))
    batch = read(pulled[0], empty)
    # an empty list still claims to be full: the planner's guard holds it for a person
    assert batch.people == [] and not batch.errors and batch.complete_for == {Role.PUPIL}
    assert pulled[0].asked == "students (1 page, 0)"


# -- check and settings --------------------------------------------------------------------


def test_check_issues_a_token_and_reads_one_student(
    sim: IsamsSimulator, snap: SchoolSnapshot
) -> None:
    result = connector_for("isams").check(connection(sim, snap.urn))
    assert result.summary == f"Token issued; {len(snap.pupils)} students visible"
    assert asked(sim) == [
        ("POST", TOKEN, {}),
        ("GET", STUDENTS, {"page": ["1"], "pageSize": ["1"]}),
    ]


def test_check_with_wrong_credentials_says_so(sim: IsamsSimulator, snap: SchoolSnapshot) -> None:
    with pytest.raises(CredentialsRefused, match="client ID and secret"):
        connector_for("isams").check(connection(sim, snap.urn, secret="nope"))
    assert len(sim.requests) == 1


@pytest.mark.parametrize(
    "url", ["http://example.com", "http://10.0.0.5/schools/1", "ftp://127.0.0.1/x", "not a url"]
)
def test_plain_http_beyond_this_machine_is_refused_before_any_request(
    sim: IsamsSimulator, snap: SchoolSnapshot, url: str
) -> None:
    conn = Connection(snap.urn, {"url": url, "client_id": "c"}, {"client_secret": "s"})
    with pytest.raises(UnsafeUrl):
        connector_for("isams").check(conn)
    with pytest.raises(UnsafeUrl):
        connector_for("isams").pull(conn, PullRequest(BOTH, {}, now=NOW))
    assert sim.requests == []


@pytest.mark.parametrize("missing", ["url", "client_id", "client_secret"])
def test_a_missing_setting_is_named(
    sim: IsamsSimulator, snap: SchoolSnapshot, missing: str
) -> None:
    full = connection(sim, snap.urn)
    settings = {k: v for k, v in full.settings.items() if k != missing}
    secrets = {k: v for k, v in full.secrets.items() if k != missing}
    with pytest.raises(ConnectorError) as problem:
        connector_for("isams").check(Connection(snap.urn, settings, secrets))
    assert problem.value.field == missing
    assert sim.requests == []


def test_the_connector_declares_its_settings() -> None:
    fields = {f.name: f for f in connector_for("isams").fields}
    assert list(fields) == ["url", "client_id", "client_secret"]
    assert fields["client_secret"].secret and not fields["client_id"].secret


# -- records that cannot be read -----------------------------------------------------------


def test_hostile_records_are_row_errors_and_the_rest_are_read(
    snap: SchoolSnapshot,
) -> None:
    pupils = list(snap.pupils)
    pupils[2] = dataclasses.replace(pupils[2], legal_given="Ad\x07am")
    pupils[4] = dataclasses.replace(pupils[4], legal_family="X" * 10_000)
    pupils[6] = dataclasses.replace(pupils[6], upn="A12345678901Z")
    pupils[8] = dataclasses.replace(pupils[8], email="not-an-address")
    hostile = dataclasses.replace(snap, pupils=pupils)
    with IsamsSimulator(SimData([hostile])) as sim:
        assert isinstance(sim, IsamsSimulator)
        batch = read(pull(sim, hostile, frozenset({"students"}))[0], hostile)

    assert [(e.row, e.field, e.source) for e in batch.errors] == [
        (3, "forename", f"{STUDENTS} page 1"),
        (5, "surname", f"{STUDENTS} page 1"),
        (7, "uniquePupilNumber", f"{STUDENTS} page 1"),
        (9, "schoolEmailAddress", f"{STUDENTS} page 1"),
    ]
    assert "control character" in batch.errors[0].message
    assert "10,000 characters" in batch.errors[1].message
    assert "imported without it" in batch.errors[2].message
    ids = [school_id_for(snap.urn, p.mis_id) for p in pupils]
    # refused rows are listed (never leavers); the rest are read, two without one value
    assert batch.rejected_keys == {(Role.PUPIL, ids[2]), (Role.PUPIL, ids[4])}
    assert [r.mis_id for r in batch.people] == [i for n, i in enumerate(ids) if n not in (2, 4)]
    by_id = {r.mis_id: r for r in batch.people}
    assert by_id[ids[6]].upn is None and "upn" in by_id[ids[6]].unknown_fields
    assert by_id[ids[8]].email is None and "email" in by_id[ids[8]].unknown_fields
    assert batch.complete_for == {Role.PUPIL} and not batch.fatal


def bundle_of(
    report: str, *pages: Mapping[str, Any], path: str = STUDENTS, raw: bytes | None = None
) -> bytes:
    answers = [
        Answer(
            "GET", f"{path}?page={n}&pageSize=100", 200, "application/json", json.dumps(p).encode()
        )
        for n, p in enumerate(pages, start=1)
    ]
    if raw is not None:
        answers.append(Answer("GET", f"{path}?page=1&pageSize=100", 200, "application/json", raw))
    return pack_pull(
        vendor="isams", report=report, asked="test", pulled_at=NOW.isoformat(), answers=answers
    )


def envelope(
    key: str, records: list[Any], page: int = 1, pages: int = 1, total: int | None = None
) -> dict[str, Any]:
    return {
        key: records,
        "page": page,
        "pageSize": 100,
        "totalCount": len(records) if total is None else total,
        "totalPages": pages,
    }


GOOD = {
    "schoolId": "0000000000AAAA",
    "id": 1,
    "forename": "Amelia",
    "surname": "Smith",
    "dob": "2012-04-03T00:00:00",
    "gender": "F",
    "systemStatus": "Current",
}


def test_malformed_student_records_name_row_and_field(snap: SchoolSnapshot) -> None:
    records: list[Any] = [
        GOOD,
        {k: v for k, v in GOOD.items() if k != "schoolId"},  # 2: no id
        GOOD | {"schoolId": 77},  # 3: id of the wrong type
        GOOD | {"schoolId": "0000000000BBBB", "forename": 12},  # 4: name a number
        GOOD | {"schoolId": "0000000000CCCC", "dob": "03/04/2012"},  # 5: not an ISO date
        "a string",  # 6
        GOOD | {"schoolId": "0000000000DDDD", "systemStatus": "Leaver"},  # 7: not on roll
        GOOD | {"schoolId": "0000000000EEEE", "gender": "Q", "yearGroup": 9},  # 8
        GOOD | {"schoolId": "0000000000FFFF", "dob": None},  # 9: dob mandatory
        GOOD | {"schoolId": "0000000000GGGG", "homeAddresses": "1 High St"},  # 10
    ]
    batch = read_bytes(bundle_of("students", envelope("students", records)), snap)

    assert [(e.row, e.field) for e in batch.errors] == [
        (2, "schoolId"),
        (3, "schoolId"),
        (4, "forename"),
        (5, "dob"),
        (6, None),
        (8, "gender"),
        (9, "dob"),
        (10, "homeAddresses"),
    ]
    assert all(e.source == f"{STUDENTS} page 1" for e in batch.errors)
    assert "not text" in batch.errors[1].message and "a number" in batch.errors[2].message
    assert [r.mis_id for r in batch.people] == [
        "0000000000AAAA",
        "0000000000EEEE",
        "0000000000GGGG",
    ]
    eeee = batch.people[1]
    assert eeee.gender is None and "gender" in eeee.unknown_fields and eeee.year_group == "9"
    # refused but listed: never taken for leavers; the leaver is simply not listed
    assert batch.rejected_keys == {
        (Role.PUPIL, "0000000000BBBB"),
        (Role.PUPIL, "0000000000CCCC"),
        (Role.PUPIL, "0000000000FFFF"),
    }
    assert batch.complete_for == {Role.PUPIL}
    assert batch.rows_read == 10


def test_employee_ids_may_be_numbers_and_leavers_are_left_out(snap: SchoolSnapshot) -> None:
    staff = [
        {"id": 88, "forename": "Tom", "surname": "Ng", "gender": "M", "schoolInitials": "TN"},
        {"id": "89", "forename": "Ann", "surname": "Lee", "systemStatus": "Former"},
        {"id": True, "forename": "Bob", "surname": "Bee"},
    ]
    batch = read_bytes(bundle_of("staff", envelope("employees", staff), path=EMPLOYEES), snap)
    assert [(r.mis_id, r.staff_code, r.gender) for r in batch.people] == [("88", "TN", Gender.MALE)]
    assert [(e.row, e.field) for e in batch.errors] == [(3, "id")]
    assert batch.complete_for == {Role.STAFF} and batch.rejected_keys == set()


def read_bytes(payload: bytes, snap: SchoolSnapshot) -> ImportBatch:
    school = SchoolRef(urn=snap.urn, la_code=snap.la_code, estab=snap.estab)
    return IsamsApiReader().parse(payload, school=school, report=None, today=snap.date)


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"", "not a pull from IRIS iSAMS"),
        (b"not a zip at all", "not a zip"),
        (bundle_of("students", envelope("students", [GOOD]))[:200], ""),
        (bundle_of("contacts", envelope("students", [GOOD])), "students and staff only"),
        (bundle_of("students"), "no answer"),
        (bundle_of("students", envelope("students", [GOOD], pages=2, total=2)), "incomplete"),
        (bundle_of("students", envelope("students", [GOOD], total=5)), "not a full list"),
        (bundle_of("students", {"students": [GOOD], "page": 1}), "totalPages"),
        (bundle_of("students", raw=b"{not json"), "not JSON"),
        (bundle_of("students", {"pupils": []}), "no list 'students'"),
        (
            pack_pull(vendor="wonde", report="students", asked="", pulled_at="", answers=[]),
            "another vendor",
        ),
    ],
)
def test_a_bundle_that_cannot_be_used_is_refused_whole(
    snap: SchoolSnapshot, payload: bytes, words: str
) -> None:
    batch = read_bytes(payload, snap)
    assert batch.fatal and len(batch.errors) == 1 and batch.errors[0].row is None
    assert words.casefold() in batch.errors[0].message.casefold()
    assert batch.people == [] and batch.complete_for == frozenset() and batch.reports == frozenset()


def test_a_truncated_real_pull_is_refused(sim: IsamsSimulator, snap: SchoolSnapshot) -> None:
    payload = pull(sim, snap)[0].payload
    for cut in (len(payload) // 3, len(payload) - 10):
        batch = read_bytes(payload[:cut], snap)
        assert batch.fatal and batch.people == []


def test_a_pupil_gone_from_isams_is_absent_from_a_full_list(
    sim: IsamsSimulator, snap: SchoolSnapshot
) -> None:
    gone = snap.pupils[5]
    sim.data.replace(dataclasses.replace(snap, pupils=[p for p in snap.pupils if p is not gone]))
    batch = read(pull(sim, snap, frozenset({"students"}))[0], snap)
    sim.data.replace(snap)
    ids = {r.mis_id for r in batch.people}
    assert school_id_for(snap.urn, gone.mis_id) not in ids
    assert len(ids) == len(snap.pupils) - 1 and batch.complete_for == {Role.PUPIL}


def test_each_school_has_its_own_client_and_tokens(snap: SchoolSnapshot) -> None:
    other = make_school_truth(pupils=60, seed=1)
    assert other.urn != snap.urn
    with IsamsSimulator(SimData([snap, other])) as sim:
        assert isinstance(sim, IsamsSimulator)
        # school A's client at school B's URL is refused
        crossed = Connection(
            other.urn,
            {"url": f"{sim.url}/schools/{other.urn}", "client_id": client_id_for(snap.urn)},
            {"client_secret": client_secret_for(snap.urn)},
        )
        with pytest.raises(CredentialsRefused):
            connector_for("isams").check(crossed)
        # school A's token is no good at school B
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id_for(snap.urn),
            "client_secret": client_secret_for(snap.urn),
        }
        token = httpx.post(f"{sim.url}/schools/{snap.urn}/auth/connect/token", data=form).json()
        at_b = httpx.get(
            f"{sim.url}/schools/{other.urn}/{API.students_path}",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert at_b.status_code == 401
        # each school's own pull holds its own pupils only
        pulled = pull(sim, other, frozenset({"students"}))
        ids = {r.mis_id for r in read(pulled[0], other).people}
        assert ids == {school_id_for(other.urn, p.mis_id) for p in other.pupils}


def test_a_record_listed_twice_fails_the_pull(snap: SchoolSnapshot) -> None:
    # Offset paging over a list that moved: one pupil twice, so maybe another skipped,
    # who would then read as a leaver.
    moved = dataclasses.replace(snap, pupils=[*snap.pupils, snap.pupils[3]])
    with IsamsSimulator(SimData([moved]), faults="page-size-max=25") as sim:
        assert isinstance(sim, IsamsSimulator)
        with pytest.raises(BadResponse) as bad:
            pull(sim, moved, frozenset({"students"}))
        assert len(sim.requests) == 4  # the token and three pages, nothing after
    assert bad.value.field == f"students[{len(snap.pupils) - 50}].schoolId"
    assert "on page 3 again (first on page 1)" in bad.value.message


def test_a_bad_address_part_is_named(snap: SchoolSnapshot) -> None:
    record = GOOD | {"homeAddresses": [{"address1": ["1"], "postcode": "ab1 2cd"}]}
    batch = read_bytes(bundle_of("students", envelope("students", [record])), snap)
    assert [(e.row, e.field) for e in batch.errors] == [(1, "homeAddresses.address1")]
    person = batch.people[0]
    assert (person.postcode, person.address) == ("AB1 2CD", None)
    assert "address" in person.unknown_fields
