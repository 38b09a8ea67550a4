"""IMS / 1EdTech OneRoster 1.1 and 1.2 CSV bundles (a zip with manifest.csv).

The school is found among orgs.csv by its URN or DfE number in `identifier`;
only that org's people, classes and enrollments are taken. In 1.1 a user's
role and orgs are columns of users.csv; in 1.2 they are rows of roles.csv
(either is read when present). See docs/formats/oneroster.md.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from itertools import chain, repeat

from rollsync.domain.records import (
    Deletion,
    GroupKind,
    ImportBatch,
    MembershipRole,
    Role,
)
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
    split_list,
)
from .row_changes import (
    Listing,
    joined_users,
    kept_lines,
    lines_naming,
    lines_not_naming,
    role_bit,
    user_changes,
)

FORMAT = "oneroster"
VERSIONS = ("1.1", "1.2")
BULK, DELTA, ABSENT = "bulk", "delta", "absent"

# OneRoster user roles (1.1 and 1.2) -> rollsync roles. None: known, but not a
# person of the school (an LA or trust administrator), so not imported.
ROLES: dict[str, Role | None] = {
    "student": Role.PUPIL,
    "teacher": Role.STAFF,
    "administrator": Role.STAFF,
    "aide": Role.STAFF,
    "proctor": Role.STAFF,
    "counselor": Role.STAFF,
    "principal": Role.STAFF,
    "siteadministrator": Role.STAFF,
    "parent": Role.CONTACT,
    "guardian": Role.CONTACT,
    "relative": Role.CONTACT,
    "districtadministrator": None,
    "systemadministrator": None,
}

_MEMBERS = {
    "student": (Role.PUPIL, MembershipRole.STUDENT),
    "teacher": (Role.STAFF, MembershipRole.TEACHER),
}

_USER_ID = re.compile(r"\{\s*([^:{}]+?)\s*:\s*([^{}]*?)\s*\}")


def _is_deleted(row: CsvRow) -> bool:
    return row.get("status").casefold() == "tobedeleted"


def _class_kind(row: CsvRow) -> GroupKind:
    return (
        GroupKind.REGISTRATION if row.get("classtype").casefold() == "homeroom" else GroupKind.CLASS
    )


CLASS_RULES = ClassRules(
    org_key="schoolsourcedid",
    kind_of=_class_kind,
    member_of=_MEMBERS.get,
    is_active=lambda row: not _is_deleted(row),
)


class OneRosterReader:
    format = FORMAT
    label = "OneRoster 1.2 CSV bundle (zip)"
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
            return _OneRosterReader(school, open_bundle(payload, kind="OneRoster"), today).read()
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
        """`payload` as a partial batch: only the users whose rows differ from `earlier`
        (an upload of the same bundle whose plan the directory stands on), those on a row
        the earlier run refused (`refused`: its row errors' (file, line)), those named in
        `also`, and every user a contact link joins to one of them, are built; everyone
        else it lists is in `unchanged_keys`. None when the two cannot be compared line
        for line (`row_changes`): parse in full. The batch equals the full parse's but
        for the unchanged people's records, memberships and links
        (tests/ingest/test_partial_oneroster.py). `listing`: the `ImportBatch.listing`
        of a read of `earlier`; with it, only the users built have their users.csv and
        roles.csv lines read (`row_changes.Listing`)."""
        try:
            before = open_bundle(earlier, kind="OneRoster")
            after = open_bundle(payload, kind="OneRoster")
        except FileRejected:
            return None
        changes = user_changes(before, after, refused=refused)
        if changes is None:
            return None
        wanted = changes.users | changes.agents | frozenset(also)
        try:
            return _OneRosterReader(
                school, after, today, changed=wanted, listing=Listing.decode(listing)
            ).read()
        except FileRejected:
            return None  # the full parse says why


@dataclass(frozen=True, slots=True)
class Manifest:
    version: str
    modes: dict[str, str]  # "users" -> "bulk" | "delta" | "absent"

    def mode(self, name: str) -> str:
        return self.modes.get(name, ABSENT)


def read_manifest(bundle: Bundle) -> Manifest:
    if not bundle.has("manifest.csv"):
        raise FileRejected(
            "the zip has no manifest.csv, so it is not a OneRoster CSV bundle",
            source="manifest.csv",
        )
    table = read_table(bundle.get("manifest.csv"), source="manifest.csv")
    table.require("propertyName", "value")
    props = {row.get("propertyname").casefold(): row.get("value") for row in table}
    version = props.get("oneroster.version", "")
    if not any(version == known or version.startswith(f"{known}.") for known in VERSIONS):
        raise FileRejected(
            f"manifest.csv gives oneroster.version '{version}'; rollsync reads 1.1 and 1.2",
            field="oneroster.version",
            source="manifest.csv",
        )
    modes: dict[str, str] = {}
    for key, value in props.items():
        if key.startswith("file."):
            mode = value.casefold()
            if mode not in (BULK, DELTA, ABSENT):
                raise FileRejected(
                    f"manifest.csv gives {key} '{value}'; it must be bulk, delta or absent",
                    field=key,
                    source="manifest.csv",
                )
            modes[key.removeprefix("file.").casefold()] = mode
    return Manifest(version, modes)


class _OneRosterReader:
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
        self.tables: list[CsvTable] = []
        self.manifest = read_manifest(bundle)
        # A partial read (`OneRosterReader.parse_changed`): the users to build. None: all.
        self.changed = changed
        self.partial: _Partial | None = None
        self._users: CsvTable | None = None
        # The earlier read's listing, offered to a partial read; and this read's, made
        # as it goes: the roles each user is listed in, the agents each names.
        self.earlier_listing = listing
        self.listed: dict[str, int] = defaultdict(int)
        self.declared: dict[str, set[str]] = defaultdict(set)

    def lists_everyone(self) -> bool:
        """Whether the bundle's users (and roles) are bulk files: every line lists."""
        return self.manifest.mode("users") == BULK and self.manifest.mode("roles") in (
            BULK,
            ABSENT,
        )

    def keep_of(self, source: str) -> Callable[[list[bytes]], list[bool]] | None:
        """A partial read's `keep` for `source` (None: read every line)."""
        if self.partial is None:
            return None
        if source in ("users.csv", "roles.csv") and self.partial.carried is None:
            return None  # read whole, to learn who is listed
        return self.partial.keeps(source)

    def table(
        self,
        name: str,
        *required: str,
        keep: Callable[[list[bytes]], list[bool]] | None = None,
    ) -> CsvTable | None:
        """The file's table if the manifest says it is there, else None. `keep`: given
        the file's lines (the header first), whether to read each data line (a partial
        read; rows keep their line numbers, and the lines not read count as rows read:
        `keep` reads every line naming nobody, blank lines among them)."""
        mode = self.manifest.mode(name.casefold())
        if mode == ABSENT:
            return None
        file_name = f"{name}.csv"
        if not self.bundle.has(file_name.casefold()):
            raise FileRejected(
                f"manifest.csv says {file_name} is {mode}, but the zip has no {file_name}",
                source=file_name,
            )
        data = self.bundle.take(file_name.casefold())
        skipped, renumber = 0, None
        if keep is not None:
            data, renumber, skipped = kept_lines(data, keep)
        table = read_table(data, source=file_name, renumber=renumber)
        table.rows_read += skipped
        table.require(*required)
        if mode == DELTA:
            table.require("status")
        self.tables.append(table)
        return table

    def read(self) -> ImportBatch:
        users_mode = self.manifest.mode("users")
        if users_mode == ABSENT or self.manifest.mode("orgs") == ABSENT:
            raise FileRejected(
                "manifest.csv marks orgs or users as absent: rollsync needs both",
                source="manifest.csv",
            )
        orgs = self.table("orgs", "sourcedId", "identifier")
        assert orgs is not None
        match = match_orgs(orgs, self.school, id_keys=("identifier",), skip=_is_deleted)
        users_pass = _UsersPass(self, match)
        if self.changed is not None:
            earlier = self.earlier_listing
            if earlier is not None and earlier.ours == match.ids and self.lists_everyone():
                self.partial = _Partial.from_listing(earlier, self.changed)
            else:
                self.partial = _Partial.of(users_pass, self.changed)
        registration = self._groups(match)
        users_pass.builder = self._people_builder(registration)
        users_pass.run()
        users = users_pass.users
        if not users.has("agentsourcedids") or users.cut_short:
            # No file says who is whose contact: claim nothing about contacts.
            self.out.forget_role(Role.CONTACT)
        self.out.rows_read = sum(t.rows_read for t in self.tables)
        table_errors = [e for t in self.tables for e in t.errors]
        self.out.errors = sorted(
            table_errors + self.out.errors, key=lambda e: (e.source or "", e.row or 0)
        )
        complete = users_mode == BULK and self.manifest.mode("roles") in (BULK, ABSENT)
        # A users or roles file that ends mid-row is cut short: no full list.
        complete = complete and not any(
            t.cut_short for t in self.tables if t.source in ("users.csv", "roles.csv")
        )
        batch = self.out.build(
            reports=bulk_reports(self.out, groups_known=registration is not None),
            # A bulk users file lists everyone of the roles it holds; a delta
            # lists only changes, so absence from it means nothing.
            complete_for=set(Role) if complete else set(),
            # A bundle with nobody of a role at all says nothing about that role
            # (the risk, in docs/formats/oneroster.md: a bulk bundle that lost all
            # its staff rows keeps every member of staff, silently).
            complete_when_empty=False,
            declared_urn=match.declared_urn,
            declared_la_code=match.declared_la_code,
            declared_estab=match.declared_estab,
        )
        if self.lists_everyone():
            # Those left out as the earlier listing has them; those read as found now.
            carried = self.partial.carried if self.partial is not None else None
            agents = {user: tuple(sorted(named)) for user, named in self.declared.items()}
            batch.listing = Listing(
                match.ids,
                self.listed if carried is None else carried.roles | self.listed,
                agents if carried is None else carried.agents | agents,
            ).encode()
        return batch

    def _groups(self, match: OrgMatch) -> dict[str, str] | None:
        """Each pupil's registration group; None when the bundle says nothing about
        groups: classes or enrollments absent, or cut short."""
        classes_table = self.table("classes", "sourcedId", "title", "schoolSourcedId")
        classes = (
            read_classes(classes_table, CLASS_RULES, match.ids, self.out) if classes_table else {}
        )
        enrollments = self.table(
            "enrollments",
            "classSourcedId",
            "userSourcedId",
            "role",
            keep=self.keep_of("enrollments.csv"),
        )
        if enrollments is None:
            return None
        registration = read_enrollments(enrollments, CLASS_RULES, classes, match.ids, self.out)
        if classes_table is None or classes_table.cut_short or enrollments.cut_short:
            return None
        return registration

    def _people_builder(self, registration: dict[str, str] | None) -> PeopleBuilder:
        # With demographics absent, people whose date of birth is mandatory (pupils)
        # are row errors one by one; the others (staff, contacts) come without it.
        demographics_table = self.table(
            "demographics",
            "sourcedId",
            keep=self.keep_of("demographics.csv"),
        )
        users = self.users_table()
        demographics = (
            read_demographics(demographics_table, self.out, id_key="sourcedid")
            if demographics_table is not None
            else None
        )
        return PeopleBuilder(self.out, users, demographics, demographics_table, registration)

    def users_table(self) -> CsvTable:
        if self._users is None:
            roles_here = self.manifest.mode("roles") != ABSENT
            users = self.table(
                "users",
                "sourcedId",
                "givenName",
                "familyName",
                *(() if roles_here else ("role", "orgSourcedIds")),
                keep=self.keep_of("users.csv"),
            )
            assert users is not None
            self._users = users
        return self._users


class _UsersPass:
    """Turns users (and their roles) into people, contact links and deletions."""

    builder: PeopleBuilder  # set once the groups are read (registration groups)

    def __init__(self, reader: _OneRosterReader, match: OrgMatch) -> None:
        self.reader = reader
        self.out = reader.out
        self.ours = match.ids
        self.delta = reader.manifest.mode("users") == DELTA
        self.assignments: dict[str, list[Assignment]] = defaultdict(list)
        self.assigned = False
        self._active_here: dict[str, dict[Role, int]] = {}  # `_roles_here`, once assigned
        self.rows: list[CsvRow] | None = None
        self.pupils: dict[str, CsvRow] = {}
        # A partial read's pupils listed as before (not built): their contacts are listed.
        self.unchanged_pupils: dict[str, CsvRow] = {}
        self.refused_pupils: dict[str, CsvRow] = {}  # listed, but their row was refused
        self.blank_ids: set[tuple[str, int]] = set()  # (file, row) already reported
        self.contact_rows: dict[str, CsvRow] = {}
        self.contacts_here: set[str] = set()
        self.deleted: set[tuple[Role, str]] = set()
        self.relationships_reported: set[str] = set()  # `_relationship`

    @property
    def users(self) -> CsvTable:
        return self.reader.users_table()

    def read_rows(self) -> list[CsvRow]:
        """users.csv's rows, and the roles they hold (read once)."""
        if self.rows is None:
            self.rows = list(self.users)
        if not self.assigned:
            self._collect_assignments(self.rows)
            self.assigned = True
        return self.rows

    def builds(self, user_id: str) -> bool:
        """Whether this read builds the user (a partial read builds only some)."""
        partial = self.reader.partial
        return partial is None or user_id in partial.build

    def run(self) -> None:
        rows = self.read_rows()
        declared = self.reader.declared
        for row in rows:
            agents = row.get("agentsourcedids")
            if agents and row.get("sourcedid"):
                declared[row.get("sourcedid")].update(split_list(agents))
            self._take_user(row)
        self._refuse_overflowing_users()
        self._take_contacts(rows)
        self._role_deletions()
        self._list_left_out()

    def _list(self, user_id: str, role: Role) -> None:
        """The user is listed in `role` (built, or left out as unchanged)."""
        self.reader.listed[user_id] |= role_bit(role)

    def _list_left_out(self) -> None:
        """A partial read from the earlier listing: the users it did not build are
        listed as that listing says (their lines, and those of everyone a link joins
        them to, are the same bytes as then)."""
        partial = self.reader.partial
        if partial is None or partial.carried is None:
            return
        self.out.unchanged_all(partial.unchanged)  # its pupils and staff
        self.out.unchanged_all(zip(repeat(Role.CONTACT), partial.carried.holding(Role.CONTACT)))

    def _collect_assignments(self, rows: list[CsvRow]) -> None:
        roles = self.reader.table(
            "roles",
            "userSourcedId",
            "role",
            "orgSourcedId",
            keep=self.reader.keep_of("roles.csv"),
        )
        if roles is not None:
            id_label = roles.label("usersourcedid")
            for row in roles:
                user_id, org = row.get("usersourcedid"), row.get("orgsourcedid")
                self._assign(user_id, row, org, "roles.csv", id_label)
            return
        id_label = self.users.label("sourcedid")
        for row in rows:
            for org in split_list(row.get("orgsourcedids")):
                self._assign(row.get("sourcedid"), row, org, USERS, id_label)

    def _assign(self, user_id: str, row: CsvRow, org: str, source: str, id_label: str) -> None:
        if not user_id:
            # Nobody can be told from a role without a user: say so if it is ours.
            if org in self.ours and (source, row.line) not in self.blank_ids:
                self.blank_ids.add((source, row.line))
                self.out.error(
                    row.line,
                    id_label,
                    f"{id_label} is empty, but it is mandatory: rollsync cannot tell who "
                    "this is; the row was skipped",
                    source,
                )
            return
        written = row.get("role")
        key = written.casefold()
        if key not in ROLES:
            if org in self.ours:  # another org's odd roles are not this school's business
                self.out.error(
                    row.line,
                    "role",
                    f"role '{written}' is not a OneRoster role; it was ignored",
                    source,
                )
            return
        active = not _is_deleted(row)
        self.assignments[user_id].append(
            Assignment(user_id, written, ROLES[key], org, active, row.line, source)
        )

    def _roles_here(self, user_id: str, *, active: bool) -> dict[Role, int]:
        """The rollsync roles the user holds (or, active=False, held) at this school,
        each with the row that says so. (Asked twice a user in a partial read, once
        all the roles are read: kept.)"""
        if active and self.assigned:
            held = self._active_here.get(user_id)
            if held is None:
                held = self._active_here[user_id] = self._find_roles_here(user_id, active=True)
            return held
        return self._find_roles_here(user_id, active=active)

    def _find_roles_here(self, user_id: str, *, active: bool) -> dict[Role, int]:
        found: dict[Role, int] = {}
        for a in self.assignments.get(user_id, ()):
            if a.org in self.ours and a.active is active and a.kind is not None:
                found.setdefault(a.kind, a.row)
        return found

    def _take_user(self, row: CsvRow) -> None:
        user_id = row.get("sourcedid")
        if not user_id:
            return
        if _is_deleted(row):
            self._deleted_user(row)
            return
        roles = self._roles_here(user_id, active=True)
        contact = self._holds_contact_role(user_id)
        if self._pupil_and_more(user_id, row, roles, contact=contact):
            return
        if contact:
            self.contact_rows[user_id] = row
            if Role.CONTACT in roles:
                self.contacts_here.add(user_id)
        for role in (Role.PUPIL, Role.STAFF):
            if role not in roles:
                continue
            self._list(user_id, role)
            if self.builds(user_id):
                self._add(row, role)
            else:
                self.out.unchanged(role, user_id)
                if role is Role.PUPIL:
                    self.unchanged_pupils[user_id] = row

    def _pupil_and_more(
        self, user_id: str, row: CsvRow, roles: dict[Role, int], *, contact: bool
    ) -> bool:
        """A user who is a pupil here and also staff or a contact is refused in every
        role: a member of staff who is a parent is common, a child who is also somebody's
        contact or a teacher is a file that has mixed two people up (measured: a copied
        roles row made a pupil's name into a new contact account). Listed, never a leaver."""
        if Role.PUPIL not in roles or not (Role.STAFF in roles or contact):
            return False
        held = sorted(
            {a.kind.value for a in self.assignments[user_id] if a.active and a.kind is not None}
        )
        lines = sorted({a.row for a in self.assignments[user_id] if a.active})
        source = "roles.csv" if self.reader.manifest.mode("roles") != ABSENT else USERS
        self.out.error(
            row.line,
            self.users.label("sourcedid"),
            f"{user_id} is given the roles {' and '.join(held)} at this school "
            f"({source} rows {', '.join(map(str, lines))}): a pupil cannot also be staff or "
            "a contact, so the user was skipped and their account is left as it was",
            USERS,
        )
        for role in (Role.PUPIL, Role.STAFF, Role.CONTACT):
            self.out.reject_person(role, user_id)
        self.refused_pupils[user_id] = row
        return True

    def _holds_contact_role(self, user_id: str) -> bool:
        return any(a.kind is Role.CONTACT and a.active for a in self.assignments.get(user_id, ()))

    def _add(self, row: CsvRow, role: Role) -> None:
        unknown: set[str] = set()
        upn = self._upn(row, unknown) if role is Role.PUPIL else None
        grades = split_list(row.get("grades"))
        if not self.users.has("grades"):
            unknown.add("year_group")
        record = self.builder.person(
            row,
            role,
            year_group=v.year_group(grades[0]) if grades else None,
            upn=upn,
            unknown=unknown,
        )
        if record is None:  # reported, and noted as refused
            if role is Role.PUPIL:
                self.refused_pupils[row.get("sourcedid")] = row
            return
        if not self.out.add_person(
            record, id_field=self.users.label("sourcedid"), labels=self.builder.labels
        ):
            return
        if role is Role.PUPIL:
            self.pupils[record.mis_id] = row

    def _refuse_overflowing_users(self) -> None:
        """A users.csv row skipped for holding more values than the header (the table
        reported it) still names its user: note them as refused in each role the
        bundle gives them here, so they do not look like leavers. The ID is the
        value in the sourcedId column as the row stands."""
        for row in self.users.misshapen:
            user_id = row.get("sourcedid")
            if not user_id or _is_deleted(row):
                continue
            roles = set(self._roles_here(user_id, active=True))
            if self.reader.manifest.mode("roles") == ABSENT:  # 1.1: the row's own columns
                written = ROLES.get(row.get("role").casefold())
                if written is not None and self.ours & set(split_list(row.get("orgsourcedids"))):
                    roles.add(written)
            for role in roles:
                self.out.reject_person(role, user_id)
            if Role.PUPIL in roles:
                self.refused_pupils[user_id] = row

    def _upn(self, row: CsvRow, unknown: set[str]) -> str | None:
        if not self.users.has("userids"):
            unknown.add("upn")
            return None
        for id_type, value in _USER_ID.findall(row.get("userids")):
            if id_type.casefold() == "upn" and value:
                try:
                    return v.parse_upn(value, "userIds UPN")
                except BadValue as problem:
                    unknown.add("upn")
                    self.out.error(
                        row.line,
                        self.users.label("userids"),
                        f"{problem.message}; the pupil was imported without a UPN",
                        USERS,
                    )
        return None

    def _deleted_user(self, row: CsvRow) -> None:
        # In a bulk file a deleted row is just absent; only a delta deletes.
        if not self.delta:
            return
        user_id = row.get("sourcedid")
        if not self.assignments.get(user_id):
            self.out.error(
                row.line,
                self.users.label("sourcedid"),
                f"{user_id} is to be deleted, but neither users.csv nor roles.csv says what "
                "role they had, so rollsync cannot tell whom to remove; the row was skipped",
                USERS,
            )
            return
        held = self._roles_here(user_id, active=True) | self._roles_here(user_id, active=False)
        for role in held:
            self._delete(role, user_id, row.line)

    def _role_deletions(self) -> None:
        """A 1.2 delta can end a role without deleting the user: a leaver here."""
        if self.reader.manifest.mode("roles") != DELTA:
            return
        for user_id in self.assignments:
            ended = self._roles_here(user_id, active=False)
            still_held = self._roles_here(user_id, active=True)
            for role, row in ended.items():
                if role not in still_held:
                    self._delete(role, user_id, row)

    def _delete(self, role: Role, user_id: str, row: int) -> None:
        if (role, user_id) not in self.deleted:
            self.deleted.add((role, user_id))
            self.out.deletions.append(Deletion(role, user_id, row=row))

    def _take_contacts(self, rows: list[CsvRow]) -> None:
        pairs = self._contact_pairs(self.pupils)
        wanted = self.contacts_here | {pair.contact_id for pair in pairs}
        # A partial read: the contacts of pupils listed as before are listed as before
        # (`_Partial.of` builds every user a link joins to one it builds).
        if self.unchanged_pupils:
            wanted |= self._contacts_of(self.unchanged_pupils)
        taken: set[str] = set()
        for row in rows:
            user_id = row.get("sourcedid")
            if user_id not in wanted or user_id not in self.contact_rows:
                continue
            self._list(user_id, Role.CONTACT)
            if not self.builds(user_id):
                self.out.unchanged(Role.CONTACT, user_id)
            else:
                record = self.builder.person(row, Role.CONTACT)
                if record is not None and self.out.add_person(
                    record, id_field=self.users.label("sourcedid"), labels=self.builder.labels
                ):
                    taken.add(user_id)
        add_contact_links((p for p in pairs if p.contact_id in taken), self.out)
        # A contact of a refused pupil is still in the bundle, even when no pupil
        # taken from it brings them in.
        for pair in self._contact_pairs(self.refused_pupils):
            if pair.contact_id not in taken:
                self.out.reject_person(Role.CONTACT, pair.contact_id)

    def _contact_pairs(self, pupils: dict[str, CsvRow]) -> list[ContactPair]:
        """Pupil-contact pairs of these pupils from agentSourcedIds, read from either side."""
        pairs: list[ContactPair] = []
        for pupil_id, row in pupils.items():
            for agent in split_list(row.get("agentsourcedids")):
                if agent in self.contact_rows:
                    pairs.append(ContactPair(agent, pupil_id, self._relationship(agent), row.line))
        for contact_id, row in self.contact_rows.items():
            for target in split_list(row.get("agentsourcedids")):
                if target in pupils:
                    pairs.append(
                        ContactPair(contact_id, target, self._relationship(contact_id), row.line)
                    )
        return pairs

    def _contacts_of(self, pupils: dict[str, CsvRow]) -> set[str]:
        """The contacts of `_contact_pairs(pupils)`, without making the pairs."""
        agents = {
            agent for row in pupils.values() for agent in split_list(row.get("agentsourcedids"))
        }
        found = agents & self.contact_rows.keys()
        for contact_id, row in self.contact_rows.items():
            if contact_id not in found and any(
                target in pupils for target in split_list(row.get("agentsourcedids"))
            ):
                found.add(contact_id)
        return found

    def _relationship(self, contact_id: str) -> str | None:
        """The relationship the contact's first contact role gives. A later contact role
        of another word is reported (once): which comes first is only the file's order,
        and a read in part, which compares sets of lines, must see that it matters."""
        words = [
            (a.role.strip().capitalize(), a)
            for a in self.assignments.get(contact_id, ())
            if a.kind is Role.CONTACT
        ]
        if not words:
            return None
        first, at = words[0]
        other = next((a for word, a in words if word != first), None)
        if other is not None and contact_id not in self.relationships_reported:
            self.relationships_reported.add(contact_id)
            self.out.error(
                other.row,
                "role",
                f"{contact_id} is given the contact role {at.role.strip()} in row {at.row} "
                f"and {other.role.strip()} here; rollsync takes the first for their links",
                other.source,
            )
        return first


@dataclass(frozen=True, slots=True)
class _Partial:
    """What a partial read builds: the users asked for and every user a contact link
    (agentSourcedIds, either way) joins to one of them, so that a link is built or left
    whole; and who it lists as before instead."""

    build: frozenset[str]
    # The (role, user) of pupils and staff listed here and not built: the enrollments
    # naming them in that role are not read (their memberships are left out).
    unchanged: frozenset[tuple[Role, str]]
    # The earlier read's listing of the users not built, who are listed as it says
    # without their rows being read; None: users.csv and roles.csv are read whole to
    # learn who is listed.
    carried: Listing | None = None

    @classmethod
    def of(cls, users_pass: _UsersPass, changed: frozenset[str]) -> _Partial:
        rows = users_pass.read_rows()
        declared = (
            (row.get("sourcedid"), split_list(agents))
            for row in rows
            if (agents := row.get("agentsourcedids"))
        )
        build = joined_users(declared, changed)
        unchanged: set[tuple[Role, str]] = set()
        for row in rows:
            user_id = row.get("sourcedid")
            # A deleted row lists nobody (`_take_user`): their enrollments are read, as
            # the full parse reads them (found by the random test).
            if user_id and user_id not in build and not _is_deleted(row):
                roles = users_pass._roles_here(user_id, active=True)
                unchanged.update(
                    (role, user_id) for role in (Role.PUPIL, Role.STAFF) if role in roles
                )
        return cls(build, frozenset(unchanged))

    @classmethod
    def from_listing(cls, listing: Listing, changed: frozenset[str]) -> _Partial:
        """From the earlier read's listing, without reading anyone's rows: a link a
        changed line makes or ends has both its ends among `changed` (the agents of
        changed users.csv lines, before and after, are in it), so the links of the lines
        left alone, which the listing holds, join the same users as the new bundle's."""
        build = joined_users(listing.agents.items(), changed)
        carried = listing.without(build)
        unchanged = frozenset(
            chain.from_iterable(
                zip(repeat(role), carried.holding(role)) for role in (Role.PUPIL, Role.STAFF)
            )
        )
        return cls(build, unchanged, carried)

    def keeps(self, source: str) -> Callable[[list[bytes]], list[bool]]:
        """For `_OneRosterReader.table`: which data lines of `source` to read.
        Enrollments: all but those of a pupil or member of staff listed as before, in
        that role. Demographics, and users and roles (read in part from a listing):
        those of users built, and those naming nobody (the reader reports them)."""
        if source == "enrollments.csv":
            return functools.partial(
                lines_not_naming,
                column="usersourcedid",
                role_column="role",
                left_out=self.unchanged,
                role_of=_member_role,
            )
        column = {"roles.csv": "usersourcedid"}.get(source, "sourcedid")
        return functools.partial(lines_naming, column=column, users=self.build)


def _member_role(written: str) -> Role | None:
    """The person's role an enrollment's role names (None: no person's)."""
    member = CLASS_RULES.member_of(written.casefold())
    return member[0] if member else None
