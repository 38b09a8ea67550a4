"""Roles, actions and the MIS rules that decide who may do what.

The MIS facts themselves (reports, Force run, headteacher-only reports) are
`rollsync.domain.mis`'s; they are re-exported here for the access selectors.

Pure Python: the roles matrix lives here once; `rollsync.access.selectors` turns it
into querysets (the tenancy chokepoint) and `docs/web.md` prints it.
"""

from __future__ import annotations

from enum import StrEnum

# The MIS facts live once in the domain; the roles below narrow by them.
from rollsync.domain.mis import (
    FORCE_RUN_MIS,
    HEADTEACHER_REPORTS_MIS,
    MIS_CATALOGUE,
    MisInfo,
    mis_info,
)

__all__ = [
    "FORCE_RUN_MIS",
    "HEADTEACHER_REPORTS_MIS",
    "MIS_CATALOGUE",
    "MisInfo",
    "mis_info",
]


class RoleName(StrEnum):
    SCHOOL_ADMIN = "school_admin"
    HEADTEACHER = "headteacher"
    LA_ADMIN = "la_admin"
    REGION_OPERATOR = "region_operator"
    READ_ONLY = "read_only"


ROLE_LABEL: dict[RoleName, str] = {
    RoleName.SCHOOL_ADMIN: "School admin (nominated contact)",
    RoleName.HEADTEACHER: "Headteacher",
    RoleName.LA_ADMIN: "LA admin",
    RoleName.REGION_OPERATOR: "Region operator",
    RoleName.READ_ONLY: "Read-only",
}


class Scope(StrEnum):
    SCHOOL = "school"
    LA = "la"
    REGION = "region"


# Where each role may be granted. Read-only may be granted at any scope.
ROLE_SCOPES: dict[RoleName, frozenset[Scope]] = {
    RoleName.SCHOOL_ADMIN: frozenset({Scope.SCHOOL}),
    RoleName.HEADTEACHER: frozenset({Scope.SCHOOL}),
    RoleName.LA_ADMIN: frozenset({Scope.LA}),
    RoleName.REGION_OPERATOR: frozenset({Scope.REGION}),
    RoleName.READ_ONLY: frozenset({Scope.SCHOOL, Scope.LA, Scope.REGION}),
}


class Action(StrEnum):
    """What a person does to a school's data. Every view names one."""

    VIEW = "view"  # read the school's settings, results, accounts and history
    OPERATE = "operate"  # upload, matching, restore, exclusions, non-MIS review, request single, held runs
    CONFIGURE = "configure"  # Change MIS, guard threshold, leaver grace period
    REPORTS = "reports"  # accept or remove reports, opt fields out or in
    FORCE_RUN = "force_run"  # re-process the latest upload of a report
    DASHBOARD = "dashboard"  # the LA dashboard (every school of an LA)


ACTION_LABEL: dict[Action, str] = {
    Action.VIEW: "see the school's settings, results, accounts and history",
    Action.OPERATE: "upload files, work the matching queue, restore, keep the exclusion list, review non-MIS accounts, request single accounts, approve or reject held runs",
    Action.CONFIGURE: "Change MIS, guard threshold, leaver grace period",
    Action.REPORTS: "accept or remove reports, opt fields out or in",
    Action.FORCE_RUN: "Force run (re-process the latest upload of a report)",
    Action.DASHBOARD: "LA dashboard",
}

# Which roles grant which action (before the per-MIS rules below narrow them).
GRANTS: dict[Action, frozenset[RoleName]] = {
    Action.VIEW: frozenset(RoleName),
    Action.OPERATE: frozenset({RoleName.SCHOOL_ADMIN, RoleName.LA_ADMIN, RoleName.REGION_OPERATOR}),
    Action.CONFIGURE: frozenset(
        {RoleName.SCHOOL_ADMIN, RoleName.LA_ADMIN, RoleName.REGION_OPERATOR}
    ),
    Action.REPORTS: frozenset(
        {
            RoleName.SCHOOL_ADMIN,
            RoleName.HEADTEACHER,
            RoleName.LA_ADMIN,
            RoleName.REGION_OPERATOR,
        }
    ),
    Action.FORCE_RUN: frozenset(
        {RoleName.SCHOOL_ADMIN, RoleName.LA_ADMIN, RoleName.REGION_OPERATOR}
    ),
    Action.DASHBOARD: frozenset({RoleName.LA_ADMIN, RoleName.REGION_OPERATOR, RoleName.READ_ONLY}),
}
