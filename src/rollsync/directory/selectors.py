"""Reads: the directory snapshot a run plans against, and the lists commands show."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from operator import itemgetter
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from rollsync.directory import models as m
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import (
    Gender,
    GroupKind,
    ImportBatch,
    MembershipRole,
    PersonRecord,
    Role,
)
from rollsync.domain.reports import ATTENDANCE, CONTACTS, GROUPS
from rollsync.domain.state import (
    AccountState,
    AccountStatus,
    AllocationState,
    AllocationStatus,
    DirectoryState,
    ExclusionState,
    GroupState,
    OpenMatchCase,
    ResolvedCase,
    SchoolRef,
)
from rollsync.matching.normalise import near_dates
from rollsync.planning import fields as planning_fields


def school_ref(school: m.School) -> SchoolRef:
    return SchoolRef(urn=school.urn, la_code=school.la.code, estab=school.estab, name=school.name)


def upload_bytes(*, upload_id: int) -> bytes | None:
    """The stored bytes of an upload not purged, or None. On PostgreSQL read as a binary
    result: Django's cursor takes bytea as hex text, twice the file on the wire and
    decoded in the client (a 12 MB CTF in 24 ms of CPU and 52 of wall time; as binary,
    4.5 and 11). The same connection, so the same transaction."""
    if connection.vendor != "postgresql":
        found = (
            m.Upload.objects.filter(pk=upload_id, purged_at__isnull=True)
            .values_list("data", flat=True)
            .first()
        )
        return None if found is None else bytes(found)
    import psycopg
    from psycopg import sql

    connection.ensure_connection()
    query = sql.SQL("SELECT data FROM {} WHERE id = %s AND purged_at IS NULL").format(
        sql.Identifier(m.Upload._meta.db_table)
    )
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(query, (upload_id,), binary=True)
        row = cursor.fetchone()
    return None if row is None else bytes(row[0])


def school_get(*, urn: str) -> m.School:
    return m.School.objects.select_related("la", "la__region").get(urn=urn)


def school_or_la_get(
    *, urn: str | None, la_code: str | None
) -> tuple[m.School | None, m.LocalAuthority | None]:
    """The school of `urn` and the LA of `la_code`; None for one not given or not found."""
    school = m.School.objects.select_related("la").filter(urn=urn).first() if urn else None
    la = m.LocalAuthority.objects.filter(code=la_code).first() if la_code else None
    return school, la


def school_accepted_reports(*, school: m.School) -> frozenset[str]:
    return frozenset(school.accepted_reports.values_list("report", flat=True))


def school_opt_outs(*, school: m.School) -> dict[str, set[str]]:
    return _opt_outs_by_report(school.opt_outs.values_list("report", "field"))


def _opt_outs_by_report(rows: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for report, field in rows:
        out.setdefault(report, set()).add(field)
    return out


_EXCLUSION_COLUMNS = ("pk", "role", "mis_id", "given_name", "family_name", "date_of_birth")


@dataclass(frozen=True, slots=True)
class SchoolSettings:
    """The school's settings a plan reads that are written without the LA's lock, read
    once a run: the plan follows them, and the run's digest (`settled.settled_digest`)
    records them, so both name exactly the same read."""

    accepted: frozenset[str]
    opt_outs: tuple[tuple[str, str], ...]  # (report, field), sorted
    exclusions: tuple[tuple[Any, ...], ...]  # `_EXCLUSION_COLUMNS`, by pk
    connection: tuple[Any, ...] | None  # the MIS connection's connector, state, settings

    def opted_out(self) -> dict[str, set[str]]:
        return _opt_outs_by_report(self.opt_outs)


def _exclusion_states(rows: Iterable[tuple[Any, ...]]) -> list[ExclusionState]:
    return [
        ExclusionState(
            exclusion_id=pk,
            role=Role(role) if role else None,
            mis_id=mis_id,
            given_name=given,
            family_name=family,
            date_of_birth=born,
        )
        for pk, role, mis_id, given, family, born in rows
    ]


def school_settings(*, school: m.School, accepted: frozenset[str] | None = None) -> SchoolSettings:
    """Four small reads (three with `accepted`, the school's accepted reports when the
    caller has just read them)."""
    connection = (
        m.MisConnection.objects.filter(school=school)
        .values_list("connector", "state", "settings")
        .first()
    )
    return SchoolSettings(
        accepted=school_accepted_reports(school=school) if accepted is None else accepted,
        opt_outs=tuple(sorted(school.opt_outs.values_list("report", "field"))),
        exclusions=tuple(school.exclusions.order_by("pk").values_list(*_EXCLUSION_COLUMNS)),
        connection=tuple(connection) if connection is not None else None,
    )


def school_policy(
    *,
    school: m.School,
    today: date,
    acknowledged: bool = False,
    accepted: frozenset[str] | None = None,
) -> SchoolPolicy:
    """The school's settings the planner follows; `accepted`: its accepted reports, when
    the caller has just read them (one query less a run)."""
    return SchoolPolicy(
        accepted_reports=school_accepted_reports(school=school) if accepted is None else accepted,
        guard_unallocate_pct=school.guard_unallocate_pct,
        guard_rekey_pct=school.guard_rekey_pct,
        leaver_grace_days=school.leaver_grace_days,
        today=today,
        guard_acknowledged=acknowledged,
    )


# State objects are built from value tuples, not model instances: a run reads thousands
# of rows. The columns are in the order of the state's fields (account_id, allocation_id
# and school_urn read as id, id and school_id), so that a row becomes a state object by
# position, without a dict of keywords a row (tests/directory/test_state_columns.py
# holds them to it).
_ACCOUNT_COLUMNS = ("id", "username", "role", "status", *planning_fields.ACCOUNT_FIELDS)
_ALLOCATION_COLUMNS = (
    "id",
    "account_id",
    "school_id",
    "role",
    "mis_id",
    "status",
    "upn",
    "start_date",
    "leaving_date",
    "year_group",
    "registration_group",
    "source_report",
    "leaver_pending_since",
    "unallocated_at",
    "requested_single",
    *planning_fields.DETAIL_FIELDS,
)


E = TypeVar("E", bound=Enum)
_T = TypeVar("_T")


class _Members(dict[Any, E]):
    """`kind(value)` by a dict look-up, `members[value]` (a snapshot converts some
    100,000 stored values a run; the Enum call costs ten times the look-up); an unknown
    value still goes to `kind`, which refuses it as before."""

    def __init__(self, kind: type[E]) -> None:
        super().__init__((member.value, member) for member in kind)
        self.kind = kind

    def __missing__(self, value: Any) -> E:
        return self.kind(value)


_ROLE = _Members(Role)
_ACCOUNT_STATUS = _Members(AccountStatus)
_ALLOCATION_STATUS = _Members(AllocationStatus)
_GENDER = _Members(Gender)
_GROUP_KIND = _Members(GroupKind)
_MEMBERSHIP_ROLE = _Members(MembershipRole)


def _account_state(row: tuple[Any, ...]) -> AccountState:
    # By position (`_ACCOUNT_COLUMNS`): id, username, role, status, six fields as
    # stored, gender, UPN.
    return AccountState(
        row[0],
        row[1],
        _ROLE[row[2]],
        _ACCOUNT_STATUS[row[3]],
        *row[4:10],
        _GENDER[row[10]] if row[10] else None,
        row[11],
    )


def _allocation_state(row: tuple[Any, ...], urn_of: dict[int, str]) -> AllocationState:
    # By position (`_ALLOCATION_COLUMNS`): id, account, school, role, MIS ID, status,
    # five fields as stored, the source report, and the rest as stored.
    return AllocationState(
        row[0],
        row[1],
        urn_of[row[2]],
        _ROLE[row[3]],
        row[4],
        _ALLOCATION_STATUS[row[5]],
        *row[6:11],
        row[11] or None,
        *row[12:],
    )


def candidate_lookup(people: list[PersonRecord], la_id: int) -> QuerySet[Any] | None:
    """The IDs of accounts elsewhere that could be one of `people` (the records new to
    the school: their role and MIS ID not allocated there), and that the school may link
    to: placed at a local school (same LA) with the same UPN, date of birth or contact
    name; and, for a person who comes without a UPN, an account with one of the person's
    names born one keying slip away (a mistyped date of birth: `normalise.near_dates`).
    Another LA's pupil is never brought in, whatever UPN a file holds.

    One query, a UNION of the clauses: each clause starts from an index on the incoming
    values (a UPN, a date of birth, a surname), never a read of the LA. Joined by OR in
    one WHERE, the clauses span two tables, which no index serves: PostgreSQL then read
    every allocation of the LA for each night run with a new record (39 ms a run at 20
    schools an LA, growing with the LA; decision 0095)."""
    clauses = _candidate_clauses(people, la_id)
    if not clauses:
        return None
    parts = [m.Account.objects.filter(clause).values_list("id", flat=True) for clause in clauses]
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0].distinct()


def _candidate_clauses(people: list[PersonRecord], la_id: int) -> list[Q]:
    """`candidate_lookup`'s clauses: an account is a candidate when one of them holds
    for it and one of its allocations (the same allocation, where the clause names one's
    fields)."""
    upns = {p.upn for p in people if p.upn}
    dobs = {p.date_of_birth for p in people if p.date_of_birth}
    contacts = [p for p in people if p.role is Role.CONTACT]
    clauses: list[Q] = []
    # with a UPN, the UPN finds the same child; another UPN is another
    no_upn = [p for p in people if p.date_of_birth and not p.upn and p.role is not Role.CONTACT]
    if no_upn:
        near: set[date] = set()
        for p in no_upn:
            assert p.date_of_birth is not None
            near |= near_dates(p.date_of_birth)
        # Names narrow it: a night's new pupils' near dates would otherwise cover most
        # birthdays of their year groups across the LA.
        clauses.append(
            Q(date_of_birth__any_of=near - dobs, allocations__school__la_id=la_id)
            & (
                Q(legal_family_name__any_of={p.legal_family_name for p in no_upn})
                | Q(legal_given_name__any_of={p.legal_given_name for p in no_upn})
            )
        )
    if upns:
        clauses.append(Q(upn__any_of=upns, allocations__school__la_id=la_id))
        clauses.append(Q(allocations__upn__any_of=upns, allocations__school__la_id=la_id))
    if dobs:
        clauses.append(Q(date_of_birth__any_of=dobs, allocations__school__la_id=la_id))
    if contacts:
        clauses.append(_contact_clause(contacts, la_id))
    return clauses


def _contact_clause(contacts: list[PersonRecord], la_id: int) -> Q:
    """Local contacts a new contact could be: the same surname and something more that
    the engine needs before it even asks (a name alone never links nor asks): the same
    forename (or its first part), or a phone, email or postcode a local school holds
    for them. A common surname alone no longer brings in every such parent of the LA."""
    givens = {p.legal_given_name for p in contacts}
    givens |= {g.split()[0] for g in givens if g.split()}
    givens |= {p.preferred_given_name for p in contacts if p.preferred_given_name}
    details = Q(legal_given_name__any_of=givens)
    for name in ("phone", "email", "postcode"):
        values = {v for p in contacts if (v := getattr(p, name))}
        if values:
            details |= Q(**{f"allocations__{name}__any_of": values})
    return (
        Q(
            role=Role.CONTACT.value,
            legal_family_name__any_of={p.legal_family_name for p in contacts},
            allocations__school__la_id=la_id,
        )
        & details
    )


_FIND_SLICE = 1000  # records whose candidates are looked up in one query
_HERE_SLICE = 900  # MIS IDs whose places here are read in one query (`in_chunks`'s size)


def roles_planned(batch: ImportBatch, to_find: list[PersonRecord]) -> frozenset[Role] | None:
    """The roles of the school's people that a plan of `batch` can read, or None for
    every role. A record new to the school may be matched, and the matcher weighs the
    whole snapshot (forenames over every role, households by contact links), so it gets
    all of it. Otherwise the plan reads only the people the batch names (its records, its
    refused rows, its deletions, the people a partial batch lists unchanged), the roles
    it is a full list of (leavers) and the people its relations name: a Staff upload of
    a school whose staff are all known reads its staff, not its pupils and their
    contacts (docs/decisions/0092)."""
    if to_find:
        return None
    roles = {p.role for p in batch.people} | set(batch.complete_for)
    roles |= {role for role, _ in batch.rejected_keys} | {d.role for d in batch.deletions}
    roles |= {role for role, _ in batch.unchanged_keys}
    if GROUPS in batch.reports:
        roles |= {member.person_role for member in batch.memberships}
    if CONTACTS in batch.reports:
        roles |= {Role.CONTACT, Role.PUPIL}
    if ATTENDANCE in batch.reports:
        roles.add(Role.PUPIL)
    return frozenset(roles)


def directory_state_for(
    *,
    school: m.School,
    batch: ImportBatch,
    scoped: bool = True,
    settings: SchoolSettings | None = None,
) -> DirectoryState:
    """The snapshot a run plans against: the school's own allocations and accounts (and
    their places elsewhere), the accounts a person decided records are, and the few
    accounts of the LA that the batch's records new to the school could be, found by
    index look-ups (`candidate_lookup`). Its size and its number of queries follow the
    school and its new records, never the size of the LA or the region.

    With `scoped` (always, but in the test that proves it changes no plan), only the
    roles the plan can read (`roles_planned`), and groups and memberships only for an
    upload that carries Groups & Classes (also when it has records to match), contact
    links only for one that carries Contacts or has records to match: the same plan
    from a smaller read (a school that sends one file per report reads its whole
    snapshot once a night, not seven times).
    `settings`: the school's settings when the caller has read them (its exclusions)."""
    ref = school_ref(school)
    # Only the batch's own MIS IDs are asked about here: read their places alone (a
    # night's changed records are a few of the school's thousands of places), or every
    # place here for a batch of more MIS IDs than one query may bind.
    mis_ids = sorted({p.mis_id for p in batch.people if p.mis_id})
    here_rows = m.Allocation.objects.filter(school=school)
    if len(mis_ids) <= _HERE_SLICE:
        here_rows = here_rows.filter(mis_id__in=mis_ids)
    here = (
        {(role, mis_id) for role, mis_id in here_rows.values_list("role", "mis_id") if mis_id}
        if mis_ids
        else set()
    )
    # A record known here by its MIS ID is linked by that MIS ID before any evidence is
    # weighed (changed or not): only the others need candidates.
    to_find = [p for p in batch.people if (p.role.value, p.mis_id) not in here]
    roles = roles_planned(batch, to_find) if scoped else None
    placed = m.Allocation.objects.filter(school=school)
    if roles is not None:
        placed = placed.filter(role__in=sorted(r.value for r in roles))
    # The school's accounts (of those roles) and all their allocations, by join: one
    # query each.
    accounts = {
        row[0]: _account_state(row)
        for row in m.Account.objects.filter(pk__in=placed.values("account_id")).values_list(
            *_ACCOUNT_COLUMNS
        )
    }
    allocation_rows = list(
        m.Allocation.objects.filter(account_id__in=placed.values("account_id")).values_list(
            *_ALLOCATION_COLUMNS
        )
    )
    col = {name: n for n, name in enumerate(_ALLOCATION_COLUMNS)}
    resolved, open_cases = _match_cases(school)
    wanted = {
        c.account_id
        for c in resolved
        if c.account_id is not None and (roles is None or c.role in roles)
    } - accounts.keys()
    # On SQLite in slices of records: a first import's look-up values (UPNs, dates,
    # names, a new contact's phones and emails) stay within its bound on parameters.
    for part in bound_slices(to_find, _FIND_SLICE):
        found = candidate_lookup(list(part), school.la_id)
        if found is not None:
            wanted |= set(found)
    wanted -= accounts.keys()
    if wanted:
        accounts.update(
            (row[0], _account_state(row))
            for row in in_chunks(m.Account.objects.values_list(*_ACCOUNT_COLUMNS), wanted)
        )
        allocation_rows.extend(
            in_chunks(
                m.Allocation.objects.values_list(*_ALLOCATION_COLUMNS), wanted, field="account_id"
            )
        )
    schools = {
        pk: (urn, la_id)
        for pk, urn, la_id in m.School.objects.filter(
            pk__in={row[col["school_id"]] for row in allocation_rows} | {school.pk}
        ).values_list("pk", "urn", "la_id")
    }
    urn_of = {pk: urn for pk, (urn, _) in schools.items()}
    # The local schools the snapshot's allocations are at: all `index.location` asks.
    local_urns = frozenset(urn for urn, la_id in schools.values() if la_id == school.la_id)
    allocation_rows.sort(key=itemgetter(0))  # by allocation_id, as the state keeps them
    allocations = [_allocation_state(row, urn_of) for row in allocation_rows]
    touched_dates = {mark.date for mark in batch.attendance}
    memberships: frozenset[tuple[str, int, MembershipRole]] = frozenset()
    membership_count = None
    # Groups and memberships only for a plan that reads them: one of an upload carrying
    # Groups & Classes (the matcher reads neither: a Students file with a starter to
    # match read every membership of the school's staff and contacts).
    reads_groups = not scoped or GROUPS in batch.reports
    if reads_groups:
        left_out = (
            _left_out_accounts(allocation_rows, school.pk, batch.unchanged_keys)
            if scoped
            else set()
        )
        # Accounts placed here only in a role the snapshot does not read (a contact, for
        # a Groups & Classes file) are not among its accounts: their memberships are
        # read apart.
        unread = frozenset(Role) - roles if roles is not None else frozenset()
        memberships, membership_count = _memberships(
            school, accounts.keys() - left_out, left_out, unread_roles=unread
        )
    return DirectoryState(
        school=ref,
        local_school_urns=local_urns,
        accounts=accounts,
        allocations=allocations,
        exclusions=_exclusion_states(
            settings.exclusions
            if settings is not None
            else school.exclusions.order_by("pk").values_list(*_EXCLUSION_COLUMNS)
        ),
        resolved_cases=resolved,
        open_cases=open_cases,
        groups=[
            GroupState(group_id, mis_id, name, _GROUP_KIND[kind])
            for group_id, mis_id, name, kind in school.groups.filter(ended_at__isnull=True)
            .order_by("mis_id")
            .values_list("pk", "mis_id", "name", "kind")
        ]
        if reads_groups
        else [],
        memberships=memberships,
        membership_count=membership_count,
        contact_links={
            (c, p): (prio, pr, rel)
            for c, p, prio, pr, rel in school.contact_links.filter(
                ended_at__isnull=True
            ).values_list(
                "contact_id", "pupil_id", "priority", "parental_responsibility", "relationship"
            )
        }
        if roles is None or CONTACTS in batch.reports
        else {},
        attendance={
            (acc, d, s): code
            for acc, d, s, code in school.attendance.filter(date__in=touched_dates).values_list(
                "account_id", "date", "session", "code"
            )
        }
        if touched_dates
        else {},
    )


def _left_out_accounts(
    allocation_rows: list[tuple[Any, ...]], school_id: int, unchanged: frozenset[tuple[Role, str]]
) -> set[int]:
    """The accounts here of the people a batch read in part left unchanged: those the
    plan keeps as they are, relations and all (`planning.unchanged_accounts`; one place
    here per MIS ID, as the database holds it), so no plan of the batch reads their
    memberships. A record of the batch that links to one, moves into it or re-keys it
    has the batch read again with that person built (`planning.unsafe_unchanged`)."""
    if not unchanged:
        return set()
    col = {name: n for n, name in enumerate(_ALLOCATION_COLUMNS)}
    at_account, at_school, at_role, at_mis = (
        col["account_id"],
        col["school_id"],
        col["role"],
        col["mis_id"],
    )
    return {
        row[at_account]
        for row in allocation_rows
        if row[at_school] == school_id
        and row[at_mis]
        and (_ROLE[row[at_role]], row[at_mis]) in unchanged
    }


_MEMBERSHIP_COLUMNS = ("group__mis_id", "account_id", "role")


def _memberships(
    school: m.School,
    read: Iterable[int],
    left_out: set[int],
    *,
    unread_roles: frozenset[Role] = frozenset(),
) -> tuple[frozenset[tuple[str, int, MembershipRole]], int | None]:
    """The school's live group memberships, and how many there are in all when some
    are not read (None: every one is). With `left_out` (`_left_out_accounts`), those
    of its accounts are not read: only those of the snapshot's other accounts (`read`),
    of accounts placed here in a role of `unread_roles` (the snapshot holds none of
    those) and of accounts with no place here at all (which a plan removes). A churn
    night of a 5,000-pupil school read its 42,334 memberships to plan about 125
    people's."""
    live = m.GroupMembership.objects.filter(
        group__school=school, group__ended_at__isnull=True, ended_at__isnull=True
    )
    if not left_out:
        rows = list(live.values_list(*_MEMBERSHIP_COLUMNS))
        count = None
    else:
        rows = in_chunks(live.values_list(*_MEMBERSHIP_COLUMNS), read, field="account_id")
        here = m.Allocation.objects.filter(school=school)
        placed_here = Q(account_id__in=here.values("account_id"))
        # One scan counts them all, those of accounts with no place here and those of
        # accounts placed in a role not read (nearly always none: then they are not
        # asked for).
        counted = {"every": Count("pk"), "placeless": Count("pk", filter=~placed_here)}
        apart = {"placeless": ~placed_here}
        if unread_roles:
            roles = sorted(r.value for r in unread_roles)
            apart["unread"] = Q(account_id__in=here.filter(role__in=roles).values("account_id"))
            counted["unread"] = Count("pk", filter=apart["unread"])
        counts = live.aggregate(**counted)
        count = counts["every"]
        for name, which in apart.items():
            if counts[name]:
                rows.extend(live.filter(which).values_list(*_MEMBERSHIP_COLUMNS))
    return frozenset(
        (group, account, _MEMBERSHIP_ROLE[role]) for group, account, role in rows
    ), count


def _match_cases(school: m.School) -> tuple[list[ResolvedCase], list[OpenMatchCase]]:
    """This school's needs-matching queue, in one read: the decisions people made on it,
    so the matcher never asks again, never links elsewhere, never links to a rejected
    candidate; and the cases still open, so no second case is opened."""
    out: list[ResolvedCase] = []
    still_open: list[OpenMatchCase] = []
    decided = (m.MatchCase.Status.LINKED, m.MatchCase.Status.CREATED)
    wanted = (*decided, m.MatchCase.Status.OPEN)
    for case in school.match_cases.filter(status__in=wanted).order_by("pk"):
        if case.status == m.MatchCase.Status.OPEN:
            still_open.append(
                OpenMatchCase(case_id=case.pk, role=Role(case.role), mis_id=case.mis_id)
            )
            continue
        offered = {c["account_id"] for c in case.candidates if c.get("account_id") is not None}
        out.append(
            ResolvedCase(
                case_id=case.pk,
                role=Role(case.role),
                mis_id=case.mis_id,
                decision=case.status,
                account_id=case.resolved_account_id,
                rejected_account_ids=frozenset(offered - {case.resolved_account_id}),
            )
        )
    return out, still_open


def bound_slices(values: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """`values` in slices of `size` where the database bounds a statement's parameters
    (SQLite), else whole: on PostgreSQL `any_of` sends them as one array (none: none)."""
    if connection.features.max_query_params is None:
        if values:
            yield values
        return
    for start in range(0, len(values), size):
        yield values[start : start + size]


def in_chunks(
    qs: QuerySet[Any], ids: Iterable[Any], *, field: str = "pk", size: int = 900
) -> list[Any]:
    """The rows of `qs` whose `field` is one of `ids`: one query, or (SQLite) one a slice."""
    out: list[Any] = []
    for part in bound_slices(sorted(ids), size):
        out.extend(qs.filter(**{f"{field}__any_of": part}))
    return out


def named_or_all(qs: QuerySet[Any], names: set[str], *, field: str) -> Iterable[Any]:
    """The rows of `qs` whose `field` is one of `names`, or every row of `qs` when
    there are more than `_HERE_SLICE` names (a first import names them all)."""
    return in_chunks(qs, names, field=field) if len(names) <= _HERE_SLICE else qs


# --- lists for commands and pages -------------------------------------------------


def allocations_at_school(*, school: m.School, status: str | None = None) -> QuerySet[m.Allocation]:
    qs = m.Allocation.objects.filter(school=school).select_related("account")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by(
        "account__legal_family_name", "account__legal_given_name", "account__username"
    )


def run_get(*, run_id: int) -> m.SyncRun:
    return m.SyncRun.objects.select_related("school", "upload").get(pk=run_id)


def match_cases_open(*, school: m.School) -> QuerySet[m.MatchCase]:
    return m.MatchCase.objects.filter(school=school, status=m.MatchCase.Status.OPEN).order_by("pk")


def cross_school_cases_open(*, school: m.School) -> QuerySet[m.CrossSchoolCase]:
    """Identity changes waiting for agreement that involve the school: asked by it, or
    on an account it holds. Tenancy is the caller's (`access.selectors.restrict`)."""
    return (
        m.CrossSchoolCase.objects.filter(
            Q(school=school) | Q(holding_school=school), status=m.CrossSchoolCase.Status.OPEN
        )
        .select_related("school", "holding_school", "account")
        .order_by("pk")
    )


def live_groups(*, school: m.School) -> QuerySet[m.Group]:
    return m.Group.objects.filter(school=school, ended_at__isnull=True).order_by("mis_id")


def live_memberships(*, school: m.School) -> QuerySet[m.GroupMembership]:
    return m.GroupMembership.objects.filter(
        group__school=school, group__ended_at__isnull=True, ended_at__isnull=True
    )


def live_contact_links(*, school: m.School) -> QuerySet[m.ContactLink]:
    return m.ContactLink.objects.filter(school=school, ended_at__isnull=True)


def accounts_by_ids(ids: Iterable[int]) -> dict[int, m.Account]:
    return {a.pk: a for a in in_chunks(m.Account.objects.all(), ids)}


def audit_change_lines(events: Iterable[m.AuditEvent]) -> dict[int, list[str]]:
    """Each event's `changes` as lines with the real values (`audit.change_lines`); a
    school an old event names by URN reads as the school's name."""
    from rollsync.directory.services.audit import change_lines

    events = list(events)
    urns = {
        str(e.changes["school"])
        for e in events
        if isinstance(e.changes, dict) and isinstance(e.changes.get("school"), str | int)
    }
    names = dict(m.School.objects.filter(urn__in=urns).values_list("urn", "name")) if urns else {}
    return {
        e.pk: change_lines(e.changes if isinstance(e.changes, dict) else {}, school_names=names)
        for e in events
    }


_GONE_KINDS = frozenset({"mark_leaver", "unallocate"})


def latest_export_listing(
    *, school: m.School, role: str, mis_id: str
) -> tuple[m.SyncRun, bool] | None:
    """The school's latest export of `role`'s people (the newest applied or held run
    whose plan holds anyone of that role) and whether it lists MIS ID `mis_id` as there
    (not leaving). None when no export of that role was ever run."""
    found = latest_exports(school=school).get(role)
    return None if found is None else (found[0], mis_id in found[1])


def non_mis_kept_events(*, school: m.School, account_ids: Iterable[int]) -> dict[int, m.AuditEvent]:
    """The latest decision to keep each account as non-MIS at the school (by account)."""
    kept: dict[int, m.AuditEvent] = {}
    for event in m.AuditEvent.objects.filter(
        school=school, action="non_mis_kept", account_id__in=list(account_ids)
    ).order_by("at", "pk"):
        assert event.account_id is not None
        kept[event.account_id] = event
    return kept


def latest_exports(*, school: m.School) -> dict[str, tuple[m.SyncRun, frozenset[str]]]:
    """Per role: the school's latest export of that role (as `latest_export_listing`)
    and the MIS IDs it lists as there. A run read in part (`SyncRun.read_in_part`) has
    actions only for the people it built: who it lists is those, over what the runs
    before it list, back to the last run planned in full."""
    out: dict[str, tuple[m.SyncRun, frozenset[str]]] = {}
    # Per role still being read back: its latest export, and each MIS ID's newest word.
    pending: dict[str, tuple[m.SyncRun, dict[str, bool]]] = {}
    runs = (
        m.SyncRun.objects.filter(
            school=school, status__in=(m.SyncRun.Status.APPLIED, m.SyncRun.Status.HELD)
        )
        .only("pk", "status", "as_of", "created_at", "actions", "read_in_part")
        .order_by("-created_at", "-pk")
    )
    for run in runs.iterator(chunk_size=10):
        roles = {str(a.get("role")) for a in run.actions if a.get("role")} - out.keys()
        for role in roles:
            there = pending.setdefault(role, (run, {}))[1]
            for a in run.actions:
                if a.get("role") == role:
                    there.setdefault(str(a.get("mis_id")), a.get("kind") not in _GONE_KINDS)
            if not run.read_in_part:
                latest, _ = pending.pop(role)
                out[role] = (latest, frozenset(i for i, listed in there.items() if listed))
        if len(out) == 3:
            break
    return out


def kept_non_mis_for_run(*, run: m.SyncRun) -> list[tuple[m.Allocation, m.AuditEvent]]:
    """Accounts a person kept as non-MIS at the run's school before the run, still placed
    there with no MIS ID, that the run's export does not list: the run left them alone
    because of that decision (shown with the run, so no decision is reversed unseen)."""
    kept: dict[int, m.AuditEvent] = {}
    for event in m.AuditEvent.objects.filter(
        school_id=run.school_id, action="non_mis_kept", at__lte=run.created_at
    ).order_by("at", "pk"):
        if event.account_id is not None:
            kept[event.account_id] = event
    if not kept:
        return []
    # A run that skipped an unchanged file stands on the plan of the run it names.
    planned = run.same_as if run.same_as_id is not None else run
    roles = _roles_planned(planned)
    places = (
        m.Allocation.objects.filter(school_id=run.school_id, account_id__in=kept, mis_id="")
        .exclude(status="unallocated")
        .select_related("account")
        .order_by("account__legal_family_name", "account__legal_given_name", "pk")
    )
    return [(p, kept[p.account_id]) for p in places if p.role in roles]


def _roles_planned(run: m.SyncRun) -> set[str]:
    """The roles of the people a run's plan listed: those of its actions, and for a run
    read in part (whose actions are only the people it built: a night of the same bytes
    may build nobody) those of the runs of its report before it, back to the last one
    planned in full."""
    roles = {str(a.get("role")) for a in run.actions if a.get("role")}
    if not run.read_in_part:
        return roles
    before = (
        m.SyncRun.objects.filter(
            school_id=run.school_id,
            upload__report=run.upload.report,
            same_as__isnull=True,
            status__in=(m.SyncRun.Status.APPLIED, m.SyncRun.Status.HELD),
            pk__lt=run.pk,
        )
        .only("pk", "actions", "read_in_part")
        .order_by("-pk")
    )
    for earlier in before.iterator(chunk_size=10):
        roles.update(str(a.get("role")) for a in earlier.actions if a.get("role"))
        if not earlier.read_in_part:
            break
    return roles


def connection_status(*, school: m.School) -> dict[str, Any]:
    """A school's MIS connection as every door shows it (`rollsync mis status --json`,
    AutoUpdate Settings, the API): no secret, only which secrets are set."""
    from rollsync.connectors import connector_class
    from rollsync.domain.connection_status import connection_view

    conn = m.MisConnection.objects.filter(school=school).first()
    if conn is None:
        agent = _push_mis(school.mis, agent=True)
        view = connection_view(state=None, push=_push_mis(school.mis), agent=agent)
        return {
            "school": school.urn,
            "mis": school.mis or None,
            "connector": None,
            "state": view.state,
            "light": view.light,
            "status": view.words,
            "last_pull": None,
            "next_pull": None,
            "schedule": None,
            "last_error": None,
            "settings": {},
            "secrets_set": [],
            "push": _push_mis(school.mis),
            "agent": agent_summary(school=school, conn=None) if agent else None,
        }
    cls = connector_class(conn.connector)
    push_inputs = push_light_inputs(
        connector=conn.connector,
        last_pull_at=conn.last_pull_at,
        settings=conn.settings,
        last_contact_at=conn.last_contact_at,
        agent_status=conn.agent_status,
    )
    push = bool(push_inputs)
    view = connection_view(
        state=conn.state,
        failures=conn.failures,
        credentials_refused=conn.credentials_refused,
        last_outcome=conn.last_outcome,
        last_error=conn.last_error,
        **push_inputs,
    )
    secret_names = [f.name for f in cls.fields if f.secret] if cls else []
    return {
        "school": school.urn,
        "mis": school.mis or None,
        "connector": conn.connector,
        "label": cls.label if cls else conn.connector,
        "state": view.state,
        "light": view.light,
        "status": view.words,
        "last_pull": (
            {"at": conn.last_pull_at.isoformat(), "outcome": conn.last_outcome}
            if conn.last_pull_at
            else None
        ),
        "next_pull": conn.next_pull_at.isoformat() if conn.next_pull_at else None,
        "schedule": conn.schedule,
        "failures": conn.failures,
        "last_error": conn.last_error or None,
        # a licence key's hash is no setting a person needs (nor anyone else)
        "settings": {k: v for k, v in conn.settings.items() if not k.endswith("_sha256")},
        # which secrets are stored (never their values)
        "secrets_set": secret_names if bytes(conn.secrets) else [],
        "connected_by": conn.connected_by,
        # the MIS pushes (Bromcom): `last_pull` is its last push; the password is only a hash
        "push": push,
        # the rollsync agent (SIMS): its licence key's hint, last contact and report
        "agent": agent_summary(school=school, conn=conn) if cls is not None and cls.agent else None,
    }


def agent_summary(*, school: m.School, conn: m.MisConnection | None) -> dict[str, Any]:
    """The rollsync agent of a SIMS school as the doors show it: the licence key's last
    characters and when it was issued (never the key), the last contact, what the agent
    last reported (version, host, its four lights, last run), and the last upload."""
    from rollsync.connectors.sims import SOURCE as AGENT_SOURCE

    settings = conn.settings if conn is not None else {}
    status = conn.agent_status if conn is not None and isinstance(conn.agent_status, dict) else {}
    last = (
        m.Upload.objects.filter(school=school, source=AGENT_SOURCE)
        .defer("data")
        .order_by("-received_at", "-pk")
        .first()
    )
    return {
        "licence_hint": settings.get("licence_hint") or None,
        "licence_issued_at": settings.get("credentials_issued_at") or None,
        "last_contact": conn.last_contact_at.isoformat()
        if conn is not None and conn.last_contact_at
        else None,
        "version": status.get("agent_version"),
        "hostname": status.get("hostname"),
        "platform": status.get("platform"),
        "python": status.get("python"),
        "lights": status.get("lights") or {},
        "last_run": status.get("last_run"),
        "queued": status.get("queued"),
        "reported_at": status.get("reported_at"),
        "last_upload": {
            "upload": last.pk,
            "report": last.report,
            "received_at": last.received_at.isoformat(),
            "outcome": last.outcome,
        }
        if last is not None
        else None,
    }


def push_light_inputs(
    *,
    connector: str | None,
    last_pull_at: datetime | None,
    settings: Any,
    last_contact_at: datetime | None = None,
    agent_status: Any = None,
) -> dict[str, Any]:
    """What `connection_view` needs for a push connection (Bromcom): its last push, when
    its credentials were issued, and now, in the LA's time; for the rollsync agent (SIMS)
    its last contact and the lights it reported; {} for a pull connection."""
    from rollsync.connectors import connector_class

    cls = connector_class(connector or "")
    if cls is None or not cls.push:
        return {}
    if cls.agent:
        lights = agent_status.get("lights") if isinstance(agent_status, dict) else None
        return {
            "agent": True,
            "last_contact_at": timezone.localtime(last_contact_at) if last_contact_at else None,
            "agent_lights": lights if isinstance(lights, dict) else {},
            "now": timezone.localtime(),
        }
    return {
        "push": True,
        "last_push_at": timezone.localtime(last_pull_at) if last_pull_at else None,
        "waiting_since": _issued_at(settings if isinstance(settings, dict) else {}),
        "now": timezone.localtime(),
    }


def _push_mis(mis: str, *, agent: bool = False) -> bool:
    """Whether the school's MIS pushes to rollsync (a registered push connector's; with
    `agent`, through the rollsync agent)."""
    from rollsync.connectors import connector_class, registered_connectors

    return any(
        (cls := connector_class(name)) is not None
        and cls.push
        and cls.mis == mis
        and (cls.agent or not agent)
        for name in registered_connectors()
    )


def _issued_at(settings: dict[str, Any]) -> datetime | None:
    """When a push connection's credentials were issued (its light counts from then
    until the first push), in the LA's time."""
    try:
        issued = datetime.fromisoformat(str(settings.get("credentials_issued_at") or ""))
    except ValueError:
        return None
    return timezone.localtime(issued) if timezone.is_aware(issued) else None


# --- the rollsync agent (SIMS) --------------------------------------------------------------


def agent_hello(*, conn: m.MisConnection) -> dict[str, Any]:
    """What the agent is told when it checks its licence key (`GET /agent/v1/hello`)."""
    from importlib.metadata import PackageNotFoundError, version

    from rollsync.directory.services.agent import CHUNK_SIZE

    school = conn.school
    try:
        server_version = version("rollsync")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        server_version = "0"
    return {
        "school": {"urn": school.urn, "name": school.name},
        "la": school.la.name,
        "mis": school.mis or None,
        "server_version": server_version,
        "chunk_size": CHUNK_SIZE,
    }


def agent_report_tree(*, school: m.School) -> list[dict[str, Any]]:
    """The reports the agent extracts for the school, their fields and definitions
    (`GET /agent/v1/reports`; `directory.agent_reports`)."""
    from rollsync.directory.agent_reports import report_tree

    return report_tree(
        accepted=school_accepted_reports(school=school),
        opted_out=school_opt_outs(school=school),
        attendance_service=school.attendance_service,
    )
