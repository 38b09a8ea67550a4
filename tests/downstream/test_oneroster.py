"""The OneRoster REST provider: each collection and object, paging, sort, filter,
fields, the error body, scopes, and tenancy (a client sees only its schools). Every
answer is validated against the OneRoster OpenAPI documents."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from rollsync.downstream.models import AccessToken
from rollsync.downstream.services import downstream_client_create, downstream_client_revoke
from tests.downstream.oneroster import OneRoster, token_for
from tests.safety.directory import load_baseline
from tests.safety.exports import school_exports

COLLECTIONS = (
    "orgs", "schools", "academicSessions", "users", "students", "teachers", "courses",
    "classes", "enrollments", "demographics",
)  # fmt: skip


@dataclass
class World:
    ours: m.School
    neighbour: m.School  # same LA, nobody placed
    theirs: m.School  # another LA, with people
    tokens: dict[str, str]
    clients: dict[str, Any]


@pytest.fixture
def world(db: Any) -> World:
    ours = load_baseline(school_exports("csv"))
    theirs = load_baseline(school_exports("ctf"))
    neighbour = school_add(urn="100009", la_code=ours.la.code, estab="2999", name="Neighbour")
    made = {
        "school": downstream_client_create(name="SDS", kind="oneroster", school=ours),
        "la": downstream_client_create(name="Classroom", kind="oneroster", la=ours.la),
        "neighbour": downstream_client_create(name="N", kind="oneroster", school=neighbour),
        "theirs": downstream_client_create(name="T", kind="oneroster", la=theirs.la),
    }
    tokens = {
        k: token_for(c, s, "roster.readonly", "roster-demographics.readonly")
        for k, (c, s) in made.items()
    }
    c, s = made["school"]
    tokens["core"] = token_for(c, s, "roster-core.readonly")
    tokens["v1p1_only"] = token_for(c, s, "roster.readonly", versions=("v1p1",))
    return World(ours, neighbour, theirs, tokens, made)


def _uids(school: m.School, *, placed: bool | None = None) -> set[str]:
    qs = m.Allocation.objects.filter(school=school)
    if placed is True:
        qs = qs.exclude(status="unallocated")
    return {str(u) for u in qs.values_list("account__uid", flat=True)}


@pytest.mark.parametrize("version", ["v1p2", "v1p1"])
def test_every_collection_and_object_answers_in_the_documented_shape(
    world: World, version: str
) -> None:
    api = OneRoster(world.tokens["school"], version)
    for name in COLLECTIONS:
        items = api.all(name)
        assert items, name
        one = items[0]["sourcedId"]
        got = api.get(f"{name}/{one}").body
        assert next(iter(got.values()))["sourcedId"] == one
    # The school year is the one session: no grading periods, an empty page all the same.
    assert api.all("gradingPeriods") == []
    assert api.get("gradingPeriods/AY2025", status=404).body["imsx_codeMajor"] == "failure"


def test_a_school_client_sees_its_school_and_nothing_else(world: World) -> None:
    api = OneRoster(world.tokens["school"])
    assert {o["sourcedId"] for o in api.all("schools")} == {world.ours.urn}
    assert {o["sourcedId"] for o in api.all("orgs")} == {world.ours.urn, f"LA{world.ours.la.code}"}
    users = api.all("users")
    assert {u["sourcedId"] for u in users} == _uids(world.ours)
    for u in users:
        assert {r["org"]["sourcedId"] for r in u["roles"]} == {world.ours.urn}
    foreign = next(iter(_uids(world.theirs)))
    for path in (
        f"users/{foreign}",
        f"students/{foreign}",
        f"demographics/{foreign}",
        f"schools/{world.theirs.urn}",
        f"orgs/{world.neighbour.urn}",
        f"orgs/LA{world.theirs.la.code}",
    ):
        r = api.get(path, status=404)
        assert (
            r.body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]
            == "unknownobject"
        )
    # Nothing of another school in any list or count, whatever the filter.
    r = api.get("users", filter=f"sourcedId='{foreign}'")
    assert (r.body["users"], r["X-Total-Count"]) == ([], "0")
    enrolled = {e["user"]["sourcedId"] for e in api.all("enrollments")}
    assert enrolled <= _uids(world.ours)
    assert {c["school"]["sourcedId"] for c in api.all("classes")} == {world.ours.urn}


def test_an_la_client_sees_the_las_schools(world: World) -> None:
    api = OneRoster(world.tokens["la"])
    assert {o["sourcedId"] for o in api.all("schools")} == {world.ours.urn, world.neighbour.urn}
    la_org = api.get(f"orgs/LA{world.ours.la.code}").body["org"]
    assert {c["sourcedId"] for c in la_org["children"]} == {world.ours.urn, world.neighbour.urn}
    assert {u["sourcedId"] for u in api.all("users")} == _uids(world.ours)
    theirs = OneRoster(world.tokens["theirs"])
    assert {u["sourcedId"] for u in theirs.all("users")} == _uids(world.theirs)
    empty = OneRoster(world.tokens["neighbour"])
    assert empty.all("users") == [] and empty.all("classes") == []
    assert [o["sourcedId"] for o in empty.all("schools")] == [world.neighbour.urn]


def test_students_teachers_and_the_v1p1_user(world: World) -> None:
    api = OneRoster(world.tokens["school"])
    pupils = {
        str(u)
        for u in m.Allocation.objects.filter(school=world.ours, role="pupil").values_list(
            "account__uid", flat=True
        )
    }
    staff = {
        str(u)
        for u in m.Allocation.objects.filter(school=world.ours, role="staff").values_list(
            "account__uid", flat=True
        )
    }
    assert {u["sourcedId"] for u in api.all("students")} == pupils
    assert {u["sourcedId"] for u in api.all("teachers")} == staff
    api.get(f"students/{next(iter(staff))}", status=404)
    old = OneRoster(world.tokens["school"], "v1p1")
    one = next(iter(pupils))
    user = old.get(f"users/{one}").body["user"]
    account = m.Account.objects.get(uid=one)
    assert (user["role"], user["enabledUser"], user["username"]) == (
        "student",
        True,
        account.username,
    )
    assert [o["sourcedId"] for o in user["orgs"]] == [world.ours.urn]
    new = api.get(f"users/{one}").body["user"]
    assert (new["enabledUser"], new["givenName"], new["familyName"]) == (
        "true",
        account.legal_given_name,
        account.legal_family_name,
    )
    assert (
        new["roles"][0]["org"]["href"]
        == f"http://testserver/ims/oneroster/rostering/v1p2/orgs/{world.ours.urn}"
    )


def test_paging_with_total_and_link(world: World) -> None:
    api = OneRoster(world.tokens["school"])
    everyone = [u["sourcedId"] for u in api.all("users")]
    assert len(everyone) > 7
    seen: list[str] = []
    r = api.get("users", limit=3, offset=0)
    pages = 0
    while True:
        pages += 1
        assert r["X-Total-Count"] == str(len(everyone))
        seen += [u["sourcedId"] for u in r.body["users"]]
        links = {
            part.split(";")[1].strip(): part.split(";")[0].strip()[1:-1]
            for part in r["Link"].split(", ")
        }
        assert set(links) >= {'rel="first"', 'rel="last"'}
        if 'rel="next"' not in links:
            break
        query = {k: v[0] for k, v in parse_qs(urlparse(links['rel="next"']).query).items()}
        r = api.get("users", **query)
    assert seen == everyone and pages == -(-len(everyone) // 3)
    assert api.get("users", limit=2, offset=len(everyone)).body["users"] == []
    default = api.get("users")
    assert len(default.body["users"]) == min(100, len(everyone))


@pytest.mark.parametrize(
    ("params", "minor"),
    [
        ({"limit": "0"}, "invaliddata"),
        ({"limit": "abc"}, "invaliddata"),
        ({"limit": "10001"}, "invaliddata"),
        ({"offset": "-1"}, "invaliddata"),
        ({"orderBy": "sideways"}, "invaliddata"),
        ({"sort": "shoeSize"}, "invaliddata"),
        ({"fields": "sourcedId,shoeSize"}, "invalid_selection_field"),
        ({"filter": "shoeSize='9'"}, "invalid_filter_field"),
        ({"filter": "status='active"}, "invalid_filter_field"),
        ({"filter": "status=='active'"}, "invalid_filter_field"),
        ({"filter": "dateLastModified>'last tuesday'"}, "invalid_filter_field"),
        ({"filter": "status='active' AND"}, "invalid_filter_field"),
        ({"filter": "x" * 3000}, "invalid_filter_field"),
    ],
)
def test_bad_query_parameters_get_the_error_body(
    world: World, params: dict[str, str], minor: str
) -> None:
    r = OneRoster(world.tokens["school"]).get("users", status=400, **params)
    assert r.body["imsx_codeMajor"] == "failure" and r.body["imsx_severity"] == "error"
    assert r.body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"] == minor
    assert r.body["imsx_description"].startswith(next(iter(params)))


def test_v1p1_codes_are_its_own(world: World) -> None:
    old = OneRoster(world.tokens["school"], "v1p1")
    for params, minor in (
        ({"sort": "shoeSize"}, "invalid_sort_field"),
        ({"filter": "shoeSize='9'"}, "invaliddata"),
        ({"fields": "shoeSize"}, "invalid_selection_field"),
    ):
        r = old.get("users", status=400, **params)
        assert (
            r.body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"] == minor
        )
    r = OneRoster(world.tokens["core"], "v1p1").get("demographics", status=403)
    assert (
        r.body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]
        == "unauthorisedrequest"
    )


def test_sort_filter_and_fields(world: World) -> None:
    api = OneRoster(world.tokens["school"])
    users = api.all("users", sort="familyName", orderBy="desc")
    names = [u["familyName"].casefold() for u in users]
    assert names == sorted(names, reverse=True)
    pupils = api.all("users", filter="roles.role='student'")
    assert {u["sourcedId"] for u in pupils} == {u["sourcedId"] for u in api.all("students")}
    some = users[0]["familyName"]
    found = api.all("users", filter=f"familyName~'{some[1:-1].upper()}' AND status='active'")
    assert found and all(some[1:-1].casefold() in u["familyName"].casefold() for u in found)
    either = api.all(
        "users",
        filter=f"familyName='{users[0]['familyName']}' OR familyName='{users[-1]['familyName']}'",
    )
    assert {u["familyName"] for u in either} == {users[0]["familyName"], users[-1]["familyName"]}
    slim = api.all("users", fields="sourcedId,username")
    assert all(set(u) == {"sourcedId", "username"} for u in slim)
    one = api.get(f"users/{slim[0]['sourcedId']}", fields="givenName").body["user"]
    assert set(one) == {"givenName"}


def test_demographics_need_their_scope(world: World) -> None:
    core = OneRoster(world.tokens["core"])
    r = core.get("demographics", status=403)
    assert (
        r.body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]
        == "forbidden"
    )
    assert "roster-demographics.readonly" in r.body["imsx_description"]
    assert core.all("users")  # the core scope reads users
    full = OneRoster(world.tokens["school"]).all("demographics")
    account = m.Account.objects.get(uid=full[0]["sourcedId"])
    assert full[0].get("birthDate") == (
        account.date_of_birth.isoformat() if account.date_of_birth else None
    )
    # A 1.1 token opens no 1.2 path.
    OneRoster(world.tokens["v1p1_only"]).get("users", status=403)
    assert OneRoster(world.tokens["v1p1_only"], "v1p1").all("users")


def test_without_a_good_token_nothing_is_read(world: World) -> None:
    for token in (None, "rsa_nonesuch", "not-a-token", world.clients["school"][1]):
        r = OneRoster(token).get("users", status=401)
        assert (
            r.body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]
            == "unauthorisedrequest"
        )
        assert "users" not in r.body
    AccessToken.objects.filter(client=world.clients["la"][0]).update(
        expires_at="2000-01-01T00:00:00Z"
    )
    OneRoster(world.tokens["la"]).get("schools", status=401)
    downstream_client_revoke(client_pk=world.clients["school"][0].pk)
    OneRoster(world.tokens["school"]).get("users", status=401)
    OneRoster(world.tokens["theirs"]).get("nonesuch", status=404)


def test_the_provider_changes_nothing(world: World) -> None:
    from tests.directory.helpers import snapshot

    before = snapshot()
    api = OneRoster(world.tokens["la"])
    for name in COLLECTIONS:
        api.all(name)
    assert snapshot() == before
    r = api.client.post(
        "/ims/oneroster/rostering/v1p2/users",
        {},
        headers={"Authorization": f"Bearer {world.tokens['la']}"},
    )
    assert r.status_code == 405
    assert json.loads(OneRoster(world.tokens["la"]).get("schools").content)["orgs"]


@pytest.mark.parametrize("ref", ["x" * 5000, "%00", "..%2F..%2Fetc", "%E2%80%AE", "' OR '1'='1"])
def test_hostile_ids_are_404s(world: World, ref: str) -> None:
    r = OneRoster(world.tokens["school"]).client.get(
        f"/ims/oneroster/rostering/v1p2/users/{ref}",
        headers={"Authorization": f"Bearer {world.tokens['school']}"},
    )
    assert r.status_code == 404
    body = json.loads(r.content)
    assert (
        body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]
        == "unknownobject"
    )


def test_the_token_goes_in_the_header_only(world: World) -> None:
    client = OneRoster(None).client
    token = world.tokens["school"]
    path = "/ims/oneroster/rostering/v1p2/users"
    assert client.get(path, {"access_token": token}).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer"}).status_code == 401
    assert client.get(path, headers={"Authorization": f"Basic {token}"}).status_code == 401
    assert client.get(path, headers={"Authorization": f"bearer {token}"}).status_code == 200
