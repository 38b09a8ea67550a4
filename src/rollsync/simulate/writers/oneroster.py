"""An IMS OneRoster 1.2 CSV bundle (bulk), zipped.

Files: manifest.csv, academicSessions.csv, orgs.csv, courses.csv, classes.csv,
users.csv, roles.csv, enrollments.csv, demographics.csv. In 1.2 a user's role
and school live in roles.csv (not users.csv). Bulk mode: `status` and
`dateLastModified` are left empty.

Mapping: users.sourcedId = the MIS ID; userIds = "{UPN:<upn>}" for pupils;
agentSourcedIds = a pupil's contacts in priority order (and a contact's
children); grades = "KG" for Reception, "01".."13"; orgs: the LA (district,
identifier = LA code) and the school (identifier = URN, sourcedId = LA code +
establishment number); roles.role: student, teacher, aide (teaching assistant),
principal, siteAdministrator (office), parent, guardian, relative; begin and end
dates carry start and leaving dates (a future starter has a later beginDate).
Registration groups are homeroom classes, teaching groups scheduled classes.
"""

from __future__ import annotations

from datetime import date

from rollsync.domain.oneroster_csv import (
    CLASSES,
    COURSES,
    DEMOGRAPHICS,
    ENROLLMENTS,
    MANIFEST_FILES,
    ORGS,
    ROLES,
    SESSIONS,
    USERS,
)
from rollsync.domain.records import GroupKind, MembershipRole
from rollsync.simulate.snapshot import ExportPerson, SchoolSnapshot
from rollsync.simulate.writers.common import (
    SUBJECT_NAMES,
    contact_role_word,
    csv_bytes,
    grade_code,
    iso,
    opt,
    sex_word,
    zip_bytes,
)

PRESENT = {
    "academicSessions",
    "classes",
    "courses",
    "demographics",
    "enrollments",
    "orgs",
    "roles",
    "users",
}
STAFF_ROLE = {
    "head": "principal",
    "teacher": "teacher",
    "ta": "aide",
    "office": "siteAdministrator",
}


def _year_label(year: str) -> str:
    return "Reception" if year == "R" else f"Year {year}"


def render(snap: SchoolSnapshot) -> dict[str, bytes]:
    la_org = f"LA{snap.la_code}"
    org = f"{snap.la_code}{snap.estab}"
    ay = f"AY{snap.academic_year}"
    agents: dict[str, list[str]] = {}
    relationship: dict[str, str] = {}
    for link in sorted(snap.links, key=lambda x: (x.pupil_mis_id, x.priority)):
        agents.setdefault(link.pupil_mis_id, []).append(link.contact_mis_id)
        agents.setdefault(link.contact_mis_id, []).append(link.pupil_mis_id)
        relationship.setdefault(link.contact_mis_id, link.relationship)

    files: dict[str, bytes] = {}
    files["manifest.csv"] = csv_bytes(
        ("propertyName", "value"),
        [("manifest.version", "1.0"), ("oneroster.version", "1.2")]
        + [(f"file.{name}", "bulk" if name in PRESENT else "absent") for name in MANIFEST_FILES]
        + [("source.systemName", snap.mis), ("source.systemCode", snap.mis.replace(" ", ""))],
    )
    year_start = date(snap.academic_year, 9, 1)
    year_end = date(snap.academic_year + 1, 8, 31)
    terms = (
        ("T1", "Autumn", date(snap.academic_year, 9, 1), date(snap.academic_year, 12, 18)),
        ("T2", "Spring", date(snap.academic_year + 1, 1, 4), date(snap.academic_year + 1, 3, 26)),
        ("T3", "Summer", date(snap.academic_year + 1, 4, 12), date(snap.academic_year + 1, 7, 21)),
    )
    school_year = str(snap.academic_year + 1)  # OneRoster names a school year by its end
    label = f"{snap.academic_year}/{(snap.academic_year + 1) % 100:02d}"
    files["academicSessions.csv"] = csv_bytes(
        SESSIONS,
        [(ay, "", "", label, "schoolYear", iso(year_start), iso(year_end), "", school_year)]
        + [
            (f"{ay}-{code}", "", "", f"{name} {label}", "term", iso(s), iso(e), ay, school_year)
            for code, name, s, e in terms
        ],
    )
    files["orgs.csv"] = csv_bytes(
        ORGS,
        [
            (la_org, "", "", snap.la_name, "district", snap.la_code, ""),
            (org, "", "", snap.school_name, "school", snap.urn, la_org),
        ],
    )

    classes = []
    courses: dict[str, tuple[str, ...]] = {}
    enrollments = []
    for g in snap.groups:
        if g.kind is GroupKind.YEAR:
            continue  # a year group is not a class in OneRoster; the grade says it
        subject = g.subject or ("REG" if g.kind is GroupKind.REGISTRATION else "CORE")
        course_id = f"CRS-{g.year}-{subject}"
        subject_name = SUBJECT_NAMES.get(g.subject or "", "")
        title = f"{_year_label(g.year)} {subject_name or ('Registration' if subject == 'REG' else 'Class')}"
        courses.setdefault(
            course_id,
            (
                course_id,
                "",
                "",
                ay,
                title,
                f"{g.year}{subject}",
                grade_code(g.year),
                org,
                subject_name,
                "",
            ),
        )
        class_type = "homeroom" if g.kind is GroupKind.REGISTRATION else "scheduled"
        classes.append(
            (
                g.mis_id,
                "",
                "",
                g.name,
                grade_code(g.year),
                course_id,
                g.name,
                class_type,
                "",
                org,
                ay,
                subject_name,
                "",
                "",
            )
        )
        for _, mis_id, membership in g.members:
            teacher = membership is MembershipRole.TEACHER
            enrollments.append(
                (
                    f"{g.mis_id}-{mis_id}",
                    "",
                    "",
                    g.mis_id,
                    org,
                    mis_id,
                    "teacher" if teacher else "student",
                    "true" if teacher else "false",
                    "",
                    "",
                )
            )
    files["courses.csv"] = csv_bytes(COURSES, list(courses.values()))
    files["classes.csv"] = csv_bytes(CLASSES, classes)
    files["enrollments.csv"] = csv_bytes(ENROLLMENTS, enrollments)

    users = []
    roles = []
    demographics = []

    def user(p: ExportPerson, grades: str, identifier: str) -> None:
        users.append(
            (
                p.mis_id,
                "",
                "",
                "true",
                p.email or p.mis_id,
                f"{{UPN:{p.upn}}}" if p.upn else "",
                p.legal_given,
                p.legal_family,
                opt(p.middle),
                identifier,
                opt(p.email),
                "",
                opt(p.phone),
                ",".join(agents.get(p.mis_id, [])),
                grades,
                "",
                "",
                "",
                opt(p.preferred_given),
                "",
                opt(p.preferred_family),
                org,
                "",
            )
        )

    for p in snap.pupils:
        user(p, grade_code(p.year_group), "")
        roles.append(
            (
                f"{p.mis_id}-{org}",
                "",
                "",
                p.mis_id,
                "primary",
                "student",
                iso(p.start_date),
                iso(p.leaving_date),
                org,
                "",
            )
        )
        demographics.append((p.mis_id, "", "", iso(p.dob), sex_word(p.gender)) + ("",) * 11)
    for p in snap.staff:
        user(p, "", opt(p.staff_code))
        role_name = STAFF_ROLE.get(p.staff_role or "", "teacher")
        roles.append(
            (
                f"{p.mis_id}-{org}",
                "",
                "",
                p.mis_id,
                "primary",
                role_name,
                iso(p.start_date),
                iso(p.leaving_date),
                org,
                "",
            )
        )
        demographics.append((p.mis_id, "", "", iso(p.dob), sex_word(p.gender)) + ("",) * 11)
    for c in snap.contacts:
        user(c, "", "")
        role_name = contact_role_word(relationship.get(c.mis_id, ""))
        roles.append((f"{c.mis_id}-{org}", "", "", c.mis_id, "primary", role_name, "", "", org, ""))
    files["users.csv"] = csv_bytes(USERS, users)
    files["roles.csv"] = csv_bytes(ROLES, roles)
    files["demographics.csv"] = csv_bytes(DEMOGRAPHICS, demographics)
    return {"oneroster.zip": zip_bytes(files, snap.date)}
