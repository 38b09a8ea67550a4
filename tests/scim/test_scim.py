"""The SCIM door through the whole Django stack: what a client sees, filters, paging,
sorting, tenancy, active=false, ETags, and every write and bad request refused with a
SCIM error while nothing changes."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import rollsync.scim
from rollsync.directory import models as m
from tests.directory.helpers import pupil, snapshot
from tests.scim.conftest import Scim, World, sync

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def names(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.content
    return [r["userName"] for r in answer.json()["Resources"]]


def error(answer: Any, status: int, scim_type: str | None = None) -> str:
    assert answer.status_code == status, answer.content
    assert answer["Content-Type"] == "application/scim+json"
    body = answer.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    assert body.get("scimType") == scim_type
    return str(body["detail"])


def test_a_user_as_a_school_client_sees_it(world: World, scim: Scim) -> None:
    found = scim.get("/Users", filter='userName eq "ahill.202"')
    assert found.status_code == 200 and found["Content-Type"] == "application/scim+json"
    (user,) = found.json()["Resources"]
    account = m.Account.objects.get(username="ahill.202")
    assert user["id"] == str(account.uid)
    assert user["externalId"] == "H1"
    assert user["name"] == {"givenName": "Amira", "familyName": "Hill", "formatted": "Amira Hill"}
    assert user["displayName"] == "Amira Hill" and user["userType"] == "Pupil"
    assert user["active"] is True
    assert user["emails"] == [{"value": "amira@h.example.org", "type": "home"}]
    assert user[ENTERPRISE] == {
        "employeeNumber": "H1",
        "organization": "Hillside Primary",
        "department": "YEAR 7",
    }
    assert user["meta"]["resourceType"] == "User"
    assert user["meta"]["location"] == f"http://testserver/scim/v2/Users/{account.uid}"
    staff = scim.get("/Users", filter='userName eq "tteachhill.202"').json()["Resources"][0]
    assert staff["emails"] == [{"value": "tess@h.example.org", "type": "work"}]
    assert staff["phoneNumbers"] == [{"value": "01632 960001", "type": "work"}]
    assert staff["userType"] == "Staff" and staff[ENTERPRISE]["department"] == "Staff"


def test_a_group_lists_its_live_members_once(world: World, scim: Scim) -> None:
    (group,) = scim.get("/Groups", filter='displayName eq "7a"').json()["Resources"]
    uids = {
        str(m.Account.objects.get(username=u).uid)
        for u in ("ahill.202", "bhill.202", "tteachhill.202")
    }
    assert {x["value"] for x in group["members"]} == uids and len(group["members"]) == 3
    assert group["externalId"] == "7A"
    assert {x["$ref"] for x in group["members"]} == {
        f"http://testserver/scim/v2/Users/{u}" for u in uids
    }
    one = scim.get(f"/Groups/{group['id']}")
    assert one.status_code == 200 and one.json()["members"] == group["members"]


@pytest.mark.parametrize(
    ("scim_filter", "expected"),
    [
        ('userName eq "AHILL.202"', ["ahill.202"]),
        (
            'name.givenName sw "b" or name.familyName eq "OfficeHill"',
            ["bhill.202", "oofficehill.202"],
        ),
        ('emails[type eq "work" and value co "tess"]', ["tteachhill.202"]),
        ('emails[type eq "work"]', ["tteachhill.202", "oofficehill.202"]),
        ('emails pr and not (userType eq "Staff")', ["ahill.202"]),
        (f'{ENTERPRISE}:department eq "year 7"', ["ahill.202", "bhill.202"]),
        (f'{ENTERPRISE}:employeeNumber eq "TH2"', ["oofficehill.202"]),
        ('externalId eq "H3"', ["chill.202"]),
        ('externalId eq "h3"', []),  # caseExact
        ('displayName co "enji"', ["bhill.202"]),
        ('title eq "Ms"', []),  # declared, never filled: no value
        (
            'nickName ne "x" and userName ew "hill.202" and userType eq "staff"',
            ["tteachhill.202", "oofficehill.202"],
        ),
        ('userName sw "ariver"', []),  # another school's pupil
    ],
)
def test_filters(world: World, scim: Scim, scim_filter: str, expected: list[str]) -> None:
    assert sorted(names(scim.get("/Users", filter=scim_filter))) == sorted(expected)


def test_a_filter_is_one_query_in_the_database(world: World, scim: Scim) -> None:
    with CaptureQueriesContext(connection) as queries:
        found = scim.get("/Users", filter='emails[type eq "work"]', count="1")
    assert found.json()["totalResults"] == 2 and len(found.json()["Resources"]) == 1
    counted = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counted) == 1 and '"email"' in counted[0]  # the condition is in SQL
    assert len(queries.captured_queries) < 12  # not one per account


def test_group_filters(world: World, scim: Scim) -> None:
    uid = str(m.Account.objects.get(username="chill.202").uid)
    by_member = scim.get("/Groups", filter=f'members[value eq "{uid}"]').json()
    assert [g["displayName"] for g in by_member["Resources"]] == ["8B Science"]
    by_display = scim.get("/Groups", filter='members.display eq "benji hill"').json()
    assert [g["displayName"] for g in by_display["Resources"]] == ["7A"]
    assert scim.get("/Groups", filter='externalId eq "8B"').json()["totalResults"] == 1


def test_paging_and_sorting(world: World, scim: Scim) -> None:
    everyone = names(scim.get("/Users", sortBy="userName"))
    assert everyone == sorted(everyone) and len(everyone) == 6
    page = scim.get("/Users", sortBy="userName", startIndex="3", count="2").json()
    assert page["totalResults"] == 6 and page["startIndex"] == 3 and page["itemsPerPage"] == 2
    assert [r["userName"] for r in page["Resources"]] == everyone[2:4]
    last = scim.get("/Users", sortBy="userName", startIndex="6", count="5").json()
    assert [r["userName"] for r in last["Resources"]] == everyone[5:]
    nothing = scim.get("/Users", count="0").json()
    assert nothing["totalResults"] == 6 and nothing["Resources"] == []
    down = names(scim.get("/Users", sortBy="name.familyName", sortOrder="descending"))
    assert down[0] == "tteachhill.202"
    detail = error(scim.get("/Users", sortBy="title"), 400, "invalidValue")
    assert (
        detail.startswith("sortBy: Users sort by id, userName, displayName") and "title" in detail
    )


def test_a_search_at_the_root_lists_users_then_groups(world: World, scim: Scim) -> None:
    body = scim.send("POST", "/.search", {"startIndex": 6, "count": 2}).json()
    assert body["totalResults"] == 8
    kinds = [r["meta"]["resourceType"] for r in body["Resources"]]
    assert kinds == ["User", "Group"]


def test_entra_style_reads(world: World, scim: Scim) -> None:
    """Groups without members by displayName, a root listing by GET, the .scim suffix."""
    found = scim.get("/Groups", filter='displayName eq "8B Science"', excludedAttributes="members")
    (group,) = found.json()["Resources"]
    assert "members" not in group and group["externalId"] == "8B"
    root = scim.client.get(
        "/scim/v2", {"count": "100"}, headers={"Authorization": f"Bearer {world.tokens['school']}"}
    ).json()
    assert root["totalResults"] == 8 and len(root["Resources"]) == 8
    assert scim.get("/Users.scim", count="1").json()["totalResults"] == 6


def test_tenancy_a_client_sees_its_school_or_its_la(world: World, scim: Scim) -> None:
    river = m.Allocation.objects.get(school=world.other, mis_id="R1").account
    far_group = m.Group.objects.get(school=world.far, mis_id="7A")
    missing = error(scim.get(f"/Users/{river.uid}"), 404)
    assert str(river.uid) in missing
    error(scim.get(f"/Groups/{far_group.pk}"), 404)
    assert scim.get("/Users", token="school").json()["totalResults"] == 6
    assert scim.get("/Groups", token="school").json()["totalResults"] == 2
    la = scim.get("/Users", token="la", count="100").json()
    in_la = m.Account.objects.filter(allocations__school__la=world.school.la).distinct()
    assert la["totalResults"] == in_la.count() > 6 and not any(
        r["userName"].endswith(".303") for r in la["Resources"]
    )
    assert scim.get(f"/Users/{river.uid}", token="la").status_code == 200
    assert scim.get(f"/Groups/{far_group.pk}", token="la").status_code == 404
    assert names(scim.get("/Users", token="other", filter='userName eq "ahill.202"')) == []


@pytest.mark.parametrize("token", [None, "revoked", "oneroster", "rst_not-a-real-token"])
def test_no_scim_client_no_answer(world: World, scim: Scim, token: str | None) -> None:
    answer = scim.get("/Users", token=token)
    error(answer, 401)
    assert answer["WWW-Authenticate"] == 'Bearer realm="SCIM"'
    assert scim.get("/ServiceProviderConfig", token=None).status_code == 200  # RFC 7643 5


def test_active_false_for_unallocated_and_suspended(world: World, scim: Scim) -> None:
    before = scim.get("/Users", filter='userName eq "dhill.202"').json()["Resources"][0]
    rows = [
        pupil(
            "H1", "Amira", "Hill", "2014-01-02", year_group="Year 7", email="amira@h.example.org"
        ),
        pupil("H2", "Ben", "Hill", "2014-02-02", year_group="Year 7", preferred_given_name="Benji"),
        pupil("H3", "Cara", "Hill", "2013-03-02", year_group="Year 8"),
    ]
    world.school.guard_unallocate_pct = 100.0
    world.school.save(update_fields=["guard_unallocate_pct"])
    sync(world.school, rows, "students", day=date(2026, 9, 8))
    assert m.Account.objects.get(username="dhill.202").status == "suspended"
    inactive = scim.get("/Users", filter="active eq false").json()
    assert [r["userName"] for r in inactive["Resources"]] == ["dhill.202"]
    assert inactive["Resources"][0]["active"] is False
    assert inactive["Resources"][0]["meta"]["version"] != before["meta"]["version"]
    assert "dhill.202" not in names(scim.get("/Users", filter="active eq true"))


def test_etags_304_and_a_new_version_on_change(world: World, scim: Scim) -> None:
    account = m.Account.objects.get(username="chill.202")
    first = scim.get(f"/Users/{account.uid}")
    etag = first["ETag"]
    assert etag == first.json()["meta"]["version"] and etag.startswith('W/"')
    again = scim.get(f"/Users/{account.uid}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert scim.get(f"/Users/{account.uid}").json() == first.json()  # stable
    m.Allocation.objects.filter(account=account).update(year_group="Year 9")
    changed = scim.get(f"/Users/{account.uid}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert changed.json()[ENTERPRISE]["department"] == "Year 9"
    group = m.Group.objects.get(school=world.school, mis_id="8B")
    g_etag = scim.get(f"/Groups/{group.pk}")["ETag"]
    m.GroupMembership.objects.filter(group=group).update(ended_at="2026-09-09T00:00:00Z")
    assert scim.get(f"/Groups/{group.pk}", headers={"If-None-Match": g_etag}).status_code == 200


@pytest.mark.parametrize(
    ("scim_filter", "named"),
    [
        ('userName eq "x" and (', "userName eq"),
        ("userName xx 1", "userName xx 1"),
        ("active gt true", "active gt true"),
        ('meta.lastModified gt "yesterday"', "yesterday"),
        ('id co "1"', 'id co "1"'),
    ],
)
def test_a_malformed_filter_is_400_invalid_filter_naming_it(
    world: World, scim: Scim, scim_filter: str, named: str
) -> None:
    detail = error(scim.get("/Users", filter=scim_filter), 400, "invalidFilter")
    assert named in detail and detail.startswith("filter ")


def test_writes_are_refused_and_change_nothing(world: World, scim: Scim) -> None:
    before = snapshot()
    uid = str(m.Account.objects.get(username="ahill.202").uid)
    user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "evil"}
    assert "read-only" in error(scim.send("POST", "/Users", user), 403)
    assert "read-only" in error(scim.send("PUT", f"/Users/{uid}", user), 403)
    assert "read-only" in error(scim.send("DELETE", f"/Users/{uid}"), 403)
    assert "read-only" in error(scim.send("POST", "/Groups", {"displayName": "x"}), 403)
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert "PATCH" in error(scim.send("PATCH", f"/Users/{uid}", patch), 501)
    assert "Bulk" in error(scim.send("POST", "/Bulk", {"Operations": []}), 501)
    refused = scim.send("PUT", "/ServiceProviderConfig", {})
    error(refused, 405)
    assert refused["Allow"] == "GET"
    error(scim.get("/Nope"), 404)
    error(scim.get("/Users/not-a-uuid"), 404)
    error(scim.get("/Groups/-1"), 404)
    big = scim.client.post(
        "/scim/v2/.search",
        "x" * 70_000,
        content_type="application/scim+json",
        headers={"Authorization": f"Bearer {world.tokens['school']}"},
    )
    error(big, 413)
    assert snapshot() == before


def test_service_provider_config_says_what_is_supported(world: World, scim: Scim) -> None:
    spc = scim.get("/ServiceProviderConfig").json()
    assert spc["patch"] == {"supported": False}
    assert spc["bulk"]["supported"] is False and spc["changePassword"] == {"supported": False}
    assert spc["filter"] == {"supported": True, "maxResults": 500}
    assert spc["sort"] == {"supported": True} and spc["etag"] == {"supported": True}
    assert spc["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = scim.get("/ResourceTypes").json()["Resources"]
    user = next(t for t in types if t["id"] == "User")
    assert user["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    assert {s["id"] for s in scim.get("/Schemas").json()["Resources"]} == {
        "urn:ietf:params:scim:schemas:core:2.0:User",
        ENTERPRISE,
        "urn:ietf:params:scim:schemas:core:2.0:Group",
    }


def test_a_person_at_two_schools_shows_each_client_only_its_school(
    world: World, scim: Scim
) -> None:
    tess = m.Account.objects.get(username="tteachhill.202")
    m.Allocation.objects.create(
        account=tess,
        school=world.other,
        role="staff",
        mis_id="P9",
        status="active",
        email="tess@riverside.example.org",
    )
    mine = scim.get(f"/Users/{tess.uid}", token="school").json()
    assert mine["emails"] == [{"value": "tess@h.example.org", "type": "work"}]
    assert mine[ENTERPRISE]["organization"] == "Hillside Primary" and mine["externalId"] == "TH1"
    theirs = scim.get(f"/Users/{tess.uid}", token="other").json()
    assert theirs["emails"] == [{"value": "tess@riverside.example.org", "type": "work"}]
    assert theirs[ENTERPRISE]["organization"] == "Riverside Academy"
    assert theirs["externalId"] == "P9" and theirs["meta"]["version"] != mine["meta"]["version"]
    assert names(scim.get("/Users", token="school", filter='emails co "riverside"')) == []
    both = scim.get(f"/Users/{tess.uid}", token="la").json()
    assert {e["value"] for e in both["emails"]} == {
        "tess@h.example.org",
        "tess@riverside.example.org",
    }


_WRITES = {
    "save",
    "update",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
    "select_for_update",
    "raw",
}


def _writes(source: str) -> list[int]:
    """Lines of `source` that call an ORM write."""
    hits = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name, receiver = node.func.attr, ast.unparse(node.func.value)
        if name in _WRITES or (name in {"create", "delete"} and "objects" in receiver):
            hits.append(node.lineno)
    return hits


def test_the_scim_package_never_writes() -> None:
    """The door holds no ORM write of its own (as tests/doors checks the other doors)."""
    assert _writes("m.Group.objects.filter(pk=1).update(name='x')") == [1]  # the scan sees one
    assert _writes("m.Account.objects.create(username='x')") == [1]
    package = Path(rollsync.scim.__file__).parent
    assert {p.name: _writes(p.read_text()) for p in package.glob("*.py")} == {
        p.name: [] for p in package.glob("*.py")
    }
