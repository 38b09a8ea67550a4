"""`Subject`: one person as the engine compares them, and its prepared (normalised) form.

A subject is either side of a comparison: an incoming MIS record or spreadsheet
row, or a candidate (a directory account, a row of the other spreadsheet). The
caller fills what it knows; everything but the names may be missing, and a
missing value is never evidence either way.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from rollsync.domain.quick import quick_init
from rollsync.matching.normalise import (
    address_key,
    email_key,
    given_tokens,
    name_key,
    name_tokens,
    phone_key,
    phonetic,
    postcode_key,
    postcode_parts,
    surname_core,
)


@quick_init
@dataclass(frozen=True, slots=True)
class Subject:
    """A person to compare. `id` is the caller's (an account ID, a spreadsheet's row ID).

    Several postcodes, addresses, emails and phones may be given: an account allocated
    at two schools has each school's. `household` holds opaque keys its household
    shares (its contacts' phones, emails or names; its address), for the sibling
    guard; `children` (contacts only) the opaque keys of the pupils they are linked to.
    """

    id: Hashable
    given: str
    family: str
    role: str | None = None
    preferred_given: str | None = None
    preferred_family: str | None = None
    middle: str | None = None
    dob: date | None = None
    gender: str | None = None  # "M", "F"; anything else counts as unknown
    upn: str | None = None  # verified (check letter) before it gets here
    postcodes: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    household: frozenset[str] = field(default_factory=frozenset)
    children: frozenset[str] = field(default_factory=frozenset)


@quick_init
@dataclass(frozen=True, slots=True)
class Prepared:
    """A subject's comparison keys, computed once per subject."""

    subject: Subject
    given_key: str  # legal given names run together
    given_first: str  # first legal given word
    given_words: frozenset[str]  # every legal and preferred given word
    preferred_key: str
    middle_words: tuple[str, ...]
    family_key: str
    family_keys: frozenset[str]  # legal and preferred surname keys
    family_core: frozenset[str]  # distinctive surname parts of both
    given_sound: str
    family_sound: str
    dob: date | None
    gender: str | None
    upn: str | None
    postcodes: frozenset[str]
    districts: frozenset[str]
    addresses: frozenset[str]
    emails: frozenset[str]
    phones: frozenset[str]

    @property
    def id(self) -> Hashable:
        return self.subject.id

    @property
    def role(self) -> str | None:
        return self.subject.role

    @property
    def has_names(self) -> bool:
        return bool(self.given_key and self.family_key)


# One empty set for every empty field: a frozenset takes 216 bytes, empty or not, and
# most of a pupil's postcodes, addresses, e-mails and phones are empty (a first import
# of a 5,000-pupil school prepares 12,572 records).
_EMPTY: frozenset[str] = frozenset()


def frozen(items: Iterable[str]) -> frozenset[str]:
    found = frozenset(items)
    return found if found else _EMPTY


@lru_cache(maxsize=65_536)
def prepare(subject: Subject) -> Prepared:
    """A subject's comparison keys (cached: the same account is compared run after run)."""
    return _prepare(subject)


def _prepare(subject: Subject) -> Prepared:
    given = given_tokens(subject.given)
    preferred = given_tokens(subject.preferred_given)
    family_key = name_key(subject.family)
    preferred_family_key = name_key(subject.preferred_family)
    family_keys = {k for k in (family_key, preferred_family_key) if k}
    core = set(surname_core(subject.family)) | set(surname_core(subject.preferred_family))
    postcodes = {k for k in (postcode_key(p) for p in subject.postcodes) if k}
    core_family = surname_core(subject.family)
    gender = subject.gender if subject.gender in ("M", "F") else None
    return Prepared(
        subject=subject,
        given_key=name_key(subject.given),
        given_first=given[0] if given else "",
        given_words=frozen([*given, *preferred]),
        preferred_key="".join(preferred),
        middle_words=name_tokens(subject.middle),
        family_key=family_key,
        family_keys=frozen(family_keys),
        family_core=frozen(core),
        given_sound=phonetic(given[0]) if given else "",
        family_sound=phonetic("".join(core_family)) if core_family else "",
        dob=subject.dob,
        gender=gender,
        upn=(subject.upn or "").strip().upper() or None,
        postcodes=frozen(postcodes),
        districts=frozen(postcode_parts(p)[0] for p in postcodes),
        addresses=frozen(k for k in (address_key(a) for a in subject.addresses) if k),
        emails=frozen(k for k in (email_key(e) for e in subject.emails) if k),
        phones=frozen(k for k in (phone_key(p) for p in subject.phones) if k),
    )
