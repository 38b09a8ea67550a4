"""A OneRoster 1.2 CSV bundle (zip) from a roster.

Bulk: every file a rostering consumer reads, `status` and `dateLastModified` left
empty as the binding asks of bulk files. Delta (`Roster.since` set): users, roles
and demographics as deltas (`active`, or `tobedeleted` for a place lost), orgs and
academic sessions in bulk (a consumer needs the school's org in every bundle), and
no classes or enrollments (the roster a delta is written from holds none; the REST
provider serves them with their own change times).
"""

from __future__ import annotations

from datetime import date, datetime

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
from rollsync.domain.records import GroupKind, MembershipRole, Role

from .common import ONEROSTER_SEX, clean, csv_bytes, grade, iso_date, iso_time, zip_bytes
from .model import Roster
from .plan import Derived, derive

ACTIVE, DELETED = "active", "tobedeleted"
# The directory does not record a member of staff's job: every one is a teacher.
_PERSON_ROLE = {Role.PUPIL: "student", Role.STAFF: "teacher"}


class _Writer:
    def __init__(self, roster: Roster) -> None:
        self.roster = roster
        self.derived: Derived = derive(roster)
        self.delta = roster.is_delta
        year = roster.academic_year
        self.session_id = f"AY{year}"
        self.session = (date(year, 9, 1), date(year + 1, 8, 31), f"{year}/{(year + 1) % 100:02d}")

    def stamp(self, status: str, modified: datetime | None = None) -> tuple[str, str]:
        """`status` and `dateLastModified`: empty in bulk, as the binding asks."""
        if not self.delta:
            return "", ""
        return status, iso_time(modified or self.roster.since)

    def files(self) -> dict[str, bytes]:
        out = {
            "orgs.csv": self.orgs(),
            "academicSessions.csv": self.sessions(),
            "users.csv": self.users(),
            "roles.csv": self.roles(),
        }
        demographics = self.demographics()
        if demographics is not None:
            out["demographics.csv"] = demographics
        if not self.delta:
            out["courses.csv"] = self.courses()
            out["classes.csv"] = self.classes()
            out["enrollments.csv"] = self.enrollments()
        out["manifest.csv"] = self.manifest(set(out))
        return out

    def manifest(self, present: set[str]) -> bytes:
        always_bulk = {"orgs", "academicSessions"}
        rows: list[tuple[str, str]] = [("manifest.version", "1.0"), ("oneroster.version", "1.2")]
        for name in MANIFEST_FILES:
            if f"{name}.csv" not in present:
                mode = "absent"
            elif self.delta and name not in always_bulk:
                mode = "delta"
            else:
                mode = "bulk"
            rows.append((f"file.{name}", mode))
        rows += [("source.systemName", self.roster.system_name), ("source.systemCode", "rollsync")]
        return csv_bytes(("propertyName", "value"), rows)

    def orgs(self) -> bytes:
        return csv_bytes(
            ORGS,
            [
                (o.sourced_id, "", "", clean(o.name), o.kind, o.identifier, o.parent_id or "")
                for o in self.roster.orgs
            ],
        )

    def sessions(self) -> bytes:
        start, end, title = self.session
        return csv_bytes(
            SESSIONS,
            [
                (
                    self.session_id,
                    "",
                    "",
                    title,
                    "schoolYear",
                    iso_date(start),
                    iso_date(end),
                    "",
                    str(self.roster.academic_year + 1),
                )
            ],
        )

    def users(self) -> bytes:
        rows = []
        for p in self.roster.people:
            active = self.derived.active(p.uid)
            if not active and not self.delta:
                continue
            places = self.derived.placements.get(p.uid, [])
            # A user changes when their account or one of their places does (a leaver's
            # account is unchanged, their place is not).
            times = [t for t in (p.modified, *(x.modified for x in places)) if t is not None]
            status, modified = self.stamp(ACTIVE if active else DELETED, max(times, default=None))
            is_pupil = any(x.role is Role.PUPIL for x in places)
            user_ids = f"{{UPN:{p.upn}}}" if p.upn and is_pupil else ""
            primary = next(
                (x.org_id for x in places if x.active), places[0].org_id if places else ""
            )
            rows.append(
                (
                    p.uid, status, modified, "true" if active else "false", p.username, user_ids,
                    clean(p.given_name), clean(p.family_name), clean(p.middle_names), "",
                    clean(p.email), "", clean(p.phone),
                    ",".join(self.derived.agents.get(p.uid, ())),
                    grade(self.derived.grade_of(p.uid)) if is_pupil else "", "", "", "",
                    clean(p.preferred_given_name), "", clean(p.preferred_family_name), primary, "",
                )
            )  # fmt: skip
        return csv_bytes(USERS, rows)

    def roles(self) -> bytes:
        rows = []
        primary_done: set[str] = set()
        for x in self.roster.placements:
            if not x.active and not self.delta:
                continue
            if x.role is Role.CONTACT:
                role = self.derived.contact_roles.get(x.uid, "parent")
            else:
                role = _PERSON_ROLE[x.role]
            role_type = "secondary" if x.uid in primary_done else "primary"
            primary_done.add(x.uid)
            status, modified = self.stamp(ACTIVE if x.active else DELETED, x.modified)
            rows.append(
                (
                    f"{x.uid}-{x.org_id}-{x.role.value}", status, modified, x.uid, role_type, role,
                    iso_date(x.start_date), iso_date(x.leaving_date), x.org_id, "",
                )
            )  # fmt: skip
        return csv_bytes(ROLES, rows)

    def demographics(self) -> bytes | None:
        rows = []
        for p in self.roster.people:
            if p.date_of_birth is None and p.gender is None:
                continue
            if not self.derived.active(p.uid):
                continue  # a person to be deleted needs no demographics
            status, modified = self.stamp(ACTIVE, p.modified)
            sex = ONEROSTER_SEX[p.gender] if p.gender else ""
            rows.append((p.uid, status, modified, iso_date(p.date_of_birth), sex) + ("",) * 11)
        return csv_bytes(DEMOGRAPHICS, rows) if rows else None

    def courses(self) -> bytes:
        return csv_bytes(
            COURSES,
            [
                (
                    f"course-{g.id}",
                    "",
                    "",
                    self.session_id,
                    clean(g.title),
                    "",
                    "",
                    g.org_id,
                    "",
                    "",
                )
                for g in self.roster.groups
            ],
        )

    def classes(self) -> bytes:
        rows = []
        for g in self.roster.groups:
            kind = "homeroom" if g.kind is GroupKind.REGISTRATION else "scheduled"
            rows.append(
                (
                    g.id, "", "", clean(g.title), "", f"course-{g.id}", "", kind, "", g.org_id,
                    self.session_id, "", "", "",
                )
            )  # fmt: skip
        return csv_bytes(CLASSES, rows)

    def enrollments(self) -> bytes:
        org_of = {g.id: g.org_id for g in self.roster.groups}
        rows = []
        for e in self.roster.memberships:
            role = "student" if e.role is MembershipRole.STUDENT else "teacher"
            rows.append(
                (
                    f"{e.group_id}-{e.uid}-{role}", "", "", e.group_id, org_of[e.group_id], e.uid,
                    role, "false", "", "",
                )
            )  # fmt: skip
        return csv_bytes(ENROLLMENTS, rows)


def oneroster_files(roster: Roster) -> dict[str, bytes]:
    """The bundle's files by name (for tests and counts)."""
    return _Writer(roster).files()


def write_oneroster(roster: Roster) -> bytes:
    return zip_bytes(oneroster_files(roster))
