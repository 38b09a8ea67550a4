"""What an export holds: the orgs, people, their places at schools, groups,
memberships and contact links of one school or LA, read from the directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from rollsync.domain.records import Gender, GroupKind, MembershipRole, Role


@dataclass(frozen=True, slots=True)
class Org:
    sourced_id: str  # a school: its URN; an LA: "LA" + its code
    name: str
    kind: str  # "school" or "district"
    identifier: str  # a school: its URN; an LA: its code
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class Person:
    """An account: the same person at every school of the export."""

    uid: str  # the account's stable downstream id
    username: str
    given_name: str
    family_name: str
    middle_names: str | None = None
    preferred_given_name: str | None = None
    preferred_family_name: str | None = None
    date_of_birth: date | None = None
    gender: Gender | None = None
    upn: str | None = None
    email: str | None = None
    phone: str | None = None
    modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """A person's role at a school (an allocation). Not active: unallocated, which
    a OneRoster delta writes as `tobedeleted`."""

    uid: str
    org_id: str
    role: Role
    active: bool = True
    year_group: str | None = None
    start_date: date | None = None
    leaving_date: date | None = None
    modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    org_id: str
    title: str
    kind: GroupKind


@dataclass(frozen=True, slots=True)
class Membership:
    group_id: str
    uid: str
    role: MembershipRole


@dataclass(frozen=True, slots=True)
class Link:
    contact_uid: str
    pupil_uid: str
    relationship: str | None = None


@dataclass(frozen=True, slots=True)
class Roster:
    """Bulk when `since` is None: everyone current. A delta (`since` set) holds only
    the people changed since then, and the places they lost as not active."""

    orgs: tuple[Org, ...]
    as_of: date  # the day written for: it names the academic year
    people: tuple[Person, ...]
    placements: tuple[Placement, ...]
    groups: tuple[Group, ...] = ()
    memberships: tuple[Membership, ...] = ()
    links: tuple[Link, ...] = ()
    since: datetime | None = None
    system_name: str = field(default="rollsync")

    @property
    def academic_year(self) -> int:
        """The year the academic year starting in September began."""
        return self.as_of.year if self.as_of.month >= 9 else self.as_of.year - 1

    @property
    def is_delta(self) -> bool:
        return self.since is not None
