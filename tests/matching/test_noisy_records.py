"""Noisy records the engine reads as one person (docs/matching.md, "Comparisons"): an
address keyed with a slip, forename and surname swapped with a slip as well, a slip
that recurs rarely beside a common name, and a match share estimated from the data.

Each test fails without its rule: the address would compare "different", the swap as two
different names, the recurring slip as a twin, the share as the deterministic one.
"""

from __future__ import annotations

from datetime import date, timedelta

from rollsync.matching import MatchEngine, Outcome, Subject, estimate_model
from rollsync.matching import compare as cmp
from rollsync.matching.engine import _rare_beside
from rollsync.matching.subject import prepare

DOB = date(1979, 12, 8)


def person(id: str, given: str, family: str, **kw: object) -> Subject:
    kw.setdefault("dob", DOB)
    return Subject(id=id, given=given, family=family, role="person", **kw)  # type: ignore[arg-type]


def home_level(x: Subject, y: Subject) -> str:
    return cmp.HOME.levels[cmp.compare(prepare(x), prepare(y))[cmp.I_HOME]]


# -- an address keyed with a slip ----------------------------------------------------------


def test_an_address_keyed_with_a_slip_under_another_postcode_is_near() -> None:
    a = person(
        "a", "Chloe", "Herbert", postcodes=("5082",), addresses=("30 Canberra Avenue Bombowzee",)
    )
    b = person(
        "b", "Chloe", "Herbert", postcodes=("5068",), addresses=("30 Canberra Avenue Bombowlee",)
    )
    split = person("c", "Chloe", "Herbert", postcodes=("2560",), addresses=("12 Kidstoncrescent",))
    joined = person(
        "d", "Chloe", "Herbert", postcodes=("2561",), addresses=("12 Kidston Crescent",)
    )
    assert home_level(a, b) == "near"
    assert home_level(split, joined) == "near"


def test_neighbours_and_other_streets_are_not_near() -> None:
    at_12 = person("a", "Chloe", "Herbert", postcodes=("AB1 2CD",), addresses=("12 High Street",))
    at_14 = person("b", "Chloe", "Herbert", postcodes=("AB9 9ZZ",), addresses=("14 High Street",))
    other = person("c", "Chloe", "Herbert", postcodes=("AB9 9ZZ",), addresses=("12 Mill Lane",))
    number_only = person("d", "Chloe", "Herbert", postcodes=("AB9 9ZZ",), addresses=("12",))
    assert home_level(at_12, at_14) == "different"
    assert home_level(at_12, other) == "different"
    assert home_level(
        number_only, person("e", "C", "H", postcodes=("ZZ1",), addresses=("12",))
    ) == ("different")


def test_the_same_postcode_still_counts_before_a_near_address() -> None:
    a = person("a", "Chloe", "Herbert", postcodes=("AB1 2CD",), addresses=("12 High Street",))
    b = person("b", "Chloe", "Herbert", postcodes=("AB1 2CD",), addresses=("12 Hihg Street",))
    assert home_level(a, b) == "postcode"


# -- forename and surname swapped, with a slip ----------------------------------------------


def test_names_swapped_with_a_slip_compare_as_swapped() -> None:
    vector = cmp.compare(
        prepare(person("a", "Georte", "Kyra")), prepare(person("b", "Kyra", "George"))
    )
    assert (vector[cmp.I_GIVEN], vector[cmp.I_FAMILY]) == (cmp.G_SWAPPED, cmp.F_SWAPPED)


def test_a_slip_read_straight_is_not_a_swap() -> None:
    # "Kyra Georg" / "Kyra George": the straight reading fits; nothing is swapped.
    straight = cmp.compare(
        prepare(person("a", "Kyra", "Georg")), prepare(person("b", "Kyra", "George"))
    )
    assert straight[cmp.I_GIVEN] == cmp.G_EXACT
    assert straight[cmp.I_FAMILY] == cmp.F_TYPO
    # Two slips and no exact cross agreement: not a swap either.
    loose = cmp.compare(
        prepare(person("a", "Georte", "Kyrra")), prepare(person("b", "Kyra", "George"))
    )
    assert cmp.G_SWAPPED not in (loose[cmp.I_GIVEN], loose[cmp.I_FAMILY] + 1)
    assert loose[cmp.I_FAMILY] != cmp.F_SWAPPED


# -- a slip that recurs rarely beside a common name ----------------------------------------


def test_a_rare_spelling_beside_a_common_name_is_a_slip() -> None:
    assert _rare_beside(0, 1)
    assert _rare_beside(1, 10)
    assert _rare_beside(2, 15)
    assert not _rare_beside(0, 0)  # nothing to tell them by
    assert not _rare_beside(1, 9)  # not common enough beside it
    assert not _rare_beside(3, 100)  # borne by too many: a name


def crowd(name: str, count: int, start: int) -> list[Subject]:
    return [
        person(
            f"{name}{n}",
            name,
            f"Other{start + n}",
            dob=date(1950, 1, 1) + timedelta(days=start + n),
        )
        for n in range(count)
    ]


HOME = {"postcodes": ("2560",), "addresses": ("12 Kidston Crescent",)}


def test_a_recurring_slip_of_a_common_name_links() -> None:
    account = person("a", "Rachel", "Dinh", **HOME)
    directory = [account, *crowd("Rachel", 12, 0), *crowd("Racehl", 1, 100)]
    (decision,) = MatchEngine().decide([person("r", "Racehl", "Dinh", **HOME)], directory)
    assert (decision.outcome, decision.target) == (Outcome.LINK, "a")
    assert "'racehl' is one slip from 'rachel'" in decision.explanation


def test_a_spelling_borne_by_several_is_a_name_and_stays_under_the_twins_guard() -> None:
    account = person("a", "Rachel", "Dinh", **HOME)
    directory = [account, *crowd("Rachel", 40, 0), *crowd("Racehl", 3, 100)]
    (decision,) = MatchEngine().decide([person("r", "Racehl", "Dinh", **HOME)], directory)
    assert decision.outcome is not Outcome.LINK
    assert decision.target is None


# -- the match share ------------------------------------------------------------------------


def test_the_match_share_counts_matches_the_exact_rules_miss() -> None:
    # 40 people on each side; every incoming one has a partner, but half of the
    # partners' forenames carry a slip: exact name and birthday tie only 20.
    names = ["Amelia", "Oliver", "Harriet", "Joseph", "Matilda", "Reuben", "Imogen", "Tobias"]
    right, left = [], []
    for n in range(40):
        given = names[n % len(names)] + "o" * (n // len(names))
        born = date(1960, 1, 1) + timedelta(days=37 * n)
        home = {"postcodes": (f"{2000 + n}",), "addresses": (f"{n + 1} Long Road",)}
        right.append(person(f"R{n}", given, f"Family{n}", dob=born, **home))
        slip = given[:-1] + "x" if n % 2 else given
        left.append(person(f"L{n}", slip, f"Family{n}", dob=born, **home))
    estimation = estimate_model(left, right)
    assert estimation.deterministic_pairs == 20
    assert estimation.model.match_share > 0.9
