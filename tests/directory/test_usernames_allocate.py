"""`usernames_allocate`: each new person, in order, the first of their candidates that no
account holds and nobody before them in the call was given; asked about in few
queries, with few names (one a person whose base nobody else in the call shares)."""

from __future__ import annotations

from itertools import islice
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollsync.directory import models as m
from rollsync.directory.services import usernames
from rollsync.domain.records import PersonRecord, Role
from rollsync.planning.usernames import username_base, usernames_from_base

PATTERN = "{given_initial}{family}"


def _person(n: int, given: str, family: str) -> PersonRecord:
    return PersonRecord(Role.PUPIL, f"M{n}", given, family)


def _held(*names: str) -> None:
    for name in names:
        m.Account.objects.create(
            username=name, role="pupil", legal_given_name="X", legal_family_name="Y"
        )


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The names each look-up asked about."""
    rounds: list[set[str]] = []
    taken = usernames._taken

    def counted(names: set[str]) -> set[str]:
        rounds.append(set(names))
        return taken(names)

    monkeypatch.setattr(usernames, "_taken", counted)
    return rounds


def _allocate(people: list[PersonRecord]) -> list[str]:
    return usernames.usernames_allocate(records=people, pattern=PATTERN, la_code="202")


def test_people_of_one_base_count_up_in_order(db: Any, asked: list[set[str]]) -> None:
    people = [_person(n, "Jo", "Smith") for n in range(6)] + [_person(9, "Al", "Khan")]
    assert _allocate(people) == [
        "jsmith.202",
        "jsmith2.202",
        "jsmith3.202",
        "jsmith4.202",
        "jsmith5.202",
        "jsmith6.202",
        "akhan.202",
    ]
    # four names for each sharer of a base (the same four: asked once), one for the
    # others; the fifth and sixth Smith asked again, with their next four
    assert asked == [
        {"jsmith.202", "jsmith2.202", "jsmith3.202", "jsmith4.202", "akhan.202"},
        {"jsmith5.202", "jsmith6.202", "jsmith7.202", "jsmith8.202"},
    ]


def test_names_held_are_passed_over(db: Any, asked: list[set[str]]) -> None:
    _held("jsmith.202", "jsmith2.202", "akhan.202")
    people = [_person(1, "Jo", "Smith"), _person(2, "Al", "Khan"), _person(3, "Bo", "Lee")]
    assert _allocate(people) == ["jsmith3.202", "akhan2.202", "blee.202"]
    assert asked == [
        {"jsmith.202", "akhan.202", "blee.202"},
        {"jsmith2.202", "jsmith3.202", "jsmith4.202", "jsmith5.202"}
        | {"akhan2.202", "akhan3.202", "akhan4.202", "akhan5.202"},
    ]


def test_people_of_distinct_bases_are_one_name_each(db: Any, asked: list[set[str]]) -> None:
    people = [_person(n, "Jo", f"Family{chr(97 + n)}") for n in range(20)]
    got = _allocate(people)
    assert got == [f"jfamily{chr(97 + n)}.202" for n in range(20)]
    assert asked == [set(got)]


def test_a_name_that_is_one_base_and_another_bases_next_candidate(db: Any) -> None:
    # "Jo Smith2"'s base is "jsmith2", a Jo Smith's second candidate. Taken in the
    # first round by the one whose first candidate it is; one whose first was held, or
    # whose base another shares, is asked about again after the first round.
    first = [_person(1, "Jo", "Smith"), _person(2, "Jo", "Smith2"), _person(3, "Jo", "Smith")]
    assert _allocate(first) == ["jsmith.202", "jsmith2.202", "jsmith3.202"]
    m.Account.objects.all().delete()
    _held("jsmith.202")
    # Jo Smith's first is held: Jo Smith2, later in the run, has "jsmith2" (before
    # 1fc18f6, Jo Smith asked four names at once and took it first).
    assert _allocate([_person(1, "Jo", "Smith"), _person(2, "Jo", "Smith2")]) == [
        "jsmith3.202",
        "jsmith2.202",
    ]


def _the_rule_before(people: list[PersonRecord], held: set[str]) -> list[str]:
    """Four candidates a person a round, whatever their base: the allocation before the
    first round asked one name of a person whose base nobody else shares."""
    streams = [usernames_from_base(username_base(PATTERN, p), "202") for p in people]
    result: list[str | None] = [None] * len(people)
    given: set[str] = set()
    pending = list(range(len(people)))
    while pending:
        wanted = {i: list(islice(streams[i], 4)) for i in pending}
        still = []
        for i in pending:
            free = next((n for n in wanted[i] if n not in held and n not in given), None)
            if free is None:
                still.append(i)
            else:
                given.add(free)
                result[i] = free
        pending = still
    return [name for name in result if name is not None]


# A few initials and surnames (so bases repeat), some with a digit (so a base can be
# another base's numbered candidate: "jsmith2").
_NAMES = st.lists(
    st.tuples(st.sampled_from(["Jo", "Al", "Jim"]), st.sampled_from(["Smith", "Smith2", "Lee"])),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    names=_NAMES,
    held=st.sets(st.sampled_from(["jsmith", "jsmith2", "jsmith3", "alee", "jsmith22"])),
)
def test_every_name_is_free_unique_and_the_persons_own(
    db: Any, names: list[tuple[str, str]], held: set[str]
) -> None:
    m.Account.objects.all().delete()
    _held(*(f"{name}.202" for name in held))
    people = [_person(n, given, family) for n, (given, family) in enumerate(names)]
    got = _allocate(people)
    assert len(got) == len(people) and len(set(got)) == len(got)
    assert not set(got) & {f"{name}.202" for name in held}
    for person, name in zip(people, got, strict=True):
        own = list(islice(usernames_from_base(username_base(PATTERN, person), "202"), 40))
        assert name in own
        # nothing before it in their own list was free for them: held, or given to
        # someone else in this call
        earlier = own[: own.index(name)]
        assert all(n in {f"{h}.202" for h in held} or n in got for n in earlier)
    # Where no base is another base's candidate, exactly as before.
    bases = {username_base(PATTERN, p) for p in people}
    reached = any(
        b in {c.removesuffix(".202") for c in islice(usernames_from_base(o, "202"), 40)}
        for b in bases
        for o in bases
        if o != b
    )
    if not reached:
        assert got == _the_rule_before(people, {f"{h}.202" for h in held})
