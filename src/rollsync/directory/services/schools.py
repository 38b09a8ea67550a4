"""Region, LA and school set-up: registering schools, GIAS import, reports and opt-outs."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from rollsync.directory import models as m
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.errors import ServiceError
from rollsync.domain.mis import can_send, reports_not_sendable
from rollsync.domain.records import RowError
from rollsync.domain.reports import CATALOGUE, CONTACTS, GROUPS, STAFF, STUDENTS, validate_opt_out

# A new school accepts the current reports most schools use; future and attendance are opt-in.
DEFAULT_ACCEPTED_REPORTS = (STUDENTS, STAFF, CONTACTS, GROUPS)

_URN = re.compile(r"^[0-9]{6,7}$")
_LA = re.compile(r"^[0-9]{3}$")
_ESTAB = re.compile(r"^[0-9]{4}$")


class SchoolError(ServiceError, ValueError):
    """Bad set-up input; the message names the field."""


SetupError = SchoolError  # the name most callers know


class ReportNotSendable(SetupError):
    """The school's MIS cannot send the report, so it cannot be accepted."""


def region_get_default() -> m.Region:
    region, _ = m.Region.objects.get_or_create(
        name="Default region",
        defaults={"username_pattern": settings.ROLLSYNC_USERNAME_PATTERN},
    )
    return region


def _validate_school_fields(*, urn: str, la_code: str, estab: str, name: str) -> None:
    if not _URN.match(urn):
        raise SetupError(f"URN {urn!r} must be 6 or 7 digits")
    if not _LA.match(la_code):
        raise SetupError(f"LA code {la_code!r} must be three digits")
    if not _ESTAB.match(estab):
        raise SetupError(f"establishment number {estab!r} must be four digits")
    if not name.strip():
        raise SetupError("school name must not be empty")


@transaction.atomic
def school_add(
    *,
    urn: str,
    la_code: str,
    estab: str,
    name: str,
    la_name: str | None = None,
    phase: str = "",
    status: str = "Open",
    mis: str = "",
    accept_reports: tuple[str, ...] = DEFAULT_ACCEPTED_REPORTS,
    actor: str = "cli",
) -> m.School:
    """Register a school (its LA is created on first use). Re-adding a URN with the same
    details changes nothing; with different details it updates them."""
    urn, la_code, estab = urn.strip(), la_code.strip(), estab.strip()
    _validate_school_fields(urn=urn, la_code=la_code, estab=estab, name=name)
    la, la_created = m.LocalAuthority.objects.get_or_create(
        code=la_code, defaults={"region": region_get_default(), "name": la_name or ""}
    )
    if la_name and not la_created and la.name != la_name:
        la.name = la_name
        la.save(update_fields=["name"])
    clash = m.School.objects.filter(la=la, estab=estab).exclude(urn=urn).first()
    if clash is not None:
        raise SetupError(
            f"LA {la_code} establishment {estab} is already school {clash.urn} ({clash.name})"
        )
    school, created = m.School.objects.get_or_create(
        urn=urn,
        defaults={
            "la": la,
            "estab": estab,
            "name": name.strip(),
            "phase": phase,
            "status": status,
            "mis": mis,
        },
    )
    audit = AuditLog(actor=actor, school=school)
    if created:
        # A new school accepts the (default) reports its MIS can send.
        for report in accept_reports:
            if can_send(school.mis, report, attendance_service=school.attendance_service):
                m.ReportAcceptance.objects.create(school=school, report=report)
        audit.add("school_added", f"School {urn} {name} registered in LA {la_code}")
    else:
        changes = {}
        for attr, value in (
            ("la", la),
            ("estab", estab),
            ("name", name.strip()),
            ("phase", phase),
            ("status", status),
        ):
            if value and getattr(school, attr) != value:
                changes[attr] = [str(getattr(school, attr)), str(value)]
                setattr(school, attr, value)
        if mis and school.mis != mis:
            changes["mis"] = [school.mis, mis]
            school.mis = mis
        if changes:
            school.save()
            audit.add("school_updated", f"School {urn} details changed", changes=changes)
            if "mis" in changes:  # Change MIS's rule holds here too
                school_reports_withdraw_not_sendable(school=school, mis=mis, audit=audit)
    audit.flush()
    return school


@dataclass
class GiasImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


_GIAS_COLUMNS = {
    "urn": "URN",
    "la_code": "LA (code)",
    "la_name": "LA (name)",
    "estab": "EstablishmentNumber",
    "name": "EstablishmentName",
    "phase": "PhaseOfEducation (name)",
    "status": "EstablishmentStatus (name)",
}


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")  # GIAS downloads are Windows-1252


def schools_import_gias(*, path: Path, actor: str = "cli") -> GiasImportResult:
    """Load establishments from a GIAS 'edubasealldata' CSV. Bad rows are reported and
    skipped; good rows are registered or updated, each in its own transaction."""
    result = GiasImportResult()
    reader = csv.DictReader(io.StringIO(_decode(path.read_bytes())))
    headers = {h.strip(): h for h in reader.fieldnames or []}
    missing = [col for col in _GIAS_COLUMNS.values() if col not in headers]
    if missing:
        result.errors.append(RowError(None, ", ".join(missing), "missing GIAS column(s)"))
        return result
    for line_no, row in enumerate(reader, start=2):
        values = {key: (row.get(headers[col]) or "").strip() for key, col in _GIAS_COLUMNS.items()}
        estab = values["estab"].zfill(4) if values["estab"].isdigit() else values["estab"]
        try:
            before = (
                m.School.objects.filter(urn=values["urn"])
                .values_list("name", "phase", "status", "estab")
                .first()
            )
            school_add(
                urn=values["urn"],
                la_code=values["la_code"],
                estab=estab,
                name=values["name"],
                la_name=values["la_name"] or None,
                phase=values["phase"],
                status=values["status"],
                actor=actor,
            )
        except SetupError as exc:
            field_name = _field_for_error(str(exc))
            result.errors.append(RowError(line_no, field_name, str(exc)))
            continue
        if before is None:
            result.created += 1
        elif before == (values["name"], values["phase"], values["status"], estab):
            result.unchanged += 1
        else:
            result.updated += 1
    return result


def _field_for_error(message: str) -> str:
    for prefix, column in (
        ("URN", "URN"),
        ("LA code", "LA (code)"),
        ("establishment", "EstablishmentNumber"),
        ("school name", "EstablishmentName"),
    ):
        if message.startswith(prefix):
            return column
    return "EstablishmentNumber"


@transaction.atomic
def school_report_set(*, school: m.School, report: str, accepted: bool, actor: str) -> bool:
    """Accept or remove a report; returns whether anything changed."""
    if report not in CATALOGUE:
        raise SetupError(f"unknown report {report!r}; known: {', '.join(CATALOGUE)}")
    audit = AuditLog(actor=actor, school=school)
    if accepted:
        if not can_send(school.mis, report, attendance_service=school.attendance_service):
            why = (
                f"{school.mis} greys it out unless the school uses a service that needs it; "
                "the region enables that"
                if can_send(school.mis, report)
                else f"{school.mis} cannot send it"
            )
            raise ReportNotSendable(f"{CATALOGUE[report].label} cannot be accepted: {why}")
        _, created = m.ReportAcceptance.objects.get_or_create(school=school, report=report)
        if created:
            audit.add("report_accepted", f"{CATALOGUE[report].label} report accepted")
        changed = created
    else:
        deleted, _ = m.ReportAcceptance.objects.filter(school=school, report=report).delete()
        if deleted:
            audit.add("report_removed", f"{CATALOGUE[report].label} report removed")
        changed = bool(deleted)
    audit.flush()
    return changed


@dataclass(frozen=True)
class MisChange:
    """What Change MIS did: whether the MIS changed, and the accepted reports it withdrew
    because the new MIS cannot send them (report codes, catalogue order)."""

    changed: bool
    withdrawn: tuple[str, ...]


def school_reports_not_sendable(*, school: m.School, mis: str) -> tuple[str, ...]:
    """The reports the school accepts that this MIS cannot send (catalogue order)."""
    accepted = m.ReportAcceptance.objects.filter(school=school).values_list("report", flat=True)
    return reports_not_sendable(mis, accepted, attendance_service=school.attendance_service)


def school_reports_withdraw_not_sendable(
    *, school: m.School, mis: str, audit: AuditLog
) -> tuple[str, ...]:
    """Change MIS's rule: the accepted reports the new MIS cannot send are withdrawn (one
    `report_removed` event each, in the caller's transaction and audit log), so a school
    never accepts a report its MIS cannot send. Returns the withdrawn report codes."""
    withdrawn = school_reports_not_sendable(school=school, mis=mis)
    if withdrawn:
        m.ReportAcceptance.objects.filter(school=school, report__in=withdrawn).delete()
        for code in withdrawn:
            audit.add(
                "report_removed",
                f"{CATALOGUE[code].label} report removed: {mis} cannot send it",
            )
    return withdrawn


@transaction.atomic
def school_field_opt_out_set(
    *, school: m.School, report: str, field_name: str, opted_out: bool, actor: str
) -> bool:
    validate_opt_out(report, field_name)  # mandatory fields cannot be opted out of
    audit = AuditLog(actor=actor, school=school)
    if opted_out:
        _, changed = m.FieldOptOut.objects.get_or_create(
            school=school, report=report, field=field_name
        )
        if changed:
            audit.add(
                "field_opted_out",
                f"{field_name} of {CATALOGUE[report].label} is no longer uploaded",
            )
    else:
        deleted, _ = m.FieldOptOut.objects.filter(
            school=school, report=report, field=field_name
        ).delete()
        changed = bool(deleted)
        if changed:
            audit.add(
                "field_opted_in", f"{field_name} of {CATALOGUE[report].label} is uploaded again"
            )
    audit.flush()
    return changed


@transaction.atomic
def school_policy_set(
    *,
    school: m.School,
    actor: str,
    guard_unallocate_pct: float | None = None,
    leaver_grace_days: int | None = None,
) -> dict[str, list[object]]:
    """Change the school's guard threshold and leaver grace period; returns what changed."""
    changes: dict[str, list[object]] = {}
    if guard_unallocate_pct is not None:
        if not 0 <= guard_unallocate_pct <= 100:
            raise SetupError(
                f"guard threshold {guard_unallocate_pct} must be a percentage from 0 to 100"
            )
        if guard_unallocate_pct != school.guard_unallocate_pct:
            changes["guard_unallocate_pct"] = [school.guard_unallocate_pct, guard_unallocate_pct]
            school.guard_unallocate_pct = guard_unallocate_pct
    if leaver_grace_days is not None:
        if not 0 <= leaver_grace_days <= 366:
            raise SetupError(f"grace period {leaver_grace_days} must be from 0 to 366 days")
        if leaver_grace_days != school.leaver_grace_days:
            changes["leaver_grace_days"] = [school.leaver_grace_days, leaver_grace_days]
            school.leaver_grace_days = leaver_grace_days
    if changes:
        school.save()
        audit = AuditLog(actor=actor, school=school)
        audit.add(
            "school_policy_changed",
            "Guard threshold or leaver grace period changed",
            changes=changes,
        )
        audit.flush()
    return changes


@transaction.atomic
def school_mis_set(*, school: m.School, mis: str, actor: str) -> MisChange:
    """Change MIS: record which MIS the school now runs. The accepted reports the new MIS
    cannot send are withdrawn (`school_reports_withdraw_not_sendable`); the result says
    whether anything changed and which reports were withdrawn."""
    mis = mis.strip()
    if school.mis == mis:
        return MisChange(changed=False, withdrawn=())
    audit = AuditLog(actor=actor, school=school)
    audit.add(
        "school_mis_changed",
        f"MIS changed from {school.mis or 'none'} to {mis or 'none'} by {actor}",
        changes={"mis": [school.mis, mis]},
    )
    withdrawn = school_reports_withdraw_not_sendable(school=school, mis=mis, audit=audit)
    school.mis = mis
    school.save(update_fields=["mis"])
    audit.flush()
    return MisChange(changed=True, withdrawn=withdrawn)


def school_attendance_service_set(*, school: m.School, enabled: bool, actor: str) -> bool:
    """Whether the school uses a service that needs Attendance (the region enables it).
    Switched off, an accepted Attendance report its MIS then greys out is withdrawn.
    Returns whether anything changed."""
    with transaction.atomic():
        locked = m.School.objects.select_for_update().get(pk=school.pk)
        if locked.attendance_service == enabled:
            school.attendance_service = enabled
            return False
        audit = AuditLog(actor=actor, school=locked)
        audit.add(
            "attendance_service_changed",
            f"attendance service {'enabled' if enabled else 'disabled'} by {actor}",
            changes={"attendance_service": [locked.attendance_service, enabled]},
        )
        locked.attendance_service = school.attendance_service = enabled
        locked.save(update_fields=["attendance_service"])
        school_reports_withdraw_not_sendable(school=locked, mis=locked.mis, audit=audit)
        audit.flush()
    return True
