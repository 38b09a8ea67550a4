"""A run reads the school's accepted reports once: the filter, the policy and the
unchanged-upload digest (docs/decisions/0088) all use the same read."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rollsync.directory import models as m
from rollsync.directory.services.sync import sync_run_execute
from tests.directory.helpers import csv_upload, pupil

DAY1 = date(2026, 9, 7)
TABLE = m.ReportAcceptance._meta.db_table


def _reads_of_accepted(school: m.School, rows: list[dict[str, Any]], **kw: Any) -> tuple[Any, int]:
    up = csv_upload(school, rows)
    with CaptureQueriesContext(connection) as ctx:
        run = sync_run_execute(upload=up, as_of=DAY1, **kw)
    return run, sum(1 for q in ctx.captured_queries if TABLE in q["sql"])


ROWS = [pupil("P1", "Ann", "Lee", "2015-01-02"), pupil("P2", "Bob", "Ray", "2015-02-03")]


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_run_reads_the_accepted_reports_once(school: m.School, dry_run: bool) -> None:
    run, reads = _reads_of_accepted(school, ROWS, dry_run=dry_run)
    assert run.status == ("preview" if dry_run else "applied"), run.errors
    assert run.counts["created"] == 2
    assert reads == 1


def test_a_report_not_accepted_is_still_dropped_with_one_read(school: m.School) -> None:
    # Students not accepted: the one read still decides what is refused.
    m.ReportAcceptance.objects.filter(school=school, report="students").delete()
    run, reads = _reads_of_accepted(school, ROWS)
    assert run.status == "failed"
    assert not m.Allocation.objects.filter(school=school).exists()
    assert reads == 1
