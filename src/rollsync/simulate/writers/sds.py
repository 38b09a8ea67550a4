"""A Microsoft School Data Sync v2.1 CSV set, zipped.

Files: orgs.csv, users.csv, roles.csv, classes.csv, enrollments.csv,
academicSessions.csv, relationships.csv, demographics.csv (UTF-8, ISO dates).

Mapping: orgs.sourcedId is the URN for the school (type school) and "LA<code>"
for the LA (type localAuthority); users.sourcedId = the MIS ID; users.userNumber
= a pupil's UPN (a staff member's staff code); phones in E.164. Pupils and
staff have a roles.csv row (student; teacher, teacherAssistant, principal,
officeStaff) with the grade ("KG", "01".."13") and start and leaving dates;
contacts appear only in users.csv and relationships.csv (relationshipRole
parent, guardian or relative, rows in priority order). SDS has no preferred
names or contact priority columns: those are lost, as in real SDS feeds.
"""

from __future__ import annotations

from rollsync.domain.records import GroupKind, Role
from rollsync.simulate.snapshot import SchoolSnapshot
from rollsync.simulate.writers.common import (
    contact_role_word,
    csv_bytes,
    e164,
    grade_code,
    iso,
    opt,
    sex_word,
    zip_bytes,
)

USERS = ("sourcedId", "username", "givenName", "familyName", "password", "activeDirectoryMatchId", "email", "phone", "sms", "userNumber")  # fmt: skip
ROLES = ("userSourcedId", "orgSourcedId", "role", "sessionSourcedId", "grade", "isPrimary", "roleStartDate", "roleEndDate")  # fmt: skip
STAFF_ROLE = {
    "head": "principal",
    "teacher": "teacher",
    "ta": "teacherAssistant",
    "office": "officeStaff",
}


def render(snap: SchoolSnapshot) -> dict[str, bytes]:
    la_org = f"LA{snap.la_code}"
    org = snap.urn
    ay = f"AY{snap.academic_year}"
    files: dict[str, bytes] = {}
    files["orgs.csv"] = csv_bytes(
        ("sourcedId", "name", "type", "parentSourcedId"),
        [(la_org, snap.la_name, "localAuthority", ""), (org, snap.school_name, "school", la_org)],
    )
    files["academicSessions.csv"] = csv_bytes(
        ("sourcedId", "title", "type", "schoolYear", "startDate", "endDate"),
        [
            (
                ay,
                f"{snap.academic_year}/{(snap.academic_year + 1) % 100:02d}",
                "schoolYear",
                str(snap.academic_year + 1),
                f"{snap.academic_year}-09-01",
                f"{snap.academic_year + 1}-08-31",
            )
        ],
    )
    users = []
    roles = []
    demographics = []
    for p in snap.pupils:
        username = p.email or f"{p.mis_id.lower()}@{snap.domain}"
        users.append(
            (
                p.mis_id,
                username,
                p.legal_given,
                p.legal_family,
                "",
                "",
                opt(p.email),
                "",
                "",
                opt(p.upn),
            )
        )
        roles.append(
            (
                p.mis_id,
                org,
                "student",
                ay,
                grade_code(p.year_group),
                "true",
                iso(p.start_date),
                iso(p.leaving_date),
            )
        )
        demographics.append((p.mis_id, sex_word(p.gender), iso(p.dob)))
    for p in snap.staff:
        username = p.email or f"{p.mis_id.lower()}@{snap.domain}"
        users.append(
            (
                p.mis_id,
                username,
                p.legal_given,
                p.legal_family,
                "",
                username,
                opt(p.email),
                e164(p.phone),
                "",
                opt(p.staff_code),
            )
        )
        role = STAFF_ROLE.get(p.staff_role or "", "teacher")
        roles.append((p.mis_id, org, role, ay, "", "true", iso(p.start_date), iso(p.leaving_date)))
        demographics.append((p.mis_id, sex_word(p.gender), iso(p.dob)))
    for c in snap.contacts:
        username = c.email or f"{c.mis_id.lower()}@parents.{snap.domain}"
        users.append(
            (
                c.mis_id,
                username,
                c.legal_given,
                c.legal_family,
                "",
                "",
                opt(c.email),
                e164(c.phone),
                e164(c.phone),
                "",
            )
        )
    files["users.csv"] = csv_bytes(USERS, users)
    files["roles.csv"] = csv_bytes(ROLES, roles)
    files["demographics.csv"] = csv_bytes(("userSourcedId", "sex", "birthDate"), demographics)
    files["relationships.csv"] = csv_bytes(
        ("userSourcedId", "relationshipUserSourcedId", "relationshipRole"),
        [
            (x.pupil_mis_id, x.contact_mis_id, contact_role_word(x.relationship))
            for x in sorted(snap.links, key=lambda x: (x.pupil_mis_id, x.priority))
        ],
    )
    classes = []
    enrollments = []
    for g in snap.groups:
        if g.kind is GroupKind.YEAR:
            continue
        classes.append((g.mis_id, org, g.name, ay))
        for role_of, mis_id, _ in g.members:
            enrollments.append(
                (g.mis_id, mis_id, "teacher" if role_of is Role.STAFF else "student")
            )
    files["classes.csv"] = csv_bytes(
        ("sourcedId", "orgSourcedId", "title", "sessionSourcedIds"), classes
    )
    files["enrollments.csv"] = csv_bytes(("classSourcedId", "userSourcedId", "role"), enrollments)
    return {"sds.zip": zip_bytes(files, snap.date)}
