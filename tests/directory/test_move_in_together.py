"""Staff already at another school of the LA are moved in together: a run's move-ins cost
the same number of queries for 3 people as for 12, and leave the same directory and
audit trail as one at a time did (a new place, or the earlier place here re-opened; a
suspended account active again; the record's changes applied; one event each)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from rollsync.directory.services.sync import sync_run_execute
from rollsync.directory.services.uploads import upload_store
from tests.directory.helpers import STAFF_SURNAMES, csv_bytes, staff_rows

DAY1, DAY2 = date(2026, 9, 7), date(2026, 9, 8)
SURNAMES = STAFF_SURNAMES


def _staff(prefix: str, n: int, **extra: Any) -> list[dict[str, Any]]:
    return staff_rows(prefix, range(n), **extra)


def _import(school: m.School, rows: list[dict[str, Any]], as_of: date) -> m.SyncRun:
    upload = upload_store(
        school=school, payload=csv_bytes("staff", rows), fmt="csv", report="staff", source="web"
    )
    return sync_run_execute(upload=upload, as_of=as_of, actor="t")


def _move_in(la: str, n: int) -> tuple[int, m.SyncRun, m.School]:
    """`n` staff known at one school of LA `la` arrive at another: the queries of that
    run, the run, the school they arrived at."""
    first = school_add(urn=f"{la}001", la_code=la, estab=f"{la[0]}001", name=f"First {la}")
    second = school_add(urn=f"{la}002", la_code=la, estab=f"{la[0]}002", name=f"Second {la}")
    assert _import(first, _staff("A", n), DAY1).counts["created"] == n
    with CaptureQueriesContext(connection) as queries:
        run = _import(second, _staff("B", n), DAY2)
    return len(queries.captured_queries), run, second


def test_the_move_ins_of_a_run_cost_the_same_queries_for_3_people_as_for_12(db: Any) -> None:
    few, few_run, _ = _move_in("202", 3)
    many, many_run, _ = _move_in("303", 12)
    assert (few_run.status, few_run.counts["moved_in"]) == ("applied", 3)
    assert (many_run.status, many_run.counts["moved_in"]) == ("applied", 12)
    assert few == many


def test_moved_in_staff_get_their_place_and_one_event_each_in_the_records_order(
    db: Any,
) -> None:
    _, run, school = _move_in("202", 4)
    accounts = {a.legal_family_name: a for a in m.Account.objects.all()}
    assert len(accounts) == 4  # nobody made twice
    places = m.Allocation.objects.filter(school=school).order_by("mis_id")
    assert [
        (
            p.account.legal_family_name,
            p.mis_id,
            p.role,
            p.status,
            p.source_report,
            p.requested_single,
            p.last_move_or_create_kind,
            p.last_move_or_create_at,
            p.unallocated_at,
        )
        for p in places.select_related("account")
    ] == [
        (SURNAMES[i], f"B{i}", "staff", "active", "staff", False, "moved", run.applied_at, None)
        for i in range(4)
    ]
    events = m.AuditEvent.objects.filter(run=run).order_by("pk")
    assert [(e.action, e.account_id, e.school_id) for e in events] == [
        ("account_moved_in", accounts[SURNAMES[i]].pk, school.pk) for i in range(4)
    ]
    assert all(a.status == "active" for a in accounts.values())


def test_an_earlier_place_here_is_reopened_and_a_suspended_account_made_active(
    db: Any,
) -> None:
    first = school_add(urn="202001", la_code="202", estab="2001", name="First")
    second = school_add(urn="202002", la_code="202", estab="2002", name="Second")
    _import(second, _staff("B", 2), DAY1)  # both worked here once, and left
    m.Allocation.objects.filter(school=second).update(
        status="unallocated", unallocated_at="2026-09-07T12:00:00Z"
    )
    m.Account.objects.update(status="suspended")
    old = {p.account_id: p.pk for p in m.Allocation.objects.filter(school=second)}
    # One of them is at the first school now; both come back to the second with a new
    # phone number.
    _import(first, _staff("A", 1), DAY1)
    before = m.Account.objects.count()
    run = _import(second, _staff("B", 2, phone="0123 456789"), DAY2)

    assert run.counts["moved_in"] + run.counts["restored"] == 2, run.counts
    assert m.Account.objects.count() == before
    places = list(m.Allocation.objects.filter(school=second).order_by("mis_id"))
    assert {p.account_id: p.pk for p in places} == old  # the same rows, re-opened
    assert [(p.status, p.unallocated_at, p.phone) for p in places] == [
        ("active", None, "0123 456789")
    ] * 2
    assert set(m.Account.objects.values_list("status", flat=True)) == {"active"}


def _apply(school: m.School, actions: list[Any]) -> m.SyncRun:
    """Apply a hand-made plan (the order of its actions is the point) as a run would."""
    import time

    from rollsync.directory.services.sync import sync_plan_apply
    from rollsync.domain.actions import Plan

    upload = upload_store(school=school, payload=b"x", fmt="csv", report="contacts", source="web")
    run = m.SyncRun.objects.create(upload=upload, school=school, status="failed", as_of=DAY2)
    sync_plan_apply(
        run=run, plan=Plan(actions=actions), school=school, actor="t", started=time.perf_counter()
    )
    return run


def _staff_here_also_a_contact_here(
    db: Any,
) -> tuple[m.School, m.Account, m.Allocation, list[Any]]:
    """A member of staff (only here) who is also a pupil's contact here: the run that
    moves them in as a contact and ends their staff place, in either order."""
    from rollsync.domain.actions import ActionKind, PersonAction
    from rollsync.domain.records import PersonRecord, Role

    school = school_add(urn="202001", la_code="202", estab="2001", name="Here")
    _import(school, _staff("S", 1), DAY1)
    place = m.Allocation.objects.get(school=school)
    account = place.account
    move_in = PersonAction(
        kind=ActionKind.MOVE_IN,
        role=Role.CONTACT,
        mis_id="C1",
        reason="the same person as staff member S0",
        record=PersonRecord(
            role=Role.CONTACT,
            mis_id="C1",
            legal_given_name=account.legal_given_name,
            legal_family_name=account.legal_family_name,
        ),
        account_id=account.pk,
    )
    unallocate = PersonAction(
        kind=ActionKind.UNALLOCATE,
        role=Role.STAFF,
        mis_id="S0",
        reason="no longer in the staff list",
        account_id=account.pk,
        allocation_id=place.pk,
    )
    return school, account, place, [move_in, unallocate]


def test_a_handler_after_a_move_in_sees_the_place_it_made(db: Any) -> None:
    school, account, _place, (move_in, unallocate) = _staff_here_also_a_contact_here(db)
    run = _apply(school, [move_in, unallocate])
    # The contact place was written before the staff place ended: still placed, so the
    # account was never suspended.
    account.refresh_from_db()
    assert account.status == "active"
    events = list(m.AuditEvent.objects.filter(run=run).order_by("pk"))
    assert [e.action for e in events] == ["account_moved_in", "account_unallocated"]
    assert "account_status" not in events[1].changes
    assert sorted(m.Allocation.objects.filter(school=school).values_list("role", "status")) == [
        ("contact", "active"),
        ("staff", "unallocated"),
    ]


def test_a_move_in_after_another_handler_reads_the_account_it_left(db: Any) -> None:
    school, account, _place, (move_in, unallocate) = _staff_here_also_a_contact_here(db)
    run = _apply(school, [unallocate, move_in])
    # The staff place ended first and the account was suspended; the move-in read it
    # again and made it active (a copy read before would have left it suspended).
    account.refresh_from_db()
    assert account.status == "active"
    events = list(m.AuditEvent.objects.filter(run=run).order_by("pk"))
    assert [e.action for e in events] == ["account_unallocated", "account_moved_in"]
    assert events[0].changes["account_status"] == ["active", "suspended"]
