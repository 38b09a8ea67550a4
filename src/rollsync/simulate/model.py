"""The simulated world's truth: plain dataclasses, mutated day by day.

A `Person` is one human (stable `person_id`), whatever schools they are at. An
`Enrolment` is that person's record in one school's MIS: its MIS ID, dates,
year and registration group, and any mistakes the school typed (kept apart from
the person, so a typo is the MIS's error, not a change of the truth).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from rollsync.domain.records import Gender, GroupKind, Role
from rollsync.simulate.mis import IdAllocator

PRIMARY_YEARS = ("R", "1", "2", "3", "4", "5", "6")
SECONDARY_YEARS = ("7", "8", "9", "10", "11", "12", "13")


def year_index(year_group: str) -> int:
    """Reception is 0, Year N is N."""
    return 0 if year_group == "R" else int(year_group)


@dataclass(slots=True)
class Address:
    paon: str  # house number or name
    street: str
    town: str
    postcode: str
    saon: str | None = None  # flat

    def one_line(self, *, postcode: bool = True) -> str:
        parts = [
            self.saon,
            f"{self.paon} {self.street}",
            self.town,
            self.postcode if postcode else None,
        ]
        return ", ".join(p for p in parts if p)


@dataclass(slots=True)
class Person:
    person_id: str
    kind: Role
    legal_given: str
    legal_family: str
    gender: Gender
    dob: date
    origin: str
    middle: str | None = None
    preferred_given: str | None = None
    preferred_family: str | None = None
    upn: str | None = None
    title: str | None = None
    household_id: str | None = None
    address: Address | None = None
    email: str | None = None  # personal (contacts) or school (pupils, staff) address
    phone: str | None = None


@dataclass(slots=True)
class ContactRole:
    """A contact's place in a household: the same for every child in it."""

    person_id: str
    relationship: str  # "Mother", "Father", "Step-father", "Grandmother", "Carer", ...
    ctf_code: str  # DfE relationship code: PAM, PAF, STF, STM, REL, CAR, ...
    priority: int
    parental_responsibility: bool


@dataclass(slots=True)
class Household:
    household_id: str
    origin: str
    address: Address
    surname: str  # "Kowalski|Kowalska" style forms, see names.py
    contacts: list[ContactRole] = field(default_factory=list)
    children: list[str] = field(default_factory=list)  # person_ids enrolled somewhere in the LA


@dataclass(slots=True)
class Enrolment:
    """A person's record in one school's MIS."""

    person_id: str
    role: Role
    mis_id: str
    start_date: date
    visible_from_day: int = 1  # first export day the MIS knows the record
    leaving_date: date | None = None  # gone after this date
    removed_day: int | None = None  # first export day the record is missing
    year_group: str | None = None
    reg_group: str | None = None
    set_seed: int = 0  # picks teaching sets and options, stable per pupil
    staff_role: str | None = None  # head, teacher, ta, office
    subject: str | None = None  # secondary teachers
    staff_code: str | None = None
    email: str | None = None  # the school's address for this person
    name_overrides: dict[str, str] = field(default_factory=dict)  # MIS typos: field -> wrong
    dob_override: date | None = None


@dataclass(slots=True)
class Group:
    key: str  # stable internal key: "reg:7A", "class:7:Ma:2", "year:7"
    mis_id: str
    name: str
    kind: GroupKind
    year: str
    teacher_id: str | None = None  # person_id of the staff member who teaches or tutors it
    subject: str | None = None
    set_no: int = 0


@dataclass(slots=True)
class School:
    urn: str
    la_code: str
    estab: str
    name: str
    phase: str  # "Primary" | "Secondary"
    mis: str
    fmt: str
    domain: str  # e-mail domain
    years: tuple[str, ...]
    ids: IdAllocator
    mis_history: list[tuple[int, str, str]] = field(default_factory=list)  # (from day, mis, fmt)
    pupils: dict[str, Enrolment] = field(default_factory=dict)  # person_id -> enrolment
    staff: dict[str, Enrolment] = field(default_factory=dict)
    contact_ids: dict[str, str] = field(default_factory=dict)  # contact person_id -> MIS ID
    groups: dict[str, Group] = field(default_factory=dict)  # key -> group
    forms: dict[str, list[str]] = field(default_factory=dict)  # year -> registration groups


@dataclass(slots=True)
class World:
    seed: int
    la_code: str
    la_name: str
    academic_year: int  # the calendar year the academic year starts in
    dates: list[date]  # export day n is dates[n - 1] (school days only)
    schools: list[School] = field(default_factory=list)
    people: dict[str, Person] = field(default_factory=dict)
    households: dict[str, Household] = field(default_factory=dict)
    towns: list[tuple[str, int]] = field(default_factory=list)  # (town, postcode district)
    postcode_area: str = "HA"
    used_upns: set[str] = field(default_factory=set)
    used_emails: set[str] = field(default_factory=set)
    upn_serials: dict[tuple[str, str, int], int] = field(default_factory=dict)
    phone_counter: int = 0
    next_person: int = 0
    next_household: int = 0
    mis_change: tuple[str, int, str, str] | None = None  # (urn, day, new mis, new fmt)
    fixes: list[tuple[int, str, str]] = field(default_factory=list)  # (day, urn, person_id)

    def school(self, urn: str) -> School:
        for s in self.schools:
            if s.urn == urn:
                return s
        raise KeyError(urn)

    def date_of(self, day: int) -> date:
        return self.dates[day - 1]


def export_key(school: School, enrolment: Enrolment, person: Person) -> str:
    """The identifier a school's export shows for a person: a CTF has no MIS IDs,
    so there a pupil is known by UPN."""
    if school.fmt == "ctf" and enrolment.role is Role.PUPIL and person.upn:
        return person.upn
    return enrolment.mis_id
