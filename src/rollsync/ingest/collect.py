"""Collecting one upload's records and row errors into an `ImportBatch`.

The collector owns the rules every importer shares:

- a person's (role, MIS ID) may appear once per upload (the first wins, later
  ones are row errors naming the first);
- a person whose row was refused, but whose MIS ID could be read, is noted in
  `rejected_keys`: the file still lists them, so in a full list their absence
  from `people` must never read as "left";
- which roles a batch is complete for, following the rule the importer names
  when it builds (`complete_when_empty`): a file that is by definition one full
  list of a role claims it even when it is empty (an empty or truncated export
  is then held by the planner's guard for a person to look at), while a bundle
  claims only the roles it lists anyone of.
"""

from __future__ import annotations

from collections.abc import Iterable

from rollsync.domain.records import (
    AttendanceMark,
    ContactLink,
    Deletion,
    GroupRecord,
    ImportBatch,
    MembershipRecord,
    PersonRecord,
    Role,
    RowError,
)
from rollsync.domain.reports import CATALOGUE, CURRENT_REPORT_FOR_ROLE

from .errors import BadValue

_ROLE_WORDS = {Role.PUPIL: "pupil", Role.STAFF: "member of staff", Role.CONTACT: "contact"}


def role_word(role: Role) -> str:
    """'pupil', 'member of staff', 'contact': for messages."""
    return _ROLE_WORDS[role]


def mandatory_for(role: Role, field_name: str) -> bool:
    """Whether the report catalogue makes `field_name` mandatory for people of `role`
    (a field the role's report does not have at all is not mandatory)."""
    spec = CATALOGUE[CURRENT_REPORT_FOR_ROLE[role]]
    return field_name in spec.mandatory_fields


class BatchCollector:
    def __init__(self, source_format: str, *, row_noun: str = "row") -> None:
        self.source_format = source_format
        self.row_noun = row_noun  # how messages name a row: "row", "pupil"
        self.people: list[PersonRecord] = []
        self.contact_links: list[ContactLink] = []
        self.groups: list[GroupRecord] = []
        self.memberships: list[MembershipRecord] = []
        self.attendance: list[AttendanceMark] = []
        self.deletions: list[Deletion] = []
        self.errors: list[RowError] = []
        self.rows_read = 0
        self.rejected_keys: set[tuple[Role, str]] = set()
        self._first_row: dict[tuple[Role, str], tuple[int | None, str | None]] = {}

    def error(
        self, row: int | None, field: str | None, message: str, source: str | None = None
    ) -> None:
        self.errors.append(RowError(row, field, message, source))

    def bad_value(
        self, row: int | None, field: str, problem: BadValue, source: str | None = None
    ) -> None:
        self.error(row, field, problem.message, source)

    def where(self, row: int | None, source: str | None) -> str:
        place = f"{self.row_noun} {row}" if row is not None else "another record"
        return f"{source} {place}" if source else place

    def seen(self, role: Role, mis_id: str) -> bool:
        return (role, mis_id) in self._first_row

    def add_person(self, record: PersonRecord, *, id_field: str) -> bool:
        """Keep the record unless its (role, MIS ID) came earlier in this upload."""
        first = self._first_row.get(record.key)
        if first is not None:
            self.error(
                record.row,
                id_field,
                f"{id_field} '{record.mis_id}' is given for another "
                f"{_ROLE_WORDS[record.role]} earlier ({self.where(*first)}): "
                "the first was kept and this one skipped",
                record.source,
            )
            return False
        self._first_row[record.key] = (record.row, record.source)
        self.people.append(record)
        return True

    def reject_person(self, role: Role, mis_id: str | None) -> None:
        """Note a person whose row was refused (and reported) but whose MIS ID could be
        read: the file lists them, so they must not look like a leaver. A blank ID
        is not an ID, and adds nothing. A row skipped as a repeat of a kept MIS ID
        is not a refusal: `add_person` keeps the first and does not call this."""
        text = (mis_id or "").strip()
        if text:
            self.rejected_keys.add((role, text))

    def roles_listed(self) -> frozenset[Role]:
        """The roles the upload lists anyone of, kept or refused."""
        return frozenset(role for role, _ in self._first_row) | frozenset(
            role for role, _ in self.rejected_keys
        )

    def build(
        self,
        *,
        reports: Iterable[str],
        complete_for: Iterable[Role],
        complete_when_empty: bool,
        declared_urn: str | None = None,
        declared_la_code: str | None = None,
        declared_estab: str | None = None,
        generated_at: str | None = None,
    ) -> ImportBatch:
        """The batch. `complete_for` is the roles the file is a full list of, when it
        lists anyone of them; `complete_when_empty` says what a role it lists nobody
        of (not even in a refused row) is:

        - True, for a file that is by definition one full list of one role (a full
          CTF, a current Students, Staff or Contacts CSV): still complete, so an
          empty or cut-short export reaches the planner as a full list and its
          guard holds the run for a person to look at, rather than doing nothing;
        - False, for a bundle of several roles (OneRoster bulk, SDS): not complete,
          since a bundle with no staff at all is no claim that all staff left. The
          risk, documented for schools: a bundle that loses all its staff rows
          silently keeps every member of staff.
        """
        claimed = frozenset(complete_for)
        if not complete_when_empty:
            claimed &= self.roles_listed()
        return ImportBatch(
            source_format=self.source_format,
            reports=frozenset(reports),
            complete_for=claimed,
            people=self.people,
            contact_links=self.contact_links,
            groups=self.groups,
            memberships=self.memberships,
            attendance=self.attendance,
            deletions=self.deletions,
            errors=self.errors,
            # A refused row of someone kept from another row (a contact's second
            # link, say) takes nobody out of the list.
            rejected_keys=self.rejected_keys - self._first_row.keys(),
            declared_urn=declared_urn,
            declared_la_code=declared_la_code,
            declared_estab=declared_estab,
            generated_at=generated_at,
            rows_read=self.rows_read,
        )
