"""Decision 0102: the skip of an unchanged file of one report counts only the changes
that report's plan reads.

A school that sends one file per report (rollsync CSV, SIMS CommandReporter) changes
pupils on most nights. Counted against every report, the Students run stopped the skip of
every other report's file that night and the next: the bench's rollsync-CSV school had 5
of its 7 unchanged files planned in full on a night with no change at all. Each skip here
is checked against a dry run of the same bytes (a full plan): the same counts, nothing to
change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from rollsync import ingest
from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.services.accounts import account_restore
from rollsync.directory.services.schools import school_policy_set
from rollsync.directory.services.settled import (
    BOOKKEEPING,
    GROUP_KINDS,
    LINK_KINDS,
    PERSON_KINDS,
    REPORT_READS,
    audit_mark,
    reads_attendance,
    touched_since,
)
from rollsync.directory.services.sync import sync_run_execute
from rollsync.directory.services.uploads import upload_store
from rollsync.domain.reports import CATALOGUE, CONTACTS, GROUPS
from rollsync.simulate import make_school_truth, write_school_export
from rollsync.simulate.snapshot import SchoolSnapshot
from tests.directory.helpers import csv_bytes, pupil, simulated_school, staff_rows
from tests.ingest.test_superstar import contact_rows, group_rows, render, staff_member, student

ORDER = ("students", "students_future", "staff", "staff_future", "contacts", "groups")
DAY1 = date(2026, 9, 7)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The reports of the uploads parsed (the real parser, counted)."""
    seen: list[str] = []
    real = ingest.parse_upload

    def counted(payload: bytes, **kw: Any) -> Any:
        seen.append(kw.get("report") or "")
        return real(payload, **kw)

    monkeypatch.setattr(ingest, "parse_upload", counted)
    yield seen


def _files(truth: SchoolSnapshot, folder: Path) -> list[tuple[str, bytes]]:
    """The school's files of `truth`, one per report, Students first, Attendance last."""
    entries = write_school_export(truth, truth.day, "csv", folder)
    order = {report: n for n, report in enumerate(ORDER)}
    entries.sort(key=lambda e: order.get(e.report, len(ORDER)))
    return [(e.report, (folder / e.path).read_bytes()) for e in entries]


def _night(school: m.School, files: list[tuple[str, bytes]], day: date) -> dict[str, m.SyncRun]:
    """Each file run in turn, after a dry run of the same bytes (a full plan: a dry run
    never skips); a file skipped must count what its full plan counts."""
    runs: dict[str, m.SyncRun] = {}
    for report, payload in files:

        def stored(data: bytes = payload, report: str = report) -> m.Upload:
            return upload_store(school=school, payload=data, fmt="csv", report=report, source="t")

        preview = sync_run_execute(upload=stored(), as_of=day, dry_run=True)
        done = sync_run_execute(upload=stored(), as_of=day)
        assert done.status == "applied", (report, done.status, done.errors, done.holds)
        if done.same_as_id is not None:
            assert done.counts == preview.counts, report
        runs[report] = done
    return runs


def _skipped(runs: dict[str, m.SyncRun]) -> set[str]:
    return {report for report, done in runs.items() if done.same_as_id is not None}


def _unlike_anyone(k: int) -> dict[str, Any]:
    return {
        "legal_given": f"Zephyrine{k}",
        "legal_family": f"Quennell{k}",
        "dob": date(2013, 2, 3 + k),
        "upn": None,
        "email": None,
        "phone": None,
        "address": None,
    }


def _churned(truth: SchoolSnapshot, *, doubtful: bool = False) -> SchoolSnapshot:
    """A day later: two pupils renamed, two left, two starters (`doubtful`: each much
    like a pupil already there, so the matcher asks a person)."""
    pupils = [p for p in truth.pupils if not p.future]
    renamed = {p.mis_id for p in pupils[:2]}
    gone = {p.mis_id for p in pupils[2:4]}
    kept = [
        dataclasses.replace(p, legal_family=p.legal_family + "-Reid") if p.mis_id in renamed else p
        for p in truth.pupils
        if p.mis_id not in gone
    ]
    starters = [
        dataclasses.replace(
            p,
            mis_id=f"{'ASK' if doubtful else 'NEW'}{k}",
            person_id=f"{'ask' if doubtful else 'new'}-{k}",
            **({"legal_given": f"Starter{k}"} if doubtful else _unlike_anyone(k)),
        )
        for k, p in enumerate(pupils[4:6])
    ]
    return dataclasses.replace(
        truth,
        day=truth.day + 1,
        pupils=kept + starters,
        links=[x for x in truth.links if x.pupil_mis_id not in gone],
        attendance=[],
    )


def test_a_per_report_school_skips_each_file_whose_reads_did_not_change(
    db: Any, tmp_path: Path, parses: list[str]
) -> None:
    truth = make_school_truth(pupils=40, seed=8)
    school = simulated_school(truth)
    school_policy_set(school=school, actor="admin", guard_unallocate_pct=100)
    files = _files(truth, tmp_path / "d1")
    reports = {report for report, _ in files}
    assert {"students", "staff", "contacts", "groups"} <= reports

    first = _night(school, files, truth.date)
    assert _skipped(first) == set()
    # The same files the next day: every one skipped. Before decision 0102 only the last
    # two were: each report's run wrote events that stopped the earlier reports' skips.
    parses.clear()
    again = _night(school, files, truth.date + timedelta(days=1))
    assert _skipped(again) == reports
    assert sorted(parses) == sorted(reports)  # the dry runs' alone

    # Pupils renamed, leaving and starting: the files that read pupils are planned; the
    # staff's are skipped.
    churn = _churned(truth)
    changed = _files(churn, tmp_path / "d2")
    night = _night(school, changed, truth.date + timedelta(days=2))
    assert night["students"].same_as_id is None
    assert night["students"].counts["updated"] == 2
    staff_reports = {r for r in reports if r.startswith("staff")}
    assert staff_reports and _skipped(night) == staff_reports
    assert not night["students"].settled_la_wide
    assert night["students"].counts["created"] == 2
    # The night after, nothing changed: every file skipped.
    after = _night(school, changed, truth.date + timedelta(days=3))
    assert _skipped(after) == reports

    # Starters the matcher asks a person about: while they are still new to the school
    # its Students file's plan matches them against everyone, so every change counts
    # (the contacts and groups runs that night): planned in full the night after. The
    # staff files are still skipped: a case opened by the Students run is a pupil's.
    doubtful = _files(_churned(churn, doubtful=True), tmp_path / "d3")
    night = _night(school, doubtful, truth.date + timedelta(days=4))
    assert night["students"].settled_la_wide and night["students"].counts["needs_matching"] == 2
    assert _skipped(night) == staff_reports
    after = _night(school, doubtful, truth.date + timedelta(days=5))
    assert after["students"].same_as_id is None
    assert reports - _skipped(after) == {"students"}


def _stored(school: m.School, report: str, rows: list[dict[str, Any]]) -> m.Upload:
    payload = csv_bytes(report, rows)
    return upload_store(school=school, payload=payload, fmt="csv", report=report, source="t")


def _staff_run(school: m.School, rows: list[dict[str, Any]], day: date) -> m.SyncRun:
    return sync_run_execute(upload=_stored(school, "staff", rows), as_of=day)


def _students_run(school: m.School, rows: list[dict[str, Any]], day: date) -> m.SyncRun:
    return sync_run_execute(upload=_stored(school, "students", rows), as_of=day)


PUPILS = [
    pupil("P1", "Ann", "Lee", "2015-01-02", year_group="3"),
    pupil("P2", "Bob", "Ray", "2015-02-03", year_group="3"),
]


def test_a_change_to_a_person_a_report_reads_plans_its_file_again(
    school: m.School, parses: list[str]
) -> None:
    school_policy_set(school=school, actor="admin", guard_unallocate_pct=100)
    staff = staff_rows("S", range(3))
    assert _students_run(school, PUPILS, DAY1).status == "applied"
    assert _staff_run(school, staff, DAY1).status == "applied"
    left = _staff_run(school, staff[:2], DAY1 + timedelta(days=1))  # S2 left: unallocated
    assert left.counts["unallocated"] == 1
    renamed = [pupil("P1", "Anne", "Lee", "2015-01-02", year_group="3"), PUPILS[1]]
    assert _students_run(school, renamed, DAY1 + timedelta(days=1)).counts["updated"] == 1
    # A pupil renamed: the same staff file skips.
    day3 = DAY1 + timedelta(days=2)
    assert _staff_run(school, staff[:2], day3).same_as_id == left.pk
    # A person restores the member of staff who left: the staff file is planned again
    # (not listed: a leaver again), read in part (the same bytes: only the people touched
    # since are built); the students file, which reads no staff, skips.
    gone = m.Account.objects.get(allocations__mis_id="S2")
    account_restore(username=gone.username, school=school, actor="admin", keep_non_mis=False)
    parses.clear()
    preview = sync_run_execute(upload=_stored(school, "staff", staff[:2]), as_of=day3, dry_run=True)
    real = _staff_run(school, staff[:2], day3)
    assert real.same_as_id is None and real.read_in_part and parses == ["staff"]
    assert real.counts == preview.counts and real.counts["unallocated"] == 1
    assert _students_run(school, renamed, day3).same_as_id is not None


def _held_to_its_reads(batch: Any, report: str) -> None:
    reads = REPORT_READS[report]
    planned = selectors.roles_planned(batch, [])
    assert planned is not None
    assert {role.value for role in planned} <= reads.roles, report
    assert (GROUPS in batch.reports) <= reads.groups, report
    assert (CONTACTS in batch.reports) <= reads.links, report


def test_every_report_file_is_read_only_where_its_reads_say(db: Any, tmp_path: Path) -> None:
    # What `REPORT_READS` says a report's plan reads, held against what the snapshot is
    # scoped by (`selectors.roles_planned`, and groups and links by the batch's reports)
    # for a simulated school's file of each report.
    truth = make_school_truth(pupils=30, seed=3)
    ref = selectors.SchoolRef(urn=truth.urn, la_code=truth.la_code, estab=truth.estab)
    assert set(REPORT_READS) == set(CATALOGUE)
    seen = set()
    for report, payload in _files(truth, tmp_path):
        batch = ingest.parse_upload(payload, fmt="csv", school=ref, report=report)
        _held_to_its_reads(batch, report)
        seen.add(report)
    assert {"students", "staff", "contacts", "groups"} <= seen
    # SIMS CommandReporter documents (read by the rollsync CSV reader's rules) likewise.
    documents = {
        "students": render([student(p) for p in truth.pupils if not p.future]),
        "staff": render([staff_member(p) for p in truth.staff]),
        "contacts": render(contact_rows(truth)),
        "groups": render(group_rows(truth)),
    }
    for report, payload in documents.items():
        batch = ingest.parse_upload(payload, fmt="sims-superstar", school=ref, report=report)
        assert batch.people or batch.memberships, report
        assert not [e for e in batch.errors if e.row is None], report
        _held_to_its_reads(batch, report)


def test_the_scoped_kinds_are_counted_kinds() -> None:
    scoped = PERSON_KINDS | GROUP_KINDS | LINK_KINDS
    assert not scoped & BOOKKEEPING
    assert len(scoped) == len(PERSON_KINDS) + len(GROUP_KINDS) + len(LINK_KINDS)


ALL = frozenset(REPORT_READS)
READ_PUPILS = frozenset({"students", "students_future", "contacts", "groups", "attendance"})
READ_STAFF = frozenset({"staff", "staff_future", "groups"})


def test_each_kind_of_event_counts_against_the_reports_that_read_what_it_changed(
    school: m.School, other_school: m.School
) -> None:
    # One event at a time after a mark, and which reports' skips it stops: each clause of
    # `touched_since` for one report's file (decision 0102).
    ann = _students_run(school, PUPILS, DAY1)
    staff = _staff_run(school, staff_rows("S", range(1)), DAY1)
    eve = {"mis_id": "C1", "legal_given_name": "Eve", "legal_family_name": "Moss"}
    contacts = _stored(school, "contacts", [{**eve, "pupil_mis_id": "P1"}])
    assert sync_run_execute(upload=contacts, as_of=DAY1).status == "applied"
    away = _students_run(other_school, [pupil("O1", "Dan", "Moss", "2014-05-06")], DAY1)
    assert {ann.status, staff.status, away.status} == {"applied"}
    placed = {a.mis_id: a.account for a in m.Allocation.objects.select_related("account").all()}
    cases: list[tuple[str, m.School, str | None, m.SyncRun | None, frozenset[str]]] = [
        ("account_updated", school, "P1", None, READ_PUPILS),
        ("account_updated", school, "S0", None, READ_STAFF),
        ("account_updated", school, "C1", None, frozenset({"contacts"})),
        ("leaver_pending", school, "P1", None, READ_PUPILS),
        # At another school, of an account placed here: as here.
        ("account_updated", other_school, "P1", None, READ_PUPILS),
        ("account_updated", other_school, "O1", None, frozenset()),
        # Here, of an account placed nowhere here, or of none: every report.
        ("account_updated", school, "O1", None, ALL),
        ("account_created", school, None, None, ALL),
        ("group_updated", school, None, None, frozenset({"groups"})),
        ("membership_added", school, "P1", None, frozenset({"groups"})),
        ("membership_added", other_school, "S0", None, frozenset({"groups"})),
        ("contact_linked", school, "C1", None, frozenset({"contacts"})),
        ("contact_unlinked", school, "P1", None, frozenset({"contacts"})),
        ("match_case_opened", school, None, ann, READ_PUPILS),
        ("match_case_opened", school, None, staff, READ_STAFF),
        ("match_case_opened", school, None, None, ALL),
        ("school_policy_changed", school, None, None, ALL),
        # A kind no report is scoped for, of an account placed here in any role.
        ("match_linked", other_school, "C1", None, ALL),
        ("attendance_recorded", school, None, None, frozenset({"attendance"})),
    ]
    for kind, where, who, by, expected in cases:
        mark = audit_mark()
        event = m.AuditEvent.objects.create(
            action=kind,
            reason="test",
            actor="test",
            school=where,
            account=placed[who] if who else None,
            run=by,
        )
        stopped = {
            report
            for report, reads in REPORT_READS.items()
            if touched_since(
                school=school,
                mark=mark,
                la_wide=False,
                attendance_read=reads_attendance(report),
                reads=reads,
            ).exists()
        }
        assert stopped == expected, (kind, where.urn, who, by)
        # A plan that matched records new to the school reads everyone: unscoped.
        if expected != ALL and kind != "attendance_recorded" and where == school:
            wide = touched_since(
                school=school, mark=mark, la_wide=True, reads=REPORT_READS["staff"]
            )
            assert wide.exists(), kind
        event.delete()
