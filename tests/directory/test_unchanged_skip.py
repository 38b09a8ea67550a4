"""Issue 13 point 1: an unchanged re-import is known without parsing or planning it
(docs/decisions/0088). The same bytes as the school's last applied run of the report are
recorded as applied with no changes; after anything that could change their plan, they
are planned again (read in part where the format may be, decision 0105; in full after a
change of the school's settings), and the run equals a plan made without the skip (a dry
run, which never skips, of the same bytes just before)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rollsync import ingest
from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.directory.services.accounts import (
    account_restore,
    exclusion_add,
    match_case_resolve,
)
from rollsync.directory.services.schools import (
    school_attendance_service_set,
    school_field_opt_out_set,
    school_policy_set,
    school_report_set,
)
from rollsync.directory.services.settled import BOOKKEEPING
from rollsync.directory.services.sync import run_force, sync_run_execute
from rollsync.directory.services.uploads import upload_receive, upload_store
from tests.directory.helpers import csv_bytes, csv_upload, pupil, simulated_bundle, snapshot

DAY1 = date(2026, 9, 7)
DAY2 = date(2026, 9, 8)
DAY3 = date(2026, 9, 9)
LATER = date(2026, 10, 1)

ROWS = [
    pupil("P1", "Ann", "Lee", "2015-01-02", year_group="3"),
    pupil("P2", "Bob", "Ray", "2015-02-03", year_group="3"),
]


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The formats of the uploads parsed (the real parser, counted; "<format> in part"
    for a read in part, `ingest.parse_changed`, that did not fall back to a full parse)."""
    seen: list[str] = []
    real, in_part = ingest.parse_upload, ingest.parse_changed

    def counted(payload: bytes, **kw: Any) -> Any:
        seen.append(kw["fmt"])
        return real(payload, **kw)

    def counted_in_part(earlier: bytes, payload: bytes, **kw: Any) -> Any:
        batch = in_part(earlier, payload, **kw)
        if batch is not None:
            seen.append(f"{kw['fmt']} in part")
        return batch

    monkeypatch.setattr(ingest, "parse_upload", counted)
    monkeypatch.setattr(ingest, "parse_changed", counted_in_part)
    yield seen


upload = csv_upload


def run(school: m.School, rows: list[dict[str, Any]], day: date, **kw: Any) -> m.SyncRun:
    done = sync_run_execute(upload=upload(school, rows, **kw), as_of=day)
    assert done.status == "applied", (done.status, done.errors, done.holds)
    return done


def test_the_same_file_again_is_applied_without_parsing_or_planning(
    school: m.School, parses: list[str]
) -> None:
    first = run(school, ROWS, DAY1)
    assert first.settled_mark is not None and first.same_as_id is None
    before = snapshot()
    parses.clear()
    again = run(school, ROWS, DAY2)
    assert parses == []
    assert again.same_as_id == first.pk
    assert again.actions == [] and again.holds == []
    assert again.errors == [
        {
            "row": None,
            "field": None,
            "message": f"same file as run {first.pk}, nothing changed since",
            "source": "notice",
        }
    ]
    assert again.upload.outcome == "applied"
    assert snapshot() == before
    # A third night stands on the run that was planned, not on the skipped one.
    third = run(school, ROWS, DAY3)
    assert third.same_as_id == first.pk and parses == []
    # The same as planning it in full: a Force run (the upload run again) changes nothing
    # more and counts the same.
    full = sync_run_execute(upload=third.upload, as_of=DAY3)
    assert full.same_as_id is None and parses == ["csv"]
    assert snapshot() == before
    assert full.counts == again.counts


def test_a_simulated_schools_bundle_skipped_counts_as_a_full_plan_counts(
    db: Any, tmp_path: Path, parses: list[str]
) -> None:
    school, payload, day = simulated_bundle(tmp_path)

    def bundle_run() -> m.SyncRun:
        stored = upload_store(school=school, payload=payload, fmt="oneroster", source="test")
        return sync_run_execute(upload=stored, as_of=day)

    first = bundle_run()
    assert first.status == "applied"
    before = snapshot()
    parses.clear()
    skipped = bundle_run()
    assert skipped.same_as_id == first.pk and parses == []
    full = sync_run_execute(upload=skipped.upload, as_of=day)  # a Force run
    assert full.same_as_id is None and parses == ["oneroster"]
    assert full.counts == skipped.counts
    assert [e for e in full.errors if e.get("row") is not None] == [
        e for e in skipped.errors if e.get("row") is not None
    ]
    assert snapshot() == before


def test_the_skip_reads_the_same_few_rows_however_big_the_school(
    school: m.School, other_school: m.School
) -> None:
    big = [pupil(f"B{n}", f"Name{n}", "Big", f"2015-03-{n % 28 + 1:02d}") for n in range(60)]
    queries = []
    for where, rows in ((school, ROWS), (other_school, big)):
        run(where, rows, DAY1)
        with CaptureQueriesContext(connection) as seen:
            skipped = run(where, rows, DAY2)
        assert skipped.same_as_id is not None
        queries.append(len(seen.captured_queries))
    assert queries[0] == queries[1]


def _dry_then_real(school: m.School, rows: list[dict[str, Any]], day: date) -> tuple[Any, Any]:
    """A plan without the skip (a dry run never skips), then the real run of the same
    bytes: the real run must have been planned in full and equal it."""
    preview = sync_run_execute(upload=upload(school, rows), as_of=day, dry_run=True)
    assert preview.status == "preview"
    real = sync_run_execute(upload=upload(school, rows), as_of=day)
    return preview, real


def _planned_as_without_skip(
    school: m.School, rows: list[dict[str, Any]], day: date, parses: list[str], *, in_part: bool
) -> m.SyncRun:
    parses.clear()
    preview, real = _dry_then_real(school, rows, day)
    assert real.same_as_id is None
    # The dry run's, and the real run's own: a Students file is read in part when it may
    # (decision 0104), the same bytes too (decision 0105: only the people touched since,
    # and those a date may change, are built), and in full after a change of settings.
    assert parses == ["csv", "csv in part" if in_part else "csv"], parses
    assert real.counts == preview.counts
    # A read in part lists no action for the people it left out unchanged.
    assert [a for a in real.actions if not _quiet(a)] == [
        a for a in preview.actions if not _quiet(a)
    ]
    assert [e for e in real.errors] == [e for e in preview.errors]
    return real


def _quiet(action: dict[str, Any]) -> bool:
    return action["kind"] == "unchanged" and not action.get("changes")


# Each event happens after the first import and before the same bytes come again.
def _policy_change(school: m.School, other_school: m.School) -> None:
    school_policy_set(school=school, actor="admin", leaver_grace_days=5)


def _exclusion(school: m.School, other_school: m.School) -> None:
    exclusion_add(school=school, actor="admin", mis_id="P2")


def _opt_out(school: m.School, other_school: m.School) -> None:
    school_field_opt_out_set(
        school=school, report="students", field_name="year_group", opted_out=True, actor="admin"
    )


def _force_run(school: m.School, other_school: m.School) -> None:
    pass  # the run below is asked for by a Force run (test_a_force_run_plans_in_full)


@pytest.mark.parametrize(
    "event", [_policy_change, _exclusion, _opt_out], ids=["policy", "exclusion", "opt-out"]
)
def test_a_change_of_the_schools_settings_plans_the_same_file_in_full(
    school: m.School, other_school: m.School, parses: list[str], event: Callable[..., None]
) -> None:
    run(school, ROWS, DAY1)
    event(school, other_school)
    _planned_as_without_skip(school, ROWS, DAY2, parses, in_part=False)


def test_a_persons_decision_on_a_case_plans_the_same_file_again(
    school: m.School, other_school: m.School, parses: list[str]
) -> None:
    run(other_school, [pupil("A1", "Jonathan", "Khan", "2014-01-02", gender="M")], DAY1)
    jonathan = m.Account.objects.get()
    rows = [*ROWS, pupil("B7", "Jonathon", "Khan", "2014-01-02", gender="M")]
    first = run(school, rows, DAY1)
    assert first.settled_la_wide  # a record still new to the school
    case = m.MatchCase.objects.get(status="open")
    assert run(school, rows, DAY1).same_as_id == first.pk  # until the decision, it skips
    match_case_resolve(case_id=case.pk, actor="admin", link_account_id=jonathan.pk)
    real = _planned_as_without_skip(school, rows, DAY2, parses, in_part=True)
    assert real.counts["needs_matching"] == 0  # decided: linked, never asked again


def test_a_new_account_elsewhere_in_the_la_counts_while_a_record_is_still_new_here(
    school: m.School, other_school: m.School, parses: list[str]
) -> None:
    run(other_school, [pupil("A1", "Jonathan", "Khan", "2014-01-02", gender="M")], DAY1)
    rows = [*ROWS, pupil("B7", "Jonathon", "Khan", "2014-01-02", gender="M")]
    run(school, rows, DAY1)
    twins = [
        pupil("A1", "Jonathan", "Khan", "2014-01-02", gender="M"),
        pupil("A2", "Jonas", "Khan", "2014-01-02", gender="M"),
    ]
    run(other_school, twins, DAY2)
    _planned_as_without_skip(school, rows, DAY2, parses, in_part=True)


def test_an_edit_of_an_account_plans_the_same_file_again(
    school: m.School, other_school: m.School, parses: list[str]
) -> None:
    school_policy_set(school=school, actor="admin", guard_unallocate_pct=100)
    run(school, ROWS, DAY1)
    run(school, ROWS[:1], DAY2)  # Bob left: unallocated (no grace period)
    bob = m.Account.objects.get(legal_given_name="Bob")
    account_restore(username=bob.username, school=school, actor="admin", keep_non_mis=False)
    real = _planned_as_without_skip(school, ROWS[:1], DAY3, parses, in_part=True)
    assert real.counts["unallocated"] == 1  # not listed: a leaver again, as a plan says


def report_run(
    where: m.School, report: str, rows: list[dict[str, Any]], day: date, *, dry_run: bool = False
) -> m.SyncRun:
    stored = upload_store(
        school=where, payload=csv_bytes(report, rows), fmt="csv", report=report, source="test"
    )
    return sync_run_execute(upload=stored, as_of=day, dry_run=dry_run)


def contacts_run(
    where: m.School, rows: list[dict[str, Any]], day: date, *, dry_run: bool = False
) -> m.SyncRun:
    return report_run(where, "contacts", rows, day, dry_run=dry_run)


def test_another_schools_run_on_a_shared_account_plans_the_same_file_in_full(
    school: m.School, other_school: m.School, parses: list[str]
) -> None:
    # A parent of pupils at both schools: one account linked at each.
    children = {
        school: pupil("H1", "Cara", "Moss", "2016-05-06"),
        other_school: pupil("O1", "Dan", "Moss", "2014-05-06"),
    }
    eve = {
        "mis_id": "C1",
        "legal_given_name": "Eve",
        "legal_family_name": "Moss",
        "phone": "07700900001",
        "email": "eve@example.org",
    }
    for where, child in children.items():
        run(where, [child], DAY1)
        done = contacts_run(where, [{**eve, "pupil_mis_id": child["mis_id"]}], DAY1)
        assert done.status == "applied", done.errors
    shared = m.Account.objects.get(legal_given_name="Eve")
    assert m.Allocation.objects.filter(account=shared).count() == 2
    here = [{**eve, "pupil_mis_id": "H1"}]
    # Linking Eve at the other school touched an account this school holds: planned in
    # full once; then, with nothing changed since, the same file skips.
    assert contacts_run(school, here, DAY1).same_as_id is None
    assert contacts_run(school, here, DAY1).same_as_id is not None
    # The other school's MIS corrects her name: an account this school holds changes.
    renamed = [{**eve, "legal_family_name": "Moss-Hart", "pupil_mis_id": "O1"}]
    assert contacts_run(other_school, renamed, DAY2).status == "applied"
    parses.clear()
    preview = contacts_run(school, here, DAY2, dry_run=True)
    real = contacts_run(school, here, DAY2)
    # (Read in part, decision 0108: Eve, whom the event named, is built.)
    assert real.same_as_id is None and parses == ["csv", "csv in part"]
    assert (real.counts, real.actions) == (preview.counts, preview.actions)


def test_a_date_falling_due_plans_the_same_file_again(school: m.School, parses: list[str]) -> None:
    rows = [ROWS[0], {**ROWS[1], "leaving_date": "2026-09-20"}]
    first = run(school, rows, DAY1)
    assert first.settled_until == date(2026, 9, 21)  # the first day it has passed
    parses.clear()
    assert run(school, rows, DAY2).same_as_id == first.pk  # before it: nothing falls due
    assert run(school, rows, date(2026, 9, 20)).same_as_id == first.pk  # the day itself
    real = _planned_as_without_skip(school, rows, date(2026, 9, 21), parses, in_part=True)
    assert real.counts["unallocated"] == 1  # Bob's leaving date has passed


def test_a_leaving_date_of_the_day_itself_plans_the_same_file_again_the_next_day(
    school: m.School, parses: list[str]
) -> None:
    # Bob leaves on the day of the run: still allocated that day, a leaver the next. Until
    # 3 December 2026 the date was taken as passed already: nothing to come, the same file
    # skipped every night after and Bob never unallocated (a region's quiet night showed it).
    school_policy_set(school=school, actor="admin", guard_unallocate_pct=100)
    rows = [ROWS[0], {**ROWS[1], "leaving_date": DAY1.isoformat()}]
    first = run(school, rows, DAY1)
    assert first.counts["unallocated"] == 0 and first.settled_until == DAY2
    real = _planned_as_without_skip(school, rows, DAY2, parses, in_part=True)
    assert real.counts["unallocated"] == 1


def test_a_grace_period_ending_plans_the_same_file_again(
    school: m.School, parses: list[str]
) -> None:
    school_policy_set(school=school, actor="admin", leaver_grace_days=3, guard_unallocate_pct=100)
    run(school, ROWS, DAY1)
    marked = run(school, ROWS[:1], DAY2)  # Bob is gone: access kept for 3 days
    assert marked.settled_until == date(2026, 9, 11)
    assert run(school, ROWS[:1], DAY3).same_as_id == marked.pk
    real = _planned_as_without_skip(school, ROWS[:1], date(2026, 9, 11), parses, in_part=True)
    assert real.counts["unallocated"] == 1


def test_a_different_format_option_plans_the_same_bytes_in_full(
    school: m.School, parses: list[str]
) -> None:
    run(school, ROWS, DAY1)
    parses.clear()
    other = run(school, ROWS, DAY2, asked="students since 2026-09-01")
    assert other.same_as_id is None and parses == ["csv"]


def test_a_force_run_plans_in_full(school: m.School, parses: list[str]) -> None:
    run(school, ROWS, DAY1)
    skipped = run(school, ROWS, DAY2)
    assert skipped.same_as_id is not None
    parses.clear()
    preview = sync_run_execute(upload=upload(school, ROWS), as_of=DAY2, dry_run=True)
    run_force(school=school, report="students", actor="admin", as_of=DAY2)
    assert tasks.run_queued() == 1
    forced = m.SyncRun.objects.order_by("-pk").first()
    assert forced is not None and forced.status == "applied"
    assert forced.same_as_id is None and parses == ["csv", "csv"]
    assert (forced.counts, forced.actions) == (preview.counts, preview.actions)


def test_a_dry_run_is_always_planned(school: m.School, parses: list[str]) -> None:
    run(school, ROWS, DAY1)
    parses.clear()
    preview = sync_run_execute(upload=upload(school, ROWS), as_of=DAY2, dry_run=True)
    assert preview.status == "preview" and preview.same_as_id is None and parses == ["csv"]


def test_a_row_refused_for_a_date_of_birth_after_the_day_is_read_again_the_next_day(
    school: m.School, parses: list[str]
) -> None:
    rows = [*ROWS, pupil("P3", "Cy", "New", "2026-09-08")]  # born tomorrow, a typo
    first = sync_run_execute(upload=upload(school, rows), as_of=DAY1)
    assert first.status == "applied" and first.settled_until == DAY2
    _planned_as_without_skip(school, rows, DAY2, parses, in_part=True)


def attendance_run(where: m.School, marks: list[dict[str, Any]], day: date) -> m.SyncRun:
    return report_run(where, "attendance", marks, day)


def test_attendance_recorded_since_stops_the_skip_of_no_other_reports_file(
    school: m.School, parses: list[str]
) -> None:
    # A school that sends one file per report sends attendance every day: the marks it
    # records are read by no other report's plan, and counted against every other
    # report's skip, none could ever be skipped (docs/decisions/0101).
    school_attendance_service_set(school=school, enabled=True, actor="region")
    school_report_set(school=school, report="attendance", accepted=True, actor="admin")
    first = run(school, ROWS, DAY1)
    mark = {"pupil_mis_id": "P1", "date": "2026-09-07", "session": "AM", "code": "/"}
    assert attendance_run(school, [mark], DAY1).status == "applied"
    assert m.AuditEvent.objects.filter(action="attendance_recorded").count() == 1

    parses.clear()
    preview = sync_run_execute(upload=upload(school, ROWS), as_of=DAY2, dry_run=True)
    again = run(school, ROWS, DAY2)
    assert again.same_as_id == first.pk and parses == ["csv"]  # the dry run's alone
    assert again.counts == preview.counts and preview.counts["unchanged"] == 2

    # The next day's marks, one corrected and one added, are recorded; Students still skips.
    marks = [{**mark, "code": "L"}, {**mark, "pupil_mis_id": "P2"}]
    recorded = attendance_run(school, marks, DAY2)
    assert recorded.status == "applied" and recorded.same_as_id is None
    assert m.AuditEvent.objects.filter(action="attendance_recorded").count() == 2
    assert run(school, ROWS, DAY3).same_as_id == first.pk
    # The attendance file itself: skipped when nothing happened since ...
    assert attendance_run(school, marks, DAY3).same_as_id == recorded.pk
    # ... and planned in full after any change to the pupils it names.
    renamed = [pupil("P1", "Anne", "Lee", "2015-01-02", year_group="3"), ROWS[1]]
    assert run(school, renamed, DAY3).counts["updated"] == 1
    parses.clear()
    planned = attendance_run(school, marks, DAY3)
    assert planned.status == "applied" and planned.same_as_id is None and parses == ["csv"]
    # And Students, whose own run renamed Anne, skips again the day after.
    assert run(school, renamed, LATER).same_as_id is not None


def test_the_same_file_through_a_door_is_skipped_whatever_the_door_recorded(
    school: m.School, parses: list[str]
) -> None:
    # Every door writes an event at the school as it stores a file (`upload_received`
    # here; the agent's and a push's likewise), before the run: counted, no file that
    # came through a door was ever skipped (docs/decisions/0101).
    def through_the_web(rows: list[dict[str, Any]], day: date) -> m.SyncRun:
        stored, _ = upload_receive(
            school=school,
            payload=csv_bytes("students", rows),
            fmt="csv",
            report="students",
            filename="students.csv",
            actor="admin",
            source="web",
            as_of=day,
        )
        return sync_run_execute(upload=stored, as_of=day)

    first = through_the_web(ROWS, DAY1)
    assert first.status == "applied" and first.same_as_id is None
    parses.clear()
    again = through_the_web(ROWS, DAY2)
    assert again.same_as_id == first.pk and parses == []
    assert m.AuditEvent.objects.filter(action="upload_received").count() == 2
    # What a plan reads still counts: a policy changed since plans the same file in full.
    school_policy_set(school=school, actor="admin", leaver_grace_days=5)
    parses.clear()
    planned = through_the_web(ROWS, DAY3)
    assert planned.same_as_id is None and parses == ["csv"]


# Each kind of audit event, by whether it stops a skip: the kinds of `BOOKKEEPING` record
# nothing a plan reads; every other kind counts. A new kind fails here until it is placed.
COUNTED = {
    "account_created",
    "account_moved_in",
    "account_requested",
    "account_restored",
    "account_unallocated",
    "account_updated",
    "attendance_recorded",  # for an upload that can carry attendance
    "attendance_service_changed",
    "connection_approval_refused",
    "connection_approval_started",
    "connection_made",
    "connection_removed",
    "connection_schedule_changed",
    "contact_link_updated",
    "contact_linked",
    "contact_relinked",
    "contact_unlinked",
    "cross_school_agreed",
    "cross_school_case_opened",
    "cross_school_case_updated",
    "cross_school_declined",
    "exclusion_added",
    "exclusion_removed",
    "field_opted_in",
    "field_opted_out",
    "force_run_queued",  # a person asks for a full plan of the same file
    "group_created",
    "group_removed",
    "group_reopened",
    "group_updated",
    "identity_change_withheld",
    "leaver_pending",
    "match_case_opened",
    "match_linked",
    "membership_added",
    "membership_removed",
    "membership_reopened",
    "mis_pull_queued",  # a connection's Force run
    "non_mis_kept",
    "report_accepted",
    "report_removed",
    "run_rejected",
    "run_released",
    "run_superseded",
    "run_waiting",
    "school_added",
    "school_mis_changed",
    "school_policy_changed",
    "school_updated",
}


def test_every_kind_of_audit_event_is_counted_or_bookkeeping() -> None:
    kinds = {kind.value for kind in m.AuditKind}
    bookkeeping = {kind.value for kind in BOOKKEEPING}
    assert not bookkeeping & COUNTED
    assert kinds == bookkeeping | COUNTED
