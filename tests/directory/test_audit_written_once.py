"""A run's audit events go to the database in one statement at its end (a first import's
tens of thousands a slice at a time), whatever parts of the run made them, and a
leaver's event names the school from the run's own row (docs/performance.md, "Fewer
statements a run")."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from rollsync.directory import models as m
from rollsync.directory.services.sync import sync_run_execute
from tests.directory.helpers import csv_upload, pupil


def _run(school: m.School, rows: list[dict[str, Any]], day: date) -> m.SyncRun:
    upload = csv_upload(school, rows)
    done = sync_run_execute(upload=upload, as_of=day)
    assert done.status == "applied", (done.status, done.errors, done.holds)
    return done


def test_a_runs_events_are_written_once_and_a_leaver_costs_no_school_read(
    school: m.School,
) -> None:
    day1 = [
        pupil(
            f"P{n}",
            f"Name{n}",
            "Lee",
            f"2015-01-{n % 28 + 1:02d}",
            year_group="3",
            registration_group="3A",
        )
        for n in range(30)
    ]
    _run(school, day1, date(2026, 9, 7))
    # Day 2: one renamed, two left, one new, one moved to another class.
    day2 = [dict(row) for row in day1[2:]]
    day2[0]["legal_family_name"] = "Ray"
    day2[1]["registration_group"] = "3B"
    day2.append(
        pupil("P99", "New", "Starter", "2015-02-01", year_group="3", registration_group="3A")
    )
    before = m.AuditEvent.objects.count()
    with CaptureQueriesContext(connection) as seen:
        run = _run(school, day2, date(2026, 9, 8))
    statements = [q["sql"] for q in seen.captured_queries]
    writes = [
        s
        for s in statements
        if "directory_auditevent" in s and s.lstrip().startswith(("INSERT", "COPY"))
    ]
    school_rows = [  # the school's whole row (its name), not the snapshot's look-up of its LA
        s
        for s in statements
        if s.lstrip().startswith("SELECT") and '"directory_school"."name"' in s
    ]
    events = list(m.AuditEvent.objects.filter(run=run).values_list("action", flat=True))
    assert len(events) == m.AuditEvent.objects.count() - before
    assert {"account_updated", "account_unallocated", "account_created"} <= set(events), events
    assert len(writes) == 1, writes
    assert len(school_rows) == 1, school_rows  # the run's own, before it plans
