"""`usernames_allocate`: each new person, in order, the first of their candidates that no
account holds and nobody before them in the call was given; asked about in few
queries, with few names (one a person whose base nobody else in the call shares)."""

from __future__ import annotations

from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory.services import usernames
from rollsync.domain.records import PersonRecord, Role

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


def test_a_name_another_base_makes_goes_to_whoever_comes_first(db: Any) -> None:
    # "Jo Smith2"'s base is "jsmith2", the second Jo Smith's second candidate: whoever
    # comes first in the call has it, and the other takes their next.
    people = [_person(1, "Jo", "Smith"), _person(2, "Jo", "Smith2"), _person(3, "Jo", "Smith")]
    got = _allocate(people)
    assert got == ["jsmith.202", "jsmith2.202", "jsmith3.202"]
    assert len(set(got)) == 3
