"""A run's leavers are ended together: the same number of queries for 2 leavers as for 6,
and the same directory and audit trail as one at a time (each place unallocated; an
account suspended only when its last place ends, by that place's event)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollsync.directory import models as m
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.schools import school_add, school_policy_set
from rollsync.directory.services.sync import allocations_unallocate, sync_run_execute
from rollsync.directory.services.uploads import upload_store
from tests.directory.helpers import csv_bytes, staff_rows

DAY1, DAY2, DAY3 = date(2026, 9, 7), date(2026, 9, 8), date(2026, 9, 9)


def _import(school: m.School, rows: list[dict[str, Any]], as_of: date) -> m.SyncRun:
    upload = upload_store(
        school=school, payload=csv_bytes("staff", rows), fmt="csv", report="staff", source="web"
    )
    return sync_run_execute(upload=upload, as_of=as_of, actor="t")


def _leave(la: str, leavers: int) -> tuple[int, m.SyncRun, m.School]:
    """12 staff at a school, the first also at another school of LA `la`; then the
    first `leavers` of them leave it: the queries of that run, the run, the school."""
    other = school_add(urn=f"{la}001", la_code=la, estab=f"{la[0]}001", name=f"Other {la}")
    school = school_add(urn=f"{la}002", la_code=la, estab=f"{la[0]}002", name=f"School {la}")
    school_policy_set(school=school, guard_unallocate_pct=100, actor="t")
    assert _import(other, staff_rows("A", range(1)), DAY1).counts["created"] == 1
    assert _import(school, staff_rows("B", range(12)), DAY2).status == "applied"
    with CaptureQueriesContext(connection) as queries:
        run = _import(school, staff_rows("B", range(leavers, 12)), DAY3)
    return len(queries.captured_queries), run, school


def test_the_leavers_of_a_run_cost_the_same_queries_for_2_people_as_for_6(db: Any) -> None:
    few, few_run, _ = _leave("202", 2)
    many, many_run, _ = _leave("303", 6)
    assert (few_run.status, few_run.counts["unallocated"]) == ("applied", 2)
    assert (many_run.status, many_run.counts["unallocated"]) == ("applied", 6), many_run.holds
    assert few == many


def test_leavers_lose_their_place_and_their_account_only_with_their_last_place(
    db: Any,
) -> None:
    _, run, school = _leave("202", 4)
    assert (run.status, run.counts["unallocated"]) == ("applied", 4)
    places = {p.mis_id: p for p in m.Allocation.objects.filter(school=school)}
    gone = {f"B{i}" for i in range(4)}
    assert {k for k, p in places.items() if p.status == "unallocated"} == gone
    assert all(places[k].unallocated_at is not None for k in gone)
    assert {k: places[k].account.status for k in sorted(gone)} == {
        "B0": "active",  # still placed at the other school
        "B1": "suspended",
        "B2": "suspended",
        "B3": "suspended",
    }
    assert m.Account.objects.filter(status="suspended").count() == 3
    events = m.AuditEvent.objects.filter(action="account_unallocated").order_by("pk")
    assert [(e.account_id, e.changes) for e in events] == [
        (
            places[k].account_id,
            {"status": ["active", "unallocated"], "school": school.name}
            | ({"account_status": ["active", "suspended"]} if k != "B0" else {}),
        )
        for k in ("B0", "B1", "B2", "B3")
    ]
    assert all(e.school_id == school.pk for e in events)


def test_two_places_of_one_account_ended_together_suspend_it_by_the_last(db: Any) -> None:
    schools = [
        school_add(urn=f"40400{n}", la_code="404", estab=f"400{n}", name=f"School {n}")
        for n in range(3)
    ]
    account = m.Account.objects.create(username="ann.1", role="staff", legal_given_name="Ann")
    first, second, old = (
        m.Allocation.objects.create(account=account, school=school, role="staff", mis_id="S1")
        for school in schools
    )
    m.Allocation.objects.filter(pk=old.pk).update(status="unallocated")  # ended before
    audit = AuditLog(actor="t", school=schools[0])
    allocations_unallocate(
        ending=[(first, "first"), (second, "second")], audit=audit, now=timezone.now()
    )
    audit.flush()
    assert set(m.Allocation.objects.values_list("status", flat=True)) == {"unallocated"}
    account.refresh_from_db()
    assert account.status == "suspended"
    events = m.AuditEvent.objects.filter(action="account_unallocated").order_by("pk")
    assert [(e.reason, e.changes.get("account_status")) for e in events] == [
        ("first", None),
        ("second", ["active", "suspended"]),
    ]
