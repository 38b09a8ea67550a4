"""The matcher's look-ups find the same accounts however they are built.

A few records left after the MIS IDs (a churn night's starters) look up only their own
names, phones and emails in one pass over the snapshot; many (a first import) index the
whole snapshot once. Both must hand the engine the same accounts to compare, record for
record, or the same upload would be decided differently by its size."""

from __future__ import annotations

import random
from datetime import date, timedelta
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from rollsync.domain.records import PersonRecord, Role
from rollsync.matching.records import subject_from_record
from rollsync.matching.subject import Prepared, prepare
from rollsync.planning import engine_matcher
from rollsync.planning.engine_matcher import _Lookups
from rollsync.planning.index import StateIndex

from .helpers import FAR, HERE, LOCAL, Directory

# Names whose phonetic keys meet in the odd ways: particles, apostrophes, hyphens,
# titles, accents, a surname of particles only, names the other way round.
GIVEN = ["Amy", "Amie", "Dr Sam", "Sam", "Zoë", "Zoe", "Mary-Jane", "Smith", "Jo", "  "]
FAMILY = ["Smith", "Smyth", "van der Berg", "Berg", "O'Brien", "Obrien", "De La", "Amy"]
PREFERRED_GIVEN = [None, None, "Ami", "Sammy"]
PREFERRED_FAMILY = [None, None, "Smith-Jones", "Jones"]
PHONES = [None, None, "07700 900123", "+44 7700 900123", "0044 7700900123", "12345", "0770090"]
EMAILS = [None, None, "A@example.org", " a@example.org ", "b@example.org", "not-an-email"]
DOBS = [None, date(2015, 3, 4), date(2015, 4, 3)]


@st.composite
def people(draw: st.DrawFn, n: int) -> PersonRecord:
    return PersonRecord(
        role=draw(st.sampled_from(list(Role))),
        mis_id=str(n),
        legal_given_name=draw(st.sampled_from(GIVEN)),
        legal_family_name=draw(st.sampled_from(FAMILY)),
        preferred_given_name=draw(st.sampled_from(PREFERRED_GIVEN)),
        preferred_family_name=draw(st.sampled_from(PREFERRED_FAMILY)),
        date_of_birth=draw(st.sampled_from(DOBS)),
        phone=draw(st.sampled_from(PHONES)),
        email=draw(st.sampled_from(EMAILS)),
    )


def _pools(index: StateIndex, incoming: list[Prepared], *, scan: bool) -> list[set[int]]:
    lookups = _Lookups(index)
    with mock.patch.object(engine_matcher, "SCAN_UP_TO", len(incoming) if scan else -1):
        out = lookups.pools(incoming)
    assert (lookups._by_name is None) is scan  # the strategy asked for is the one taken
    return out


@st.composite
def snapshots(draw: st.DrawFn) -> tuple[StateIndex, list[Prepared]]:
    d = Directory()
    for n in range(draw(st.integers(0, 14))):
        record = draw(people(n))
        account = d.add(record, urn=draw(st.sampled_from([HERE, LOCAL, FAR])))
        if draw(st.booleans()):  # a second place, with details of its own
            d.add(
                record,
                account_id=account.account_id,
                urn=FAR,
                phone=draw(st.sampled_from(PHONES)),
                email=draw(st.sampled_from(EMAILS)),
            )
    incoming = [
        prepare(subject_from_record(r, r.key))
        for r in draw(st.lists(people(100), min_size=1, max_size=6))
    ]
    return StateIndex(d.state()), incoming


@settings(max_examples=300, deadline=None)
@given(snapshots())
def test_a_few_records_find_what_the_full_index_finds(
    case: tuple[StateIndex, list[Prepared]],
) -> None:
    index, incoming = case
    assert _pools(index, incoming, scan=True) == _pools(index, incoming, scan=False)


@settings(max_examples=100, deadline=None)
@given(snapshots())
def test_a_later_round_finds_what_a_first_round_would(
    case: tuple[StateIndex, list[Prepared]],
) -> None:
    """A plan decides in rounds (pupils and staff, then contacts, then again): the keys
    an earlier round looked up are kept, and new ones are looked up then."""
    index, incoming = case
    lookups = _Lookups(index)
    first = lookups.pools(incoming[:1])
    again = lookups.pools(incoming)
    assert lookups._by_name is None
    assert first == _pools(index, incoming[:1], scan=False)
    assert again == _pools(index, incoming, scan=False)


def test_a_school_in_a_region_finds_the_same_accounts_both_ways() -> None:
    """A school of 600 in a region of 1,800: its renamed, mistyped and new pupils."""
    rng = random.Random(5)
    given_names = ["Amy", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivan", "Jo"]
    family_names = ["Smith", "Jones", "Patel", "Khan", "Brown", "Wilson", "O'Neill", "Evans"]

    def person(n: int, role: Role = Role.PUPIL) -> PersonRecord:
        return PersonRecord(
            role=role,
            mis_id=str(n),
            legal_given_name=rng.choice(given_names),
            legal_family_name=rng.choice(family_names),
            date_of_birth=date(2010, 1, 1) + timedelta(days=rng.randrange(2000)),
            phone=f"07700 9{n:05d}" if role is Role.CONTACT else None,
            email=f"p{n}@example.org" if n % 3 else None,
        )

    d = Directory()
    school = [person(n, rng.choice([Role.PUPIL, Role.PUPIL, Role.CONTACT])) for n in range(600)]
    for record in school:
        d.add(record)
    for n in range(600, 2400):
        d.add(person(n), urn=LOCAL if n % 2 else FAR)
    index = StateIndex(d.state())
    incoming = [
        prepare(subject_from_record(r, r.key))
        for r in [
            *(
                PersonRecord(
                    role=r.role,
                    mis_id=f"x{r.mis_id}",
                    legal_given_name=r.legal_family_name,  # the other way round
                    legal_family_name=r.legal_given_name,
                    date_of_birth=r.date_of_birth,
                    phone=r.phone,
                    email=r.email,
                )
                for r in school[:20]
            ),
            *(person(n) for n in range(9000, 9030)),
        ]
    ]
    scanned = _pools(index, incoming, scan=True)
    assert scanned == _pools(index, incoming, scan=False)
    assert sum(map(len, scanned)) > len(incoming)  # they do find accounts


def test_a_first_import_indexes_the_snapshot_once() -> None:
    """More records than `SCAN_UP_TO` (a first import) build the full look-ups."""
    d = Directory()
    d.add(PersonRecord(Role.PUPIL, "1", "Amy", "Smith", date_of_birth=date(2015, 3, 4)))
    index = StateIndex(d.state())
    records = [
        PersonRecord(Role.PUPIL, str(n), "Amy", "Smith", date_of_birth=date(2015, 3, 4))
        for n in range(engine_matcher.SCAN_UP_TO + 1)
    ]
    lookups = _Lookups(index)
    pools = lookups.pools([prepare(subject_from_record(r, r.key)) for r in records])
    assert lookups._by_name is not None and lookups._by_detail is not None
    assert all(pool == {1} for pool in pools)
