"""A run's snapshot holds only what its plan can read (`selectors.roles_planned`,
docs/decisions/0092), and the plan is the same as from the whole school's snapshot.

A simulated LA (every MIS and file format, a school that sends one file per report among
them) is synced for several days through the real service; every plan is made twice,
from the scoped snapshot and from the whole one, and must be equal, action for action,
hold for hold, relation change for relation change."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.region import _setup_region, _simulate_la, store_file
from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.services.sync import sync_run_execute
from rollsync.domain.records import Role
from rollsync.ingest import parse_upload
from tests.directory.helpers import Compared, csv_bytes, pupil
from tests.tasks.helpers import store

DAY = date(2026, 9, 7)


def test_a_simulated_la_plans_the_same_from_the_scoped_snapshot(
    tmp_path: Path, compare_every_plan: Compared
) -> None:
    la = _simulate_la((0, 4, 5, 0.06, 0.05, str(tmp_path), 8))
    _setup_region([la])
    assert "csv" in {job["format"] for job in la["files"]}  # a school of one file per report
    days = sorted({job["day"] for job in la["files"]})
    for day in days:
        for job in (j for j in la["files"] if j["day"] == day):
            run = sync_run_execute(upload=store_file(job), as_of=date.fromisoformat(job["date"]))
            assert run.status in ("applied", "held"), (job, run.errors)
    seen = compare_every_plan
    assert seen.plans == m.SyncRun.objects.count()
    # Not vacuous: the reports that name few of the school's people read less on day 2.
    assert len(seen.scoped) >= 3 and seen.scoped["attendance"] >= 1, seen.scoped


def _staff(mis_id: str, given: str, family: str) -> dict[str, Any]:
    return {
        "mis_id": mis_id,
        "legal_given_name": given,
        "legal_family_name": family,
        "date_of_birth": "1980-02-03",
        "title": "Ms",
    }


def _school() -> m.School:
    from rollsync.directory.services.schools import school_add, school_report_set

    school = school_add(urn="300001", la_code="300", estab="2001", name="Hillside")
    for report in ("students", "staff", "groups", "contacts", "attendance"):
        school_report_set(school=school, report=report, accepted=True, actor="test")
    return school


def _batch(school: m.School, report: str, rows: list[dict[str, Any]]) -> Any:
    return parse_upload(
        csv_bytes(report, rows),
        fmt="csv",
        school=selectors.school_ref(school),
        report=report,
        today=DAY,
    )


PUPILS = [pupil(f"P{n}", name, "Okafor", "2015-03-14") for n, name in enumerate(["Ada", "Ben"])]
STAFF = [_staff("S1", "Rhian", "Pryce"), _staff("S2", "Tomos", "Lloyd")]


def test_a_staff_upload_of_known_staff_reads_the_staff_not_the_pupils(db: Any) -> None:
    school = _school()
    for report, rows in (("students", PUPILS), ("staff", STAFF)):
        run = sync_run_execute(upload=store(school, rows, report=report), as_of=DAY)
        assert run.status == "applied", run.errors
    batch = _batch(school, "staff", STAFF)
    state = selectors.directory_state_for(school=school, batch=batch)
    whole = selectors.directory_state_for(school=school, batch=batch, scoped=False)
    assert {a.role for a in state.accounts.values()} == {Role.STAFF}
    assert {a.role for a in whole.accounts.values()} == {Role.STAFF, Role.PUPIL}
    assert len(state.accounts) == 2 and len(whole.accounts) == 4
    assert {a.role for a in state.allocations} == {Role.STAFF}


GROUP_ROWS = [
    {
        "group_mis_id": "G1",
        "group_name": "7A",
        "group_kind": "registration",
        "person_role": role,
        "person_mis_id": mis_id,
        "membership_role": "teacher" if role == "staff" else "student",
    }
    for role, mis_id in (("staff", "S1"), ("pupil", "P0"), ("pupil", "P1"))
]


def test_a_record_new_to_the_school_reads_the_whole_snapshot(db: Any) -> None:
    # Every role's people (the matcher weighs them all), but no group or membership:
    # the plan of a file that carries no Groups & Classes reads neither.
    school = _school()
    for report, rows in (("students", PUPILS), ("staff", STAFF), ("groups", GROUP_ROWS)):
        done = sync_run_execute(upload=store(school, rows, report=report), as_of=DAY)
        assert done.status == "applied", done.errors
    batch = _batch(school, "staff", [*STAFF, _staff("S3", "Iolo", "Evans")])
    assert selectors.roles_planned(batch, [batch.people[-1]]) is None
    state = selectors.directory_state_for(school=school, batch=batch)
    assert {a.role for a in state.accounts.values()} == {Role.STAFF, Role.PUPIL}
    assert state.groups == [] and state.memberships == frozenset()
    whole = selectors.directory_state_for(school=school, batch=batch, scoped=False)
    assert [g.mis_id for g in whole.groups] == ["G1"] and len(whole.memberships) == 3
    groups = _batch(school, "groups", GROUP_ROWS)
    assert len(selectors.directory_state_for(school=school, batch=groups).memberships) == 3


def test_relations_read_the_people_they_name(db: Any) -> None:
    school = _school()
    sync_run_execute(upload=store(school, PUPILS, report="students"), as_of=DAY)
    contacts = _batch(school, "contacts", [])
    attendance = _batch(school, "attendance", [])
    assert selectors.roles_planned(contacts, []) == {Role.CONTACT, Role.PUPIL}
    assert selectors.roles_planned(attendance, []) == {Role.PUPIL}
    state = selectors.directory_state_for(school=school, batch=attendance)
    assert len(state.accounts) == 2
    assert state.memberships == frozenset() and state.contact_links == {}


def test_a_full_list_reads_its_roles_people_even_when_it_names_none_of_them() -> None:
    """A bundle that is a full list of pupils but names none (only staff): its plan must
    see the pupils it would make leavers (the guard then holds it)."""
    from rollsync.domain.records import ImportBatch, PersonRecord

    staff = PersonRecord(role=Role.STAFF, mis_id="S1", legal_given_name="Rhian",
                         legal_family_name="Pryce")  # fmt: skip
    batch = ImportBatch(
        source_format="oneroster",
        reports=frozenset({"students", "staff"}),
        complete_for=frozenset({Role.PUPIL, Role.STAFF}),
        people=[staff],
    )
    assert selectors.roles_planned(batch, []) == {Role.PUPIL, Role.STAFF}
    batch.rejected_keys = {(Role.CONTACT, "C1")}
    assert selectors.roles_planned(batch, []) == {Role.PUPIL, Role.STAFF, Role.CONTACT}


@pytest.mark.parametrize("extra", [[], [_staff("S3", "Iolo", "Evans")]])
def test_reading_only_the_batchs_places_here_makes_the_same_snapshot(
    db: Any, monkeypatch: pytest.MonkeyPatch, extra: list[dict[str, Any]]
) -> None:
    """The places here of the batch's MIS IDs alone, or every place here (a batch of more
    MIS IDs than one query binds): the same records are new, the same snapshot."""
    school = _school()
    for report, rows in (("students", PUPILS), ("staff", STAFF)):
        sync_run_execute(upload=store(school, rows, report=report), as_of=DAY)
    batch = _batch(school, "staff", [*STAFF, *extra])
    narrow = selectors.directory_state_for(school=school, batch=batch)
    monkeypatch.setattr(selectors, "_HERE_SLICE", 0)
    assert selectors.directory_state_for(school=school, batch=batch) == narrow
    assert len(narrow.accounts) == (4 if extra else 2)  # a new record reads every role


def test_a_night_read_in_part_plans_the_same_from_its_built_peoples_memberships(
    db: Any, tmp_path: Path, compare_every_plan: Compared
) -> None:
    """A night read in part reads the memberships of the people it builds and of the
    accounts it may touch, not those of the people it left unchanged, and plans as it
    would from all of them: a leaver's memberships end, a pupil taken out of one class
    and put in another changes those two, and no one else's changes."""
    from rollsync.directory.services.uploads import upload_store
    from tests.directory.helpers import simulated_bundle
    from tests.directory.test_partial_run import Bundle

    school, payload, day = simulated_bundle(tmp_path)

    def run(payload: bytes, on: date) -> m.SyncRun:
        stored = upload_store(school=school, payload=payload, fmt="oneroster", source="test")
        done = sync_run_execute(upload=stored, as_of=on)
        assert done.status == "applied", (done.status, done.errors, done.holds)
        return done

    run(payload, day)
    assert compare_every_plan.fewer_memberships == 0  # a first import reads them all
    bundle = Bundle(payload)
    pupils = bundle.pupils()
    leaver, mover, renamed = pupils[5], pupils[7], pupils[3]
    bundle.set_cell("users.csv", renamed, "familyName", "Renamed")
    bundle.drop_user(leaver)
    taken, put_in = bundle.move_class(mover)
    # A membership of an account with no place here (no service makes one; a plan
    # removes it, from whichever snapshot).
    placeless = m.Account.objects.create(
        username="elsewhere1", role="pupil", legal_given_name="Ola", legal_family_name="Berg"
    )
    group = m.Group.objects.filter(school=school).order_by("mis_id")[0]
    stray = m.GroupMembership.objects.create(group=group, account=placeless, role="student")
    before = set(
        m.GroupMembership.objects.filter(ended_at__isnull=True).values_list(
            "group__mis_id", "account__allocations__mis_id"
        )
    )

    run(bundle.payload(), day + timedelta(days=1))

    assert compare_every_plan.fewer_memberships == 1
    after = set(
        m.GroupMembership.objects.filter(ended_at__isnull=True).values_list(
            "group__mis_id", "account__allocations__mis_id"
        )
    )
    left = {(g, p) for g, p in before if p == leaver}
    assert left and before - after == left | {(taken, mover), (group.mis_id, None)}
    assert after - before == {(put_in, mover)}
    stray.refresh_from_db()
    assert stray.ended_at is not None
