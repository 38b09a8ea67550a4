"""An unchanged record is known without planning it again (issue 13, goal 1), and only
then: whatever changed since (the record, the account, the allocation, the exclusion
list, the date) plans it in full, and a plan is the same with fingerprints or without."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from rollsync import planning
from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.services.accounts import exclusion_add
from rollsync.directory.services.schools import school_add
from rollsync.directory.services.sync import sync_run_execute
from rollsync.domain.records import PersonRecord, Role
from rollsync.domain.state import AccountState, AccountStatus, AllocationState, AllocationStatus
from rollsync.ingest import parse_upload
from rollsync.planning import planner
from rollsync.planning.fingerprints import KnownRecords, fingerprint
from tests.directory.helpers import csv_bytes, pupil
from tests.tasks.helpers import store

DAY1 = date(2026, 9, 7)
DAY2 = date(2026, 9, 8)
ROWS = [
    pupil("P1", "Amelia", "Hartley", "2015-03-14", gender="F", year_group="5"),
    pupil("P2", "Oscar", "Bright", "2015-07-02", gender="M", year_group="5"),
    pupil("P3", "Noah", "Evans", "2014-11-30", gender="M", year_group="6"),
]


@pytest.fixture
def school(db: Any) -> m.School:
    return school_add(urn="100001", la_code="202", estab="2001", name="Hillside Primary")


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The MIS IDs the planner compared field by field (`record_changes`)."""
    seen: list[str] = []
    real = planner.record_changes

    def counting(record: Any, account: Any, allocation: Any) -> Any:
        seen.append(record.mis_id)
        return real(record, account, allocation)

    monkeypatch.setattr(planner, "record_changes", counting)
    yield seen


def _run(school: m.School, rows: list[dict[str, Any]], day: date) -> m.SyncRun:
    run = sync_run_execute(upload=store(school, rows), as_of=day)
    assert run.status == "applied", (run.errors, run.holds)
    return run


def _stored(school: m.School) -> dict[int, str]:
    return selectors.allocation_fingerprints(school=school).stored  # type: ignore[return-value]


def test_an_unchanged_record_is_planned_once_then_known(
    school: m.School, compared: list[str]
) -> None:
    _run(school, ROWS, DAY1)  # made: nothing to fingerprint yet
    assert _stored(school) == {}
    compared.clear()
    first = _run(school, ROWS, DAY2)
    assert first.counts["unchanged"] == 3
    assert sorted(compared) == ["P1", "P2", "P3"]  # compared once, and fingerprinted
    assert len(_stored(school)) == 3
    compared.clear()
    again = _run(school, ROWS, DAY2)
    assert compared == []  # known unchanged: no record compared again
    assert again.counts == first.counts
    assert again.actions == first.actions  # the same actions, reasons and all
    assert m.RecordFingerprint.objects.count() == 3


def test_a_changed_record_is_planned_and_its_fingerprint_forgotten_until_unchanged(
    school: m.School, compared: list[str]
) -> None:
    _run(school, ROWS, DAY1)
    _run(school, ROWS, DAY2)
    before = _stored(school)
    renamed = [{**ROWS[0], "legal_family_name": "Hartley-Reid"}, *ROWS[1:]]
    compared.clear()
    run = _run(school, renamed, DAY2)
    assert compared == ["P1"]  # only the changed record is compared
    assert run.counts["updated"] == 1 and run.counts["unchanged"] == 2
    assert m.Account.objects.get(allocations__mis_id="P1").legal_family_name == "Hartley-Reid"
    assert _stored(school) == before  # an update stores nothing; the old digest misses
    compared.clear()
    _run(school, renamed, DAY2)
    assert compared == ["P1"]  # unchanged now: compared once more and fingerprinted
    assert _stored(school) != before


def test_an_account_changed_by_anyone_else_is_planned_in_full(
    school: m.School, compared: list[str]
) -> None:
    _run(school, ROWS, DAY1)
    _run(school, ROWS, DAY2)
    # another writer (a person, another school's run) renames the account
    m.Account.objects.filter(allocations__mis_id="P2").update(legal_given_name="Ozzy")
    compared.clear()
    run = _run(school, ROWS, DAY2)
    assert compared == ["P2"]
    assert run.counts["updated"] == 1
    assert m.Account.objects.get(allocations__mis_id="P2").legal_given_name == "Oscar"


def test_a_changed_allocation_is_planned_in_full(school: m.School, compared: list[str]) -> None:
    _run(school, ROWS, DAY1)
    _run(school, ROWS, DAY2)
    m.Allocation.objects.filter(mis_id="P3").update(year_group="9")
    compared.clear()
    run = _run(school, ROWS, DAY2)
    assert compared == ["P3"]
    assert run.counts["updated"] == 1
    assert m.Allocation.objects.get(mis_id="P3").year_group == "6"


def test_an_exclusion_or_a_passed_leaving_date_wins_over_a_fingerprint(
    school: m.School, compared: list[str]
) -> None:
    _run(school, [*ROWS[:2], {**ROWS[2], "leaving_date": "2026-09-20"}], DAY1)
    _run(school, [*ROWS[:2], {**ROWS[2], "leaving_date": "2026-09-20"}], DAY2)
    assert len(_stored(school)) == 3
    exclusion_add(school=school, actor="t", mis_id="P1", role=Role.PUPIL)
    run = sync_run_execute(
        upload=store(school, [*ROWS[:2], {**ROWS[2], "leaving_date": "2026-09-20"}]),
        as_of=date(2026, 9, 21),
    )
    kinds = {a["mis_id"]: a["kind"] for a in run.actions}
    assert kinds["P1"] == "excluded"
    assert kinds["P3"] in ("mark_leaver", "unallocate")
    assert kinds["P2"] == "unchanged"


def test_a_plan_is_the_same_with_fingerprints_or_without(school: m.School) -> None:
    """Every action of an unchanged and of a changed night, with the digests and without."""
    _run(school, ROWS, DAY1)
    _run(school, ROWS, DAY2)
    known = selectors.allocation_fingerprints(school=school)
    assert len(known.stored) == 3
    for rows in (
        ROWS,
        [{**ROWS[0], "legal_given_name": "Amy"}, ROWS[1]],  # one renamed, one gone
    ):
        batch = parse_upload(
            csv_bytes("students", rows),
            fmt="csv",
            school=selectors.school_ref(school),
            report="students",
            today=DAY2,
        )
        state = selectors.directory_state_for(school=school, batch=batch)
        policy = selectors.school_policy(school=school, today=DAY2)
        fresh = KnownRecords(stored=dict(known.stored))
        fast = planning.plan(batch, state, policy, known=fresh)
        slow = planning.plan(batch, state, policy)
        assert fresh.matched  # the fast path was taken
        assert fast == slow


def test_a_fingerprint_ignores_the_row_and_nothing_else() -> None:
    record = PersonRecord(Role.PUPIL, "P1", "Amelia", "Hartley", row=2)
    account = AccountState(1, "ahartley.202", Role.PUPIL, AccountStatus.ACTIVE, "Amelia", "Hartley")
    allocation = AllocationState(5, 1, "100001", Role.PUPIL, "P1", AllocationStatus.ACTIVE)
    digest = fingerprint(record, account, allocation)
    assert len(digest) == 32
    assert fingerprint(dataclasses.replace(record, row=40), account, allocation) == digest
    for changed in (
        (dataclasses.replace(record, middle_names="Rose"), account, allocation),
        (dataclasses.replace(record, unknown_fields=frozenset({"gender"})), account, allocation),
        (record, dataclasses.replace(account, username="ahartley2.202"), allocation),
        (record, account, dataclasses.replace(allocation, requested_single=True)),
        (record, account, dataclasses.replace(allocation, email="a@example.org")),
    ):
        assert fingerprint(*changed) != digest
