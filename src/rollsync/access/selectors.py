"""The tenancy chokepoint. Every page, API operation and command reads through
`restrict(queryset, principal, action)` (or `schools_for`, which it is built on): a
school's people see and change only their school, an LA admin only the LA's schools,
a region operator everything. Nothing else decides who sees what.

A principal is whoever acts: a signed-in user (their `RoleGrant` rows), or anything
with `access_grants()` (the `Principal` protocol): an API token, scoped to a school or
an LA and optionally read-only, gives the grants of the same roles (`api.models`);
the command line acts as `OPERATOR`, the region operator. One rule for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from django.db.models import Model, Q, QuerySet

from rollsync.access.models import RoleGrant
from rollsync.access.roles import (
    FORCE_RUN_MIS,
    GRANTS,
    HEADTEACHER_REPORTS_MIS,
    Action,
    RoleName,
)
from rollsync.directory import models as m

M = TypeVar("M", bound=Model)

# How each model reaches its school. A model missing here cannot be restricted, and
# `restrict` refuses it rather than guess (fail closed).
SCHOOL_PATH: dict[type[Model], str] = {
    m.School: "pk",
    m.ReportAcceptance: "school",
    m.FieldOptOut: "school",
    m.Allocation: "school",
    m.Group: "school",
    m.ContactLink: "school",
    m.AttendanceMark: "school",
    m.Exclusion: "school",
    m.Upload: "school",
    m.SyncRun: "school",
    m.MatchCase: "school",
    m.AuditEvent: "school",
    m.GroupMembership: "group__school",
}


@dataclass(frozen=True, slots=True)
class Grant:
    """A role at a scope: one school, one LA, or (neither) the whole region. A
    `RoleGrant` row reads the same way."""

    role: str
    school_id: int | None = None
    la_id: int | None = None


@runtime_checkable
class Principal(Protocol):
    """Whoever acts, other than a signed-in user: it says which grants it holds (none
    when it no longer may act, e.g. a revoked token)."""

    def access_grants(self) -> Sequence[Grant]: ...


class _Operator:
    """The command line: the region operator (whoever runs `rollsync` on the server)."""

    def access_grants(self) -> Sequence[Grant]:
        return (Grant(RoleName.REGION_OPERATOR.value),)

    def __repr__(self) -> str:
        return "OPERATOR"


OPERATOR: Principal = _Operator()


def grants_of(principal: Any) -> Sequence[Grant | RoleGrant]:
    """The role grants of a principal: an active, signed-in user's `RoleGrant` rows, or
    a `Principal`'s `access_grants()`; none for anyone else."""
    if isinstance(principal, Principal):
        return principal.access_grants()
    if (
        principal is None
        or not getattr(principal, "is_authenticated", False)
        or not getattr(principal, "is_active", False)
    ):
        return []
    return list(RoleGrant.objects.filter(user=principal).select_related("school", "la"))


def allows(principal: Any, action: Action) -> bool:
    """Whether any of the principal's roles grants `action` somewhere (no query for a
    `Principal`: a read-only token is refused a write before anything is looked up)."""
    return any(RoleName(g.role) in GRANTS[action] for g in grants_of(principal))


def _scope_q(grant: Grant | RoleGrant) -> Q:
    if grant.school_id is not None:
        return Q(pk=grant.school_id)
    if grant.la_id is not None:
        return Q(la_id=grant.la_id)
    return Q(pk__isnull=False)  # region-wide


def _grant_q(grant: Grant | RoleGrant, action: Action) -> Q | None:
    role = RoleName(grant.role)
    if role not in GRANTS[action]:
        return None
    scope = _scope_q(grant)
    if action is Action.REPORTS and role is not RoleName.HEADTEACHER:
        # Where the MIS says so (Pupil Asset), only the headteacher accepts or removes reports.
        return scope & ~Q(mis__in=HEADTEACHER_REPORTS_MIS)
    if action is Action.FORCE_RUN and role is not RoleName.REGION_OPERATOR:
        # The service desk may always re-process; a school or LA only where the source allows.
        return scope & (Q(mis__in=FORCE_RUN_MIS) | Q(mis=""))
    if action is Action.DASHBOARD and grant.school_id is not None:
        return None  # a dashboard is an LA's (or the region's) view
    return scope


def _schools(grants: Sequence[Grant | RoleGrant], action: Action) -> QuerySet[m.School]:
    combined: Q | None = None
    for grant in grants:
        q = _grant_q(grant, action)
        if q is not None:
            combined = q if combined is None else combined | q
    if combined is None:
        return m.School.objects.none()
    return m.School.objects.filter(combined)


def schools_for(principal: Any, action: Action = Action.VIEW) -> QuerySet[m.School]:
    """The schools `principal` (a user, a token, `OPERATOR`) may do `action` at."""
    return _schools(grants_of(principal), action)


def restrict(queryset: QuerySet[M], principal: Any, action: Action = Action.VIEW) -> QuerySet[M]:
    """`queryset` narrowed to what `principal` (a user, an API token, `OPERATOR`) may
    do `action` to. The one chokepoint."""
    model = queryset.model
    schools = schools_for(principal, action).values("pk")
    if model is m.Account:
        here = m.Allocation.objects.filter(school__in=schools).values("account_id")
        return queryset.filter(pk__in=here)
    if model is m.LocalAuthority:
        return queryset.filter(pk__in=schools_for(principal, action).values("la_id"))
    if model is m.CrossSchoolCase:  # both schools see it: the one that asks, the one that holds
        return queryset.filter(Q(school__in=schools) | Q(holding_school__in=schools))
    path = SCHOOL_PATH.get(model)
    if path is None:
        raise TypeError(f"rollsync.access cannot restrict {model.__name__}: add its school path")
    return queryset.filter(**{f"{path}__in": schools})


def can(principal: Any, action: Action, school: m.School) -> bool:
    return schools_for(principal, action).filter(pk=school.pk).exists()


def actions_at(user: Any, school: m.School) -> frozenset[Action]:
    """Every action `user` may do at `school` (for showing or hiding buttons)."""
    grants = grants_of(user)
    return frozenset(a for a in Action if _schools(grants, a).filter(pk=school.pk).exists())


def las_for(user: Any, action: Action = Action.DASHBOARD) -> QuerySet[m.LocalAuthority]:
    return restrict(m.LocalAuthority.objects.all(), user, action)
