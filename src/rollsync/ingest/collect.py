"""Collecting one upload's records and row errors into an `ImportBatch`.

The collector owns the rules every importer shares:

- a person's (role, MIS ID) names one person per upload: rows that repeat it
  with the same identity are that one person (a contact listed once per pupil),
  but rows that share it and disagree on identity (names, date of birth, gender,
  UPN) are all refused, each with an error naming the others, and the key goes
  into `rejected_keys`: rollsync cannot tell which row is the real person, so
  the person is neither updated nor treated as a leaver;
- every value is checked against `domain.limits` before anything is stored: an
  over-long value, a control character, a date of birth in the future or before
  1900 refuses the row (an MIS ID or a mandatory value) or makes the value
  unknown (an optional one: the planner keeps what it holds for it);
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

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from rollsync.domain.limits import EARLIEST_BIRTH_YEAR, MAX_LENGTHS
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

from . import values as v
from .errors import BadValue, DamagedValue

_ROLE_WORDS = {Role.PUPIL: "pupil", Role.STAFF: "member of staff", Role.CONTACT: "contact"}

# What tells one person from another: rows of one MIS ID that differ in any of these
# are not the same person, and none of them is used.
IDENTITY_FIELDS = (
    "legal_given_name",
    "legal_family_name",
    "middle_names",
    "preferred_given_name",
    "preferred_family_name",
    "date_of_birth",
    "gender",
    "upn",
)
_TEXT_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(PersonRecord)
    if f.name in MAX_LENGTHS and f.name not in ("mis_id",)
)
# (field, its longest value) for every text field `checked` reads, the MIS ID first.
_TEXT_LIMITS = tuple((name, MAX_LENGTHS[name]) for name in ("mis_id", *_TEXT_FIELDS))
_ALWAYS_NEEDED = frozenset(("mis_id", "legal_given_name", "legal_family_name"))

# The one refusal that depends on the day a file is read, not on its bytes: a date of
# birth after today. An unchanged re-import may not be skipped past it (docs/decisions/0088).
FUTURE_DATE_WORDS = "is in the future (today is "


def refused_for_the_day(error: RowError) -> bool:
    """Whether `error` refuses a row only because of the day it was read."""
    return error.field == "date_of_birth" and FUTURE_DATE_WORDS in error.message


def role_word(role: Role) -> str:
    """'pupil', 'member of staff', 'contact': for messages."""
    return _ROLE_WORDS[role]


def mandatory_for(role: Role, field_name: str) -> bool:
    """Whether the report catalogue makes `field_name` mandatory for people of `role`
    (a field the role's report does not have at all is not mandatory)."""
    spec = CATALOGUE[CURRENT_REPORT_FOR_ROLE[role]]
    return field_name in spec.mandatory_fields


def _same(a: object, b: object) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return v.clean(a).casefold() == v.clean(b).casefold()
    return a == b


def identity_differences(a: PersonRecord, b: PersonRecord) -> list[str]:
    """The identity fields two records of one MIS ID disagree on (a field unknown in
    either is not a disagreement)."""
    unknown = a.unknown_fields | b.unknown_fields
    return [
        name
        for name in IDENTITY_FIELDS
        if name not in unknown and not _same(getattr(a, name), getattr(b, name))
    ]


@dataclasses.dataclass(slots=True)
class _Seen:
    """Every kept row of one (role, MIS ID)."""

    records: list[PersonRecord]
    id_field: str
    conflict: bool = False


class BatchCollector:
    def __init__(
        self, source_format: str, *, row_noun: str = "row", today: date | None = None
    ) -> None:
        self.source_format = source_format
        self.row_noun = row_noun  # how messages name a row: "row", "pupil"
        self.today = today or date.today()
        self.people: list[PersonRecord] = []
        self.contact_links: list[ContactLink] = []
        self.groups: list[GroupRecord] = []
        self.memberships: list[MembershipRecord] = []
        self.attendance: list[AttendanceMark] = []
        self.deletions: list[Deletion] = []
        self.errors: list[RowError] = []
        self.rows_read = 0
        self.rejected_keys: set[tuple[Role, str]] = set()
        # People listed as in the earlier upload a partial batch stands on (`unchanged`).
        self.unchanged_keys: set[tuple[Role, str]] = set()
        self._seen: dict[tuple[Role, str], _Seen] = {}
        # Rows refused for a bad value, by key: a pupil or member of staff refused in
        # one row and kept from another cannot be told apart either.
        self._refused_rows: dict[tuple[Role, str], list[tuple[int | None, str | None]]] = {}

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
        return (role, mis_id) in self._seen

    def add_person(
        self,
        record: PersonRecord,
        *,
        id_field: str,
        labels: Mapping[str, str] | None = None,
        repeats: bool = False,
    ) -> bool:
        """Keep the record, or say why not; True when the record stands for its person.

        Every value is checked first (`checked`). A record whose (role, MIS ID) came
        earlier in this upload is the same person when the identity agrees: with
        `repeats` (a contact listed once per pupil) that is normal and silent, and
        True; otherwise the row is a repeat, reported and skipped (False). When the
        identity disagrees, every row of that key is refused when the batch is built.
        """
        checked = self.checked(record, id_field=id_field, labels=labels)
        if checked is None:
            return False
        record = checked
        seen = self._seen.get(record.key)
        if seen is None:
            self._seen[record.key] = _Seen([record], id_field)
            self.people.append(record)
            return True
        if any(identity_differences(record, other) for other in seen.records):
            seen.records.append(record)
            seen.conflict = True
            return False
        if repeats:
            return True
        first = seen.records[0]
        self.error(
            record.row,
            id_field,
            f"{id_field} '{record.mis_id}' is given for the same "
            f"{_ROLE_WORDS[record.role]} earlier ({self.where(first.row, first.source)}): "
            "this row repeats it and was skipped",
            record.source,
        )
        return False

    def checked(
        self, record: PersonRecord, *, id_field: str, labels: Mapping[str, str] | None = None
    ) -> PersonRecord | None:
        """The record with every value within `domain.limits`, or None (reported, and
        the person noted as refused) when any value is damaged (`DamagedValue`: too
        long, a control character, a digit from another script) or a mandatory one
        cannot be read. An optional value that is merely wrong becomes unknown: None,
        and named in `unknown_fields`, so the planner keeps what it holds for it."""
        names = labels or {}
        refused = False
        unknown: set[str] = set()

        def problem(field_name: str, message: str, *, damaged: bool = False) -> None:
            nonlocal refused
            needed = (
                damaged or field_name in _ALWAYS_NEEDED or mandatory_for(record.role, field_name)
            )
            outcome = v.SKIPPED if needed else v.KEPT_WITHOUT
            label = names.get(field_name, id_field if field_name == "mis_id" else field_name)
            self.error(record.row, label, f"{message}; {outcome}", record.source)
            if needed:
                refused = True
            else:
                unknown.add(field_name)

        for field_name, limit in _TEXT_LIMITS:
            value = getattr(record, field_name)
            if not isinstance(value, str):
                continue
            if len(value) <= limit and value.isascii() and value.isprintable():
                continue  # `check_text`'s own first test: nothing to refuse
            label = names.get(field_name, id_field if field_name == "mis_id" else field_name)
            try:
                v.check_text(value, label, limit)
            except BadValue as bad:
                problem(field_name, bad.message, damaged=isinstance(bad, DamagedValue))
        born = record.date_of_birth
        if born is not None:
            label = names.get("date_of_birth", "date_of_birth")
            if born > self.today:
                problem(
                    "date_of_birth",
                    f"{label} '{born.isoformat()}' {FUTURE_DATE_WORDS}{self.today.isoformat()})",
                )
            elif born.year < EARLIEST_BIRTH_YEAR:
                problem(
                    "date_of_birth",
                    f"{label} '{born.isoformat()}' is before {EARLIEST_BIRTH_YEAR}",
                )
        if refused:
            self.reject_person(record.role, record.mis_id, row=record.row, source=record.source)
            return None
        if not unknown:
            return record
        blanks: dict[str, Any] = dict.fromkeys(unknown)
        blanks["unknown_fields"] = record.unknown_fields | frozenset(unknown)
        return dataclasses.replace(record, **blanks)

    def unchanged(self, role: Role, mis_id: str) -> None:
        """Note a person whose rows are as in the earlier upload a partial batch stands
        on: listed, but not built (`ImportBatch.unchanged_keys`)."""
        self.unchanged_keys.add((role, mis_id))

    def unchanged_all(self, keys: Iterable[tuple[Role, str]]) -> None:
        """`unchanged` for each (role, MIS ID) of `keys`."""
        self.unchanged_keys.update(keys)

    def reject_person(
        self,
        role: Role,
        mis_id: str | None,
        *,
        row: int | None = None,
        source: str | None = None,
    ) -> None:
        """Note a person whose row was refused (and reported) but whose MIS ID could be
        read: the file lists them, so they must not look like a leaver. A blank ID
        is not an ID, and adds nothing. A row skipped as a repeat of a kept MIS ID
        is not a refusal: `add_person` keeps the first and does not call this."""
        text = v.clean(mis_id)
        # An ID longer than any rollsync stores names nobody it holds.
        if text and len(text) <= MAX_LENGTHS["mis_id"]:
            self.rejected_keys.add((role, text))
            self._refused_rows.setdefault((role, text), []).append((row, source))

    def forget_role(self, role: Role) -> None:
        """The upload cannot be trusted about people of `role` (contacts whose links no
        file states, a file cut short): it claims nothing about them, kept, refused
        or linked, so they are neither updated nor taken for leavers."""
        self.people = [p for p in self.people if p.role is not role]
        self._seen = {key: seen for key, seen in self._seen.items() if key[0] is not role}
        self.rejected_keys = {key for key in self.rejected_keys if key[0] is not role}
        self.unchanged_keys = {key for key in self.unchanged_keys if key[0] is not role}
        self._refused_rows = {k: rows for k, rows in self._refused_rows.items() if k[0] is not role}
        if role is Role.CONTACT:
            self.contact_links = []

    def roles_listed(self) -> frozenset[Role]:
        """The roles the upload lists anyone of, kept or refused."""
        return frozenset(
            role for role, _ in (*self._seen, *self.rejected_keys, *self.unchanged_keys)
        )

    def _settle_conflicts(self) -> None:
        """Refuse every row of a key whose rows disagree on who the person is, and what
        hangs on them only (links, memberships, contacts brought in by them)."""
        conflicts: set[tuple[Role, str]] = set()
        for key, seen in self._seen.items():
            refused = self._refused_rows.get(key, [])
            if seen.conflict:
                self._report_conflict(seen)
            elif refused and key[0] is not Role.CONTACT:
                self._report_refused_twin(seen, refused)
            else:
                continue
            conflicts.add(key)
        if not conflicts:
            return
        self.rejected_keys |= conflicts
        self.people = [p for p in self.people if p.key not in conflicts]
        pupils_out = {mis_id for role, mis_id in conflicts if role is Role.PUPIL}
        contacts_out = {mis_id for role, mis_id in conflicts if role is Role.CONTACT}
        linked_before = {link.contact_mis_id for link in self.contact_links}
        self.contact_links = [
            link
            for link in self.contact_links
            if link.pupil_mis_id not in pupils_out and link.contact_mis_id not in contacts_out
        ]
        # A contact the file lists only as a contact of refused pupils is still listed.
        orphaned = linked_before - {link.contact_mis_id for link in self.contact_links}
        for contact_id in orphaned:
            self.rejected_keys.add((Role.CONTACT, contact_id))
        self.people = [
            p for p in self.people if not (p.role is Role.CONTACT and p.mis_id in orphaned)
        ]
        self.memberships = [
            m for m in self.memberships if (m.person_role, m.person_mis_id) not in conflicts
        ]

    def _report_conflict(self, seen: _Seen) -> None:
        first = seen.records[0]
        word = _ROLE_WORDS[first.role]
        for record in seen.records:
            others = [r for r in seen.records if r is not record]
            differ: list[str] = []
            for other in others:
                differ += [d for d in identity_differences(record, other) if d not in differ]
            places = ", ".join(self.where(o.row, o.source) for o in others)
            self.error(
                record.row,
                seen.id_field,
                f"{seen.id_field} '{record.mis_id}' is also given in {places} for a different "
                f"{word} ({', '.join(differ)} differ): rollsync cannot tell which is the real "
                f"{word}, so none of these rows was used and the {word}'s account stays as it is",
                record.source,
            )

    def _report_refused_twin(
        self, seen: _Seen, refused: list[tuple[int | None, str | None]]
    ) -> None:
        record = seen.records[0]
        word = _ROLE_WORDS[record.role]
        places = ", ".join(self.where(row, source) for row, source in refused)
        self.error(
            record.row,
            seen.id_field,
            f"{seen.id_field} '{record.mis_id}' is also given in {places}, which was refused: "
            f"rollsync cannot tell which row is the real {word}, so this row was not used "
            f"either and the {word}'s account stays as it is",
            record.source,
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
        self._settle_conflicts()
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
            errors=sorted(self.errors, key=lambda e: (e.source or "", e.row or 0)),
            # A refused row of a contact kept from another row (a contact's second
            # link, say) takes nobody out of the list.
            rejected_keys=self.rejected_keys - {p.key for p in self.people},
            unchanged_keys=frozenset(self.unchanged_keys),
            declared_urn=declared_urn,
            declared_la_code=declared_la_code,
            declared_estab=declared_estab,
            generated_at=generated_at,
            rows_read=self.rows_read,
        )
