"""The directory as a tenant should hold it, from the roster rollsync's exports read
(`rollsync.export.Roster`: one school or one LA, read through the tenancy chokepoint).

Who gets a tenant account: every person with a current place as a pupil or member of
staff (contacts do not). Which groups: the classes of Groups & Classes, teachers as
owners, pupils as members. A person with no current place is not here, so the planner
suspends them in the tenant.
"""

from __future__ import annotations

from rollsync.domain.records import GroupKind, MembershipRole, Role
from rollsync.export.model import Roster

from .model import DesiredGroup, DesiredUser, Directory, UserKind

GROUP_PREFIX = "rs-class-"
PUSHED_GROUP_KINDS = frozenset({GroupKind.CLASS})


def group_key(group_id: str) -> str:
    return f"{GROUP_PREFIX}{group_id}"


def directory_from_roster(
    roster: Roster, *, domain: str, owners_are_members: bool = False
) -> Directory:
    """`owners_are_members`: Microsoft 365 wants a class's teachers in both owners and
    members; Google gives an OWNER the member's rights already."""
    domain = domain.strip().lower()
    kinds: dict[str, UserKind] = {}
    for place in roster.placements:
        if not place.active or place.role is Role.CONTACT:
            continue
        if place.role is Role.STAFF or place.uid not in kinds:
            kinds[place.uid] = UserKind.STAFF if place.role is Role.STAFF else UserKind.PUPIL
    users = tuple(
        DesiredUser(
            key=p.uid,
            email=f"{p.username.lower()}@{domain}",
            given_name=(p.preferred_given_name or p.given_name).strip(),
            family_name=(p.preferred_family_name or p.family_name).strip(),
            kind=kinds[p.uid],
        )
        for p in sorted(roster.people, key=lambda p: p.uid)
        if p.uid in kinds
    )
    schools = {o.sourced_id for o in roster.orgs if o.kind == "school"}
    owners: dict[str, set[str]] = {}
    members: dict[str, set[str]] = {}
    for ms in roster.memberships:
        if ms.uid not in kinds:
            continue
        if ms.role is MembershipRole.TEACHER:
            owners.setdefault(ms.group_id, set()).add(ms.uid)
            if owners_are_members:
                members.setdefault(ms.group_id, set()).add(ms.uid)
        else:
            members.setdefault(ms.group_id, set()).add(ms.uid)
    groups = tuple(
        DesiredGroup(
            key=group_key(g.id),
            name=g.title if len(schools) <= 1 else f"{g.title} ({g.org_id})",
            email=f"{group_key(g.id)}@{domain}",
            owners=frozenset(owners.get(g.id, ())),
            members=frozenset(members.get(g.id, ())),
        )
        for g in sorted(roster.groups, key=lambda g: g.id)
        if g.kind in PUSHED_GROUP_KINDS
    )
    return Directory(domain=domain, users=users, groups=groups)
