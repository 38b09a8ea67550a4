"""Microsoft School Data Sync (SDS) v2.1 CSV bundles (a zip of CSV files).

orgs.csv, users.csv and roles.csv are required; classes.csv, enrollments.csv,
demographics.csv and relationships.csv are read when present. SDS files are
always full snapshots, so a bundle is complete for every role it lists (and
for no role it lists nobody of: see docs/formats/sds.md for that risk). The
school is the org whose sourcedId (or identifier, if the file has one) is its
URN or DfE number. See docs/formats/sds.md.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from itertools import chain, repeat

from rollsync.domain.limits import MAX_LENGTHS
from rollsync.domain.records import GroupKind, ImportBatch, MembershipRole, Role
from rollsync.domain.state import SchoolRef

from . import values as v
from .bundles import Bundle, open_bundle
from .collect import BatchCollector
from .csvtable import CsvRow, CsvTable, read_table
from .errors import BadValue, FileRejected, rejected_batch
from .roster import (
    USERS,
    Assignment,
    ClassRules,
    ContactPair,
    OrgMatch,
    PeopleBuilder,
    add_contact_links,
    bulk_reports,
    match_orgs,
    read_classes,
    read_demographics,
    read_enrollments,
)
from .row_changes import SDS as SDS_SHAPE
from .row_changes import (
    Listing,
    joined_users,
    kept_lines,
    lines_naming,
    lines_not_naming,
    role_bit,
    user_changes,
)

FORMAT = "sds"
_UPN_SHAPE = re.compile(r"^[A-Z][0-9]{11}[0-9A-Z]$")
RELATIONSHIPS = "relationships.csv"

# Microsoft's default organisation user roles, grouped as SDS groups them.
STAFF_ROLES = frozenset(
    role.casefold()
    for role in (
        "principal",
        "chair",
        "professor",
        "researcher",
        "adjunct",
        "affiliate",
        "occupationalTherapist",
        "physicalTherapist",
        "speechTherapist",
        "visionTherapist",
        "paraprofessional",
        "specialServices",
        "advisor",
        "proctor",
        "nurse",
        "officeStaff",
        "lecturer",
        "itAdmin",
        "administrator",
        "teacher",
        "faculty",
        "staff",
        "teacherAssistant",
        "aide",
        "instructor",
        "substitute",
        "coach",
    )
)
NOT_IMPORTED = frozenset(("alumni", "other"))  # not current pupils or staff


def role_kind(written: str) -> Role | None:
    """student -> pupil, staff roles -> staff; raises KeyError for an unknown role."""
    key = written.casefold()
    if key == "student":
        return Role.PUPIL
    if key in STAFF_ROLES:
        return Role.STAFF
    if key in NOT_IMPORTED:
        return None
    raise KeyError(written)


def _member(role: str) -> tuple[Role, MembershipRole] | None:
    if role == "student":
        return Role.PUPIL, MembershipRole.STUDENT
    if role in STAFF_ROLES:
        return Role.STAFF, MembershipRole.TEACHER
    return None


def _member_role(written: str) -> Role | None:
    """The person's role an enrollment's role names (None: no person's)."""
    member = _member(written.casefold())
    return member[0] if member else None


CLASS_RULES = ClassRules(
    org_key="orgsourcedid", kind_of=lambda row: GroupKind.CLASS, member_of=_member
)


class SdsReader:
    format = FORMAT
    label = "School Data Sync (SDS) CSV bundle (zip)"
    needs_report = False

    def parse(
        self,
        payload: bytes,
        *,
        school: SchoolRef,
        report: str | None,
        today: date | None = None,
    ) -> ImportBatch:
        try:
            return _SdsReader(school, open_bundle(payload, kind="SDS"), today).read()
        except FileRejected as problem:
            return rejected_batch(FORMAT, problem)

    def parse_changed(
        self,
        earlier: bytes,
        payload: bytes,
        *,
        school: SchoolRef,
        refused: Iterable[tuple[str | None, int]],
        also: Iterable[str] = (),
        listing: bytes | None = None,
        today: date | None = None,
        report: str | None = None,
    ) -> ImportBatch | None:
        """`payload` as a partial batch, as `OneRosterReader.parse_changed` makes one:
        only the users whose rows differ from `earlier` (relationships.csv rows name
        both their pupil and their contact), those on a row the earlier run refused,
        those named in `also`, and every user a relationship joins to one of them, are
        built; everyone else it lists is in `unchanged_keys`. None: parse in full. An
        `listing`: the `ImportBatch.listing` of a read of `earlier`; with it, only the
        built users' users.csv, roles.csv and relationships.csv lines are read, and
        everyone else is listed as it says; without it those three are read whole to
        learn who is listed and linked. Either way only the built users' demographics
        and enrollments are read (tests/ingest/test_partial_sds.py)."""
        try:
            before = open_bundle(earlier, kind="SDS")
            after = open_bundle(payload, kind="SDS")
        except FileRejected:
            return None
        changes = user_changes(before, after, refused=refused, shape=SDS_SHAPE)
        if changes is None:
            return None
        try:
            return _SdsReader(
                school,
                after,
                today,
                changed=changes.users | frozenset(also),
                listing=Listing.decode(listing),
            ).read()
        except FileRejected:
            return None  # the full parse says why


class _SdsReader:
    def __init__(
        self,
        school: SchoolRef,
        bundle: Bundle,
        today: date | None = None,
        *,
        changed: frozenset[str] | None = None,
        listing: Listing | None = None,
    ) -> None:
        self.school = school
        self.bundle = bundle
        self.out = BatchCollector(FORMAT, today=today)
        # A partial read (`SdsReader.parse_changed`): the users whose rows changed. Then
        # `build`, those and everyone a relationship joins to them, are built; the pupils
        # and staff listed and not built (`left_out`) have their enrollments left unread.
        self.changed = changed
        self.build: frozenset[str] | None = None
        self.left_out: frozenset[tuple[Role, str]] = frozenset()
        self.unchanged_pupils: set[str] = set()
        self._relations: tuple[CsvTable, list[CsvRow]] | None = None
        # The earlier read's listing, offered to a partial read, and what it carries of
        # the users not built (None: users, roles and relationships are read whole);
        # this read's own, made as it goes: the roles each user is listed in, and each
        # pupil's contacts by relationships.csv.
        self.earlier_listing = listing
        self.carried: Listing | None = None
        self.listed: dict[str, int] = defaultdict(int)
        self.linked: dict[str, set[str]] = defaultdict(set)
        self.tables: list[CsvTable] = []
        self.assignments: dict[str, list[Assignment]] = defaultdict(list)
        self.grades: dict[str, str] = {}
        self.grade_rows: dict[str, int] = {}  # the roles.csv row each grade came from
        self.pupils: set[str] = set()
        self.refused_pupils: set[str] = set()  # listed, but their row was refused
        self.misshapen_users: set[str] = set()  # rows skipped for too many values
        self.unusable_contacts: set[str] = set()

    def table(
        self,
        name: str,
        *required: str,
        optional: bool = False,
        keep: Callable[[list[bytes]], list[bool]] | None = None,
    ) -> CsvTable | None:
        """The member's table (None: an optional member the zip does not have). `keep`:
        which data lines to read (a partial read; the others count as rows read)."""
        if optional and not self.bundle.has(name):
            return None
        data, skipped, renumber = self.bundle.take(name), 0, None
        if keep is not None:
            data, renumber, skipped = kept_lines(data, keep)
        table = read_table(data, source=name, renumber=renumber)
        table.rows_read += skipped
        table.require(*required)
        self.tables.append(table)
        return table

    def builds(self, user_id: str) -> bool:
        """Whether this read builds the user (a partial read builds only some)."""
        return self.build is None or user_id in self.build

    def _keep(self, name: str) -> Callable[[list[bytes]], list[bool]] | None:
        """A partial read's `keep` for a member: the lines of the users it builds
        (enrollments: all but those naming a person left out, in that role), and those
        naming nobody (the reader reports them). users.csv, roles.csv and
        relationships.csv are read whole without the earlier listing. A relationships.csv
        line is kept by its pupil: a built pupil's contacts are built (`_from_listing`)."""
        if self.build is None:
            return None
        if name in ("users.csv", "roles.csv", RELATIONSHIPS) and self.carried is None:
            return None
        if name == "users.csv":
            return functools.partial(lines_naming, column="sourcedid", users=self.build)
        if name == "enrollments.csv":
            return functools.partial(
                lines_not_naming,
                column="usersourcedid",
                role_column="role",
                left_out=self.left_out,
                role_of=_member_role,
            )
        return functools.partial(lines_naming, column="usersourcedid", users=self.build)

    def _relationships(self) -> tuple[CsvTable, list[CsvRow]] | None:
        """relationships.csv and its rows, read once (None: the zip has none)."""
        if self._relations is None:
            table = self.table(
                RELATIONSHIPS,
                "userSourcedId",
                "relationshipUserSourcedId",
                "relationshipRole",
                optional=True,
                keep=self._keep(RELATIONSHIPS),
            )
            if table is None:
                return None
            self._relations = (table, list(table))
        return self._relations

    def _partial(self, user_rows: list[CsvRow]) -> None:
        """Who a partial read builds: the changed users and everyone a relationship
        joins to one of them, so that a link is built or left whole; and the pupils and
        staff it lists without building them."""
        assert self.changed is not None
        relations = self._relationships()
        links = (
            (row.get("usersourcedid"), (row.get("relationshipusersourcedid"),))
            for row in (relations[1] if relations is not None else ())
        )
        self.build = build = joined_users(_linked(links), self.changed)
        left_out: set[tuple[Role, str]] = set()
        for row in user_rows:
            user_id = row.get("sourcedid")
            if user_id not in build:
                left_out.update(
                    (a.kind, user_id)
                    for a in self.assignments.get(user_id, ())
                    if a.kind in (Role.PUPIL, Role.STAFF)
                )
        self.left_out = frozenset(left_out)

    def _from_listing(self, listing: Listing) -> None:
        """Who a partial read builds, from the earlier read's listing, without reading
        anyone's rows: a relationship a changed line makes or ends has both its ends
        among the changed users, so the links the listing holds (of the lines left
        alone) join the same users as the new bundle's."""
        assert self.changed is not None
        self.build = joined_users(listing.agents.items(), self.changed)
        self.carried = carried = listing.without(self.build)
        self.left_out = frozenset(
            chain.from_iterable(
                zip(repeat(role), carried.holding(role)) for role in (Role.PUPIL, Role.STAFF)
            )
        )

    def _listing(self, match: OrgMatch) -> bytes | None:
        """This read's listing for the next read in part: none when an ID a link names
        holds a comma (a listing joins them with commas). (A member cut short is never
        read in part against: it lacks its last line end, `row_changes.member_lines`.)"""
        agents = {pupil: tuple(sorted(contacts)) for pupil, contacts in self.linked.items()}
        if any("," in user for user in chain.from_iterable(agents.values())):
            return None
        carried = self.carried
        return Listing(
            match.ids,
            self.listed if carried is None else carried.roles | self.listed,
            agents if carried is None else carried.agents | agents,
        ).encode()

    def read(self) -> ImportBatch:
        orgs = self.table("orgs.csv", "sourcedId")
        assert orgs is not None
        match = None
        earlier = self.earlier_listing
        if self.changed is not None and earlier is not None:
            # A read in part: a refusal here falls back to the full parse, which says
            # it in the full parse's order.
            match = match_orgs(orgs, self.school, id_keys=("identifier", "sourcedid"))
            if earlier.ours == match.ids:
                self._from_listing(earlier)
        users = self.table(
            "users.csv", "sourcedId", "givenName", "familyName", keep=self._keep("users.csv")
        )
        roles = self.table(
            "roles.csv", "userSourcedId", "orgSourcedId", "role", keep=self._keep("roles.csv")
        )
        assert users is not None and roles is not None
        if match is None:
            match = match_orgs(orgs, self.school, id_keys=("identifier", "sourcedid"))
        self._read_roles(roles, match)
        rows = list(users)
        if self.changed is not None and self.carried is None:
            self._partial(rows)
        registration = self._groups(match)
        builder = PeopleBuilder(self.out, users, None, None, registration)
        self._demographics(builder)
        user_rows: dict[str, list[CsvRow]] = {}
        for row in rows:
            user_rows.setdefault(row.get("sourcedid"), []).append(row)
            self._take_user(row, builder, match)
        self._refuse_overflowing_users(users)
        self._contacts(user_rows, builder)
        if self.carried is not None:
            # Those left out as the earlier listing has them; those read as found now.
            self.out.unchanged_all(self.left_out)
            self.out.unchanged_all(zip(repeat(Role.CONTACT), self.carried.holding(Role.CONTACT)))
        relations = self._relationships()
        if relations is not None and relations[0].cut_short:
            # relationships.csv is cut short: claim nothing about contacts.
            self.out.forget_role(Role.CONTACT)
        # A users or roles file that ends mid-row is cut short: no full list.
        complete = not (users.cut_short or roles.cut_short)
        self.out.rows_read = sum(t.rows_read for t in self.tables)
        table_errors = [e for t in self.tables for e in t.errors]
        self.out.errors = sorted(
            table_errors + self.out.errors, key=lambda e: (e.source or "", e.row or 0)
        )
        batch = self.out.build(
            reports=bulk_reports(self.out, groups_known=registration is not None),
            # every SDS upload is a full snapshot
            complete_for=set(Role) if complete else set(),
            # ... of the roles it lists anyone of: a bundle with no staff at all is no
            # claim that all staff left (the risk, in docs/formats/sds.md: a bundle
            # that lost all its staff rows keeps every member of staff, silently).
            complete_when_empty=False,
            declared_urn=match.declared_urn,
            declared_la_code=match.declared_la_code,
            declared_estab=match.declared_estab,
        )
        batch.listing = self._listing(match)
        return batch

    def _read_roles(self, roles: CsvTable, match: OrgMatch) -> None:
        for row in roles:
            org, written = row.get("orgsourcedid"), row.get("role")
            if org not in match.ids:
                continue
            try:
                kind = role_kind(written)
            except KeyError:
                self.out.error(
                    row.line,
                    roles.label("role"),
                    f"role '{written}' is not an SDS role rollsync knows; it was ignored",
                    "roles.csv",
                )
                continue
            user_id = row.get("usersourcedid")
            if not user_id:
                label = roles.label("usersourcedid")
                self.out.error(
                    row.line,
                    label,
                    f"{label} is empty, but it is mandatory: rollsync cannot tell who this "
                    "is; the row was skipped",
                    "roles.csv",
                )
                continue
            self.assignments[user_id].append(
                Assignment(user_id, written, kind, org, True, row.line, "roles.csv")
            )
            if kind is Role.PUPIL and row.get("grade"):
                self._grade(user_id, row, roles)

    def _grade(self, user_id: str, row: CsvRow, roles: CsvTable) -> None:
        """The pupil's grade from their first student role here; another that gives a
        different year is reported (it is not used: which comes first is the file's
        order, and a read in part must be able to see that it matters)."""
        grade = row.get("grade")
        first = self.grades.setdefault(user_id, grade)
        self.grade_rows.setdefault(user_id, row.line)
        if v.year_group(first) != v.year_group(grade):
            self.out.error(
                row.line,
                roles.label("grade"),
                f"{user_id} is given grade {first} in row {self.grade_rows[user_id]} and "
                f"{grade} here; rollsync keeps the first",
                "roles.csv",
            )

    def _groups(self, match: OrgMatch) -> dict[str, str] | None:
        """Each pupil's registration group; None when the bundle says nothing about
        groups: classes.csv or enrollments.csv missing, or cut short."""
        classes_table = self.table(
            "classes.csv", "sourcedId", "orgSourcedId", "title", optional=True
        )
        classes = (
            read_classes(classes_table, CLASS_RULES, match.ids, self.out) if classes_table else {}
        )
        enrollments = self.table(
            "enrollments.csv",
            "classSourcedId",
            "userSourcedId",
            "role",
            optional=True,
            keep=self._keep("enrollments.csv"),
        )
        if enrollments is None:
            return None
        registration = read_enrollments(enrollments, CLASS_RULES, classes, match.ids, self.out)
        if classes_table is None or classes_table.cut_short or enrollments.cut_short:
            return None
        return registration

    def _demographics(self, builder: PeopleBuilder) -> None:
        # Without demographics.csv, people whose date of birth is mandatory (pupils)
        # are row errors one by one; the others (staff, contacts) come without it.
        table = self.table(
            "demographics.csv", "userSourcedId", optional=True, keep=self._keep("demographics.csv")
        )
        if table is None:
            return
        builder.demographics = read_demographics(table, self.out, id_key="usersourcedid")
        builder.demographics_labels = table

    def _upn(self, row: CsvRow, builder: PeopleBuilder, unknown: set[str]) -> str | None:
        """English schools put the pupil's UPN in SDS's optional `userNumber`. A value
        shaped like a UPN is checked; anything else (an admission number) is not a UPN,
        and then the bundle says nothing about the UPN (unknown, not blank)."""
        raw = (row.get("usernumber") or "").strip()
        if not _UPN_SHAPE.match(raw.upper()):
            unknown.add("upn")
            return None
        try:
            return v.parse_upn(raw, "userNumber")
        except BadValue as problem:
            unknown.add("upn")
            self.out.error(
                row.line,
                builder.users.label("usernumber"),
                f"{problem.message}; the pupil was imported without a UPN",
                USERS,
            )
            return None

    def _take_user(self, row: CsvRow, builder: PeopleBuilder, match: OrgMatch) -> None:
        user_id = row.get("sourcedid")
        kinds = {a.kind for a in self.assignments.get(user_id, ())}
        for role in (Role.PUPIL, Role.STAFF):
            if role in kinds:
                self.listed[user_id] |= role_bit(role)
        if not self.builds(user_id):
            # Listed as the earlier upload listed them: their rows are the same bytes.
            for role in (Role.PUPIL, Role.STAFF):
                if role in kinds:
                    self.out.unchanged(role, user_id)
            if Role.PUPIL in kinds:
                self.unchanged_pupils.add(user_id)
            return
        for role in (Role.PUPIL, Role.STAFF):
            if role not in kinds:
                continue
            grade = self.grades.get(user_id) if role is Role.PUPIL else None
            unknown: set[str] = set()
            upn = self._upn(row, builder, unknown) if role is Role.PUPIL else None
            if role is Role.PUPIL and user_id not in self.grades:
                unknown.add("year_group")  # no grade in roles.csv: not stated
            record = builder.person(
                row, role, year_group=v.year_group(grade), upn=upn, unknown=unknown
            )
            if record is None:  # reported, and noted as refused
                if role is Role.PUPIL:
                    self.refused_pupils.add(user_id)
                continue
            added = self.out.add_person(
                record, id_field=builder.users.label("sourcedid"), labels=builder.labels
            )
            if added and role is Role.PUPIL:
                self.pupils.add(user_id)

    def _refuse_overflowing_users(self, users: CsvTable) -> None:
        """A users.csv row skipped for holding more values than the header (the table
        reported it) still names its user: note them as refused in each role
        roles.csv gives them here, so they do not look like leavers. The ID is the
        value in the sourcedId column as the row stands."""
        for row in users.misshapen:
            user_id = row.get("sourcedid")
            if not user_id:
                continue
            self.misshapen_users.add(user_id)
            for a in self.assignments.get(user_id, ()):
                if a.kind is not None:
                    self.out.reject_person(a.kind, user_id)
                if a.kind is Role.PUPIL:
                    self.refused_pupils.add(user_id)

    def _contacts(self, user_rows: dict[str, list[CsvRow]], builder: PeopleBuilder) -> None:
        """Contacts are the users that relationships.csv links to this school's pupils."""
        relations = self._relationships()
        if relations is None:
            return
        table, rows = relations
        pairs: list[ContactPair] = []
        first_role: dict[tuple[str, str], tuple[str | None, int]] = {}
        held: set[str] = set()  # contacts of refused pupils
        for row in rows:
            pupil_id, contact_id = row.get("usersourcedid"), row.get("relationshipusersourcedid")
            if not contact_id:
                continue
            if pupil_id:
                self.linked[pupil_id].add(contact_id)
            if pupil_id in self.unchanged_pupils or pupil_id in self.pupils:
                self.listed[contact_id] |= role_bit(Role.CONTACT)
            if pupil_id in self.unchanged_pupils:
                # A partial read: a pupil left out has only contacts left out (`_partial`).
                self.out.unchanged(Role.CONTACT, contact_id)
            elif pupil_id in self.pupils:
                if self._take_contact(contact_id, user_rows, builder, row, table):
                    role = _word(row.get("relationshiprole"))
                    if role is None and row.get("relationshiprole"):
                        label = table.label("relationshiprole")
                        self.out.error(
                            row.line,
                            label,
                            f"{label} is longer than {MAX_LENGTHS['relationship']} characters "
                            "or holds a control character; the link was imported without it",
                            RELATIONSHIPS,
                        )
                    first = first_role.setdefault((contact_id, pupil_id), (role, row.line))
                    if first[0] != role:
                        # The first row's link is kept (`add_contact_links`): say so.
                        label = table.label("relationshiprole")
                        self.out.error(
                            row.line,
                            label,
                            f"{contact_id} is linked to pupil {pupil_id} as "
                            f"'{first[0] or ''}' in row {first[1]} already; rollsync keeps "
                            "that row's link",
                            RELATIONSHIPS,
                        )
                    pairs.append(ContactPair(contact_id, pupil_id, role, row.line))
            elif pupil_id in self.refused_pupils and (
                contact_id in user_rows or contact_id in self.misshapen_users
            ):
                held.add(contact_id)
        add_contact_links(pairs, self.out)
        # A contact of a refused pupil is still in the bundle, even when no pupil
        # taken from it brings them in.
        for contact_id in held:
            if not self.out.seen(Role.CONTACT, contact_id):
                self.out.reject_person(Role.CONTACT, contact_id)

    def _take_contact(
        self,
        contact_id: str,
        user_rows: dict[str, list[CsvRow]],
        builder: PeopleBuilder,
        link_row: CsvRow,
        table: CsvTable,
    ) -> bool:
        if self.out.seen(Role.CONTACT, contact_id):
            return True
        if contact_id in self.unusable_contacts:
            return False  # already reported
        self.unusable_contacts.add(contact_id)
        rows = user_rows.get(contact_id)
        if rows is None and contact_id in self.misshapen_users:
            # Its users.csv row was skipped (and reported): still listed.
            self.out.reject_person(Role.CONTACT, contact_id)
            return False
        if rows is None:
            label = table.label("relationshipusersourcedid")
            self.out.error(
                link_row.line,
                label,
                f"{label} {contact_id} is not in users.csv; the link was skipped",
                RELATIONSHIPS,
            )
            return False
        # Every users.csv row of the contact: rows that disagree on who this is
        # refuse the contact (see `BatchCollector.add_person`).
        taken = False
        for user in rows:
            record = builder.person(user, Role.CONTACT)
            if record is not None and self.out.add_person(
                record, id_field=builder.users.label("sourcedid"), labels=builder.labels
            ):
                taken = True
        if not taken:
            return False
        self.unusable_contacts.discard(contact_id)
        return True


def _linked(links: Iterable[tuple[str, tuple[str]]]) -> Iterator[tuple[str, tuple[str]]]:
    """The links of relationships.csv rows that name both their ends (as listed)."""
    return ((pupil, ends) for pupil, ends in links if pupil and ends[0])


def _word(role: str) -> str | None:
    """'guardian' -> 'Guardian', 'stepMother' -> 'StepMother': readable, as sent.
    A relationship longer than rollsync stores, or holding a control character, is
    left out (the link itself is kept)."""
    role = v.clean(role)
    try:
        v.check_text(role, "relationshipRole", MAX_LENGTHS["relationship"])
    except BadValue:
        return None
    return role[:1].upper() + role[1:] if role else None
