"""The directory as data that two loads of the same exports must share, whatever order
their runs committed in.

Each account is keyed by its places: the sorted (school URN, role, MIS ID) of its
allocations. Usernames depend on commit order ("jsmith.202" and "jsmith2.202" may swap
between two people named J Smith), so an account carries its username's stem (the local
part without its trailing digits) and the dump lists, per stem, the set of usernames
given; both must be equal, and every username is unique (a constraint). Loads that
committed in the same order give each account the very same username
(`username_by_places`). Everything
else is compared as it is: identity fields, every allocation's fields, contact links,
groups and memberships, attendance, match cases, exclusions, cross-school cases, and
the audit events counted per kind."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from typing import Any

from tests.audit_references import audit_events_naming_nothing

_SKIP = {"id", "created_at", "updated_at", "uid", "account", "account_id", "school", "school_id"}
_TIMES = {
    "unallocated_at",
    "last_move_or_create_at",
    "ended_at",
    "resolved_at",
    "decided_at",
    "modified_at",
}


def stem(username: str) -> str:
    local, _, la = username.partition(".")
    return re.sub(r"[0-9]+$", "", local) + "." + la


def _fields(row: Any) -> dict[str, Any]:
    """A row's own values; a time is only there or not (when it happened differs)."""
    out: dict[str, Any] = {}
    for field in row._meta.concrete_fields:
        name = field.name
        if name in _SKIP or field.is_relation:
            continue
        value = getattr(row, field.attname)
        out[name] = (value is not None) if name in _TIMES else value
    return out


def directory_dump() -> dict[str, Any]:
    from rollsync.directory import models as m

    places: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    allocations: dict[int, list[dict[str, Any]]] = defaultdict(list)
    kinds: dict[int, list[str]] = defaultdict(list)
    for al in m.Allocation.objects.select_related("school").order_by("pk"):
        places[al.account_id].append((al.school.urn, al.role, al.mis_id))
        values = _fields(al)
        # Which of an account's schools made it and which moved it in depends on which
        # committed first: compared per account as a multiset ("allocation_kinds").
        kinds[al.account_id].append(values.pop("last_move_or_create_kind"))
        allocations[al.account_id].append({"school": al.school.urn, **values})

    def key(account_id: int) -> str:
        return "|".join(":".join(p) for p in sorted(places[account_id])) or f"unplaced-{account_id}"

    accounts: dict[str, Any] = {}
    usernames: dict[str, list[str]] = defaultdict(list)
    exact: dict[str, str] = {}
    for account in m.Account.objects.order_by("pk"):
        k = key(account.pk)
        assert k not in accounts, f"two accounts hold the places {k}"
        accounts[k] = {
            **_fields(account),
            "username": stem(account.username),
            "allocation_kinds": sorted(kinds[account.pk]),
            "allocations": sorted(
                allocations[account.pk], key=lambda a: (a["school"], a["role"], a["mis_id"])
            ),
        }
        usernames[stem(account.username)].append(account.username)
        exact[k] = account.username
    groups = {
        f"{g.school.urn}:{g.mis_id}": _fields(g) for g in m.Group.objects.select_related("school")
    }
    memberships = sorted(
        (
            f"{gm.group.school.urn}:{gm.group.mis_id}",
            key(gm.account_id),
            gm.role,
            gm.ended_at is None,
        )
        for gm in m.GroupMembership.objects.select_related("group__school")
    )
    links = sorted(
        (
            link.school.urn,
            key(link.contact_id),
            key(link.pupil_id),
            link.priority,
            link.parental_responsibility,
            link.relationship,
            link.ended_at is None,
        )
        for link in m.ContactLink.objects.select_related("school")
    )
    attendance = sorted(
        (a.school.urn, key(a.account_id), str(a.date), a.session, a.code)
        for a in m.AttendanceMark.objects.select_related("school")
    )
    cases = sorted(
        (
            c.school.urn,
            c.role,
            c.mis_id,
            c.status,
            json.dumps(c.record, sort_keys=True, default=str),
            sorted(key(int(cand["account_id"])) for cand in c.candidates),
        )
        for c in m.MatchCase.objects.select_related("school")
    )
    cross = sorted(
        (c.school.urn, key(c.account_id), c.status)
        for c in m.CrossSchoolCase.objects.select_related("school")
    )
    runs = sorted(
        (r.school.urn, r.upload.filename, r.status)
        for r in m.SyncRun.objects.select_related("school", "upload")
    )
    audit = Counter(m.AuditEvent.objects.values_list("action", flat=True))
    # (No constraint in the database checks an event's references: docs/decisions/0109.)
    orphans = audit_events_naming_nothing()
    assert orphans == [], orphans
    return {
        "accounts": accounts,
        "usernames": {s: sorted(names) for s, names in usernames.items()},
        # Equal too when both loads committed in one order (the tests replay it).
        "username_by_places": exact,
        "groups": groups,
        "memberships": memberships,
        "contact_links": links,
        "attendance": attendance,
        "match_cases": cases,
        "cross_school_cases": cross,
        "runs": runs,
        "audit": dict(audit),
        "counts": {
            "accounts": m.Account.objects.count(),
            "allocations": m.Allocation.objects.count(),
            "contact_links": m.ContactLink.objects.count(),
        },
    }
