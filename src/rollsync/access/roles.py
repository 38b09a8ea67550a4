"""Roles, actions and the MIS rules that decide who may do what.

Pure Python: the roles matrix lives here once; `rollsync.access.selectors` turns it
into querysets (the tenancy chokepoint) and `docs/web.md` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


@dataclass(frozen=True, slots=True)
class MisInfo:
    """What the web app needs to know about an MIS (the SPEC's MIS matrix)."""

    name: str
    arrives: str  # how data arrives, in a school admin's words
    reports: frozenset[str]  # report codes the MIS can send
    manual_run: str  # how a run is started outside the schedule
    force_run: bool  # the school may Force run (re-process the latest upload)
    headteacher_reports: bool  # only the headteacher may accept or remove reports


_CURRENT = frozenset({"students", "staff", "contacts", "groups", "attendance"})
_FUTURE = frozenset({"students_future", "staff_future"})

MIS_CATALOGUE: dict[str, MisInfo] = {
    m.name: m
    for m in (
        MisInfo(
            "SIMS",
            "the rollsync agent on the school's server extracts, filters and uploads on a schedule",
            _CURRENT | _FUTURE,
            "on the school's server: the agent's Extract, Filter and Upload",
            False,
            False,
        ),
        MisInfo(
            "Arbor",
            "pulled from Arbor's API after the school approves the connection",
            _CURRENT,
            "Force run here; otherwise daily",
            True,
            False,
        ),
        MisInfo(
            "ScholarPack",
            "pulled from ScholarPack after the school's approval form",
            _CURRENT,
            "Force run here; otherwise daily",
            True,
            False,
        ),
        MisInfo(
            "Bromcom",
            "Bromcom pushes to the upload API with the licence key, daily after 18:00",
            (_CURRENT - {"groups"}) | _FUTURE,
            "started from Bromcom",
            False,
            False,
        ),
        MisInfo(
            "Integris",
            "pulled after the school grants access in the Integris data-share screen",
            _CURRENT,
            "weekday evenings only",
            False,
            False,
        ),
        MisInfo(
            "Pupil Asset",
            "pulled with the school reference number",
            frozenset({"students", "staff", "contacts"}),
            "weekday evenings only",
            False,
            True,
        ),
        MisInfo(
            "IRIS iSAMS",
            "pulled from the IRIS partner API (client ID and secret) at the school's MIS address",
            frozenset({"students", "staff"}),
            "Force run here; otherwise daily",
            True,
            False,
        ),
        MisInfo(
            "Standard files",
            "uploaded by hand: a CTF, a OneRoster or SDS bundle, or a rollsync CSV per report",
            _CURRENT | _FUTURE,
            "upload a file, or Force run the latest upload again",
            True,
            False,
        ),
    )
}

HEADTEACHER_REPORTS_MIS = frozenset(n for n, m in MIS_CATALOGUE.items() if m.headteacher_reports)
FORCE_RUN_MIS = frozenset(n for n, m in MIS_CATALOGUE.items() if m.force_run)


def mis_info(name: str) -> MisInfo | None:
    return MIS_CATALOGUE.get(name)
