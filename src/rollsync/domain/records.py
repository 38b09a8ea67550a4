"""Canonical records: what every importer produces and the planner consumes.

Pure Python, no Django. Every importer (CTF, OneRoster, SDS, rollsync CSV, and
later each MIS connector) turns its input into one `ImportBatch` of these
records, so matching, planning and applying never see a vendor's shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from rollsync.domain.quick import quick_init


class Role(StrEnum):
    PUPIL = "pupil"
    STAFF = "staff"
    CONTACT = "contact"


class Gender(StrEnum):
    MALE = "M"
    FEMALE = "F"
    OTHER = "X"
    UNKNOWN = "U"


class GroupKind(StrEnum):
    CLASS = "class"
    REGISTRATION = "registration"
    YEAR = "year"
    OTHER = "other"


class MembershipRole(StrEnum):
    TEACHER = "teacher"
    STUDENT = "student"


@quick_init
@dataclass(frozen=True, slots=True)
class RowError:
    """One rejected row or value: which row (1-based data row or line, None for
    a whole-file problem), which field, and why, in words a school admin reads."""

    row: int | None
    field: str | None
    message: str
    source: str | None = None  # file inside a bundle, e.g. "users.csv"
    # How many rows the message stands for (one message for every row that names the
    # same unknown person, say): the run counts them all as rejected.
    rows: int = 1

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"row": self.row, "field": self.field, "message": self.message}
        if self.source is not None:
            out["source"] = self.source
        if self.rows != 1:
            out["rows"] = self.rows
        return out


@quick_init
@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A pupil, staff member or contact as the MIS sent it for one school.

    `mis_id` is the MIS's own stable identifier for the person at this school.
    Names are kept as sent (trimmed); normalisation is the matcher's job.
    """

    role: Role
    mis_id: str
    legal_given_name: str
    legal_family_name: str
    preferred_given_name: str | None = None
    preferred_family_name: str | None = None
    middle_names: str | None = None
    date_of_birth: date | None = None
    gender: Gender | None = None
    upn: str | None = None  # pupils only, check letter already verified
    start_date: date | None = None
    leaving_date: date | None = None
    year_group: str | None = None  # pupils
    registration_group: str | None = None  # pupils
    title: str | None = None  # staff and contacts
    staff_code: str | None = None  # staff
    email: str | None = None
    phone: str | None = None
    postcode: str | None = None
    address: str | None = None
    future: bool = False  # came from a "future" report (not started yet)
    row: int | None = None  # where it came from, for messages
    source: str | None = None
    # Fields this record does not clearly carry: a value that could not be read, a
    # column or file the upload lacks (a OneRoster bundle without demographics), a row
    # cut short. Their None means "not known", never "now blank": the planner keeps
    # what is stored for them and never writes them over an existing value.
    unknown_fields: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[Role, str]:
        return (self.role, self.mis_id)


@quick_init
@dataclass(frozen=True, slots=True)
class ContactLink:
    """A contact's relationship to a pupil, both by MIS ID at the school."""

    contact_mis_id: str
    pupil_mis_id: str
    priority: int | None = None  # 1 = first contact
    parental_responsibility: bool = False
    relationship: str | None = None  # "Mother", "Carer", ...
    row: int | None = None


@dataclass(frozen=True, slots=True)
class GroupRecord:
    mis_id: str
    name: str
    kind: GroupKind
    row: int | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class MembershipRecord:
    group_mis_id: str
    person_role: Role  # PUPIL for students, STAFF for teachers
    person_mis_id: str
    role: MembershipRole
    row: int | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class AttendanceMark:
    """One attendance register mark (DfE codes: "/", "\\", "L", "I", "N", ...)."""

    pupil_mis_id: str
    date: date
    session: str  # "AM" or "PM"
    code: str
    row: int | None = None


@dataclass(frozen=True, slots=True)
class Deletion:
    """An explicit removal from a delta feed (OneRoster status=tobedeleted)."""

    role: Role
    mis_id: str
    row: int | None = None


@dataclass(slots=True)
class ImportBatch:
    """Everything one upload said about one school, in canonical form.

    `complete_for` names the roles for which this batch is a *full* list: only
    for those may a person's absence imply a leaver. A partial CTF or a
    OneRoster delta is complete for nothing.
    `reports` names the reports (see `domain.reports`) the batch carries.
    """

    source_format: str
    reports: frozenset[str]
    complete_for: frozenset[Role]
    people: list[PersonRecord] = field(default_factory=list)
    contact_links: list[ContactLink] = field(default_factory=list)
    groups: list[GroupRecord] = field(default_factory=list)
    memberships: list[MembershipRecord] = field(default_factory=list)
    attendance: list[AttendanceMark] = field(default_factory=list)
    deletions: list[Deletion] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # People the file lists but whose row was refused: in a full list they are still
    # there, so their absence from `people` must never read as "left".
    rejected_keys: set[tuple[Role, str]] = field(default_factory=set)
    # People the file lists whose rows, and every row their record, memberships and
    # contact links are read from, are the same bytes as in the school's last applied
    # upload of this report, whose plan the directory still stands on: a partial batch
    # (docs/performance.md, "A churn, parsed and planned by its changed rows"). Their
    # records, memberships and links are left out; the planner treats them as listed and
    # unchanged. Disjoint from the keys of `people` and from `rejected_keys`.
    unchanged_keys: frozenset[tuple[Role, str]] = frozenset()
    # For a batch that names pupils but lists none (a Contacts file): the (contact MIS
    # ID, pupil MIS ID) of each link the lines of its contacts left out name. Each pupil
    # must still be placed here under that ID for them to stay out (a pupil re-keyed or
    # gone since: the whole plan resolves the link to nobody).
    unchanged_links: frozenset[tuple[str, str]] = frozenset()
    # What the file says about whose data it is (checked against the target school).
    declared_urn: str | None = None
    declared_la_code: str | None = None
    declared_estab: str | None = None
    # What the format is called for a person ("Common Transfer File (CTF XML)"): set by
    # `ingest.parse_upload` from its reader's label; "" for a batch built elsewhere.
    source_label: str = ""
    generated_at: str | None = None
    rows_read: int = 0
    # The reader's own account of who the file lists, for the next read in part of a
    # later upload of it (`ingest.parse_changed`'s `listing`): opaque bytes, kept with
    # the run that applied this batch. None: the format keeps none.
    listing: bytes | None = None

    @property
    def fatal(self) -> bool:
        """A whole-file error (row None) means nothing in the batch may be applied."""
        return any(e.row is None for e in self.errors)
