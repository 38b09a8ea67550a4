"""Issue 7, the directory's part: whom the snapshot brings in (item 2), what apply may
write (items 2, 4 and `withheld`), groups and contact links ended never deleted
(item 6), and audited run decisions."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.serialize import record_to_dict
from rollsync.directory.services.accounts import (
    MatchLinkRefused,
    cross_school_case_decide,
    match_case_resolve,
)
from rollsync.directory.services.sync import (
    SyncError,
    sync_plan_apply,
    sync_run_approve,
    sync_run_execute,
    sync_run_reject,
)
from rollsync.domain.actions import ActionKind, PersonAction, Plan
from rollsync.domain.records import ImportBatch, PersonRecord, Role
from rollsync.domain.upn import check_letter
from tests.directory.helpers import pupil, snapshot
from tests.tasks.helpers import store

DAY1 = date(2026, 9, 7)
DAY2 = date(2026, 9, 8)
DAY3 = date(2026, 9, 9)


def upn(body: str) -> str:
    return check_letter(body) + body


UPN_A = upn("202200100001")  # a Northshire-style UPN body (12 digits)


def applied(school: m.School, rows: list[dict[str, Any]], day: date, **kw: Any) -> m.SyncRun:
    run = sync_run_execute(upload=store(school, rows, **kw), as_of=day)
    assert run.status == "applied", (run.status, run.errors, run.holds)
    return run


def bare_run(school: m.School, day: date = DAY2) -> m.SyncRun:
    """A run to apply a hand-made plan with (the plan is the test's, not the planner's)."""
    return m.SyncRun(upload=store(school, []), school=school, status="failed", as_of=day)


def record(mis_id: str, given: str, family: str, dob: str, **kw: Any) -> PersonRecord:
    return PersonRecord(
        role=Role.PUPIL,
        mis_id=mis_id,
        legal_given_name=given,
        legal_family_name=family,
        date_of_birth=date.fromisoformat(dob),
        **kw,
    )


def batch_of(*people: PersonRecord) -> ImportBatch:
    return ImportBatch(
        source_format="csv", reports=frozenset(), complete_for=frozenset(), people=list(people)
    )


def identity(account: m.Account) -> tuple[Any, ...]:
    account.refresh_from_db()
    return (
        account.legal_given_name,
        account.legal_family_name,
        account.middle_names,
        account.date_of_birth,
        account.gender,
        account.upn,
    )


# --- item 2: the snapshot brings in only accounts the school may link to -------------------


def test_snapshot_never_brings_in_another_las_pupil_by_upn(
    school: m.School, other_school: m.School, far_school: m.School
) -> None:
    applied(far_school, [pupil("F1", "Agnieszka", "Mazur", "2014-04-04", upn=UPN_A)], DAY1)
    far = m.Account.objects.get()
    batch = batch_of(record("X1", "Mohammex", "Patel", "2015-05-05", upn=UPN_A))
    state = selectors.directory_state_for(school=school, batch=batch)
    assert far.pk not in state.accounts
    assert state.allocations == []
    # The same UPN at a local school is brought in (the school may link to it).
    applied(other_school, [pupil("L1", "Lena", "Local", "2014-06-06", upn=UPN_A)], DAY1)
    local = m.Account.objects.get(legal_family_name="Local")
    state = selectors.directory_state_for(school=school, batch=batch)
    assert set(state.accounts) == {local.pk}


def test_a_file_holding_another_las_upn_never_offers_or_renames_that_pupil(
    school: m.School, far_school: m.School
) -> None:
    applied(far_school, [pupil("F1", "Agnieszka", "Mazur", "2014-04-04", upn=UPN_A)], DAY1)
    far = m.Account.objects.get()
    before = identity(far)
    run = sync_run_execute(
        upload=store(school, [pupil("X1", "Mohammex", "Patel", "2015-05-05", upn=UPN_A)]),
        as_of=DAY2,
    )
    assert run.status == "applied"
    assert identity(far) == before
    offered = [c["account_id"] for case in m.MatchCase.objects.all() for c in case.candidates]
    assert far.pk not in offered
    assert not m.Allocation.objects.filter(account=far, school=school).exists()


def test_a_case_that_once_offered_another_las_pupil_cannot_be_linked_to_them(
    school: m.School, far_school: m.School
) -> None:
    # A case stored before this rule (or by a planner that got it wrong) offers a far pupil.
    applied(far_school, [pupil("F1", "Agnieszka", "Mazur", "2014-04-04", upn=UPN_A)], DAY1)
    far = m.Account.objects.get()
    run = applied(school, [pupil("H1", "Hana", "Here", "2015-01-01")], DAY1)
    case = m.MatchCase.objects.create(
        school=school,
        run=run,
        role="pupil",
        mis_id="X1",
        record=record_to_dict(record("X1", "Mohammex", "Patel", "2015-05-05", upn=UPN_A)),
        candidates=[{"account_id": far.pk, "username": far.username, "score": 9.0}],
    )
    before = snapshot()
    with pytest.raises(MatchLinkRefused, match="is not at Hillside Primary or a local school"):
        match_case_resolve(case_id=case.pk, actor="admin", link_account_id=far.pk)
    assert snapshot() == before


def test_linking_to_an_account_active_at_a_local_school_keeps_its_identity(
    school: m.School, other_school: m.School
) -> None:
    applied(other_school, [pupil("A1", "Jonathan", "Khan", "2014-01-02", gender="M")], DAY1)
    jonathan = m.Account.objects.get()
    before = identity(jonathan)
    applied(school, [pupil("B7", "Jonathon", "Khan", "2014-01-02", gender="M")], DAY2)
    case = m.MatchCase.objects.get(status="open")
    assert [c["account_id"] for c in case.candidates] == [jonathan.pk]
    match_case_resolve(case_id=case.pk, actor="admin", link_account_id=jonathan.pk)
    assert identity(jonathan) == before
    placed = m.Allocation.objects.get(account=jonathan, school=school)
    assert (placed.mis_id, placed.status) == ("B7", "active")
    asked = m.CrossSchoolCase.objects.get()
    assert (asked.school, asked.holding_school, asked.account, asked.status) == (
        school,
        other_school,
        jonathan,
        "open",
    )
    assert asked.changes == {"legal_given_name": ["Jonathan", "Jonathon"]}
    assert asked.match_case == case
    # The asking school cannot agree to its own request; the holding school can.
    with pytest.raises(Exception, match="Only Riverside Academy"):
        cross_school_case_decide(case_id=asked.pk, school=school, actor="admin", agree=True)
    assert identity(jonathan) == before
    cross_school_case_decide(case_id=asked.pk, school=other_school, actor="head", agree=True)
    assert identity(jonathan) == ("Jonathon", *before[1:])
    assert list(
        m.AuditEvent.objects.filter(action="cross_school_agreed")
        .order_by("school__urn")
        .values_list("school__urn", "actor")
    ) == [(school.urn, "head"), (other_school.urn, "head")]


def test_declining_changes_nothing_and_the_same_ask_is_not_reopened(
    school: m.School, other_school: m.School
) -> None:
    applied(other_school, [pupil("A1", "Jonathan", "Khan", "2014-01-02")], DAY1)
    jonathan = m.Account.objects.get()
    applied(school, [pupil("B7", "Jonathon", "Khan", "2014-01-02")], DAY2)
    case = m.MatchCase.objects.get(status="open")
    match_case_resolve(case_id=case.pk, actor="admin", link_account_id=jonathan.pk)
    asked = m.CrossSchoolCase.objects.get()
    before = identity(jonathan)
    cross_school_case_decide(case_id=asked.pk, school=other_school, actor="head", agree=False)
    assert identity(jonathan) == before
    asked.refresh_from_db()
    assert (asked.status, asked.decided_by) == ("declined", "head")
    assert m.AuditEvent.objects.filter(action="cross_school_declined").count() == 2
    # The next night the MIS asks the same: nothing changes, no new case.
    sync_run_execute(
        upload=store(school, [pupil("B7", "Jonathon", "Khan", "2014-01-02")]), as_of=DAY3
    )
    assert identity(jonathan) == before
    assert m.CrossSchoolCase.objects.count() == 1
    with pytest.raises(Exception, match="already decided"):
        cross_school_case_decide(case_id=asked.pk, school=other_school, actor="head", agree=True)


# --- apply: `withheld`, identity of accounts active elsewhere, unknown fields ---------------


def _shared_pupil(school: m.School, other_school: m.School) -> tuple[m.Account, m.Allocation]:
    """One account active at both schools (moved in, still on the first school's roll)."""
    applied(other_school, [pupil("A1", "Sara", "Khan", "2015-03-04", year_group="2")], DAY1)
    account = m.Account.objects.get()
    here = m.Allocation.objects.create(
        account=account, school=school, role="pupil", mis_id="H1", status="active", year_group="2"
    )
    return account, here


def test_withheld_is_never_applied_and_becomes_a_cross_school_case(
    school: m.School, other_school: m.School
) -> None:
    account, here = _shared_pupil(school, other_school)
    before = identity(account)
    action = PersonAction(
        kind=ActionKind.UPDATE,
        role=Role.PUPIL,
        mis_id="H1",
        reason="Year group changed in the MIS",
        record=record("H1", "Sarah", "Khan", "2015-03-04", year_group="3"),
        account_id=account.pk,
        allocation_id=here.pk,
        changes={"year_group": ("2", "3")},
        withheld={"legal_given_name": ("Sara", "Sarah")},
    )
    run = bare_run(school)
    sync_plan_apply(run=run, plan=Plan(actions=[action]), school=school, actor="t", started=0.0)
    assert identity(account) == before
    here.refresh_from_db()
    assert here.year_group == "3"
    asked = m.CrossSchoolCase.objects.get()
    assert (asked.holding_school, asked.run, asked.changes) == (
        other_school,
        run,
        {"legal_given_name": ["Sara", "Sarah"]},
    )


def test_identity_changes_for_an_account_active_elsewhere_are_not_applied(
    school: m.School, other_school: m.School
) -> None:
    """Defence in depth: a plan whose `changes` carry identity fields of an account
    active at another school (an old planner, a bug) still does not change them."""
    account, here = _shared_pupil(school, other_school)
    before = identity(account)
    action = PersonAction(
        kind=ActionKind.UPDATE,
        role=Role.PUPIL,
        mis_id="H1",
        reason="Changed in the MIS",
        record=record("H1", "Sara", "Kahn", "2015-03-04", year_group="3"),
        account_id=account.pk,
        allocation_id=here.pk,
        changes={
            "legal_family_name": ("Khan", "Kahn"),
            "upn": (None, UPN_A),
            "year_group": ("2", "3"),
        },
    )
    sync_plan_apply(
        run=bare_run(school), plan=Plan(actions=[action]), school=school, actor="t", started=0.0
    )
    assert identity(account) == before
    here.refresh_from_db()
    assert (here.year_group, here.upn) == ("3", None)
    assert m.CrossSchoolCase.objects.get().changes == {
        "legal_family_name": ["Khan", "Kahn"],
        "upn": [None, UPN_A],
    }
    [updated] = m.AuditEvent.objects.filter(action="account_updated")
    assert updated.changes == {"year_group": ["2", "3"]}


def test_a_mover_still_at_the_first_school_keeps_her_identity(
    school: m.School, other_school: m.School
) -> None:
    applied(
        other_school,
        [pupil("A1", "Maya", "Rossi", "2015-03-04", upn=UPN_A, middle_names="Rose")],
        DAY1,
    )
    maya = m.Account.objects.get()
    before = identity(maya)
    run = sync_run_execute(
        upload=store(
            school, [pupil("H9", "Maya", "Rossi", "2015-03-04", upn=UPN_A, middle_names="Rosa")]
        ),
        as_of=DAY2,
    )
    assert run.status == "applied"
    assert identity(maya) == before
    assert m.Allocation.objects.filter(account=maya, status="active").count() == 2
    assert m.CrossSchoolCase.objects.get().changes == {"middle_names": ["Rose", "Rosa"]}


def test_a_field_the_record_does_not_carry_is_never_written(school: m.School) -> None:
    applied(
        school,
        [pupil("P1", "Amir", "Khan", "2016-01-02", upn=UPN_A, start_date="2021-09-01")],
        DAY1,
    )
    allocation = m.Allocation.objects.get()
    account = allocation.account
    garbled = record(
        "P1", "Amir", "Khan", "2016-01-02", unknown_fields=frozenset({"start_date", "upn"})
    )
    action = PersonAction(
        kind=ActionKind.UPDATE,
        role=Role.PUPIL,
        mis_id="P1",
        reason="Changed in the MIS",
        record=garbled,
        account_id=account.pk,
        allocation_id=allocation.pk,
        changes={"start_date": (date(2021, 9, 1), None), "upn": (UPN_A, None)},
    )
    sync_plan_apply(
        run=bare_run(school), plan=Plan(actions=[action]), school=school, actor="t", started=0.0
    )
    allocation.refresh_from_db()
    account.refresh_from_db()
    assert (allocation.start_date, allocation.upn, account.upn) == (date(2021, 9, 1), UPN_A, UPN_A)
    assert not m.AuditEvent.objects.filter(action="account_updated").exists()


def test_moving_back_in_keeps_stored_values_the_record_lacks(
    school: m.School, other_school: m.School
) -> None:
    applied(school, [pupil("P1", "Amir", "Khan", "2016-01-02", address="1 High St")], DAY1)
    allocation = m.Allocation.objects.get()
    allocation.status = "unallocated"
    allocation.save()
    m.Account.objects.update(status="suspended")
    lacking = record(
        "P1", "Amir", "Khan", "2016-01-02", unknown_fields=frozenset({"address", "upn"})
    )
    action = PersonAction(
        kind=ActionKind.MOVE_IN,
        role=Role.PUPIL,
        mis_id="P1",
        reason="Back",
        record=lacking,
        account_id=allocation.account_id,
        status="active",
    )
    sync_plan_apply(
        run=bare_run(school), plan=Plan(actions=[action]), school=school, actor="t", started=0.0
    )
    allocation.refresh_from_db()
    assert (allocation.status, allocation.address) == ("active", "1 High St")


def test_a_new_account_takes_no_value_for_a_field_the_record_lacks(school: m.School) -> None:
    rec = dataclasses.replace(
        record("N1", "Nia", "New", "2016-02-02", upn=UPN_A, address="garbled"),
        unknown_fields=frozenset({"upn", "address"}),
    )
    action = PersonAction(
        kind=ActionKind.CREATE, role=Role.PUPIL, mis_id="N1", reason="New", record=rec
    )
    sync_plan_apply(
        run=bare_run(school), plan=Plan(actions=[action]), school=school, actor="t", started=0.0
    )
    allocation = m.Allocation.objects.select_related("account").get()
    assert (allocation.account.upn, allocation.upn, allocation.address) == (None, None, None)


def test_a_match_link_never_writes_a_field_the_record_lacks(
    school: m.School, other_school: m.School
) -> None:
    applied(other_school, [pupil("A1", "Jonathan", "Khan", "2014-01-02")], DAY1)
    jonathan = m.Account.objects.get()
    m.Allocation.objects.filter(account=jonathan).update(status="unallocated")
    m.Account.objects.filter(pk=jonathan.pk).update(upn=UPN_A, middle_names="Ali")
    run = applied(school, [pupil("H1", "Hana", "Here", "2015-01-01")], DAY1)
    case = m.MatchCase.objects.create(
        school=school,
        run=run,
        role="pupil",
        mis_id="B7",
        record=record_to_dict(
            record(
                "B7",
                "Jonathan",
                "Khan",
                "2014-01-02",
                unknown_fields=frozenset({"upn", "middle_names"}),
            )
        ),
        candidates=[{"account_id": jonathan.pk, "username": jonathan.username, "score": 5.0}],
    )
    match_case_resolve(case_id=case.pk, actor="admin", link_account_id=jonathan.pk)
    jonathan.refresh_from_db()
    assert (jonathan.upn, jonathan.middle_names, jonathan.status) == (UPN_A, "Ali", "active")
    assert not m.CrossSchoolCase.objects.exists()  # not active elsewhere: no one to ask


# --- item 6: groups, memberships and contact links are ended, never deleted --------------

GROUPS = [("G7A", "7A", "P1"), ("G7A", "7A", "P2"), ("G7B", "7B", "P3"), ("GART", "Art", "P1")]


def _group_rows(groups: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "group_mis_id": g,
            "group_name": name,
            "group_kind": "class",
            "person_role": "pupil",
            "person_mis_id": p,
            "membership_role": "student",
        }
        for g, name, p in groups
    ]


def _apply_even_if_held(
    school: m.School, rows: list[dict[str, Any]], report: str, day: date
) -> m.SyncRun:
    run = sync_run_execute(upload=store(school, rows, report=report), as_of=day)
    if run.status == "held":  # the guard (the planner's) holds a cut export: a person approves
        run = sync_run_approve(run=run, actor="head")
    assert run.status == "applied", (run.status, run.errors)
    return run


def test_a_cut_short_groups_export_ends_rows_and_the_next_full_one_reopens_them(
    school: m.School,
) -> None:
    applied(
        school,
        [pupil(p, f"Given{p}", "Family", "2016-01-02") for p in ("P1", "P2", "P3")],
        DAY1,
    )
    applied(school, _group_rows(GROUPS), DAY1, report="groups")
    groups = {g.mis_id: g.pk for g in m.Group.objects.all()}
    memberships = set(m.GroupMembership.objects.values_list("pk", flat=True))
    assert (len(groups), len(memberships)) == (3, 4)

    _apply_even_if_held(school, _group_rows(GROUPS[:1]), "groups", DAY2)
    assert {g.mis_id: g.pk for g in m.Group.objects.all()} == groups
    assert set(m.GroupMembership.objects.values_list("pk", flat=True)) == memberships
    assert sorted(
        m.Group.objects.filter(ended_at__isnull=False).values_list("mis_id", flat=True)
    ) == [
        "G7B",
        "GART",
    ]
    assert m.GroupMembership.objects.filter(ended_at__isnull=True).count() == 1
    state = selectors.directory_state_for(school=school, batch=batch_of(), scoped=False)
    assert [g.mis_id for g in state.groups] == ["G7A"]
    assert len(state.memberships) == 1
    assert {e.action for e in m.AuditEvent.objects.filter(run__as_of=DAY2)} >= {
        "group_removed",
        "membership_removed",
    }

    _apply_even_if_held(school, _group_rows(GROUPS), "groups", DAY3)
    assert {g.mis_id: g.pk for g in m.Group.objects.all()} == groups
    assert set(m.GroupMembership.objects.values_list("pk", flat=True)) == memberships
    assert not m.Group.objects.filter(ended_at__isnull=False).exists()
    assert not m.GroupMembership.objects.filter(ended_at__isnull=False).exists()
    reopened = m.AuditEvent.objects.filter(run__as_of=DAY3)
    assert sorted(e.action for e in reopened if e.action.endswith("reopened")) == [
        "group_reopened",
        "group_reopened",
        "membership_reopened",
        "membership_reopened",
        "membership_reopened",
    ]


def _contacts(links: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "mis_id": c,
            "legal_given_name": f"Parent{c}",
            "legal_family_name": "Family",
            "pupil_mis_id": p,
            "priority": "1",
            "parental_responsibility": "true",
        }
        for c, p in links
    ]


def test_contact_links_are_ended_and_reopened_never_deleted(school: m.School) -> None:
    applied(school, [pupil(p, f"Given{p}", "Family", "2016-01-02") for p in ("P1", "P2")], DAY1)
    links = [("C1", "P1"), ("C2", "P2")]
    applied(school, _contacts(links), DAY1, report="contacts")
    pks = set(m.ContactLink.objects.values_list("pk", flat=True))
    assert len(pks) == 2
    _apply_even_if_held(school, _contacts(links[:1]), "contacts", DAY2)
    assert set(m.ContactLink.objects.values_list("pk", flat=True)) == pks
    ended = m.ContactLink.objects.get(ended_at__isnull=False)
    assert ended.pupil.allocations.get().mis_id == "P2"
    state = selectors.directory_state_for(school=school, batch=batch_of(), scoped=False)
    assert len(state.contact_links) == 1
    _apply_even_if_held(school, _contacts(links), "contacts", DAY3)
    assert set(m.ContactLink.objects.values_list("pk", flat=True)) == pks
    assert not m.ContactLink.objects.filter(ended_at__isnull=False).exists()
    assert m.AuditEvent.objects.filter(action="contact_relinked").count() == 1


# --- run decisions are audited ------------------------------------------------------------


def _held(school: m.School) -> m.SyncRun:
    ten = [pupil(str(1000 + i), f"Given{i}", f"Family{i}", "2016-01-02") for i in range(10)]
    applied(school, ten, DAY1)
    run = sync_run_execute(upload=store(school, ten[:7]), as_of=DAY2)
    assert run.status == "held"
    return run


def test_rejecting_a_held_run_is_audited_and_changes_nothing_else(school: m.School) -> None:
    run = _held(school)
    before = snapshot()
    sync_run_reject(run=run, actor="head")
    run.refresh_from_db()
    assert (run.status, run.approved_by) == ("rejected", "head")
    [event] = m.AuditEvent.objects.filter(action="run_rejected")
    assert (event.actor, event.run, event.school) == ("head", run, school)
    assert {**snapshot(), "audit": before["audit"]} == before
    with pytest.raises(SyncError, match="is rejected, not held"):
        sync_run_reject(run=run, actor="head")
    assert m.AuditEvent.objects.filter(action="run_rejected").count() == 1


def test_a_superseded_held_run_is_audited(school: m.School) -> None:
    run = _held(school)
    ten = [pupil(str(1000 + i), f"Given{i}", f"Family{i}", "2016-01-02") for i in range(10)]
    applied(school, ten, DAY3)
    with pytest.raises(SyncError, match="overtaken"):
        sync_run_approve(run=run, actor="head")
    run.refresh_from_db()
    assert run.status == "superseded"
    [event] = m.AuditEvent.objects.filter(action="run_superseded")
    assert (event.actor, event.run, event.changes) == (
        "head",
        run,
        {"status": ["held", "superseded"]},
    )


def test_the_account_page_shows_only_live_groups_and_contact_links(school: m.School) -> None:
    from rollsync.access.services import user_grant
    from rollsync.web.selectors import account_page

    applied(school, [pupil(p, f"Given{p}", "Family", "2016-01-02") for p in ("P1", "P2")], DAY1)
    applied(school, _group_rows(GROUPS[:2] + GROUPS[3:]), DAY1, report="groups")
    applied(school, _contacts([("C1", "P1"), ("C2", "P1")]), DAY1, report="contacts")
    _apply_even_if_held(school, _group_rows(GROUPS[:1]), "groups", DAY2)
    _apply_even_if_held(school, _contacts([("C1", "P1")]), "contacts", DAY2)
    user = user_grant(
        username="viewer", password="a-long-test-password", role="read_only", school=school
    ).user
    amir = m.Allocation.objects.get(school=school, role="pupil", mis_id="P1").account
    page = account_page(user=user, school=school, uid=amir.uid)
    assert page is not None
    assert [gm.group.mis_id for gm in page.memberships] == ["G7A"]
    assert [link.contact.legal_given_name for link in page.contacts] == ["ParentC1"]
    # Both ended rows are still stored.
    assert m.GroupMembership.objects.filter(account=amir).count() == 2
    assert m.ContactLink.objects.filter(pupil=amir).count() == 2
