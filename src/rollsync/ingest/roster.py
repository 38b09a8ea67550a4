"""What OneRoster and Microsoft SDS v2.1 bundles share.

Both describe orgs, users, the roles users hold at orgs, demographics, classes
and enrollments in similar CSV files. This module turns those into canonical
records for one school; the two format modules say where each piece lives.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from rollsync.domain.limits import MAX_LENGTHS
from rollsync.domain.quick import quick_init
from rollsync.domain.records import (
    ContactLink,
    Gender,
    GroupKind,
    GroupRecord,
    MembershipRecord,
    MembershipRole,
    PersonRecord,
    Role,
)
from rollsync.domain.reports import CONTACTS, GROUPS, STAFF, STUDENTS
from rollsync.domain.state import SchoolRef

from . import values as v
from .collect import BatchCollector, mandatory_for, role_word
from .csvtable import CsvRow, CsvTable
from .errors import BadValue, FileRejected
from .schools import Match, describe, identifier_match

USERS = "users.csv"
DEMOGRAPHICS = "demographics.csv"
SKIPPED = "the user was skipped"
KEPT = "the user was imported without it (rollsync keeps what it holds for it)"

# users.csv columns -> the field they carry: a bundle without the column claims
# nothing about the field, so it is unknown (the stored value is kept).
_USER_COLUMNS: dict[str, tuple[str, ...]] = {
    "middle_names": ("middlename",),
    "preferred_given_name": ("preferredgivenname", "preferredfirstname"),
    "preferred_family_name": ("preferredfamilyname", "preferredlastname"),
    "email": ("email",),
    "phone": ("phone", "sms"),
}
# What only demographics carries.
DEMOGRAPHIC_FIELDS = frozenset(("date_of_birth", "gender"))


@dataclass(frozen=True, slots=True)
class OrgMatch:
    ids: frozenset[str]  # sourcedIds of the orgs that are the target school
    declared_urn: str | None
    declared_la_code: str | None
    declared_estab: str | None


def match_orgs(
    table: CsvTable,
    school: SchoolRef,
    *,
    id_keys: tuple[str, ...],
    skip: Callable[[CsvRow], bool] = lambda row: False,
) -> OrgMatch:
    """The orgs whose identifier (first of `id_keys` present) names the school.

    Records of other orgs (another school in a trust's bundle, the trust
    itself) are left out; a bundle with no org for this school is refused.
    """
    ids: set[str] = set()
    seen: list[str] = []
    kinds: set[Match] = set()
    for row in table:
        if skip(row):
            continue
        for key in id_keys:
            identifier = row.get(key)
            if not identifier:
                continue
            seen.append(identifier)
            match = identifier_match(identifier, school)
            if match is not None:
                ids.add(row.get("sourcedid"))
                kinds.add(match)
    if not ids:
        found = ", ".join(seen[:10]) + (" ..." if len(seen) > 10 else "") if seen else "none"
        raise FileRejected(
            f"no org in orgs.csv is {describe(school)}: the identifiers found are {found}",
            field=table.label(id_keys[0]),
            source="orgs.csv",
        )
    by_urn, by_dfe = Match.URN in kinds, Match.DFE in kinds
    return OrgMatch(
        ids=frozenset(ids),
        declared_urn=school.urn if by_urn else None,
        declared_la_code=school.la_code if by_dfe else None,
        declared_estab=school.estab if by_dfe else None,
    )


def split_list(raw: str) -> list[str]:
    """A multi-value cell: 'a,b, c' -> ['a', 'b', 'c']."""
    if "," not in raw:  # one value or none, the common case: no list to build
        item = raw.strip()
        return [item] if item else []
    return [item.strip() for item in raw.split(",") if item.strip()]


@quick_init
@dataclass(frozen=True, slots=True)
class Assignment:
    """A role a user holds at an org (users.csv in OneRoster 1.1, roles.csv later)."""

    user_id: str
    role: str  # as the file writes it
    kind: Role | None  # what rollsync makes of it; None: not a person it imports
    org: str
    active: bool
    row: int
    source: str


def read_demographics(table: CsvTable, out: BatchCollector, *, id_key: str) -> dict[str, CsvRow]:
    by_user: dict[str, CsvRow] = {}
    for row in table:
        user_id = row.get(id_key)
        if not user_id:
            continue
        if user_id in by_user:
            out.error(
                row.line,
                table.label(id_key),
                f"{user_id} already has demographics in row {by_user[user_id].line}; "
                "this row was ignored",
                DEMOGRAPHICS,
            )
            continue
        by_user[user_id] = row
    return by_user


@dataclass
class PeopleBuilder:
    """Builds PersonRecords from users.csv rows plus their demographics."""

    out: BatchCollector
    users: CsvTable
    demographics: dict[str, CsvRow] | None  # None: the bundle carries no demographics
    demographics_labels: CsvTable | None = None
    # pupil id -> homeroom; None: the bundle has no classes and enrollments, so it
    # says nothing about registration groups.
    registration: dict[str, str] | None = field(default_factory=dict)

    def person(
        self,
        row: CsvRow,
        role: Role,
        *,
        year_group: str | None = None,
        upn: str | None = None,
        unknown: Iterable[str] = (),
    ) -> PersonRecord | None:
        """The user as a person of `role`; None when a mandatory value is missing or
        unreadable (each reported), and then their MIS ID is noted as refused: the
        bundle still lists them, so they must not look like a leaver. `unknown`
        names fields the caller could not read (a bad UPN)."""
        mis_id = row.get("sourcedid")
        if self._damaged(row, role):
            return None
        given = self._name(row, "givenname")
        family = self._name(row, "familyname")
        self._unknown = set(unknown)
        born, gender = self._demographics(row, role)
        # A missing date of birth was reported if the catalogue makes it mandatory.
        born_missing = born is None and mandatory_for(role, "date_of_birth")
        if given is None or family is None or born_missing:
            self.out.reject_person(role, mis_id, row=row.line, source=USERS)
            return None
        self._unknown |= self._fields_without_columns()
        if role is Role.PUPIL and self.registration is None:
            self._unknown.add("registration_group")
        email = self._email(row)
        registration = self.registration or {}
        return PersonRecord(
            role=role,
            mis_id=mis_id,
            legal_given_name=given,
            legal_family_name=family,
            preferred_given_name=v.name(_first(row, "preferredgivenname", "preferredfirstname")),
            preferred_family_name=v.name(_first(row, "preferredfamilyname", "preferredlastname")),
            middle_names=v.name(row.get("middlename")),
            date_of_birth=born,
            gender=gender,
            upn=upn if role is Role.PUPIL else None,
            year_group=year_group if role is Role.PUPIL else None,
            registration_group=registration.get(mis_id) if role is Role.PUPIL else None,
            email=email,
            phone=v.optional_text(row.get("phone") or row.get("sms")),
            row=row.line,
            source=USERS,
            unknown_fields=frozenset(self._unknown),
        )

    def _damaged(self, row: CsvRow, role: Role) -> bool:
        """A cell of the user's users.csv or demographics.csv row that no MIS writes (a
        control character, a digit from another script, thousands of characters): none
        of the row's values is trusted, so the user is refused (listed, not a leaver)
        before any value is read: a damaged sex is no mere unknown sex."""
        user_id = row.get("sourcedid")
        found = self.demographics.get(user_id) if self.demographics is not None else None
        for cells, labels, source in (
            (row, self.users, USERS),
            (found, self.demographics_labels, DEMOGRAPHICS),
        ):
            if cells is None:
                continue
            joined = "".join(cells.cells)
            if len(joined) <= v.LONGEST_CELL and joined.isascii() and joined.isprintable():
                continue  # every cell printable ASCII, none over the limit: none damaged
            for key, value in cells.items():
                label = labels.label(key) if labels is not None else key
                try:
                    v.check_cell(value, label, v.LONGEST_CELL)
                except BadValue as problem:
                    self.out.error(cells.line, label, f"{problem.message}; {SKIPPED}", source)
                    self.out.reject_person(role, user_id, row=row.line, source=USERS)
                    return True
        return False

    def _email(self, row: CsvRow) -> str | None:
        raw = row.get("email")
        if not raw:
            return None
        try:
            return v.parse_email(raw, self.users.label("email"))
        except BadValue as problem:
            self._unknown.add("email")
            self.out.error(row.line, self.users.label("email"), f"{problem.message}; {KEPT}", USERS)
            return None

    _unknown: set[str] = field(default_factory=set)
    # `labels` as last built, with the two tables it was built from (read per person).
    _labels_for: tuple[CsvTable, CsvTable | None, dict[str, str]] | None = None

    _absent_for: tuple[CsvTable, frozenset[str]] | None = None

    def _fields_without_columns(self) -> frozenset[str]:
        """The fields of `_USER_COLUMNS` users.csv has no column for (read per person)."""
        built = self._absent_for
        if built is not None and built[0] is self.users:
            return built[1]
        absent = frozenset(
            field_name
            for field_name, columns in _USER_COLUMNS.items()
            if not any(self.users.has(column) for column in columns)
        )
        self._absent_for = (self.users, absent)
        return absent

    @property
    def labels(self) -> dict[str, str]:
        """Field -> the column as the bundle names it, for messages."""
        built = self._labels_for
        if built is not None and built[0] is self.users and built[1] is self.demographics_labels:
            return built[2]
        found = {
            "legal_given_name": self.users.label("givenname"),
            "legal_family_name": self.users.label("familyname"),
            "date_of_birth": self._label("birthdate"),
            "gender": self._label("sex"),
        }
        for field_name, columns in _USER_COLUMNS.items():
            column = next((c for c in columns if self.users.has(c)), columns[0])
            found[field_name] = self.users.label(column)
        self._labels_for = (self.users, self.demographics_labels, found)
        return found

    def _name(self, row: CsvRow, key: str) -> str | None:
        value = v.name(row.get(key))
        if value is None:
            label = self.users.label(key)
            self.out.error(
                row.line, label, f"{label} is empty, but it is mandatory; {SKIPPED}", USERS
            )
        return value

    def _demographics(self, row: CsvRow, role: Role) -> tuple[date | None, Gender | None]:
        user_id = row.get("sourcedid")
        found = self.demographics.get(user_id) if self.demographics is not None else None
        if found is None:
            # No demographics for them: the bundle says nothing about what only
            # demographics carries (absent is not blank).
            self._unknown |= DEMOGRAPHIC_FIELDS
            if mandatory_for(role, "date_of_birth"):
                why = (
                    f"has no row in {DEMOGRAPHICS}, so no date of birth"
                    if self.demographics is not None
                    else f"has no date of birth, as the bundle has no {DEMOGRAPHICS}"
                )
                self.out.error(
                    row.line,
                    self.users.label("sourcedid"),
                    f"{user_id} {why}, which is mandatory for a {role_word(role)}; {SKIPPED}",
                    USERS,
                )
            return None, None
        return self._birth_date(found, row, role), self._sex(found)

    def _label(self, key: str) -> str:
        return self.demographics_labels.label(key) if self.demographics_labels else key

    def _birth_date(self, found: CsvRow, user_row: CsvRow, role: Role) -> date | None:
        raw, label = found.get("birthdate"), self._label("birthdate")
        mandatory = mandatory_for(role, "date_of_birth")
        if not raw:
            if mandatory:
                self.out.error(
                    found.line,
                    label,
                    f"{label} is empty, but a date of birth is mandatory for a "
                    f"{role_word(role)}; {USERS} row {user_row.line} was skipped",
                    DEMOGRAPHICS,
                )
            return None
        try:
            return v.parse_date(raw, label, v.ISO_DATES)
        except BadValue as problem:
            if not mandatory:
                self._unknown.add("date_of_birth")
            outcome = (
                f"{USERS} row {user_row.line} was skipped"
                if mandatory
                else f"the {role_word(role)} in {USERS} row {user_row.line} was imported without it"
            )
            self.out.error(found.line, label, f"{problem.message}; {outcome}", DEMOGRAPHICS)
            return None

    def _sex(self, found: CsvRow) -> Gender | None:
        raw, label = found.get("sex"), self._label("sex")
        if not raw:
            return None
        try:
            return v.parse_gender(raw, label)
        except BadValue as problem:
            self._unknown.add("gender")
            self.out.error(found.line, label, f"{problem.message}; {KEPT}", DEMOGRAPHICS)
            return None


def _first(row: CsvRow, *keys: str) -> str:
    for key in keys:
        if value := row.get(key):
            return value
    return ""


@quick_init
@dataclass(frozen=True, slots=True)
class ContactPair:
    contact_id: str
    pupil_id: str
    relationship: str | None
    row: int


def add_contact_links(pairs: Iterable[ContactPair], out: BatchCollector) -> None:
    """One link per (contact, pupil); the same pair named from both sides counts once."""
    linked: set[tuple[str, str]] = set()
    for pair in pairs:
        key = (pair.contact_id, pair.pupil_id)
        if key in linked:
            continue
        linked.add(key)
        out.contact_links.append(
            ContactLink(
                contact_mis_id=pair.contact_id,
                pupil_mis_id=pair.pupil_id,
                relationship=pair.relationship,
                row=pair.row,
            )
        )


@dataclass
class ClassRules:
    """Where a format keeps the facts rollsync needs about classes and enrollments."""

    org_key: str  # classes.csv column naming the org: schoolSourcedId / orgSourcedId
    kind_of: Callable[[CsvRow], GroupKind]
    member_of: Callable[[str], tuple[Role, MembershipRole] | None]  # enrollment role
    is_active: Callable[[CsvRow], bool] = lambda row: True


def read_classes(
    table: CsvTable, rules: ClassRules, our_orgs: frozenset[str], out: BatchCollector
) -> dict[str, GroupRecord]:
    """This school's classes, by sourcedId."""
    source = "classes.csv"
    groups: dict[str, GroupRecord] = {}
    for row in table:
        class_id = row.get("sourcedid")
        if not rules.is_active(row) or row.get(rules.org_key) not in our_orgs or not class_id:
            continue
        title = v.optional_text(row.get("title"))
        if _too_long_or_odd(
            out, row, source, ((table.label("sourcedid"), class_id, "group_mis_id"),)
        ) or (
            title is not None
            and _too_long_or_odd(out, row, source, ((table.label("title"), title, "group_name"),))
        ):
            continue
        if title is None:
            label = table.label("title")
            out.error(
                row.line,
                label,
                f"{label} is empty, but a class needs a name; the class was skipped",
                source,
            )
            continue
        if class_id in groups:
            out.error(
                row.line,
                table.label("sourcedid"),
                f"class {class_id} is already in row {groups[class_id].row}; this row was skipped",
                source,
            )
            continue
        groups[class_id] = GroupRecord(class_id, title, rules.kind_of(row), row=row.line)
    out.groups.extend(groups.values())
    return groups


def read_enrollments(
    table: CsvTable,
    rules: ClassRules,
    classes: dict[str, GroupRecord],
    our_orgs: frozenset[str],
    out: BatchCollector,
) -> dict[str, str]:
    """Memberships of this school's classes; returns each pupil's registration group."""
    source = "enrollments.csv"
    registration: dict[str, str] = {}
    first: dict[tuple[str, Role, str, MembershipRole], int] = {}
    class_label, user_label = table.label("classsourcedid"), table.label("usersourcedid")
    class_limit, user_limit = MAX_LENGTHS["group_mis_id"], MAX_LENGTHS["person_mis_id"]
    for row in table:
        class_id, user_id = row.get("classsourcedid"), row.get("usersourcedid")
        ours = class_id in classes or row.get("schoolsourcedid") in our_orgs
        member = rules.member_of(row.get("role").casefold())
        if not (ours and rules.is_active(row) and class_id and user_id and member):
            continue
        # One string per class and per pupil, however many memberships name them.
        class_id, user_id = sys.intern(class_id), sys.intern(user_id)
        key = (class_id, member[0], user_id, member[1])
        both = class_id + user_id
        plain = len(class_id) <= class_limit and len(user_id) <= user_limit
        if not (plain and both.isascii() and both.isprintable()):
            checks = (
                (class_label, class_id, "group_mis_id"),
                (user_label, user_id, "person_mis_id"),
            )
            if _too_long_or_odd(out, row, source, checks):
                continue
        if key in first:
            out.error(
                row.line,
                user_label,
                f"{user_id} is already enrolled in class {class_id} in row {first[key]}; "
                "this row was skipped",
                source,
            )
            continue
        first[key] = row.line
        out.memberships.append(MembershipRecord(*key, row=row.line))
        group = classes.get(class_id)
        if group is not None and group.kind is GroupKind.REGISTRATION and member[0] is Role.PUPIL:
            registration.setdefault(user_id, group.name)
    return registration


def _too_long_or_odd(
    out: BatchCollector, row: CsvRow, source: str, values: Iterable[tuple[str, str, str]]
) -> bool:
    """Report (and say True for) a value over its `domain.limits` length or holding a
    control character: the row is skipped."""
    for label, value, field_name in values:
        try:
            v.check_text(value, label, MAX_LENGTHS[field_name])
        except BadValue as problem:
            out.error(row.line, label, f"{problem.message}; this row was skipped", source)
            return True
    return False


def bulk_reports(out: BatchCollector, *, groups_known: bool = True) -> set[str]:
    """The report codes a bundle's records amount to. `groups_known`: the bundle has
    full classes and enrollments (without both it says nothing about groups, so no
    group or membership may be ended because of it)."""
    roles = out.roles_listed() | {d.role for d in out.deletions}
    reports = {
        code
        for role, code in ((Role.PUPIL, STUDENTS), (Role.STAFF, STAFF), (Role.CONTACT, CONTACTS))
        if role in roles
    }
    if out.contact_links:
        reports.add(CONTACTS)
    if groups_known and (out.groups or out.memberships):
        reports.add(GROUPS)
    return reports
