"""The SCIM door's reads, each through the tenancy chokepoint
(`access.selectors.restrict`) with the SCIM client as the principal: a client sees the
accounts allocated at its school (or its LA's schools), those schools' live groups,
and nothing else."""

from __future__ import annotations

from typing import Any, Final

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Concat, Greatest, NullIf

from rollsync.access.selectors import restrict
from rollsync.directory import models as m

# Audit kinds that change a group or its members (for a group's meta.lastModified).
GROUP_CHANGES: Final = (
    m.AuditKind.GROUP_CREATED,
    m.AuditKind.GROUP_UPDATED,
    m.AuditKind.GROUP_REOPENED,
    m.AuditKind.MEMBERSHIP_ADDED,
    m.AuditKind.MEMBERSHIP_REMOVED,
    m.AuditKind.MEMBERSHIP_REOPENED,
)


def visible_allocations(principal: Any) -> QuerySet[m.Allocation]:
    """The allocations at the schools the principal sees (any status)."""
    return restrict(m.Allocation.objects.all(), principal)


def _name(preferred: str, legal: str) -> Coalesce:
    return Coalesce(NullIf(preferred, Value("")), legal)


def shown_name(prefix: str = "") -> Concat:
    """The name SCIM shows (preferred names first) of an account, or of the account
    at `prefix` (e.g. `account__`)."""
    return Concat(
        _name(f"{prefix}preferred_given_name", f"{prefix}legal_given_name"),
        Value(" "),
        _name(f"{prefix}preferred_family_name", f"{prefix}legal_family_name"),
    )


def scim_users(principal: Any) -> QuerySet[m.Account]:
    """Accounts with an allocation the principal sees, with the names SCIM shows
    (`scim_given`, `scim_family`, `scim_display`), `scim_last_modified` (the latest
    change to the account or to one of those allocations) and those allocations
    (`scim_allocations`, each with its school and LA)."""
    allocations = visible_allocations(principal)
    latest = (
        allocations.filter(account=OuterRef("pk")).order_by("-updated_at").values("updated_at")[:1]
    )
    return (
        restrict(m.Account.objects.all(), principal)
        .annotate(
            scim_given=_name("preferred_given_name", "legal_given_name"),
            scim_family=_name("preferred_family_name", "legal_family_name"),
        )
        .annotate(
            scim_display=shown_name(),
            scim_last_modified=Greatest("updated_at", Coalesce(Subquery(latest), "updated_at")),
        )
        .prefetch_related(
            Prefetch(
                "allocations",
                queryset=allocations.select_related("school", "school__la").order_by("pk"),
                to_attr="scim_allocations",
            )
        )
    )


def scim_groups(principal: Any) -> QuerySet[m.Group]:
    """The live groups (not ended) of the schools the principal sees, with
    `scim_last_modified` (the latest change to any group or membership of the group's
    school: the directory keeps no time on a group itself) and their live memberships
    (`scim_members`, each with its account)."""
    latest = (
        m.AuditEvent.objects.filter(school=OuterRef("school"), action__in=GROUP_CHANGES)
        .order_by("-at")
        .values("at")[:1]
    )
    members = (
        m.GroupMembership.objects.filter(ended_at__isnull=True)
        .select_related("account")
        .order_by("account__username", "role")
    )
    return (
        restrict(m.Group.objects.filter(ended_at__isnull=True), principal)
        .select_related("school")
        .annotate(scim_last_modified=Subquery(latest))
        .prefetch_related(Prefetch("memberships", queryset=members, to_attr="scim_members"))
    )
