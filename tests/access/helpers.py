"""A small world for access and web tests: two LAs of two schools each, with data at
every school (accounts, a needs-matching case, an unallocated pupil, a non-MIS account,
an exclusion, a held run), and one user per role."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from rollsync.access.models import RoleGrant
from rollsync.access.roles import RoleName
from rollsync.access.services import user_grant
from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.directory.services.accounts import account_request_single, exclusion_add
from rollsync.directory.services.schools import school_add, school_policy_set
from rollsync.directory.services.sync import sync_run_execute, upload_store
from rollsync.domain.records import PersonRecord, Role
from rollsync.domain.reports import CATALOGUE

PASSWORD = "a-long-test-password-9"
HOME_URN, SIBLING_URN = "100001", "100002"  # LA 202
FOREIGN_URN, FOREIGN_SIBLING_URN = "200001", "200002"  # LA 303
DAY1, DAY2, DAY3 = date(2026, 9, 7), date(2026, 9, 8), date(2026, 9, 9)


def csv_bytes(report: str, rows: Iterable[Mapping[str, Any]]) -> bytes:
    fields = [f.name for f in CATALOGUE[report].fields]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue().encode("utf-8")


def pupil(mis_id: str, given: str, family: str, dob: str, **extra: Any) -> dict[str, Any]:
    return {
        "mis_id": mis_id,
        "legal_given_name": given,
        "legal_family_name": family,
        "date_of_birth": dob,
        **extra,
    }


def run_worker() -> None:
    """Process every queued task here, in this thread, inside the test's transaction
    (`run_queued` leaves connections open)."""
    from rollsync.directory.tasks import run_queued

    run_queued()


def sync(school: m.School, rows: list[dict[str, Any]], as_of: date, *, name: str = "") -> m.SyncRun:
    upload = upload_store(
        school=school,
        payload=csv_bytes("students", rows),
        fmt="csv",
        report="students",
        filename=name or f"students-{as_of}.csv",
        source="cli",
    )
    return sync_run_execute(upload=upload, as_of=as_of, actor="test")


# Ten pupils, the same at every school but for the MIS ID prefix (so names repeat
# across LAs, never within one: each school's people are its own).
def class_list(prefix: str, tag: str) -> list[dict[str, Any]]:
    return [
        pupil(
            f"{prefix}{i}",
            f"Pupil{i}",
            f"{tag}Family{i}",
            f"2016-0{1 + i % 9}-1{i % 9}",
            year_group="3",
            registration_group=f"3{'AB'[i % 2]}",
        )
        for i in range(10)
    ]


@dataclass
class SchoolData:
    school: m.School
    case: m.MatchCase
    unallocated: m.Allocation
    non_mis: m.Allocation
    exclusion: m.Exclusion
    held: m.SyncRun
    upload: m.Upload  # the latest upload (of the held run)
    account: m.Account  # an active pupil here
    task_id: str  # the finished background task that made the held run


def build_school(school: m.School, sibling: m.School, tag: str) -> SchoolData:
    """Data at `school`; `sibling` (same LA) holds the account its match case points at."""
    sync(sibling, [pupil("S1", "Jonathan", f"{tag}Khan", "2014-01-02")], DAY1)
    rows = class_list("P", tag)
    school_policy_set(school=school, actor="test", guard_unallocate_pct=60)
    sync(school, rows, DAY1)
    # Day 2: one pupil has left (unallocated); a near-namesake of the sibling's pupil arrives.
    near = pupil("P99", "Jonathon", f"{tag}Khan", "2014-01-02")
    sync(school, [*rows[:9], near], DAY2)
    # Day 3: half the school gone at once: the guard holds it.
    # It goes through the background worker, as an upload from the web does.
    school_policy_set(school=school, actor="test", guard_unallocate_pct=10)
    upload = upload_store(
        school=school,
        payload=csv_bytes("students", [*rows[:4], near]),
        fmt="csv",
        report="students",
        filename=f"students-{DAY3}.csv",
        source="web",
    )
    task_id = tasks.enqueue_sync(upload.pk, as_of=DAY3, actor="test")
    run_worker()
    held = m.SyncRun.objects.get(upload=upload)
    assert held.status == "held", held.status
    requested = account_request_single(
        school=school,
        record=PersonRecord(
            role=Role.PUPIL,
            mis_id="",
            legal_given_name="Early",
            legal_family_name=f"{tag}Starter",
            date_of_birth=date(2016, 5, 5),
        ),
        actor="test",
    )
    exclusion = exclusion_add(
        school=school, actor="test", given_name="Never", family_name=f"{tag}Made"
    )
    return SchoolData(
        school=school,
        case=m.MatchCase.objects.get(school=school, status="open"),
        unallocated=m.Allocation.objects.get(school=school, status="unallocated"),
        non_mis=m.Allocation.objects.get(school=school, account=requested),
        exclusion=exclusion,
        held=held,
        upload=held.upload,
        account=m.Allocation.objects.get(school=school, mis_id="P0").account,
        task_id=task_id,
    )


@dataclass
class World:
    home: SchoolData
    foreign: SchoolData
    sibling: m.School
    la: m.LocalAuthority
    foreign_la: m.LocalAuthority


def build_world() -> World:
    home = school_add(
        urn=HOME_URN, la_code="202", estab="2001", name="Hillside Primary", la_name="Northshire"
    )
    sibling = school_add(urn=SIBLING_URN, la_code="202", estab="2002", name="Riverside Academy")
    foreign = school_add(
        urn=FOREIGN_URN, la_code="303", estab="3001", name="Faraway High", la_name="Southshire"
    )
    foreign_sibling = school_add(
        urn=FOREIGN_SIBLING_URN, la_code="303", estab="3002", name="Distant Juniors"
    )
    return World(
        home=build_school(home, sibling, "H"),
        foreign=build_school(foreign, foreign_sibling, "F"),
        sibling=sibling,
        la=home.la,
        foreign_la=foreign.la,
    )


# The users the matrix tests sign in as: one per role, scoped to the home school or LA.
ROLE_USERS: dict[str, tuple[RoleName, str]] = {
    "school_admin": (RoleName.SCHOOL_ADMIN, "school"),
    "headteacher": (RoleName.HEADTEACHER, "school"),
    "la_admin": (RoleName.LA_ADMIN, "la"),
    "region_operator": (RoleName.REGION_OPERATOR, "region"),
    "read_only_school": (RoleName.READ_ONLY, "school"),
    "read_only_la": (RoleName.READ_ONLY, "la"),
}


def make_user(key: str, world: World) -> Any:
    role, scope = ROLE_USERS[key]
    grant = user_grant(
        username=key,
        password=PASSWORD,
        role=role,
        school=world.home.school if scope == "school" else None,
        la=world.la if scope == "la" else None,
    )
    return grant.user


def everything() -> dict[str, Any]:
    """All that the app can change, to assert that nothing did."""
    return {
        "schools": list(m.School.objects.order_by("pk").values()),
        "reports": list(m.ReportAcceptance.objects.order_by("pk").values("school", "report")),
        "opt_outs": list(m.FieldOptOut.objects.order_by("pk").values()),
        "accounts": list(m.Account.objects.order_by("pk").values()),
        "allocations": list(m.Allocation.objects.order_by("pk").values()),
        "exclusions": list(m.Exclusion.objects.order_by("pk").values()),
        "uploads": list(m.Upload.objects.order_by("pk").values("pk", "outcome")),
        "runs": list(m.SyncRun.objects.order_by("pk").values("pk", "status", "approved_by")),
        "cases": list(m.MatchCase.objects.order_by("pk").values()),
        "audit": m.AuditEvent.objects.count(),
        "tasks": m.QueuedTask.objects.count(),
        "connections": list(
            m.MisConnection.objects.order_by("pk").values(
                "pk", "connector", "state", "schedule", "next_pull_at", "approval_state"
            )
        ),
        "grants": list(RoleGrant.objects.order_by("pk").values()),
        "users": get_user_model().objects.count(),
    }


def reload(world: World) -> World:
    """The same world, every object fetched afresh (a test may have changed them)."""

    def school_data(d: SchoolData) -> SchoolData:
        return SchoolData(
            school=m.School.objects.select_related("la").get(pk=d.school.pk),
            case=m.MatchCase.objects.get(pk=d.case.pk),
            unallocated=m.Allocation.objects.get(pk=d.unallocated.pk),
            non_mis=m.Allocation.objects.get(pk=d.non_mis.pk),
            exclusion=m.Exclusion.objects.get(pk=d.exclusion.pk),
            held=m.SyncRun.objects.get(pk=d.held.pk),
            upload=m.Upload.objects.get(pk=d.upload.pk),
            account=m.Account.objects.get(pk=d.account.pk),
            task_id=d.task_id,
        )

    return World(
        home=school_data(world.home),
        foreign=school_data(world.foreign),
        sibling=m.School.objects.get(pk=world.sibling.pk),
        la=m.LocalAuthority.objects.get(pk=world.la.pk),
        foreign_la=m.LocalAuthority.objects.get(pk=world.foreign_la.pk),
    )


@pytest.fixture(scope="module")
def built_world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    """The world, built once per test module inside a transaction that is rolled back
    at the module's end (as Django's TestCase.setUpTestData does); each test runs in a
    savepoint inside it, so what a test changes is undone before the next."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


@pytest.fixture
def world(db: Any, built_world: World) -> World:
    return reload(built_world)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Hashing a password is slow on purpose; the matrix tests make hundreds of users.
    (test_services checks the real hasher.)"""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
