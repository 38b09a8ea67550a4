"""Fixtures for the SCIM door: two schools of one LA and a school of another, each
with pupils, staff and a class synced through the real services, and SCIM clients of
every scope."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.test import Client

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from rollsync.directory.services.sync import sync_run_execute
from rollsync.downstream.services import downstream_client_create, downstream_client_revoke
from tests.directory.helpers import FAR_URN, OTHER_URN, SCHOOL_URN, pupil
from tests.tasks.helpers import store

DAY1 = date(2026, 9, 7)
REPORTS = ("students", "staff", "groups")
SCIM = "application/scim+json"


def staff(mis_id: str, given: str, family: str, email: str, **extra: Any) -> dict[str, Any]:
    return {
        "mis_id": mis_id,
        "legal_given_name": given,
        "legal_family_name": family,
        "date_of_birth": "1980-03-04",
        "email": email,
        "phone": "01632 960001",
        "title": "Ms",
        **extra,
    }


def member(group: str, name: str, role: str, mis_id: str, as_: str) -> dict[str, str]:
    return {
        "group_mis_id": group,
        "group_name": name,
        "group_kind": "class",
        "person_role": role,
        "person_mis_id": mis_id,
        "membership_role": as_,
    }


def sync(school: m.School, rows: list[dict[str, Any]], report: str, day: date = DAY1) -> None:
    run = sync_run_execute(upload=store(school, rows, report=report), as_of=day)
    assert run.status == "applied", (run.status, run.errors, run.holds)


def populate(school: m.School, prefix: str, family: str) -> None:
    """Four pupils (two in Year 7), two staff, class 7A (a teacher, two pupils) and
    8B Science (a pupil). Each school's people are born on their own day of the month,
    so no two schools' people look alike to the matcher."""
    day = {"H": "02", "R": "12", "F": "22"}[prefix]
    sync(
        school,
        [
            pupil(
                f"{prefix}1",
                "Amira",
                family,
                f"2014-01-{day}",
                year_group="Year 7",
                email=f"amira@{prefix}.example.org",
            ),
            pupil(
                f"{prefix}2",
                "Ben",
                family,
                f"2014-02-{day}",
                year_group="Year 7",
                preferred_given_name="Benji",
            ),
            pupil(f"{prefix}3", "Cara", family, f"2013-03-{day}", year_group="Year 8"),
            pupil(f"{prefix}4", "Dev", family, f"2012-04-{day}", year_group="Year 9"),
        ],
        "students",
    )
    sync(
        school,
        [
            staff(
                f"T{prefix}1",
                "Tess",
                f"Teach{family}",
                f"tess@{prefix}.example.org",
                date_of_birth=f"1980-03-{day}",
            ),
            staff(
                f"T{prefix}2",
                "Omar",
                f"Office{family}",
                f"omar@{prefix}.example.org",
                date_of_birth=f"1981-03-{day}",
            ),
        ],
        "staff",
    )
    sync(
        school,
        [
            member("7A", "7A", "staff", f"T{prefix}1", "teacher"),
            member("7A", "7A", "pupil", f"{prefix}1", "student"),
            member("7A", "7A", "pupil", f"{prefix}2", "student"),
            member("8B", "8B Science", "pupil", f"{prefix}3", "student"),
        ],
        "groups",
    )


@dataclass
class World:
    school: m.School
    other: m.School
    far: m.School
    tokens: dict[str, str]


@pytest.fixture
def world(db: Any) -> World:
    school = school_add(
        urn=SCHOOL_URN,
        la_code="202",
        estab="2001",
        name="Hillside Primary",
        la_name="Northshire",
        accept_reports=REPORTS,
    )
    other = school_add(
        urn=OTHER_URN, la_code="202", estab="2002", name="Riverside Academy", accept_reports=REPORTS
    )
    far = school_add(
        urn=FAR_URN,
        la_code="303",
        estab="3001",
        name="Faraway High",
        la_name="Southshire",
        accept_reports=REPORTS,
    )
    populate(school, "H", "Hill")
    populate(other, "R", "River")
    populate(far, "F", "Far")
    made = {
        "school": downstream_client_create(name="Okta", kind="scim", school=school),
        "la": downstream_client_create(name="Entra", kind="scim", la=school.la),
        "other": downstream_client_create(name="Riverside IdP", kind="scim", school=other),
        "oneroster": downstream_client_create(name="SDS", kind="oneroster", school=school),
        "revoked": downstream_client_create(name="Old", kind="scim", school=school),
    }
    downstream_client_revoke(client_pk=made["revoked"][0].pk)
    return World(school, other, far, {k: secret for k, (_, secret) in made.items()})


class Scim:
    """`/scim/v2/` through the whole Django stack, as one of the world's clients."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.client = Client()
        self.tokens = tokens

    def _headers(self, token: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {self.tokens.get(token, token)}"
        return headers

    def get(
        self,
        path: str,
        *,
        token: str | None = "school",
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> Any:
        return self.client.get(f"/scim/v2{path}", params, headers=self._headers(token, headers))

    def send(
        self, method: str, path: str, body: Any = None, *, token: str | None = "school"
    ) -> Any:
        call = getattr(self.client, method.lower())
        data = json.dumps(body) if body is not None else ""
        return call(f"/scim/v2{path}", data, content_type=SCIM, headers=self._headers(token, None))


@pytest.fixture
def scim(world: World) -> Scim:
    return Scim(world.tokens)
