"""Normalisation for UK school data: each rule with the smallest example."""

from __future__ import annotations

from datetime import date

from rollsync.matching import Subject, prepare
from rollsync.matching.compare import (
    COMPARISONS,
    D_TRANSPOSED,
    D_TYPO,
    F_ALIAS,
    F_EXACT,
    F_SWAPPED,
    G_ALIAS,
    G_EXACT,
    G_INITIAL,
    G_SWAPPED,
    G_TYPO,
    H_ADDRESS,
    I_DOB,
    I_FAMILY,
    I_GIVEN,
    I_HOME,
    compare,
)
from rollsync.matching.nicknames import are_short_forms
from rollsync.matching.normalise import (
    address_key,
    fold,
    name_key,
    name_tokens,
    one_slip_dates,
    phone_key,
    postcode_key,
    postcode_parts,
    surname_core,
    swapped_day_month,
)


def _levels(a: Subject, b: Subject) -> dict[str, int]:
    vector = compare(prepare(a), prepare(b))
    return {c.name: level for c, level in zip(COMPARISONS, vector, strict=True)}


def s(given: str, family: str, **kw: object) -> Subject:
    return Subject(id=given + family, given=given, family=family, **kw)  # type: ignore[arg-type]


def test_case_accents_and_letters_without_decomposition_fold() -> None:
    assert fold("Zoë") == "zoe"
    assert fold("ŁUKASZ") == "lukasz"
    assert fold("Siobhán Ní Bhriain") == "siobhan ni bhriain"
    assert fold("Yılmaz") == "yilmaz"  # noqa: RUF001 - the dotless i is the point


def test_apostrophes_join_and_hyphens_separate() -> None:
    assert name_tokens("O’Brien-Smith") == ("obrien", "smith")  # noqa: RUF001
    assert name_key("O'Brien Smith") == name_key("obrien-smith") == "obriensmith"
    assert name_key("D`Souza") == "dsouza"


def test_multi_part_surnames_keep_their_distinctive_parts() -> None:
    assert surname_core("van der Berg") == ("berg",)
    assert surname_core("Smith-Jones") == ("smith", "jones")
    assert surname_core("De La") == ("de", "la")  # nothing but particles: all kept


def test_double_barrelled_surname_agrees_with_one_of_its_parts() -> None:
    assert _levels(s("Amy", "Smith-Jones"), s("Amy", "Jones"))["family"] == F_ALIAS
    assert _levels(s("Amy", "van der Berg"), s("Amy", "Berg"))["family"] == F_ALIAS
    assert _levels(s("Amy", "O'Brien-Smith"), s("AMY", "obrien smith"))["family"] == F_EXACT


def test_legal_and_preferred_names_agree_as_aliases() -> None:
    record = s("William", "Khan", preferred_given="Bill")
    assert _levels(record, s("Bill", "Khan"))["given"] == G_ALIAS
    known = s("Amy", "Smith", preferred_family="Jones")
    assert _levels(known, s("Amy", "Jones"))["family"] == F_ALIAS


def test_common_short_forms_of_given_names() -> None:
    assert are_short_forms("william", "bill")
    assert are_short_forms("malgorzata", "gosia")
    assert are_short_forms("oluwaseun", "seun")
    assert not are_short_forms("jack", "james")
    assert _levels(s("Katherine", "Lee"), s("Kate", "Lee"))["given"] == G_ALIAS


def test_first_of_two_given_names_is_an_alias() -> None:
    assert _levels(s("João Pedro", "Silva"), s("João", "Silva"))["given"] == G_ALIAS


def test_initials_and_one_slip_typos_are_their_own_levels() -> None:
    assert _levels(s("J", "Smith"), s("James", "Smith"))["given"] == G_INITIAL
    assert _levels(s("Jonathon", "Khan"), s("Jonathan", "Khan"))["given"] == G_TYPO
    assert _levels(s("Amy", "Smith"), s("amy", "SMITH"))["given"] == G_EXACT


def test_swapped_given_and_family_names() -> None:
    levels = _levels(s("Smith", "Amy"), s("Amy", "Smith"))
    assert (levels["given"], levels["family"]) == (G_SWAPPED, F_SWAPPED)


def test_dates_of_birth_transposed_or_one_slip_apart() -> None:
    assert swapped_day_month(date(2015, 4, 3)) == date(2015, 3, 4)
    assert swapped_day_month(date(2015, 3, 13)) is None
    assert swapped_day_month(date(2015, 3, 3)) is None
    one, other = s("Amy", "Smith", dob=date(2015, 3, 4)), s("Amy", "Smith", dob=date(2015, 4, 3))
    assert _levels(one, other)["dob"] == D_TRANSPOSED
    assert one_slip_dates(date(2015, 3, 14), date(2015, 3, 15))
    assert one_slip_dates(date(2015, 3, 4), date(2016, 3, 4))
    assert not one_slip_dates(date(2015, 3, 4), date(2015, 3, 25))
    assert _levels(one, s("Amy", "Smith", dob=date(2015, 3, 5)))["dob"] == D_TYPO


def test_missing_fields_give_no_level_at_all() -> None:
    vector = compare(prepare(s("Amy", "Smith")), prepare(s("Amy", "Smith", dob=date(2015, 1, 1))))
    assert vector[I_DOB] == -1
    assert vector[I_GIVEN] == G_EXACT and vector[I_FAMILY] == F_EXACT


def test_postcodes_addresses_and_phones() -> None:
    assert postcode_key(" mk21 3yj ") == "MK213YJ"
    assert postcode_parts("MK213YJ") == ("MK21", "MK213")
    assert address_key("12, Primrose Ave") == address_key("12 primrose avenue")
    assert phone_key("+44 7700 900123") == phone_key("07700 900123") == "07700900123"
    assert phone_key("123") is None
    home = {"postcodes": ("MK21 3YJ",), "addresses": ("12 Primrose Ave",)}
    assert _levels(s("Amy", "Smith", **home), s("Amy", "Smith", **home))["home"] == H_ADDRESS
    assert compare(prepare(s("A", "B", **home)), prepare(s("A", "B")))[I_HOME] == -1


def test_near_dates_are_every_date_one_keying_slip_away() -> None:
    from rollsync.matching.normalise import near_dates

    dob = date(2015, 3, 4)
    near = near_dates(dob)
    assert {date(2015, 3, 5), date(2015, 4, 3), date(2016, 3, 4), date(2015, 8, 4)} <= near
    assert date(2015, 3, 4) not in near
    assert date(2014, 5, 9) not in near  # two slips away
    assert all(one_slip_dates(dob, d) or swapped_day_month(dob) == d for d in near)
    assert near_dates(date(2016, 2, 29)) >= {date(2016, 2, 28), date(2016, 3, 29)}
