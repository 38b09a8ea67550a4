"""Reads for downstream clients (never their secrets: only hashes are kept)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django.db.models import Max, Q, QuerySet

from rollsync.access.selectors import restrict
from rollsync.directory import models as m
from rollsync.directory.exports import roster_read
from rollsync.domain.records import GroupKind, MembershipRole
from rollsync.downstream.models import DownstreamClient, ExportSchedule
from rollsync.downstream.oneroster.objects import Bundles
from rollsync.export import Group, Membership, Roster
from rollsync.export.common import iso_time
from rollsync.export.oneroster import oneroster_files

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def downstream_clients(
    *, school: m.School | None = None, la: m.LocalAuthority | None = None
) -> QuerySet[DownstreamClient]:
    """Every client (revoked ones too), oldest first, optionally of one school or LA."""
    qs = DownstreamClient.objects.select_related("school", "la").order_by("pk")
    if school is not None:
        qs = qs.filter(school=school)
    if la is not None:
        qs = qs.filter(la=la)
    return qs


# What each collection is built from: the bulk bundle (orgs, sessions, courses,
# classes, enrollments), the people (users, roles, demographics, active or
# tobedeleted), and what ended (classes and enrollments, which need the people).
_PEOPLE_ONLY = frozenset({"users", "students", "teachers", "demographics"})
_BULK_ONLY = frozenset({"orgs", "schools", "academicSessions", "terms", "courses"})


def oneroster_bundles(*, caller: Any, today: date, collection: str) -> Bundles:
    """What a OneRoster client may read of a collection, as the CSV export writes it:
    the bulk bundle of its school or LA, everyone placed there or who lost a place
    there (a delta from the beginning of time: `active` or `tobedeleted`), the classes
    and enrollments that ended, and each school's last applied sync; only the parts
    the collection needs. Read through the tenancy chokepoint, the caller the principal."""
    client = caller.client
    scope = {"urn": client.school.urn} if client.school_id else {"la_code": client.la.code}
    bulk = people = None
    if collection not in _PEOPLE_ONLY:
        bulk = roster_read(principal=caller, today=today, **scope)
    if collection not in _BULK_ONLY:
        people = roster_read(principal=caller, today=today, since=_EPOCH, **scope)
    runs = (
        restrict(m.SyncRun.objects.all(), caller)
        .filter(status=m.SyncRun.Status.APPLIED, dry_run=False, applied_at__isnull=False)
        .values("school__urn")
        .annotate(last=Max("applied_at"))
    )
    ended, ended_at = _ended(caller, bulk, people) if bulk and people else (None, None)
    return Bundles(
        bulk=oneroster_files(bulk) if bulk else {},
        people=oneroster_files(people) if people else {},
        org_modified={r["school__urn"]: iso_time(r["last"]) for r in runs},
        ended=oneroster_files(ended) if ended else None,
        ended_at=ended_at,
    )


def _ended(caller: Any, bulk: Roster, people: Roster) -> tuple[Roster, dict[str, str]]:
    """The classes and enrollments that ended (the MIS stopped sending them, or the
    member lost their place at the school), as the CSV writer names them, and when
    each ended: the provider shows them as `tobedeleted` so a delta consumer removes
    them."""
    placed = {(x.uid, x.org_id) for x in people.placements if x.active}
    left = {(x.uid, x.org_id): x.modified for x in people.placements if not x.active}
    groups = restrict(m.Group.objects.all(), caller).select_related("school")
    ended_groups = {g.pk: g for g in groups.filter(ended_at__isnull=False)}
    ended_members = [
        gm
        for gm in restrict(m.GroupMembership.objects.all(), caller)
        .select_related("group", "group__school", "account")
        .order_by("group_id", "role", "account__uid")
        if gm.ended_at or gm.group.ended_at or _left(gm, placed, left)
    ]
    when: dict[str, datetime] = {}
    for g in ended_groups.values():
        assert g.ended_at is not None
        when[str(g.pk)] = g.ended_at
    members = []
    for gm in ended_members:
        member = Membership(str(gm.group_id), str(gm.account.uid), MembershipRole(gm.role))
        members.append(member)
        stamps = [t for t in (gm.ended_at, gm.group.ended_at, _left(gm, placed, left)) if t]
        when[f"{member.group_id}-{member.uid}-{member.role.value}"] = max(stamps)
    touched = {gm.group_id: gm.group for gm in ended_members} | ended_groups
    roster = Roster(
        orgs=bulk.orgs,
        as_of=bulk.as_of,
        people=(),
        placements=(),
        groups=tuple(
            Group(str(g.pk), g.school.urn, g.name, GroupKind(g.kind))
            for g in sorted(touched.values(), key=lambda g: g.pk)
        ),
        memberships=tuple(members),
    )
    return roster, {k: iso_time(v) for k, v in when.items()}


def _left(
    gm: m.GroupMembership,
    placed: set[tuple[str, str]],
    left: dict[tuple[str, str], datetime | None],
) -> datetime | None:
    """When a member lost their place at the group's school (None if they hold one)."""
    key = (str(gm.account.uid), gm.group.school.urn)
    return None if key in placed else left.get(key)


def export_schedules(
    *, school: m.School | None = None, la: m.LocalAuthority | None = None
) -> QuerySet[ExportSchedule]:
    """Every export schedule, oldest first; of one school, or of one LA (its own and its
    schools')."""
    qs = ExportSchedule.objects.select_related("school", "la", "school__la").order_by("pk")
    if school is not None:
        qs = qs.filter(school=school)
    if la is not None:
        qs = qs.filter(Q(la=la) | Q(school__la=la))
    return qs


def export_schedule_get(pk: int) -> ExportSchedule | None:
    return ExportSchedule.objects.select_related("school", "la", "school__la").filter(pk=pk).first()
