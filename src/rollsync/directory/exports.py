"""Reads the directory of one school or one LA into a `rollsync.export.Roster`, for
the OneRoster and SDS writers. Every school is reached through the tenancy chokepoint
(`access.selectors.restrict`) with the caller's principal; nothing here writes.

Bulk: every person placed (active or future) at the schools, their live groups,
memberships and contact links. Delta (`since`): the people whose account or place
changed after `since`, with the places they lost since then as not active; a delta
carries no groups nor memberships (the OneRoster REST provider reads their own change
times, `modified_at`: downstream/selectors.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import Q

from rollsync.access.selectors import restrict
from rollsync.directory import models as m
from rollsync.domain.records import Gender, GroupKind, MembershipRole, Role
from rollsync.domain.state import AllocationStatus
from rollsync.export import WRITERS, Group, Link, Membership, Org, Person, Placement, Roster

UNALLOCATED = AllocationStatus.UNALLOCATED.value


class ExportRefused(Exception):
    """The export cannot be made as asked (an unknown school or LA, a bad time)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class Export:
    payload: bytes
    roster: Roster
    fmt: str

    def counts(self) -> dict[str, int]:
        r = self.roster
        active = {x.uid for x in r.placements if x.active}
        roles = {role.value: 0 for role in Role}
        for x in r.placements:
            if x.active:
                roles[x.role.value] += 1
        return {
            "schools": sum(1 for o in r.orgs if o.kind == "school"),
            "people": len(active),
            **{f"{role}s" if role != "staff" else role: n for role, n in roles.items()},
            # SDS cannot mark anyone to be deleted: a delta leaves them out.
            "to_be_deleted": 0
            if self.fmt == "sds"
            else sum(1 for p in r.people if p.uid not in active),
            "groups": len(r.groups),
            "memberships": len(r.memberships),
            "contact_links": len(r.links),
        }


def _la_org(la: m.LocalAuthority) -> Org:
    return Org(f"LA{la.code}", la.name or f"LA {la.code}", "district", la.code)


def _schools(principal: Any, *, urn: str | None, la_code: str | None) -> list[m.School]:
    visible = restrict(m.School.objects.select_related("la"), principal)
    if urn is not None:
        found = list(visible.filter(urn=urn))
        if not found:
            raise ExportRefused(f"no school with URN {urn!r} that you may see", field="school")
        return found
    if la_code is None:
        raise ExportRefused("name a school (URN) or an LA (code) to export", field="school")
    found = list(visible.filter(la__code=la_code).order_by("urn"))
    if not found:
        raise ExportRefused(f"no LA with code {la_code!r} that you may see", field="la")
    return found


def _placements(schools: list[m.School], since: datetime | None) -> list[m.Allocation]:
    qs = m.Allocation.objects.filter(school__in=schools).select_related("account", "school")
    if since is None:
        qs = qs.exclude(status=UNALLOCATED)
    else:
        changed_place = Q(updated_at__gt=since) | Q(unallocated_at__gt=since)
        changed_person = Q(account__updated_at__gt=since) & ~Q(status=UNALLOCATED)
        qs = qs.filter(changed_place | changed_person)
        changed = list(qs)
        # A changed person's other places still held say they are still here (a member
        # of staff who left one school of the LA is not to be deleted from the others).
        held = (
            m.Allocation.objects.filter(
                school__in=schools, account_id__in={a.account_id for a in changed}
            )
            .exclude(status=UNALLOCATED)
            .exclude(pk__in=[a.pk for a in changed])
        )
        qs = m.Allocation.objects.filter(
            pk__in=[a.pk for a in changed] + list(held.values_list("pk", flat=True))
        ).select_related("account", "school")
    return list(qs.order_by("school__urn", "role", "account__uid"))


def _person(account: m.Account, allocation: m.Allocation) -> Person:
    return Person(
        uid=str(account.uid),
        username=account.username,
        given_name=account.legal_given_name,
        family_name=account.legal_family_name,
        middle_names=account.middle_names,
        preferred_given_name=account.preferred_given_name,
        preferred_family_name=account.preferred_family_name,
        date_of_birth=account.date_of_birth,
        gender=Gender(account.gender) if account.gender else None,
        upn=account.upn,
        email=allocation.email,
        phone=allocation.phone,
        modified=account.updated_at,
    )


def roster_read(
    *,
    principal: Any,
    today: date,
    urn: str | None = None,
    la_code: str | None = None,
    since: datetime | None = None,
) -> Roster:
    schools = _schools(principal, urn=urn, la_code=la_code)
    las = {s.la_id: s.la for s in schools}
    orgs = [_la_org(la) for la in las.values()]
    orgs += [Org(s.urn, s.name, "school", s.urn, f"LA{s.la.code}") for s in schools]
    allocations = _placements(schools, since)
    people: dict[str, Person] = {}
    placements: list[Placement] = []
    for a in allocations:
        uid = str(a.account.uid)
        active = a.status != UNALLOCATED
        if uid not in people or (active and people[uid].email is None):
            people[uid] = _person(a.account, a)
        modified = max(t for t in (a.updated_at, a.unallocated_at) if t is not None)
        placements.append(
            Placement(
                uid=uid,
                org_id=a.school.urn,
                role=Role(a.role),
                active=active,
                year_group=a.year_group,
                start_date=a.start_date,
                leaving_date=a.leaving_date,
                modified=modified,
            )
        )
    placed = {x.uid for x in placements if x.active}
    groups: list[Group] = []
    memberships: list[Membership] = []
    if since is None:
        live = m.Group.objects.filter(school__in=schools, ended_at__isnull=True)
        for g in live.select_related("school").order_by("school__urn", "mis_id"):
            groups.append(Group(str(g.pk), g.school.urn, g.name, GroupKind(g.kind)))
        members = m.GroupMembership.objects.filter(
            group__in=live, ended_at__isnull=True
        ).select_related("account")
        for gm in members.order_by("group_id", "role", "account__uid"):
            uid = str(gm.account.uid)
            if uid in placed:
                memberships.append(Membership(str(gm.group_id), uid, MembershipRole(gm.role)))
    links = []
    for link in (
        m.ContactLink.objects.filter(school__in=schools, ended_at__isnull=True)
        .select_related("contact", "pupil")
        .order_by("pupil__uid", "priority", "contact__uid")
    ):
        pair = (str(link.contact.uid), str(link.pupil.uid))
        if pair[0] in people and pair[1] in people:
            links.append(Link(pair[0], pair[1], link.relationship))
    return Roster(
        orgs=tuple(orgs),
        as_of=today,
        people=tuple(people.values()),
        placements=tuple(placements),
        groups=tuple(groups),
        memberships=tuple(memberships),
        links=tuple(links),
        since=since,
    )


def export_make(
    *,
    principal: Any,
    fmt: str,
    today: date,
    urn: str | None = None,
    la_code: str | None = None,
    since: datetime | None = None,
) -> Export:
    """The bundle's bytes and what it holds. Raises `ExportRefused`."""
    writer = WRITERS.get(fmt)
    if writer is None:
        raise ExportRefused(f"format {fmt!r} is not one of {', '.join(WRITERS)}", field="format")
    roster = roster_read(principal=principal, today=today, urn=urn, la_code=la_code, since=since)
    return Export(writer(roster), roster, fmt)
