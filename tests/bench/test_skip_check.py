"""`./dev bench skips`: every school's files sent again, each skip checked against a full
plan (a dry run of the same bytes)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.skip_check import check_skips
from bench.sync_bench import _files_for, _import, school_for
from rollsync.directory.services import settled
from rollsync.directory.services.schools import school_add, school_policy_set
from rollsync.directory.services.sync import sync_run_execute
from rollsync.simulate import make_school_truth
from tests.directory.helpers import csv_upload, pupil

DAY = date(2026, 9, 7)


@pytest.fixture
def school(db: Any) -> Any:
    return school_add(urn="100001", la_code="202", estab="2001", name="Hillside Primary")


def test_a_per_report_schools_files_sent_again_all_skip_as_a_full_plan_would(
    db: Any, tmp_path: Path
) -> None:
    truth = make_school_truth(pupils=30, seed=4)
    files = _files_for("csv", truth, tmp_path, 1)
    where = school_for(truth)
    assert set(_import(files, where, truth.date)) == {"applied"}
    checked = check_skips(nights=2)
    reports = {report for _, _, report in files}
    assert checked.runs == {(report, "skipped"): 2 for report in reports}
    assert checked.nights == [{(report, "skipped"): 1 for report in reports}] * 2
    assert checked.changes_missed == [] and checked.counted_differently == []


def test_a_skip_that_misses_a_change_is_reported(
    school: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Bob leaves on the day of the run. With the leaving date taken as falling due that
    # very day (the mistake fixed on 3 December 2026), the next day's run skips, and the
    # check names what a full plan would have done.
    school_policy_set(school=school, actor="admin", guard_unallocate_pct=100)
    day = DAY
    rows = [
        pupil("P1", "Ann", "Lee", "2015-01-02"),
        pupil("P2", "Bob", "Ray", "2015-02-03", leaving_date=day.isoformat()),
    ]
    monkeypatch.setattr(settled, "_day_after", lambda leaving: leaving)
    assert sync_run_execute(upload=csv_upload(school, rows), as_of=day).status == "applied"
    checked = check_skips()
    assert checked.runs == {("students", "skipped"): 1}
    assert checked.changes_missed == [(school.urn, "students", {"unallocated": 1})]


def test_a_pupil_listed_and_unallocated_is_counted_as_a_full_plan_counts_them(
    school: Any,
) -> None:
    # Bob's leaving date, already passed, comes on day 2: that run unallocates him; a full
    # plan of the same file afterwards counts him unchanged (his access already removed).
    # Until 3 December 2026 the skip counted only those the run it stands on placed, one
    # fewer: the check told it apart as counted differently.
    school_policy_set(school=school, actor="admin", guard_unallocate_pct=100)
    ann, bob = pupil("P1", "Ann", "Lee", "2015-01-02"), pupil("P2", "Bob", "Ray", "2015-02-03")
    assert sync_run_execute(upload=csv_upload(school, [ann, bob]), as_of=DAY).status == "applied"
    rows = [ann, {**bob, "leaving_date": "2026-09-01"}]
    left = sync_run_execute(upload=csv_upload(school, rows), as_of=DAY + timedelta(days=1))
    assert left.counts["unallocated"] == 1
    checked = check_skips()
    assert checked.runs == {("students", "skipped"): 1}
    assert checked.changes_missed == [] and checked.counted_differently == []
    # A leaver no longer listed is counted by neither a full plan nor the skip.
    cal = pupil("P3", "Cal", "Dee", "2015-03-04")
    later = DAY + timedelta(days=5)
    assert sync_run_execute(upload=csv_upload(school, [ann, cal]), as_of=later).status == "applied"
    gone = sync_run_execute(upload=csv_upload(school, [ann]), as_of=later + timedelta(days=1))
    assert gone.counts["unallocated"] == 1
    checked = check_skips()
    assert checked.runs == {("students", "skipped"): 1}
    assert checked.changes_missed == [] and checked.counted_differently == []
