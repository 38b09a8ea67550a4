"""Every page's query count is bounded: the same for a small school (or LA) and one
several times larger, so no page makes a query per row (per pupil, run, upload, case,
exclusion, school). Each page is asked for twice and the second answer is counted
(the first warms Django's caches: content types, the session)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rollsync.access.roles import RoleName
from rollsync.access.services import user_grant
from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.directory.services.accounts import account_request_single, exclusion_add
from rollsync.directory.services.schools import school_add, school_policy_set
from rollsync.directory.services.sync import sync_run_execute
from rollsync.directory.services.uploads import upload_store
from rollsync.domain.records import PersonRecord, Role
from tests.access.helpers import PASSWORD, csv_bytes, pupil, run_worker

DAY1 = date(2026, 9, 7)


@dataclass(frozen=True)
class Size:
    pupils: int
    days: int  # runs (one a day): each day one pupil leaves and one is renamed
    cases: int  # needs-matching cases
    exclusions: int
    non_mis: int
    schools: int  # in the LA (the LA dashboard, the list of schools)


SMALL = Size(pupils=6, days=2, cases=1, exclusions=1, non_mis=1, schools=2)
LARGE = Size(pupils=60, days=6, cases=6, exclusions=8, non_mis=5, schools=12)


@dataclass
class Built:
    la: m.LocalAuthority
    school: m.School
    applied: m.SyncRun  # the latest applied run
    held: m.SyncRun
    account: m.Account  # renamed every day: one audit row a day
    task_id: str
    school_admin: Any
    la_admin: Any


def _sync(school: m.School, rows: list[dict[str, Any]], day: date) -> m.SyncRun:
    upload = upload_store(
        school=school,
        payload=csv_bytes("students", rows),
        fmt="csv",
        report="students",
        filename=f"students-{day}.csv",
        source="cli",
    )
    return sync_run_execute(upload=upload, as_of=day, actor="test")


def build(tag: str, la_code: str, size: Size) -> Built:
    school = school_add(
        urn=f"{la_code}001",
        la_code=la_code,
        estab="2001",
        name=f"{tag} Main",
        la_name=f"{tag}shire",
    )
    feeder = school_add(urn=f"{la_code}002", la_code=la_code, estab="2002", name=f"{tag} Feeder")
    _sync(
        feeder,
        [
            pupil(f"F{j}", "Jonathan", f"{tag}Khan{j}", f"2014-01-{j + 1:02d}")
            for j in range(size.cases)
        ],
        DAY1,
    )
    for k in range(size.schools - 2):  # the rest of the LA: most with a run, some without
        other = school_add(
            urn=f"{la_code}{100 + k}", la_code=la_code, estab=f"{3000 + k}", name=f"{tag} S{k:03d}"
        )
        if k % 3:
            _sync(other, [pupil(f"O{k}", "Olu", f"{tag}Other{k}", "2015-03-03")], DAY1)
    school_policy_set(school=school, actor="test", guard_unallocate_pct=90)
    rows = [
        pupil(
            f"P{i}",
            f"Given{i}",
            f"{tag}Fam{i}",
            f"2015-{1 + i % 12:02d}-{1 + i % 28:02d}",
            year_group=str(3 + i % 4),
            registration_group=f"R{i % 3}",
        )
        for i in range(size.pupils)
    ]
    near = [
        pupil(f"N{j}", "Jonathon", f"{tag}Khan{j}", f"2014-01-{j + 1:02d}")
        for j in range(size.cases)
    ]
    applied = _sync(school, rows, DAY1)
    for d in range(1, size.days):
        rows[0] = {**rows[0], "legal_family_name": f"{tag}Renamed{d}"}
        today = [*rows[: size.pupils - d], *(near if d == 1 else [])]
        if d > 1:
            today += near
        applied = _sync(school, today, DAY1 + timedelta(days=d))
    assert applied.status == "applied", (applied.status, applied.holds)
    for e in range(size.exclusions):
        exclusion_add(school=school, actor="test", given_name="Never", family_name=f"{tag}Ex{e}")
    for r in range(size.non_mis):
        account_request_single(
            school=school,
            actor="test",
            create_anyway=True,
            record=PersonRecord(
                role=Role.PUPIL,
                mis_id="",
                legal_given_name=f"Early{r}",
                legal_family_name=f"{tag}Starter",
                date_of_birth=date(2016, 5, 5),
            ),
        )
    school_policy_set(school=school, actor="test", guard_unallocate_pct=10)
    upload = upload_store(
        school=school,
        payload=csv_bytes("students", rows[:2]),
        fmt="csv",
        report="students",
        filename="half.csv",
        source="web",
    )
    task_id = tasks.enqueue_sync(upload.pk, as_of=DAY1 + timedelta(days=size.days), actor="test")
    run_worker()
    held = m.SyncRun.objects.get(upload=upload)
    assert held.status == "held"
    assert m.MatchCase.objects.filter(school=school, status="open").count() == size.cases
    school_admin = user_grant(
        username=f"{tag}-admin", password=PASSWORD, role=RoleName.SCHOOL_ADMIN, school=school
    ).user
    la_admin = user_grant(
        username=f"{tag}-la", password=PASSWORD, role=RoleName.LA_ADMIN, la=school.la
    ).user
    account = m.Allocation.objects.get(school=school, mis_id="P0").account
    return Built(school.la, school, applied, held, account, task_id, school_admin, la_admin)


@pytest.fixture(scope="module")
def worlds(django_db_setup: Any, django_db_blocker: Any) -> Iterator[tuple[Built, Built]]:
    with django_db_blocker.unblock(), transaction.atomic():
        yield build("Small", "401", SMALL), build("Large", "402", LARGE)
        transaction.set_rollback(True)


def _school_url(name: str, **extra: Any) -> Callable[[Built], str]:
    def url(b: Built) -> str:
        kwargs: dict[str, Any] = {"urn": b.school.urn}
        for key, attr in extra.items():
            kwargs[key] = attr(b)
        return reverse(f"web:{name}", kwargs=kwargs)

    return url


# (page, who asks: "school" or "la", its URL in a world)
PAGES: list[tuple[str, str, Callable[[Built], str]]] = [
    ("bulk results", "school", _school_url("bulk_results")),
    ("school home", "school", _school_url("school")),
    ("AutoUpdate Settings", "school", _school_url("settings")),
    ("Upload History", "school", _school_url("upload_history")),
    ("task progress", "school", _school_url("task_progress", task_id=lambda b: b.task_id)),
    ("needs matching", "school", _school_url("unmatched")),
    ("unallocated", "school", _school_url("unallocated")),
    ("exclusions", "school", _school_url("exclusions")),
    ("runs", "school", _school_url("runs")),
    ("run detail (applied)", "school", _school_url("run_detail", run_id=lambda b: b.applied.pk)),
    ("run detail (held)", "school", _school_url("run_detail", run_id=lambda b: b.held.pk)),
    ("users", "school", _school_url("users")),
    ("users, latest moves", "school", lambda b: _school_url("users")(b) + "?latest=30"),
    ("account", "school", _school_url("account", uid=lambda b: b.account.uid)),
    ("non-MIS accounts", "school", _school_url("non_mis")),
    ("User Request Single", "school", _school_url("request_single")),
    ("two-step sign-in", "school", lambda b: reverse("web:two_factor")),
    ("LA dashboard", "la", lambda b: reverse("web:la_dashboard", kwargs={"code": b.la.code})),
    (
        "LA dashboard, needs attention",
        "la",
        lambda b: reverse("web:la_dashboard", kwargs={"code": b.la.code}) + "?attention=on",
    ),
    ("list of schools", "la", lambda b: reverse("web:school_list")),
    ("list of LAs", "la", lambda b: reverse("web:la_list")),
]


def queries(client: Client, path: str) -> tuple[int, list[str]]:
    first = client.get(path)
    assert first.status_code == 200, (path, first.status_code)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured), [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize(("page", "who", "url"), PAGES, ids=[p[0] for p in PAGES])
def test_query_count_does_not_grow_with_the_school_or_la(
    db: Any, worlds: tuple[Built, Built], page: str, who: str, url: Callable[[Built], str]
) -> None:
    counts = []
    for built in worlds:
        client = Client()
        client.force_login(built.school_admin if who == "school" else built.la_admin)
        counts.append(queries(client, url(built)))
    (small, _), (large, large_sql) = counts
    assert small == large, f"{page}: {small} queries small, {large} large\n" + "\n".join(large_sql)
    assert large <= 40, f"{page}: {large} queries"


def test_the_large_world_is_larger(db: Any, worlds: tuple[Built, Built]) -> None:
    """The comparison means something: every list the pages show is several times
    longer in the large world."""
    small, large = worlds

    def sizes(b: Built) -> tuple[int, ...]:
        s = b.school
        return (
            m.Allocation.objects.filter(school=s).count(),
            m.SyncRun.objects.filter(school=s).count(),
            m.Upload.objects.filter(school=s).count(),
            m.MatchCase.objects.filter(school=s).count(),
            m.Exclusion.objects.filter(school=s).count(),
            m.AuditEvent.objects.filter(account=b.account).count(),
            m.School.objects.filter(la=b.la).count(),
            len([a for a in b.applied.actions if a.get("kind") != "unchanged"]),
        )

    for s, big in zip(sizes(small), sizes(large), strict=True):
        assert big >= 2 * s > 0, (sizes(small), sizes(large))


# --- the LA dashboard of a 600-school LA ---------------------------------------------------

RED_NAMES = ["Zeal Primary", "Zenith Academy", "Zest Juniors"]  # last by name, first shown


@pytest.fixture(scope="module")
def big_la(django_db_setup: Any, django_db_blocker: Any) -> Iterator[tuple[Any, Any]]:
    """An LA of 600 schools: 550 green (a run applied today), 47 with no run yet
    (yellow), 3 whose last run failed (red); and an LA of 2 schools."""
    from django.utils import timezone

    with django_db_blocker.unblock(), transaction.atomic():
        now = timezone.now()
        schools = [
            school_add(
                urn=f"{700000 + i}",
                la_code="777",
                estab=f"{2000 + i}",
                name=RED_NAMES[i - 597] if i >= 597 else f"School {i:03d}",
                la_name="Bigshire",
            )
            for i in range(600)
        ]
        with_runs = schools[:550] + schools[597:]
        uploads = m.Upload.objects.bulk_create(
            m.Upload(
                school=s,
                source="cli",
                fmt="csv",
                report="students",
                size=1,
                sha256="0" * 64,
                data=b"x",
                outcome="applied",
            )
            for s in with_runs
        )
        m.SyncRun.objects.bulk_create(
            m.SyncRun(
                upload=u,
                school=u.school,
                as_of=now.date(),
                applied_at=now,
                status="failed" if u.school.name in RED_NAMES else "applied",
                errors=[{"row": None, "field": None, "message": "Unreadable file"}]
                if u.school.name in RED_NAMES
                else [],
            )
            for u in uploads
        )
        small = school_add(urn="888001", la_code="888", estab="2001", name="One", la_name="Tiny")
        school_add(urn="888002", la_code="888", estab="2002", name="Two")
        big_admin = user_grant(
            username="big-la", password=PASSWORD, role=RoleName.LA_ADMIN, la=schools[0].la
        ).user
        small_admin = user_grant(
            username="tiny-la", password=PASSWORD, role=RoleName.LA_ADMIN, la=small.la
        ).user
        yield (schools[0].la, big_admin), (small.la, small_admin)
        transaction.set_rollback(True)


def _dashboard(client: Client, la: Any, query: str = "") -> Any:
    return client.get(reverse("web:la_dashboard", kwargs={"code": la.code}) + query)


def test_a_600_school_la_dashboard_fits_one_screen(db: Any, big_la: Any) -> None:
    (la, admin), _ = big_la
    client = Client()
    client.force_login(admin)
    page = _dashboard(client, la)
    assert page.status_code == 200
    rows = page.context["rows"]
    assert len(rows) == 50
    assert page.context["total"] == 600
    assert page.context["summary"] == {"red": 3, "yellow": 47, "green": 550}
    # those needing attention first: the three failing, then the 47 with no run
    assert [r.school.name for r in rows[:3]] == RED_NAMES
    assert [r.light for r in rows] == ["red"] * 3 + ["yellow"] * 47
    body = page.content.decode()
    assert "600 schools: 3 red" in body and "550 green" in body
    assert "Page 1 of 12 (600 in all)" in body
    assert body.count('<span class="light ') == 50
    last = _dashboard(client, la, "?page=12")
    assert [r.light for r in last.context["rows"]] == ["green"] * 50
    assert _dashboard(client, la, "?page=99").context["rows"] == last.context["rows"]


def test_the_dashboard_filters(db: Any, big_la: Any) -> None:
    (la, admin), _ = big_la
    client = Client()
    client.force_login(admin)
    attention = _dashboard(client, la, "?attention=on")
    assert len(attention.context["rows"]) == 50 and attention.context["matching"] == 50
    assert "Page 1 of" not in attention.content.decode()  # all of them on one page
    found = _dashboard(client, la, "?q=zen")
    assert [r.school.name for r in found.context["rows"]] == ["Zenith Academy"]
    assert "1 of 600 schools shown" in found.content.decode()
    by_urn = _dashboard(client, la, "?q=700001")
    assert [r.school.urn for r in by_urn.context["rows"]] == ["700001"]
    none = _dashboard(client, la, "?q=%3Cscript%3E&attention=on")
    assert none.context["rows"] == []
    assert "No school matches “&lt;script&gt;” among those that need attention" in (
        none.content.decode()
    )
    # the filter is kept when paging
    paged = _dashboard(client, la, "?q=School&page=2")
    assert "q=School&amp;page=1" in paged.content.decode()
    assert len(paged.context["rows"]) == 50


def test_the_600_school_dashboard_costs_the_queries_of_a_2_school_one(db: Any, big_la: Any) -> None:
    counts = []
    for la, admin in big_la:
        client = Client()
        client.force_login(admin)
        counts.append(queries(client, reverse("web:la_dashboard", kwargs={"code": la.code}))[0])
    assert counts[0] == counts[1], counts


def test_another_la_sees_nothing_of_the_big_one(db: Any, big_la: Any) -> None:
    (la, _), (_, small_admin) = big_la
    client = Client()
    client.force_login(small_admin)
    response = _dashboard(client, la)
    assert response.status_code == 404
    assert b"Zeal" not in response.content
