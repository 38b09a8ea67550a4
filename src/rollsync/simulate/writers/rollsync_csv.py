"""The documented rollsync CSV: one file per report, header = the report's
field names in `rollsync.domain.reports.CATALOGUE`, dates ISO 8601.

Contacts have one row per contact-pupil link; groups one row per membership;
attendance one row per mark. Every report the MIS sends is written every day,
even when empty (a header-only file), as a real nightly export is.
"""

from __future__ import annotations

from rollsync.domain import reports as r
from rollsync.simulate.snapshot import ExportPerson, SchoolSnapshot
from rollsync.simulate.writers.common import csv_bytes, iso, opt


def _person(p: ExportPerson) -> dict[str, str]:
    return {
        "mis_id": p.mis_id,
        "legal_given_name": p.legal_given,
        "legal_family_name": p.legal_family,
        "date_of_birth": iso(p.dob),
        "preferred_given_name": opt(p.preferred_given),
        "preferred_family_name": opt(p.preferred_family),
        "middle_names": opt(p.middle),
        "gender": p.gender.value,
        "upn": opt(p.upn),
        "start_date": iso(p.start_date),
        "leaving_date": iso(p.leaving_date),
        "year_group": opt(p.year_group),
        "registration_group": opt(p.reg_group),
        "title": opt(p.title),
        "staff_code": opt(p.staff_code),
        "email": opt(p.email),
        "phone": opt(p.phone),
        "postcode": p.address.postcode if p.address else "",
        "address": p.address.one_line(postcode=False) if p.address else "",
    }


def _rows(snap: SchoolSnapshot, report: str) -> list[dict[str, str]]:
    if report in (r.STUDENTS, r.STUDENTS_FUTURE):
        future = report == r.STUDENTS_FUTURE
        return [_person(p) for p in snap.pupils if p.future == future]
    if report in (r.STAFF, r.STAFF_FUTURE):
        future = report == r.STAFF_FUTURE
        return [_person(p) for p in snap.staff if p.future == future]
    if report == r.CONTACTS:
        contacts = {c.mis_id: c for c in snap.contacts}
        out = []
        for link in snap.links:
            row = _person(contacts[link.contact_mis_id])
            row.update(
                pupil_mis_id=link.pupil_mis_id,
                priority=str(link.priority),
                parental_responsibility="true" if link.parental_responsibility else "false",
                relationship=link.relationship,
            )
            out.append(row)
        return out
    if report == r.GROUPS:
        return [
            {
                "group_mis_id": g.mis_id,
                "group_name": g.name,
                "group_kind": g.kind.value,
                "person_role": role.value,
                "person_mis_id": mis_id,
                "membership_role": membership.value,
            }
            for g in snap.groups
            for role, mis_id, membership in g.members
        ]
    if report == r.ATTENDANCE:
        return [
            {
                "pupil_mis_id": m.pupil_mis_id,
                "date": iso(m.date),
                "session": m.session,
                "code": m.code,
            }
            for m in snap.attendance
        ]
    raise ValueError(f"unknown report {report!r}")


def render(snap: SchoolSnapshot) -> dict[str, bytes]:
    """{"students.csv": bytes, ...} for every report the school's MIS sends."""
    out: dict[str, bytes] = {}
    for report in sorted(snap.reports):
        header = [f.name for f in r.CATALOGUE[report].fields]
        rows = _rows(snap, report)
        out[f"{report}.csv"] = csv_bytes(header, ([row.get(h, "") for h in header] for row in rows))
    return out
