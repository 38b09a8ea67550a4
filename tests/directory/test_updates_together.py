"""A run's updates are written together: the same number of queries for 2 people changed
as for 8, and the same directory and audit trail as one at a time (each place and
account with its new values, one event per person in the plan's order, the places
stamped as updated)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from rollsync.directory.services.sync import sync_run_execute
from rollsync.directory.services.uploads import upload_store
from tests.directory.helpers import csv_bytes, staff_rows

DAY1, DAY2 = date(2026, 9, 7), date(2026, 9, 8)


def _import(school: m.School, rows: list[dict[str, Any]], as_of: date) -> m.SyncRun:
    upload = upload_store(
        school=school, payload=csv_bytes("staff", rows), fmt="csv", report="staff", source="web"
    )
    return sync_run_execute(upload=upload, as_of=as_of, actor="t")


def _changed(rows: list[dict[str, Any]], changed: int) -> list[dict[str, Any]]:
    """The first `changed` rows with a new email (their place) and a new surname (their
    account)."""
    return [
        {
            **row,
            "email": f"new{n}@staff.example",
            "legal_family_name": f"{row['legal_family_name']}-Lee",
        }
        if n < changed
        else row
        for n, row in enumerate(rows)
    ]


def _update(la: str, changed: int) -> tuple[int, m.SyncRun, m.School]:
    """12 staff at a school; then the first `changed` of them change: the queries of
    that run, the run, the school."""
    school = school_add(urn=f"{la}002", la_code=la, estab=f"{la[0]}002", name=f"School {la}")
    rows = staff_rows("B", range(12))
    assert _import(school, rows, DAY1).status == "applied"
    with CaptureQueriesContext(connection) as queries:
        run = _import(school, _changed(rows, changed), DAY2)
    return len(queries.captured_queries), run, school


def test_the_updates_of_a_run_cost_the_same_queries_for_2_people_as_for_8(db: Any) -> None:
    few, few_run, _ = _update("202", 2)
    many, many_run, _ = _update("303", 8)
    assert (few_run.status, few_run.counts["updated"]) == ("applied", 2)
    assert (many_run.status, many_run.counts["updated"]) == ("applied", 8), many_run.holds
    assert few == many


def test_updated_people_are_written_as_one_at_a_time_would_write_them(db: Any) -> None:
    _, run, school = _update("202", 5)
    assert (run.status, run.counts["updated"]) == ("applied", 5)
    places = {
        p.mis_id: p for p in m.Allocation.objects.filter(school=school).select_related("account")
    }
    rows = {row["mis_id"]: row for row in staff_rows("B", range(12))}
    for n in range(12):
        place, row = places[f"B{n}"], rows[f"B{n}"]
        if n < 5:
            assert place.email == f"new{n}@staff.example"
            assert place.account.legal_family_name == f"{row['legal_family_name']}-Lee"
            assert place.updated_at > place.created_at
        else:  # untouched
            assert place.email == row["email"]
            assert place.account.legal_family_name == row["legal_family_name"]
    events = m.AuditEvent.objects.filter(action="account_updated").order_by("pk")
    assert [e.account_id for e in events] == [places[f"B{n}"].account_id for n in range(5)]
    assert all(e.run_id == run.pk and e.school_id == school.pk for e in events)
    assert all(set(e.changes) == {"email", "legal_family_name"} for e in events), [
        e.changes for e in events
    ]
