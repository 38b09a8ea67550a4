"""Hypothesis strategies for planner properties: small schools, uploads and policies.

Small pools of names, dates, UPNs and MIS IDs, so that same names, twins, shared UPNs
and swapped birthdays come up often."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from hypothesis import strategies as st

from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import (
    AttendanceMark,
    ContactLink,
    Deletion,
    GroupKind,
    GroupRecord,
    ImportBatch,
    MembershipRecord,
    MembershipRole,
    PersonRecord,
    Role,
    RowError,
)
from rollsync.domain.reports import (
    ATTENDANCE,
    CONTACTS,
    GROUPS,
    STAFF,
    STAFF_FUTURE,
    STUDENTS,
    STUDENTS_FUTURE,
)
from rollsync.domain.state import (
    AllocationStatus,
    DirectoryState,
    ExclusionState,
    GroupState,
    OpenMatchCase,
)
from rollsync.domain.upn import make_upn

from .helpers import FAR, HERE, LOCAL, TODAY, Directory

# Small pools, so that same names, twins, shared UPNs and swapped birthdays come up often.
GIVEN = ["Amy", "Amie", "Beth", "Zoë", "Sam"]
FAMILY = ["Smith", "Smyth", "Jones"]
DOBS = [date(2015, 3, 4), date(2015, 4, 3), date(2014, 9, 1)]
UPNS = [None, make_upn("202", "2001", 15, 1), make_upn("202", "2001", 15, 2)]
EMAILS = [None, "a@example.org", "b@example.org"]
STARTS = [None, TODAY - timedelta(days=400), TODAY, TODAY + timedelta(days=20)]
LEAVES = [None, None, None, TODAY - timedelta(days=1), TODAY + timedelta(days=30)]
MIS_IDS = [str(n) for n in range(1, 9)]
# Fields an importer may mark as not clearly carried (an unreadable value, a short row).
UNKNOWABLE = [
    "middle_names",
    "date_of_birth",
    "gender",
    "upn",
    "start_date",
    "leaving_date",
    "year_group",
    "email",
]
ROLES = [Role.PUPIL, Role.STAFF, Role.CONTACT]


@st.composite
def records(draw: st.DrawFn, role: Role | None = None) -> PersonRecord:
    role = role or draw(st.sampled_from(ROLES))
    is_contact = role is Role.CONTACT
    return PersonRecord(
        role=role,
        mis_id=draw(st.sampled_from(MIS_IDS)),
        legal_given_name=draw(st.sampled_from(GIVEN)),
        legal_family_name=draw(st.sampled_from(FAMILY)),
        date_of_birth=(
            None
            if is_contact
            else draw(st.sampled_from([*DOBS, None] if role is Role.STAFF else DOBS))
        ),
        upn=draw(st.sampled_from(UPNS)) if role is Role.PUPIL else None,
        email=draw(st.sampled_from(EMAILS)),
        start_date=None if is_contact else draw(st.sampled_from(STARTS)),
        leaving_date=None if is_contact else draw(st.sampled_from(LEAVES)),
        year_group=draw(st.sampled_from([None, "7", "8"])) if role is Role.PUPIL else None,
        future=draw(st.booleans()) if not is_contact else False,
        row=draw(st.integers(1, 40)),
        middle_names=draw(st.sampled_from([None, "Jane"])),
        unknown_fields=frozenset(draw(st.sets(st.sampled_from(UNKNOWABLE), max_size=3))),
    )


@st.composite
def directories(draw: st.DrawFn) -> DirectoryState:
    d = Directory()
    keys_per_school: set[tuple[str, Role, str]] = set()
    for record in draw(st.lists(records(), max_size=8)):
        urn = draw(st.sampled_from([HERE, HERE, LOCAL, FAR]))
        mis_id = draw(st.sampled_from([record.mis_id, record.mis_id, ""]))
        if (urn, record.role, mis_id) in keys_per_school:
            continue  # one allocation per MIS ID per school
        keys_per_school.add((urn, record.role, mis_id))
        status = draw(st.sampled_from(list(AllocationStatus)))
        pending = draw(st.sampled_from([None, TODAY - timedelta(days=3)]))
        d.add(
            dataclasses.replace(record, future=False),
            urn=urn,
            status=status,
            mis_id=mis_id,
            requested_single=not mis_id,
            leaver_pending_since=pending if status is not AllocationStatus.UNALLOCATED else None,
        )
    exclusions = draw(
        st.lists(
            st.builds(
                ExclusionState,
                exclusion_id=st.integers(1, 5),
                role=st.sampled_from([None, Role.PUPIL]),
                mis_id=st.sampled_from([None, "7"]),
                given_name=st.sampled_from([None, "Sam"]),
                family_name=st.sampled_from([None, "Jones"]),
                date_of_birth=st.sampled_from([None, DOBS[2]]),
            ),
            max_size=1,
        )
    )
    cases = draw(
        st.lists(
            st.builds(OpenMatchCase, st.just(1), st.just(Role.PUPIL), st.just("6")), max_size=1
        )
    )
    # Relations the school holds: memberships and contact links of its accounts.
    here = sorted({a.account_id for a in d.allocations if a.school_urn == HERE})
    of_role = {
        role: [i for i in here if d.accounts[i].role is role] for role in (Role.PUPIL, Role.CONTACT)
    }
    memberships: frozenset[tuple[str, int, MembershipRole]] = frozenset()
    if here:
        memberships = frozenset(
            draw(
                st.sets(
                    st.tuples(
                        st.sampled_from(["G1", "G2"]),
                        st.sampled_from(here),
                        st.just(MembershipRole.STUDENT),
                    ),
                    max_size=4,
                )
            )
        )
    links: dict[tuple[int, int], tuple[int | None, bool, str | None]] = {}
    if of_role[Role.PUPIL] and of_role[Role.CONTACT]:
        pairs = st.tuples(
            st.sampled_from(of_role[Role.CONTACT]), st.sampled_from(of_role[Role.PUPIL])
        )
        links = draw(st.dictionaries(pairs, st.just((1, False, None)), max_size=3))
    groups = [
        GroupState(1, "G1", "7A", GroupKind.REGISTRATION),
        GroupState(2, "G2", "Chess", GroupKind.OTHER),
    ]
    return d.state(
        exclusions=exclusions,
        open_cases=cases,
        groups=groups if memberships else [],
        memberships=memberships,
        contact_links=links,
    )


@st.composite
def batches(draw: st.DrawFn) -> ImportBatch:
    people = draw(st.lists(records(), max_size=10))
    pupils = [p.mis_id for p in people if p.role is Role.PUPIL] or ["1"]
    contacts = [p.mis_id for p in people if p.role is Role.CONTACT] or ["1"]
    groups = [
        GroupRecord("G1", "7A", GroupKind.REGISTRATION),
        GroupRecord("G2", "Chess", GroupKind.OTHER),
    ]
    memberships = draw(
        st.lists(
            st.builds(
                MembershipRecord,
                st.sampled_from(["G1", "G2"]),
                st.just(Role.PUPIL),
                st.sampled_from([*pupils, "99"]),
                st.just(MembershipRole.STUDENT),
            ),
            max_size=4,
        )
    )
    links = draw(
        st.lists(
            st.builds(
                ContactLink,
                st.sampled_from(contacts),
                st.sampled_from(pupils),
                st.sampled_from([None, 1, 2]),
            ),
            max_size=3,
        )
    )
    marks = draw(
        st.lists(
            st.builds(
                AttendanceMark,
                st.sampled_from(pupils),
                st.just(TODAY),
                st.sampled_from(["AM", "PM"]),
                st.sampled_from(["/", "L"]),
            ),
            max_size=3,
        )
    )
    deletions = draw(
        st.lists(st.builds(Deletion, st.sampled_from(ROLES), st.sampled_from(MIS_IDS)), max_size=2)
    )
    return ImportBatch(
        source_format="test",
        reports=frozenset({STUDENTS, STUDENTS_FUTURE, STAFF, CONTACTS, GROUPS, ATTENDANCE}),
        complete_for=frozenset(draw(st.sets(st.sampled_from(ROLES)))),
        people=people,
        contact_links=links,
        groups=draw(st.sampled_from([[], groups])),
        memberships=memberships,
        attendance=marks,
        deletions=deletions,
        rejected_keys=draw(
            st.sets(st.tuples(st.sampled_from(ROLES), st.sampled_from(MIS_IDS)), max_size=2)
        ),
        errors=draw(
            st.lists(
                st.builds(
                    RowError,
                    st.integers(1, 40),
                    st.just("upn"),
                    st.just("The UPN's check letter is wrong."),
                    st.sampled_from([None, "notice"]),
                ),
                max_size=2,
            )
        ),
    )


policies = st.builds(
    SchoolPolicy,
    accepted_reports=st.sets(
        st.sampled_from([STUDENTS_FUTURE, STAFF_FUTURE, GROUPS, ATTENDANCE, STAFF])
    ).map(lambda extra: frozenset({STUDENTS, CONTACTS} | extra)),
    leaver_grace_days=st.sampled_from([0, 5]),
    today=st.just(TODAY),
)
