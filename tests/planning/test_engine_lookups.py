"""The matcher's look-ups find the same accounts however they are built.

A few records left after the MIS IDs (a churn night's starters) look up only their own
names, phones and emails in one pass over the snapshot; many (a first import) index the
whole snapshot once. Both must hand the engine the same accounts to compare, record for
record, or the same upload would be decided differently by its size."""

from __future__ import annotations

import dataclasses
import random
from datetime import date, timedelta
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from rollsync.domain.records import ContactLink, PersonRecord, Role
from rollsync.matching.blocking import incoming_keys, incoming_name_keys
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


@settings(max_examples=200, deadline=None)
@given(st.lists(people(0), min_size=1, max_size=8))
def test_a_record_is_looked_up_by_the_name_keys_of_all_its_keys(
    records: list[PersonRecord],
) -> None:
    """`incoming_name_keys` makes the `n:` keys alone; they are those of `incoming_keys`
    (the names either way round, preferred names, surname particles)."""
    for record in records:
        p = prepare(subject_from_record(record, record.key))
        assert incoming_name_keys(p) == {k for k in incoming_keys(p) if "|n:" in k}


@st.composite
def directories_lacking_a_role(
    draw: st.DrawFn,
) -> tuple[Directory, list[PersonRecord], list[ContactLink]]:
    """A directory with no account of some roles (none at all, at times), and an upload
    of every role, new MIS IDs, with some of the directory's people again."""
    absent = draw(st.sets(st.sampled_from(list(Role)), min_size=1))
    d = Directory()
    present = [r for r in Role if r not in absent]
    known = []
    if present:
        for n in range(draw(st.integers(0, 10))):
            record = draw(people(n))
            if record.role in present:
                d.add(record, urn=draw(st.sampled_from([HERE, LOCAL, FAR])))
                known.append(record)
    fresh = draw(st.lists(people(100), min_size=1, max_size=8))
    again = [
        PersonRecord(
            role=r.role,
            mis_id=f"new{n}",
            legal_given_name=r.legal_given_name,
            legal_family_name=r.legal_family_name,
            date_of_birth=r.date_of_birth,
            phone=r.phone,
            email=r.email,
        )
        for n, r in enumerate(known[:3])
    ]
    upload = [dataclasses.replace(r, mis_id=f"u{n}") for n, r in enumerate([*fresh, *again])]
    pupils = [r.mis_id for r in upload if r.role is Role.PUPIL]
    contacts = [r.mis_id for r in upload if r.role is Role.CONTACT]
    links = [ContactLink(c, p) for c in contacts[:2] for p in pupils[:2]]
    return d, upload, links


@settings(max_examples=300, deadline=None)
@given(directories_lacking_a_role())
def test_records_of_a_role_no_account_has_are_new_without_the_engine(
    case: tuple[Directory, list[PersonRecord], list[ContactLink]],
) -> None:
    """A record of a role no account of the snapshot has is decided new without being
    weighed (a first import into an empty LA): the decisions are those the engine makes
    when it weighs every record, and only the other records are weighed."""
    d, upload, links = case
    state = d.state()
    quick = engine_matcher.EngineMatcher()
    decided = quick.match(upload, state, contact_links=links)
    weighing_all = engine_matcher.EngineMatcher()
    with mock.patch.object(engine_matcher._Run, "_alone", lambda self, todo, roles: todo):
        weighed = weighing_all.match(upload, state, contact_links=links)
    assert decided == weighed
    roles = {account.role for account in state.accounts.values()}
    # Each record of those roles was weighed once, and not again: it was asked nothing.
    alone = sum(1 for r in upload if r.role not in roles)
    assert quick.work.records == weighing_all.work.records - alone
    assert weighing_all.work.records >= len(upload)
    assert quick.work.pairs == weighing_all.work.pairs
