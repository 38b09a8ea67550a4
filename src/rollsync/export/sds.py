"""A Microsoft School Data Sync v2.1 CSV bundle (zip) from a roster.

SDS v2.1 has no delta: every upload is a full set of files, and SDS treats a record
missing from it as no longer active. A roster with `since` set is written in the same
shape but holds only the people changed since then who are still placed (a leaver
cannot be said in SDS, only left out): it is for reading, never for an SDS inbound
flow, where it would end everyone else (docs/downstream.md "Exports").
"""

from __future__ import annotations

from rollsync.domain.records import MembershipRole, Role

from .common import SDS_SEX, clean, contact_role, csv_bytes, grade, iso_date, zip_bytes
from .model import Roster
from .plan import derive

ORGS = ("sourcedId", "name", "type", "parentSourcedId")
USERS = (
    "sourcedId", "username", "givenName", "familyName", "password", "activeDirectoryMatchId",
    "email", "phone", "sms",
)  # fmt: skip
ROLES = (
    "userSourcedId", "orgSourcedId", "role", "sessionSourcedId", "grade", "isPrimary",
    "roleStartDate", "roleEndDate",
)  # fmt: skip
CLASSES = ("sourcedId", "orgSourcedId", "title", "sessionSourcedIds", "courseSourcedId", "code")
ENROLLMENTS = ("classSourcedId", "userSourcedId", "role")
DEMOGRAPHICS = (
    "userSourcedId", "sex", "birthDate", "birthCity", "birthState", "birthCountry",
    "ethnicityCodes", "raceCodes",
)  # fmt: skip
RELATIONSHIPS = ("userSourcedId", "relationshipUserSourcedId", "relationshipRole")
# The directory does not record a member of staff's job: every one is a teacher.
_PERSON_ROLE = {Role.PUPIL: "student", Role.STAFF: "teacher"}


def sds_files(roster: Roster) -> dict[str, bytes]:
    """The bundle's files by name (for tests and counts)."""
    derived = derive(roster)
    people = [p for p in roster.people if derived.active(p.uid)]
    placed = {p.uid for p in people}
    files = {
        "orgs.csv": csv_bytes(
            ORGS,
            [(o.sourced_id, clean(o.name), o.kind, o.parent_id or "") for o in roster.orgs],
        ),
        "users.csv": csv_bytes(
            USERS,
            [
                (
                    p.uid,
                    p.username,
                    clean(p.given_name),
                    clean(p.family_name),
                    "",
                    "",
                    clean(p.email),
                    clean(p.phone),
                    "",
                )
                for p in people
            ],
        ),
    }
    primary_done: set[str] = set()
    roles = []
    for x in roster.placements:
        # SDS has no contact role: contacts are users named by relationships.csv.
        if not x.active or x.role is Role.CONTACT:
            continue
        is_primary = "false" if x.uid in primary_done else "true"
        primary_done.add(x.uid)
        roles.append(
            (
                x.uid, x.org_id, _PERSON_ROLE[x.role], "",
                grade(x.year_group) if x.role is Role.PUPIL else "", is_primary,
                iso_date(x.start_date), iso_date(x.leaving_date),
            )
        )  # fmt: skip
    files["roles.csv"] = csv_bytes(ROLES, roles)
    demographics = [
        (p.uid, SDS_SEX[p.gender] if p.gender else "", iso_date(p.date_of_birth)) + ("",) * 5
        for p in people
        if p.date_of_birth is not None or p.gender is not None
    ]
    if demographics:
        files["demographics.csv"] = csv_bytes(DEMOGRAPHICS, demographics)
    if not roster.is_delta:
        files["classes.csv"] = csv_bytes(
            CLASSES, [(g.id, g.org_id, clean(g.title), "", "", "") for g in roster.groups]
        )
        files["enrollments.csv"] = csv_bytes(
            ENROLLMENTS,
            [
                (e.group_id, e.uid, "student" if e.role is MembershipRole.STUDENT else "teacher")
                for e in roster.memberships
            ],
        )
    links = [
        (link.pupil_uid, link.contact_uid, contact_role(link.relationship))
        for link in roster.links
        if link.pupil_uid in placed and link.contact_uid in placed
    ]
    if links:
        files["relationships.csv"] = csv_bytes(RELATIONSHIPS, links)
    return files


def write_sds(roster: Roster) -> bytes:
    return zip_bytes(sds_files(roster))
