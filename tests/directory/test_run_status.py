"""What a run's status says (issue 8, defects 1 to 4): an export that holds nobody fails,
a run whose every row was rejected fails, a partly rejected run says so, runs that name
people wait for the school's held people run, and a rejected run reads rejected."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add, school_report_set
from rollsync.directory.services.sync import (
    RunError,
    SyncError,
    run_approve_queue,
    sync_run_approve,
    sync_run_execute,
    sync_run_reject,
    sync_waiting_release,
    upload_store,
)
from rollsync.domain.reports import CATALOGUE
from rollsync.domain.run_status import run_view
from tests.directory.helpers import csv_bytes, pupil, snapshot
from tests.ingest.helpers import ctf_doc, ctf_pupil, folder_files, zip_of

DAY1, DAY2, DAY3 = date(2026, 9, 7), date(2026, 9, 8), date(2026, 9, 9)


@pytest.fixture
def school(db: Any) -> m.School:
    """The ingest fixtures' school (URN 123456, DfE 202/3456), accepting every report."""
    s = school_add(urn="123456", la_code="202", estab="3456", name="Hillside Primary School")
    for report in CATALOGUE:
        school_report_set(school=s, report=report, accepted=True, actor="test")
    return s


def run_of(
    school: m.School, payload: bytes, *, fmt: str = "csv", report: str = "", day: date = DAY2
) -> m.SyncRun:
    upload = upload_store(
        school=school, payload=payload, fmt=fmt, report=report, filename="f", source="test"
    )
    return sync_run_execute(upload=upload, as_of=day, actor="test")


def pupils(n: int, prefix: str = "P") -> list[dict[str, Any]]:
    given, year = ("Pupil", 2016) if prefix == "P" else ("Zebedee", 2017)
    return [
        pupil(
            f"{prefix}{i}",
            f"{given}{i}",
            f"{given}son{i}",
            f"{year}-0{1 + i % 9}-1{i % 9}",
        )
        for i in range(n)
    ]


def students(school: m.School, rows: list[dict[str, Any]], day: date = DAY1) -> m.SyncRun:
    return run_of(school, csv_bytes("students", rows), report="students", day=day)


def header_only(files: dict[str, str], keep: tuple[str, ...]) -> bytes:
    return zip_of(
        {
            name: text if name in keep else text.splitlines()[0] + "\n"
            for name, text in files.items()
        }
    )


# --- 1. an export that holds nobody ------------------------------------------------------

EMPTY_EXPORTS = {
    "csv students": ("csv", "students", csv_bytes("students", []), "lists nobody"),
    "csv staff": ("csv", "staff", csv_bytes("staff", []), "lists nobody"),
    "csv contacts": ("csv", "contacts", csv_bytes("contacts", []), "lists nobody"),
    "csv groups": ("csv", "groups", csv_bytes("groups", []), "lists no groups"),
    "ctf without pupils": (
        "ctf",
        "",
        ctf_doc("").encode(),
        "Common Transfer File (CTF XML) export lists nobody",
    ),
    "oneroster 1.2 without users": (
        "oneroster",
        "",
        header_only(folder_files("oneroster12"), ("manifest.csv", "orgs.csv")),
        "OneRoster 1.2 CSV bundle (zip) export lists nobody",
    ),
    "oneroster 1.1 without users": (
        "oneroster",
        "",
        header_only(folder_files("oneroster11"), ("manifest.csv", "orgs.csv")),
        "OneRoster 1.2 CSV bundle (zip) export lists nobody",
    ),
    "sds without users": (
        "sds",
        "",
        header_only(folder_files("sds"), ("orgs.csv", "academicSessions.csv")),
        "School Data Sync (SDS) CSV bundle (zip) export lists nobody",
    ),
}


@pytest.mark.parametrize("with_accounts", [False, True], ids=["new school", "school with pupils"])
@pytest.mark.parametrize("case", sorted(EMPTY_EXPORTS))
def test_an_export_that_holds_nobody_fails(
    school: m.School, case: str, with_accounts: bool
) -> None:
    if with_accounts:
        assert students(school, pupils(3)).status == "applied"
    before = snapshot()
    fmt, report, payload, phrase = EMPTY_EXPORTS[case]
    run = run_of(school, payload, fmt=fmt, report=report)
    assert run.status == "failed"
    [error] = [e for e in run.errors if e["row"] is None]
    assert phrase in error["message"] and "nothing was changed" in error["message"]
    assert (run.holds, run.actions) == ([], [])
    assert run.upload.outcome == "failed"
    assert snapshot()["accounts"] == before["accounts"]
    assert snapshot()["allocations"] == before["allocations"]
    assert snapshot()["groups"] == before["groups"]


@pytest.mark.parametrize("report", ["students_future", "staff_future", "attendance"])
def test_lists_that_may_rightly_be_empty_still_apply(school: m.School, report: str) -> None:
    run = run_of(school, csv_bytes(report, []), report=report)
    assert (run.status, run.errors) == ("applied", [])


def test_a_ctf_with_pupils_is_not_empty(school: m.School) -> None:
    run = run_of(school, ctf_doc(ctf_pupil()).encode(), fmt="ctf", day=date(2025, 3, 20))
    assert run.status == "applied", run.errors


# --- 2. every row rejected, some rows rejected -------------------------------------------


def marks(*pupil_ids: str) -> bytes:
    return csv_bytes(
        "attendance",
        [
            {"pupil_mis_id": p, "date": "2026-09-08", "session": session, "code": "/"}
            for p in pupil_ids
            for session in ("AM", "PM")
        ],
    )


def test_a_run_whose_every_row_was_rejected_fails(school: m.School) -> None:
    students(school, pupils(2))
    before = snapshot()
    run = run_of(school, marks("X1", "X2", "X3"), report="attendance")
    assert run.status == "failed"
    whole = [e["message"] for e in run.errors if e["row"] is None]
    assert len(whole) == 1
    assert whole[0].startswith("All 6 rows were rejected, so nothing was applied.")
    assert "The commonest reason: 2 attendance marks name pupil MIS ID X" in whole[0]
    assert run.counts["rejected"] == 6
    assert m.AttendanceMark.objects.count() == 0
    assert snapshot() == before
    assert run_view(status=run.status, counts=run.counts).label == "Failed"


def test_a_file_whose_every_row_the_importer_refused_fails(school: m.School) -> None:
    rows = [pupil("P1", "Amy", "Smith", "not a date"), pupil("P2", "Bo", "Lee", "31/31/2016")]
    run = students(school, rows)
    assert run.status == "failed"
    assert "All 2 rows were rejected" in run.errors[-1]["message"]
    assert m.Account.objects.count() == 0


def test_a_partly_rejected_run_is_applied_and_says_so(school: m.School) -> None:
    students(school, pupils(2))
    run = run_of(school, marks("P0", "X9"), report="attendance")
    assert run.status == "applied"
    assert run.counts["rejected"] == 2  # both marks of the unknown pupil
    assert m.AttendanceMark.objects.count() == 2
    view = run_view(status=run.status, counts=run.counts)
    assert (view.code, view.label, view.tone, view.clean) == (
        "applied_with_rejections",
        "Applied with 2 rejected rows",
        "amber",
        False,
    )


# --- 3. runs that wait for the school's held people run ----------------------------------


def memberships(*pupil_ids: str, group: str = "G1") -> bytes:
    return csv_bytes(
        "groups",
        [
            {
                "group_mis_id": group,
                "group_name": "Class 3A",
                "group_kind": "class",
                "person_role": "pupil",
                "person_mis_id": p,
                "membership_role": "student",
            }
            for p in pupil_ids
        ],
    )


def contacts_of(*pupil_ids: str) -> bytes:
    return csv_bytes(
        "contacts",
        [
            {
                "mis_id": f"C{p}",
                "legal_given_name": "Pat",
                "legal_family_name": f"Parent{p}",
                "pupil_mis_id": p,
            }
            for p in pupil_ids
        ],
    )


@pytest.fixture
def held(school: m.School) -> m.SyncRun:
    """Day 2: half the pupils leave and five new ones arrive (a change of year): held."""
    students(school, pupils(10))
    run = students(school, [*pupils(5), *pupils(5, "N")], day=DAY2)
    assert run.status == "held"
    assert [h["code"] for h in run.holds] == ["unallocate_share"]
    return run


def new_pupils_relations(school: m.School) -> dict[str, m.SyncRun]:
    return {
        "groups": run_of(school, memberships("N0", "N1", "P0"), report="groups"),
        "attendance": run_of(school, marks("N0", "N1"), report="attendance"),
        "contacts": run_of(school, contacts_of("N0", "N1"), report="contacts"),
    }


def test_relations_wait_for_the_held_people_run(school: m.School, held: m.SyncRun) -> None:
    before = snapshot()
    waiting = new_pupils_relations(school)
    for report, run in waiting.items():
        assert (run.status, run.waits_for_id) == ("held", held.pk), report
        [hold] = run.holds
        assert hold["code"] == "waits_for_run" and hold["run"] == held.pk
        assert hold["message"].startswith(f"Waits for run {held.pk} (Students (current))")
        assert (run.actions, run.errors, run.counts) == ([], [], {})
        view = run_view(status=run.status, counts=run.counts, waits_for=run.waits_for_id)
        assert (view.code, view.label) == ("waiting", f"Waiting for run {held.pk}")
        assert run.upload.outcome == "held"
    after = snapshot()
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }
    assert list(
        m.AuditEvent.objects.filter(action="run_waiting").values_list("run_id", flat=True)
    ) == sorted(r.pk for r in waiting.values())
    # A waiting run is not a guard hold a person approves: refused by the service, and
    # by the one every door queues approvals through, before anything is queued.
    for run in waiting.values():
        with pytest.raises(SyncError, match=f"waits for run {held.pk}"):
            sync_run_approve(run=run, actor="head")
        with pytest.raises(RunError, match=f"waits for run {held.pk}"):
            run_approve_queue(run=run, actor="head")
        run.refresh_from_db()
        assert run.status == "held"
    assert m.QueuedTask.objects.count() == 0
    # Staff are not named by any of these: a staff upload is planned as usual.
    staff = run_of(
        school,
        csv_bytes(
            "staff", [{"mis_id": "T1", "legal_given_name": "Sam", "legal_family_name": "Jones"}]
        ),
        report="staff",
    )
    assert (staff.status, staff.waits_for_id) == ("applied", None)


def test_approving_the_held_run_plans_the_waiting_runs_once(
    school: m.School, held: m.SyncRun
) -> None:
    waiting = new_pupils_relations(school)
    approved = sync_run_approve(run=held, actor="head")
    assert approved.status == "applied"
    for report, run in waiting.items():
        run.refresh_from_db()
        assert (run.status, run.waits_for_id, run.counts["rejected"]) == ("applied", None, 0), (
            report,
            run.errors,
        )
        assert (
            run.upload.outcome == "applied"
            or m.Upload.objects.get(pk=run.upload_id).outcome == "applied"
        )
    new = {a.mis_id: a.account_id for a in m.Allocation.objects.filter(mis_id__in=["N0", "N1"])}
    assert set(m.GroupMembership.objects.values_list("account_id", flat=True)) == set(
        new.values()
    ) | {m.Allocation.objects.get(mis_id="P0").account_id}
    assert m.AttendanceMark.objects.count() == 4
    assert sorted(m.ContactLink.objects.values_list("pupil_id", flat=True)) == sorted(new.values())
    assert m.AuditEvent.objects.filter(action="run_released").count() == 3
    # Nothing is applied twice: a second approval is refused, a second release finds nothing.
    audit = m.AuditEvent.objects.count()
    with pytest.raises(SyncError, match="not held"):
        sync_run_approve(run=held, actor="head")
    assert sync_waiting_release(school=school, actor="head") == []
    assert m.AuditEvent.objects.count() == audit
    assert m.GroupMembership.objects.count() == 3


def test_rejecting_the_held_run_plans_the_waiting_runs_against_the_directory_as_it_is(
    school: m.School, held: m.SyncRun
) -> None:
    groups = run_of(school, memberships("P0", "P1"), report="groups")
    assert groups.waits_for_id == held.pk
    sync_run_reject(run=held, actor="head")
    groups.refresh_from_db()
    assert (groups.status, groups.waits_for_id, groups.counts["rejected"]) == ("applied", None, 0)
    assert m.GroupMembership.objects.count() == 2
    held.refresh_from_db()
    assert held.status == "rejected" and held.upload.outcome == "rejected"


def test_a_waiting_run_waits_again_for_another_held_people_run(
    school: m.School, held: m.SyncRun
) -> None:
    staff_rows = [
        {"mis_id": f"T{i}", "legal_given_name": "Sam", "legal_family_name": f"Jones{i}"}
        for i in range(4)
    ]
    run_of(school, csv_bytes("staff", staff_rows), report="staff", day=DAY1)
    staff_held = run_of(school, csv_bytes("staff", staff_rows[:1]), report="staff")
    assert staff_held.status == "held"
    groups = run_of(school, memberships("N0"), report="groups")
    assert groups.waits_for_id == staff_held.pk  # the newest held run it names people of
    sync_run_approve(run=staff_held, actor="head")
    groups.refresh_from_db()
    assert (groups.status, groups.waits_for_id) == ("held", held.pk)
    sync_run_approve(run=held, actor="head")
    groups.refresh_from_db()
    assert (groups.status, groups.counts["rejected"]) == ("applied", 0)


def test_a_newer_upload_of_the_report_supersedes_the_waiting_one(
    school: m.School, held: m.SyncRun
) -> None:
    older = run_of(school, memberships("N0", group="OLD"), report="groups")
    newer = run_of(school, memberships("N1", group="NEW"), report="groups")
    older.refresh_from_db()
    assert older.status == "superseded"
    assert m.Upload.objects.get(pk=older.upload_id).outcome == "superseded"
    assert newer.waits_for_id == held.pk
    assert m.AuditEvent.objects.filter(run=older, action="run_superseded").count() == 1
    sync_run_approve(run=held, actor="head")
    assert list(m.Group.objects.values_list("mis_id", flat=True)) == ["NEW"]
    older.refresh_from_db()
    assert older.status == "superseded"


def test_a_run_that_overtakes_the_held_one_releases_its_waiting_runs(
    school: m.School, held: m.SyncRun
) -> None:
    groups = run_of(school, memberships("N0"), report="groups")
    assert groups.waits_for_id == held.pk
    school.guard_unallocate_pct = 100
    school.save()
    students(school, [*pupils(5), *pupils(5, "N")], day=DAY3)
    groups.refresh_from_db()
    assert (groups.status, groups.counts["rejected"]) == ("applied", 0)


def test_a_dry_run_never_waits(school: m.School, held: m.SyncRun) -> None:
    upload = upload_store(
        school=school, payload=memberships("P0"), fmt="csv", report="groups", source="test"
    )
    run = sync_run_execute(upload=upload, as_of=DAY2, dry_run=True, actor="test")
    assert (run.status, run.waits_for_id) == ("preview", None)


# --- 4. a rejected held run reads rejected -----------------------------------------------


def test_a_rejected_held_run_and_its_upload_read_rejected(
    school: m.School, held: m.SyncRun
) -> None:
    sync_run_reject(run=held, actor="head")
    held.refresh_from_db()
    assert held.status == "rejected"
    assert m.Upload.objects.get(pk=held.upload_id).outcome == "rejected"
    assert m.AuditEvent.objects.filter(run=held, action="run_rejected").count() == 1


def test_runs_list_says_rejected_rows_and_waiting(school: m.School, held: m.SyncRun) -> None:
    from tests.directory.helpers import Cli

    waiting = run_of(school, memberships("N0"), report="groups")
    sync_run_reject(run=held, actor="head")
    partial = run_of(school, marks("P0", "X9"), report="attendance")
    assert partial.counts["rejected"] == 2
    out = Cli()("runs", "list", "--school", school.urn).output
    lines = {int(line.split()[0]): line for line in out.splitlines() if line.split()[0].isdigit()}
    assert "Applied with 2 rejected rows" in lines[partial.pk]
    assert " Rejected " in lines[held.pk]
    waiting.refresh_from_db()
    assert waiting.status == "applied"
    rows = Cli().json("runs", "list", "--school", school.urn)
    by_run = {r["run"]: r for r in rows}
    assert by_run[partial.pk]["status_detail"] == "Applied with 2 rejected rows"
    assert by_run[held.pk]["status"] == "rejected"
