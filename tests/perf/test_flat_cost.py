"""A run's cost follows its own school, never the size of its LA (issue 13, goal 2).

The same school, with the same people and the same night's changes, in a small LA (3
schools) and a large one (30 schools whose pupils share its pupils' birthdays and
surnames): its run makes the same number of queries, and its snapshot holds the same
accounts, in both. What a new or changed record could be is still found: a pupil of a
local school arriving with a mistyped date of birth is moved, not made twice."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.services import settled
from rollsync.directory.services.schools import school_add
from rollsync.directory.services.sync import sync_run_execute
from rollsync.domain.upn import make_upn
from rollsync.ingest import parse_upload
from tests.concurrency.conftest import database_is_postgres
from tests.directory.helpers import csv_bytes, pupil
from tests.perf.plans import rows_read
from tests.tasks.helpers import store

DAY1 = date(2026, 9, 7)
DAY2 = date(2026, 9, 8)
HOME = {"postcode": "ME8 7BX", "address": "Flint Lodge, Station Drive, Aldergate"}
BIRTHDAYS = tuple(date(2015, month, day) for month in (3, 7, 11) for day in (4, 14, 24))


def _forename(number: int) -> str:
    """A made-up name per number (seeded letters): any two differ throughout, so no two
    pupils read as one child's names mistyped, nor share a username."""
    rng = random.Random(number)
    return "".join(
        rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(4)
    ).capitalize()


def _roster(tag: int, n: int, *, prefix: str) -> list[dict[str, Any]]:
    """`n` pupils whose birthdays come from a small shared pool, so every school of an
    LA shares them with every other (what once pulled the LA into a snapshot). Names
    are `tag`'s own: never one pupil twice, nor a clash of usernames."""
    return [
        pupil(
            f"{prefix}{k:03d}",
            _forename(tag * 100 + k),
            _forename(5_000_000 + tag * 100 + k),
            BIRTHDAYS[k % len(BIRTHDAYS)].isoformat(),
            gender="FM"[k % 2],
        )
        for k in range(n)
    ]


def _applied(school: m.School, rows: list[dict[str, Any]], day: date) -> m.SyncRun:
    run = sync_run_execute(upload=store(school, rows), as_of=day)
    assert run.status == "applied", (run.errors, run.holds)
    return run


def _la(code: str, schools: int) -> tuple[m.School, list[dict[str, Any]], m.Account]:
    """An LA of `schools` schools, loaded on day 1: the school under test (20 pupils),
    a mover's old school, and the rest. Returns the school, its day-1 roster and the
    mover's account."""
    here = school_add(urn=f"{code}001", la_code=code, estab="2001", name=f"Hillside {code}")
    rows = _roster(int(code) * 100, 20, prefix="P")
    _applied(here, rows, DAY1)
    old = school_add(urn=f"{code}002", la_code=code, estab="2002", name=f"Riverside {code}")
    mover = pupil("R1", _forename(int(code)), "Hartley", "2015-03-14", gender="F", **HOME)
    _applied(old, [mover, *_roster(int(code) * 100 + 1, 9, prefix="R9")], DAY1)
    for n in range(3, schools + 1):
        other = school_add(urn=f"{code}{n:03d}", la_code=code, estab=f"2{n:03d}", name=f"S{n}")
        _applied(other, _roster(int(code) * 100 + n, 10, prefix="S"), DAY1)
    account = m.Account.objects.get(legal_given_name=_forename(int(code)))
    return here, rows, account


def _day2(code: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The next night: one pupil renamed (known here by MIS ID, so linked by it: no
    candidate), one gone, and the mover arriving from the other school with her date
    of birth mistyped by a slip and no UPN."""
    changed = [dict(r) for r in rows[:-1]]
    changed[0]["legal_family_name"] = "Hartley-Reid"
    arriving = pupil("P900", _forename(int(code)), "Hartley", "2015-03-15", gender="F", **HOME)
    return [*changed, arriving]


def _snapshot(school: m.School, rows: list[dict[str, Any]], report: str = "students") -> Any:
    batch = parse_upload(
        csv_bytes(report, rows),
        fmt="csv",
        school=selectors.school_ref(school),
        report=report,
        today=DAY2,
    )
    assert not batch.errors, batch.errors
    return selectors.directory_state_for(school=school, batch=batch)


def test_a_runs_queries_and_snapshot_do_not_grow_with_its_la(db: Any) -> None:
    small_school, small_rows, small_mover = _la("801", 3)
    large_school, large_rows, large_mover = _la("802", 30)
    assert m.Account.objects.filter(allocations__school__la__code="802").count() == 20 + 10 + 280

    small_day2, large_day2 = _day2("801", small_rows), _day2("802", large_rows)
    small_state = _snapshot(small_school, small_day2)
    large_state = _snapshot(large_school, large_day2)
    # The school's 20 accounts and the one account its one new record could be (the
    # mover, born a slip from her record's date, bearing its names): in both LAs,
    # though every pupil of both LAs shares a birthday with a pupil of the school.
    for state, school, mover in (
        (small_state, small_school, small_mover),
        (large_state, large_school, large_mover),
    ):
        here_ids = {a.account_id for a in state.allocations_here()}
        assert len(here_ids) == 20
        assert set(state.accounts) == here_ids | {mover.pk}
        assert {a.account_id for a in state.allocations} == here_ids | {mover.pk}
        assert state.local_school_urns == {school.urn, school.urn[:3] + "002"}

    with CaptureQueriesContext(connection) as small_q:
        small_run = sync_run_execute(upload=store(small_school, small_day2), as_of=DAY2)
    with CaptureQueriesContext(connection) as large_q:
        large_run = sync_run_execute(upload=store(large_school, large_day2), as_of=DAY2)
    assert small_run.status == large_run.status == "applied"
    assert small_run.counts == large_run.counts
    assert small_run.counts["moved_in"] == 1 and small_run.counts["created"] == 0
    assert small_run.counts["updated"] == 1
    assert len(small_q.captured_queries) == len(large_q.captured_queries), (
        len(small_q.captured_queries),
        len(large_q.captured_queries),
    )
    # the mover kept her one account in both LAs
    for school, mover in ((small_school, small_mover), (large_school, large_mover)):
        assert m.Allocation.objects.get(school=school, mis_id="P900").account_id == mover.pk


def test_an_unchanged_record_brings_no_candidate(db: Any) -> None:
    """Every record known here by its MIS ID and unchanged: the snapshot is the school's
    own accounts, though every other school shares their birthdays and surnames."""
    school, rows, _ = _la("803", 6)
    state = _snapshot(school, rows)
    assert set(state.accounts) == {a.account_id for a in state.allocations_here()}
    assert len(state.accounts) == 20
    assert state.local_school_urns == {school.urn}


def _contact(mis_id: str, given: str, family: str, pupil_mis_id: str, **extra: Any) -> dict:
    return {
        "mis_id": mis_id,
        "legal_given_name": given,
        "legal_family_name": family,
        "pupil_mis_id": pupil_mis_id,
        "priority": "1",
        "relationship": "Mother",
        **extra,
    }


def test_a_new_contact_brings_in_only_who_it_could_be(db: Any) -> None:
    """A common surname alone no longer brings every such parent of the LA: only those
    with the forename, or a phone or email a local school holds for them. The parent
    herself, known at another school with her email, is still found and is one account."""
    here = school_add(urn="804001", la_code="804", estab="2001", name="Hillside 804")
    there = school_add(urn="804002", la_code="804", estab="2002", name="Riverside 804")
    _applied(here, [pupil("P1", "Amir", "Khan", "2016-05-01", gender="M")], DAY1)
    _applied(there, [pupil("Q1", "Sara", "Khan", "2013-02-11", gender="F")], DAY1)
    others = [
        _contact(f"X{n}", _forename(9_000 + n), "Khan", "Q1", priority=str(n + 2))
        for n in range(12)
    ]
    nadia = _contact("Q-C1", "Nadia", "Khan", "Q1", email="nadia@example.org")
    run = sync_run_execute(upload=store(there, [nadia, *others], report="contacts"), as_of=DAY1)
    assert run.status == "applied" and run.counts["created"] == 13, run.counts
    nadia_id = m.Account.objects.get(legal_given_name="Nadia").pk

    rows = [_contact("C1", "Nadia", "Khan", "P1", email="nadia@example.org")]
    state = _snapshot(here, rows, report="contacts")
    amir = m.Account.objects.get(legal_given_name="Amir").pk
    assert set(state.accounts) == {amir, nadia_id}  # not the twelve other Khans

    moved = sync_run_execute(upload=store(here, rows, report="contacts"), as_of=DAY2)
    assert moved.status == "applied", moved.errors
    assert moved.counts["created"] == 0 and moved.counts["moved_in"] == 1, moved.counts
    assert m.Allocation.objects.get(school=here, mis_id="C1").account_id == nadia_id
    assert m.Account.objects.filter(legal_given_name="Nadia").count() == 1


def _quiet_la(code: str, schools: int) -> m.School:
    """An LA of `schools` schools, 100 pupils at each but the school under test, whose
    people share no birthday, name or UPN with the records the test looks up: whatever
    the look-up reads beyond its index entries is the LA itself. The others are written
    directly (a plain load, not what is tested)."""
    here = school_add(urn=f"{code}001", la_code=code, estab="2001", name=f"Hillside {code}")
    _applied(here, [pupil("P1", "Amir", "Okafor", "2016-05-01", gender="M")], DAY1)
    for n in range(2, schools + 1):
        other = school_add(urn=f"{code}{n:03d}", la_code=code, estab=f"2{n:03d}", name=f"S{n}")
        accounts = m.Account.objects.bulk_create(
            m.Account(
                username=f"q{code}.{n}.{k}",
                role="pupil",
                legal_given_name=_forename(int(code) * 10_000 + n * 100 + k),
                legal_family_name=_forename(7_000_000 + int(code) * 10_000 + n * 100 + k),
                date_of_birth=date(2009, 1 + k % 12, 1 + n % 28),
                upn=make_upn(code, f"2{n:03d}", 2009, k),
            )
            for k in range(100)
        )
        m.Allocation.objects.bulk_create(
            m.Allocation(
                account=account, school=other, role="pupil", mis_id=f"S{k}", upn=account.upn
            )
            for k, account in enumerate(accounts)
        )
    return here


@pytest.mark.skipif(not database_is_postgres(), reason="PostgreSQL's query plans")
def test_the_candidate_look_up_reads_index_entries_not_the_la(db: Any) -> None:
    """New records of every kind (a pupil with a UPN, one without, a contact) whose
    values no account of the LA shares: the look-up finds nobody and reads a handful of
    rows at most, in an LA of 30 schools as in one of 3. With its clauses joined by OR
    in one WHERE, which spans the account and allocation tables and so no index can
    serve, it read 402 rows in the small LA and 6,204 in the large."""
    small, large = _quiet_la("811", 3), _quiet_la("812", 30)
    assert m.Allocation.objects.filter(school__la__code="812").count() == 1 + 2_900

    def lookup(school: m.School) -> Any:
        ref = selectors.school_ref(school)
        students = parse_upload(
            csv_bytes(
                "students",
                [
                    pupil("P1", "Amir", "Okafor", "2016-05-01", gender="M"),
                    pupil(
                        "P2",
                        "Zofia",
                        "Quillan",
                        "2016-01-10",
                        upn=make_upn(school.la.code, "2001", 2016, 7),
                    ),
                    pupil("P3", "Tobiah", "Wrenfield", "2016-02-20"),
                ],
            ),
            fmt="csv",
            school=ref,
            report="students",
            today=DAY2,
        )
        contacts = parse_upload(
            csv_bytes(
                "contacts",
                [_contact("C1", "Marisol", "Quillan", "P2", email="m.quillan@example.org")],
            ),
            fmt="csv",
            school=ref,
            report="contacts",
            today=DAY2,
        )
        assert not students.errors and not contacts.errors, (students.errors, contacts.errors)
        new = [p for p in [*students.people, *contacts.people] if p.mis_id != "P1"]
        assert {p.role.value for p in new} == {"pupil", "contact"}
        found = selectors.candidate_lookup(new, school.la_id)
        assert found is not None and list(found) == []
        return found

    # A handful of index entries at most (here none match; the planner may still walk
    # a small LA's few schools), never the 2,900 allocations of the large LA.
    tables = {"directory_account", "directory_allocation"}
    small_read, large_read = rows_read(lookup(small), tables), rows_read(lookup(large), tables)
    assert small_read <= 10 and large_read <= 10, (small_read, large_read)


@pytest.mark.skipif(not database_is_postgres(), reason="PostgreSQL's query plans")
def test_the_skips_audit_check_reads_its_school_not_the_regions_events(db: Any) -> None:
    """ "Has anything touched this school since its last run?" (the unchanged-upload
    skip) reads the school's own index entries, not the region's events since: with
    3,000 events elsewhere after the mark it reads a handful of rows. As one test of
    "school = S OR account IN (its accounts)", it read every event since the mark."""
    here = school_add(urn="821001", la_code="821", estab="2001", name="Hillside 821")
    neighbour = school_add(urn="821002", la_code="821", estab="2002", name="Riverside 821")
    far = school_add(urn="822001", la_code="822", estab="2001", name="Far 822")
    _applied(here, _roster(821, 5, prefix="P"), DAY1)
    _applied(far, _roster(822, 5, prefix="F"), DAY1)
    mark = settled.audit_mark()
    far_account = m.Allocation.objects.filter(school=far).first().account
    m.AuditEvent.objects.bulk_create(
        m.AuditEvent(action="account_updated", reason="elsewhere", actor="test", **about)
        for n in range(1_500)
        for about in ({"school": far}, {"account": far_account})
    )
    tables = {"directory_auditevent"}
    for la_wide in (False, True):
        query = settled.touched_since(school=here, mark=mark, la_wide=la_wide)
        assert not query.exists()
        assert rows_read(query, tables) <= 10, (la_wide, rows_read(query, tables))

    # What it is for still holds: an event at a neighbour counts only LA-wide; one on
    # an account placed here, or naming the school, always.
    event = m.AuditEvent.objects.create(
        action="account_updated", reason="next door", actor="test", school=neighbour
    )
    assert settled.touched_since(school=here, mark=mark, la_wide=True).exists()
    assert not settled.touched_since(school=here, mark=mark, la_wide=False).exists()
    event.delete()
    mine = m.Allocation.objects.filter(school=here).first().account
    event = m.AuditEvent.objects.create(
        action="account_updated", reason="here", actor="test", account=mine
    )
    assert settled.touched_since(school=here, mark=mark, la_wide=False).exists()
    assert not settled.touched_since(school=here, mark=event.pk, la_wide=True).exists()
    m.AuditEvent.objects.create(action="account_updated", reason="s", actor="t", school=here)
    assert settled.touched_since(school=here, mark=event.pk, la_wide=False).exists()
