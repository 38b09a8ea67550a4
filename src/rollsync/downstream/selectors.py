"""Reads for downstream clients (never their secrets: only hashes are kept)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from rollsync.access.selectors import restrict
from rollsync.directory import models as m
from rollsync.directory.exports import roster_read
from rollsync.domain.records import GroupKind, MembershipRole
from rollsync.domain.state import AllocationStatus
from rollsync.downstream.models import DownstreamClient, ExportSchedule
from rollsync.downstream.oneroster.objects import Builder, Bundles, Obj
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
_BULK_ONLY = frozenset(
    {"orgs", "schools", "academicSessions", "terms", "gradingPeriods", "courses"}
)
_GROUP_TIMES = frozenset({"classes", "courses"})
# The audit events that change a school's org (its name, its LA), as opposed to its
# MIS, phase or policy, which a OneRoster org does not show.
_ORG_FIELDS = frozenset({"name", "la"})
UNALLOCATED = AllocationStatus.UNALLOCATED.value


# How many times a collection was built rather than read from the cache (tests count it).
BUILDS = {"count": 0}


def oneroster_objects(
    *, caller: Any, today: date, collection: str, version: str, base_url: str
) -> list[Obj]:
    """Every object of a collection the caller may see, in a stable order, built once
    per version of the caller's part of the directory (docs/downstream.md "Cache"): the
    cache key names the schools the caller sees, the latest applied run of each and the
    latest audited change there since, so any applied run or other change there
    rebuilds it, and a client that sees other schools never reads it."""
    key = _cache_key(caller, today=today, collection=collection, version=version, base=base_url)
    cache = caches[settings.ROLLSYNC_ONEROSTER_CACHE]
    found: list[Obj] | None = cache.get(key)
    if found is not None:
        return found
    BUILDS["count"] += 1
    bundles = oneroster_bundles(caller=caller, today=today, collection=collection)
    objects = Builder(bundles, version=version, base_url=base_url).collection(collection)
    cache.set(key, objects, settings.ROLLSYNC_ONEROSTER_CACHE_SECONDS)
    return objects


def _cache_key(caller: Any, *, today: date, collection: str, version: str, base: str) -> str:
    schools = list(restrict(m.School.objects.order_by("pk"), caller).values_list("pk", flat=True))
    runs = list(
        m.SyncRun.objects.filter(school__in=schools, status=m.SyncRun.Status.APPLIED, dry_run=False)
        .values_list("school_id")
        .annotate(last=Max("pk"), at=Max("applied_at"))
        .order_by("school_id")
    )
    # A change no run made (a restore, a school renamed) is an audit event after the
    # latest run: few rows, found by the index on `at`.
    since = max((at for _, _, at in runs if at is not None), default=_EPOCH)
    audited = m.AuditEvent.objects.filter(school__in=schools, at__gte=since).aggregate(
        last=Max("pk")
    )["last"]
    seen = repr((schools, runs, audited, today.isoformat(), base))
    digest = hashlib.sha256(seen.encode()).hexdigest()
    return f"rollsync:oneroster:{version}:{collection}:{digest}"


def oneroster_bundles(*, caller: Any, today: date, collection: str) -> Bundles:
    """What a OneRoster client may read of a collection, as the CSV export writes it:
    the bulk bundle of its school or LA, everyone placed there or who lost a place
    there (a delta from the beginning of time: `active` or `tobedeleted`), the classes
    and enrollments that ended, and when each object last changed (docs/downstream.md
    "Deltas"); only the parts the collection needs. Read through the tenancy
    chokepoint, the caller the principal."""
    client = caller.client
    scope = {"urn": client.school.urn} if client.school_id else {"la_code": client.la.code}
    bulk = people = None
    if collection not in _PEOPLE_ONLY:
        bulk = roster_read(principal=caller, today=today, **scope)
    if collection not in _BULK_ONLY:
        people = roster_read(principal=caller, today=today, since=_EPOCH, **scope)
    ended, ended_at = _ended(caller, bulk, people) if bulk and people else (None, None)
    return Bundles(
        bulk=oneroster_files(bulk) if bulk else {},
        people=oneroster_files(people) if people else {},
        org_modified=_org_times(caller) if collection not in _PEOPLE_ONLY else {},
        ended=oneroster_files(ended) if ended else None,
        ended_at=ended_at,
        modified=_change_times(caller, collection),
        built_at=iso_time(timezone.now()),
    )


def _org_times(caller: Any) -> dict[str, str]:
    """Each school's org (by URN) -> when its own fields last changed: it was added, or
    renamed or moved to another LA (the epoch if the directory holds no such event)."""
    events = (
        restrict(m.AuditEvent.objects.all(), caller)
        .filter(action__in=(m.AuditKind.SCHOOL_ADDED, m.AuditKind.SCHOOL_UPDATED))
        .values_list("school__urn", "action", "changes", "at")
    )
    times: dict[str, datetime] = {}
    for urn, action, changes, at in events:
        if action == m.AuditKind.SCHOOL_UPDATED and not _ORG_FIELDS & set(changes or {}):
            continue
        times[urn] = max(at, times.get(urn, at))
    return {urn: iso_time(at) for urn, at in times.items()}


def _change_times(caller: Any, collection: str) -> dict[str, str]:
    """sourcedId -> when that live object last changed, for the classes and courses (the
    group: created, renamed, its kind changed, reopened) or the enrollments (the
    membership added or reopened; or the member's place at the school changed, e.g.
    restored after they left, when their enrollments come back)."""
    times: dict[str, str] = {}
    if collection in _GROUP_TIMES:
        live = restrict(m.Group.objects.filter(ended_at__isnull=True), caller)
        for pk, at in live.values_list("pk", "modified_at"):
            times[str(pk)] = times[f"course-{pk}"] = iso_time(at)
    if collection == "enrollments":
        placed = {
            (account, school): at
            for account, school, at in restrict(m.Allocation.objects.all(), caller)
            .exclude(status=UNALLOCATED)
            .values_list("account_id", "school_id", "updated_at")
        }
        members = restrict(
            m.GroupMembership.objects.filter(ended_at__isnull=True, group__ended_at__isnull=True),
            caller,
        ).values_list(
            "group_id", "account__uid", "role", "modified_at", "account_id", "group__school_id"
        )
        for group, uid, role, at, account, school in members:
            place = placed.get((account, school))
            if place is not None:  # a member with no place here is not shown live
                times[f"{group}-{uid}-{role}"] = iso_time(max(at, place))
    return times


def _ended(caller: Any, bulk: Roster, people: Roster) -> tuple[Roster, dict[str, str]]:
    """The classes and enrollments that ended (the MIS stopped sending them, or the
    member lost their place at the school), as the CSV writer names them, and when
    each ended: the provider shows them as `tobedeleted` so a delta consumer removes
    them."""
    placed = {(x.uid, x.org_id) for x in people.placements if x.active}
    left = {(x.uid, x.org_id): x.modified for x in people.placements if not x.active}
    groups = restrict(m.Group.objects.all(), caller).select_related("school")
    ended_groups = {g.pk: g for g in groups.filter(ended_at__isnull=False)}
    # Only the candidates come back from the database: ended, of an ended group, or of
    # someone who lost a place here (checked per school below), not every membership.
    lost_a_place = restrict(m.Allocation.objects.filter(status=UNALLOCATED), caller)
    candidates = (
        Q(ended_at__isnull=False)
        | Q(group__ended_at__isnull=False)
        | Q(account_id__in=lost_a_place.values("account_id"))
    )
    ended_members = [
        gm
        for gm in restrict(m.GroupMembership.objects.filter(candidates), caller)
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
        # Ended since the first of these: a membership ended after its member left (a
        # groups run that no longer lists a leaver) is no news to a consumer.
        stamps = [t for t in (gm.ended_at, gm.group.ended_at, _left(gm, placed, left)) if t]
        when[f"{member.group_id}-{member.uid}-{member.role.value}"] = min(stamps)
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
