"""Usernames from a pattern; names compared by key."""

from __future__ import annotations

from datetime import date
from itertools import islice

import pytest

from rollsync.domain.records import Role
from rollsync.matching.normalise import full_name_key, phone_key, swapped_day_month
from rollsync.planning import (
    RESERVED_LOCAL_PARTS,
    InvalidPattern,
    plan,
    username_base,
    username_candidates,
    usernames_from_base,
)

from .helpers import Directory, batch, policy, pupil


def _first(pattern: str, n: int = 1, **record: object) -> list[str]:
    given = str(record.pop("given", "John"))
    family = str(record.pop("family", "Smith"))
    return list(islice(username_candidates(pattern, pupil("1", given, family, **record), "202"), n))


def test_default_pattern_counts_up_from_the_second() -> None:
    assert _first("{given_initial}{family}", 3) == ["jsmith.202", "jsmith2.202", "jsmith3.202"]


def test_accents_apostrophes_hyphens_and_spaces_are_folded_away() -> None:
    assert _first("{given}{family}", given="Zoë Ann", family="O'Brien-Núñez") == [
        "zoeannobriennunez.202"
    ]


def test_local_part_is_at_most_20_characters_even_with_a_number() -> None:
    names = _first("{given}{family}", 2, given="Bartholomew", family="Fitzwilliamson")
    assert names == ["bartholomewfitzwilli.202", "bartholomewfitzwill2.202"]


def test_every_placeholder() -> None:
    start = date(2024, 9, 4)
    pattern = "{given}.{middle_initial}{family_initial}{yy_start}"
    assert _first(pattern, middle_names="Quincy", start_date=start) == ["john.qs24.202"]
    # An empty placeholder leaves no doubled or trailing separator.
    assert _first("{given}.{middle_initial}.{family}") == ["john.smith.202"]


def test_legal_names_not_preferred_ones() -> None:
    assert _first("{given}", given="Jonathan", preferred_given_name="Jon") == ["jonathan.202"]


def test_reserved_local_parts_are_skipped() -> None:
    assert "admin" in RESERVED_LOCAL_PARTS and "postmaster" in RESERVED_LOCAL_PARTS
    assert _first("{given}{family}", 2, given="Ad", family="Min") == ["admin2.202", "admin3.202"]


def test_a_name_with_no_latin_letters_still_gets_a_username() -> None:
    assert _first("{given}{family}", given="李", family="王") == ["user.202"]


@pytest.mark.parametrize("pattern", ["{nickname}", "{given!r}", "{yy_start}", "{given} {family}"])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidPattern):
        username_base(pattern, pupil("1"))


def test_create_carries_the_base_and_apply_walks_the_candidates() -> None:
    action = plan(batch(pupil("1", "Ann", "Lee")), Directory().state(), policy()).actions[0]
    assert action.username_base == "alee"
    assert list(islice(usernames_from_base("alee", "202"), 2)) == ["alee.202", "alee2.202"]


def test_plan_uses_the_school_pattern() -> None:
    upload = batch(pupil("1", "Ann", "Lee"), complete_for=[Role.PUPIL])
    action = plan(upload, Directory().state(), policy(), username_pattern="{family}{given}")
    assert action.actions[0].username_base == "leeann"


# -- comparison keys ---------------------------------------------------------------------


def test_name_keys_ignore_case_accents_spacing_and_punctuation() -> None:
    assert full_name_key("  Zoë ", "O’Brien-Smith") == full_name_key("ZOE", "o'brien smith")  # noqa: RUF001
    assert full_name_key("Łukasz", "Straße") == full_name_key("lukasz", "strasse")
    assert full_name_key("Amy", "Smith") != full_name_key("Amie", "Smith")


def test_phone_keys_are_national_digits() -> None:
    assert phone_key("+44 (0)7700 900123") == phone_key("07700 900123") == "07700900123"
    assert phone_key("123") is None


def test_day_and_month_swap() -> None:
    assert swapped_day_month(date(2015, 3, 4)) == date(2015, 4, 3)
    assert swapped_day_month(date(2015, 3, 13)) is None
    assert swapped_day_month(date(2015, 5, 5)) is None
