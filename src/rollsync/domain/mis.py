"""The MIS facts, once: for each MIS a school can run, the reports it can send (current
and future), how data arrives, whether Force run works, and whether only the headteacher
may accept or remove reports.

Checked against the public help pages in the product brief's reference folder
(shared/reference/001_c9b636f218bedbe7.txt, one section per MIS, with
000_ee649edcf7b53b4d.txt, 002_6307b254a2a1089e.txt and 003_dc2f488b2fdb7bad.txt) and
shared/reference/mis-apis.md. "Standard files" is rollsync's own: a school that uploads
CTF, OneRoster, SDS or rollsync CSV files by hand.

`access.roles` (who may do what), the web app (AutoUpdate Settings), the school services
(a report the MIS cannot send cannot be accepted; Change MIS) and the simulator (what a
simulated school's MIS exports) all read this table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rollsync.domain import reports as r


@dataclass(frozen=True, slots=True)
class MisInfo:
    """One MIS, as a school admin meets it."""

    name: str
    arrives: str  # how data arrives, in a school admin's words
    current_reports: frozenset[str]  # report codes of people and data as they are today
    future_reports: frozenset[str]  # starters entered before their start date
    manual_run: str  # how a run is started outside the schedule
    force_run: bool  # the school may Force run (re-process the latest upload)
    headteacher_reports: bool  # only the headteacher may accept or remove reports
    # Attendance is greyed out unless the school uses a service that needs it (the help
    # pages: an absence text service), which the region enables per school.
    attendance_needs_service: bool = False
    setup: tuple[str, ...] = ()  # the school's set-up steps, in the help pages' order

    @property
    def reports(self) -> frozenset[str]:
        """Every report code the MIS can send."""
        return self.current_reports | self.future_reports


_CURRENT = frozenset({r.STUDENTS, r.STAFF, r.CONTACTS, r.GROUPS, r.ATTENDANCE})
_FUTURE = frozenset({r.STUDENTS_FUTURE, r.STAFF_FUTURE})
_NONE: frozenset[str] = frozenset()

MIS_CATALOGUE: dict[str, MisInfo] = {
    m.name: m
    for m in (
        # Every current report plus Staff/Students (Future); runs are pushed by the agent
        # on the school's server, so there is no Force run here.
        MisInfo(
            "SIMS",
            "the rollsync agent on the school's server extracts, filters and uploads on a schedule",
            _CURRENT,
            _FUTURE,
            "on the school's server: the agent's Extract, Filter and Upload",
            False,
            False,
            setup=(
                "Accept the reports the school will send.",
                "Issue the licence key here (shown once), download the rollsync agent and install it on the school's SIMS server (the one that stays on).",
                "Configure the agent with the licence key and a SIMS user in the School Administrator and Third Party Reporting groups (and Personnel Officer, for the staff fields it guards).",
                "Run a test (Extract, Filter and Upload) and check Upload History here for the upload.",
                "Set the agent's schedule on the server: it runs by itself from then on, and each upload is processed as soon as it arrives.",
            ),
        ),
        # Every current report; "future" starters are on the vendor's roadmap; Force run.
        MisInfo(
            "Arbor",
            "pulled from Arbor's API after the school approves the connection",
            _CURRENT,
            _NONE,
            "Force run here; otherwise daily",
            True,
            False,
            attendance_needs_service=True,
            setup=(
                "Accept the reports the school will send, and save.",
                "Follow the approval link that appears, sign in to Arbor and press Approve.",
                "Arbor sends you back here: the connection is made. Data is pulled once a day, or at once with Force run.",
            ),
        ),
        MisInfo(
            "ScholarPack",
            "pulled from ScholarPack after the school's approval form",
            _CURRENT,
            _NONE,
            "Force run here; otherwise daily",
            True,
            False,
            attendance_needs_service=True,
            setup=(
                "Accept the reports the school will send, and save.",
                "Follow the approval link that appears: a ScholarPack user with the Admin and System Admin roles approves the data release.",
                "ScholarPack sends you back here: the connection is made. Data is pulled once a day, or at once with Force run.",
            ),
        ),
        # Groups & Classes is unavailable for Bromcom; future reports are sent.
        MisInfo(
            "Bromcom",
            "Bromcom pushes to the upload API with the licence key, daily after 18:00",
            _CURRENT - {r.GROUPS},
            _FUTURE,
            "started from Bromcom",
            False,
            False,
            setup=(
                "Accept the reports the school will send (Groups & Classes is not available for Bromcom).",
                "Issue the push credentials here: the licence key, supplier ID and supplier password (shown once).",
                "In Bromcom, under Config > Setup > Atomwide Integration Settings, enter them and press Save, not Save & Run, so the schedule runs every evening after 18:00.",
            ),
        ),
        MisInfo(
            "Integris",
            "pulled after the school grants access in the Integris data-share screen",
            _CURRENT,
            _NONE,
            "weekday evenings only",
            False,
            False,
            setup=(
                "In Integris, open Datashare, find AutoUpdate among the third party providers, review the data asked for and press Grant Access.",
                "Accept the reports the school will send.",
                "Data is pulled every weekday evening (there is no Force run for Integris).",
            ),
        ),
        # Students, Staff and Contacts only; only the headteacher may accept or remove.
        MisInfo(
            "Pupil Asset",
            "pulled with the school reference number",
            frozenset({r.STUDENTS, r.STAFF, r.CONTACTS}),
            _NONE,
            "weekday evenings only",
            False,
            True,
            setup=(
                "In Pupil Asset, approve the AutoUpdate integration: Pupil Asset then shows the school reference number.",
                "Enter the school reference number here when connecting.",
                "The headteacher accepts the reports (only the headteacher may accept or remove them for Pupil Asset).",
                "Data is pulled every weekday evening (there is no Force run for Pupil Asset).",
            ),
        ),
        # Staff and Students only (attendance, contacts and groups are not supported).
        MisInfo(
            "IRIS iSAMS",
            "pulled from the IRIS partner API (client ID and secret) at the school's MIS address",
            frozenset({r.STUDENTS, r.STAFF}),
            _NONE,
            "Force run here; otherwise daily",
            True,
            False,
            setup=(
                'Ask IRIS support for access to the "REST API for a Partner": you receive a client ID and a client secret.',
                "Connect here with the MIS URL (https://<school>.isams.cloud or https://<school>.edgen.cloud), the client ID and the client secret.",
                "Accept the Students and Staff reports. Data is pulled once a day, or at once with Force run.",
            ),
        ),
        # An aggregator: it reads the school's own MIS (any of them) and serves it through
        # one API; what it carries depends on that MIS, so every report is allowed here.
        MisInfo(
            "Wonde",
            "pulled through Wonde, which reads the school's own MIS, after the school grants access",
            _CURRENT,
            frozenset({r.STUDENTS_FUTURE}),
            "Force run here; otherwise daily",
            True,
            False,
            setup=(
                "The school grants rollsync's Wonde app access in Wonde.",
                "Connect here with the school's Wonde ID; the region's Wonde token is entered once per connection.",
                "Accept the reports the school will send. Data is pulled once a day, or at once with Force run.",
            ),
        ),
        MisInfo(
            "Standard files",
            "uploaded by hand: a CTF, a OneRoster or SDS bundle, or a rollsync CSV per report",
            _CURRENT,
            _FUTURE,
            "upload a file, or Force run the latest upload again",
            True,
            False,
            setup=(
                "Accept the reports the school will send.",
                "Upload a CTF, a OneRoster or SDS bundle, or a rollsync CSV per report, here or through the API.",
            ),
        ),
    )
}

HEADTEACHER_REPORTS_MIS = frozenset(n for n, m in MIS_CATALOGUE.items() if m.headteacher_reports)
FORCE_RUN_MIS = frozenset(n for n, m in MIS_CATALOGUE.items() if m.force_run)


def mis_info(name: str) -> MisInfo | None:
    """The facts of an MIS by name; None when none is set or rollsync does not know it."""
    return MIS_CATALOGUE.get(name)


def can_send(mis: str, report: str, *, attendance_service: bool = True) -> bool:
    """Whether a school on this MIS can send the report (`attendance_service`: whether
    the school uses a service that needs Attendance, for the MIS that grey it out
    otherwise). A school with no MIS set (or one rollsync does not know) is not
    narrowed: it uploads files by hand."""
    info = mis_info(mis)
    if info is None:
        return True
    if report == r.ATTENDANCE and info.attendance_needs_service and not attendance_service:
        return False
    return report in info.reports


def reports_not_sendable(
    mis: str, reports: Iterable[str], *, attendance_service: bool = True
) -> tuple[str, ...]:
    """The reports (of those given) the MIS cannot send, in the catalogue's order."""
    wanted = set(reports)
    return tuple(
        code
        for code in r.CATALOGUE
        if code in wanted and not can_send(mis, code, attendance_service=attendance_service)
    )
