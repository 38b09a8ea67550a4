"""A pupil already at a local school, arriving with a date of birth mistyped by one keying
slip (and no UPN), is found: at least a question for a person, never a second account.
The look-up stays narrow: only people new to the school who come without a UPN, only
accounts bearing one of their names."""

from __future__ import annotations

from datetime import date
from typing import Any

from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.services.sync import sync_run_execute
from rollsync.domain.upn import check_letter
from rollsync.ingest import parse_upload
from tests.directory.helpers import csv_bytes, pupil
from tests.tasks.helpers import store

DAY1 = date(2026, 9, 7)
DAY2 = date(2026, 9, 8)


def upn(body: str) -> str:
    return check_letter(body) + body


HOME = {"postcode": "ME8 7BX", "address": "Flint Lodge, Station Drive, Aldergate"}


def _applied(school: m.School, rows: list[dict[str, Any]], day: date) -> m.SyncRun:
    run = sync_run_execute(upload=store(school, rows), as_of=day)
    assert run.status == "applied", run.holds
    return run


def test_a_local_pupil_with_a_mistyped_date_of_birth_keeps_her_one_account(
    school: m.School, other_school: m.School
) -> None:
    _applied(
        other_school, [pupil("A1", "Amelia", "Hartley", "2015-03-14", gender="F", **HOME)], DAY1
    )
    amelia = m.Account.objects.get()
    run = _applied(
        school, [pupil("B7", "Amelia", "Hartley", "2015-03-15", gender="F", **HOME)], DAY2
    )
    assert run.counts["created"] == 0 and run.counts["moved_in"] == 1
    assert m.Account.objects.count() == 1  # no second account for her
    placed = m.Allocation.objects.get(school=school)
    assert (placed.account, placed.mis_id) == (amelia, "B7")
    # her identity is unchanged; the school she came from is asked about the new date
    amelia.refresh_from_db()
    assert amelia.date_of_birth == date(2015, 3, 14)
    asked = m.CrossSchoolCase.objects.get()
    assert asked.changes == {"date_of_birth": ["2015-03-14", "2015-03-15"]}
    assert asked.status == "open"


def test_the_near_date_look_up_is_for_new_people_and_their_names_only(
    school: m.School, other_school: m.School
) -> None:
    _applied(
        other_school,
        [
            pupil("A1", "Amelia", "Hartley", "2015-03-14", gender="F", **HOME),
            pupil("A2", "Oscar", "Bright", "2015-03-13", gender="M"),  # near, other names
        ],
        DAY1,
    )
    _applied(school, [pupil("B1", "Noah", "Evans", "2015-04-16", gender="M")], DAY1)

    def snapshot_names(rows: list[dict[str, Any]]) -> set[str]:
        batch = parse_upload(
            csv_bytes("students", rows),
            fmt="csv",
            school=selectors.school_ref(school),
            report="students",
            today=DAY2,
        )
        assert [p.mis_id for p in batch.people] == [r["mis_id"] for r in rows], batch.errors
        state = selectors.directory_state_for(school=school, batch=batch)
        return {a.legal_given_name for a in state.accounts.values()}

    new = [pupil("B7", "Amelia", "Hartley", "2015-03-15", gender="F")]
    assert snapshot_names(new) == {"Noah", "Amelia"}  # Oscar, born a slip away, is not
    # with a UPN, the UPN is what finds her: no near-date look-up (two UPNs, two children)
    with_upn = [{**new[0], "upn": upn("202200100001")}]
    assert snapshot_names(with_upn) == {"Noah"}
    # Noah is known here by his MIS ID: no near-date look-up for him (nobody else comes)
    known = [pupil("B1", "Noah", "Evans", "2015-04-15", gender="M")]
    assert snapshot_names(known) == {"Noah"}
