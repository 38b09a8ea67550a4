"""Term frequencies measured on the candidate side (docs/matching.md, "Weights").

An exact agreement on a value is worth log2(m/u), u the chance that somebody else holds
the value. The candidate side says how often two random candidates agree on a field:
dates of birth spread over a century (FEBRL) agree far less often than a school's,
clustered in its year groups. A side big enough to measure that uses it; a tiny one
keeps the cautious u (as if it were `tf_strength` candidates bigger).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from rollsync.matching import MatchEngine, Outcome, Subject
from rollsync.matching.blocking import CandidateIndex, Frequencies

ENGINE = MatchEngine()
DOB = date(1960, 5, 17)


def person(id: str, given: str, family: str, dob: date | None = DOB, **kw: object) -> Subject:
    kw.setdefault("postcodes", ("AB1 2CD",))
    kw.setdefault("addresses", ("1 High Street",))
    return Subject(id=id, given=given, family=family, role="pupil", dob=dob, gender="F", **kw)  # type: ignore[arg-type]


def crowd(size: int, days: int) -> list[Subject]:
    """`size` other people, each with their own names and home, born over `days` days."""
    return [
        person(
            f"c{n}",
            f"Given{n}",
            f"Family{n}",
            date(1920, 1, 1) + timedelta(days=(n * 7919) % days),
            postcodes=(f"ZZ{n % 90} 9ZZ",),
            addresses=(f"{n} Other Road",),
        )
        for n in range(size)
    ]


ACCOUNT = person("a", "Imogen", "Thackeray")
# The same person under another home (moved, or the address keyed afresh).
MOVED = person("r", "Imogen", "Thackeray", postcodes=("CD9 8EF",), addresses=("77 Low Road",))


def dob_bits(candidates: list[Subject]) -> float:
    scored = ENGINE.score(MOVED, ACCOUNT, CandidateIndex(candidates))
    (field,) = [f for f in scored.fields if f.comparison == "dob"]
    return field.weight


def test_frequencies_count_the_pairs_that_agree_among_those_holding_a_value() -> None:
    f = Frequencies()
    for dob in (DOB, DOB, date(2001, 1, 1), None, DOB):
        f.add("pupil", "amy", "smith", dob)
    assert f.agreement("pupil", "dob") == (3, 6)  # three of DOB: 3 pairs; 4 held: 6 pairs
    assert f.agreement("pupil", "family") == (10, 10)  # five Smiths: every pair agrees
    assert f.agreement("staff", "dob") == (0, 0)  # another role: nothing counted


def test_a_tiny_directory_keeps_the_cautious_u() -> None:
    # One candidate: the count (1) over the candidates and `tf_strength` more.
    model = ENGINE.model
    cautious = (1 + model.tf_strength * model.u[2][0]) / (1 + model.tf_strength)
    assert dob_bits([ACCOUNT]) == round(math.log2(model.m[2][0] / cautious), 2)


def test_a_date_nobody_else_holds_counts_for_more_where_dates_spread_than_where_they_cluster() -> (
    None
):
    tiny = dob_bits([ACCOUNT])
    clustered = dob_bits([ACCOUNT, *crowd(3000, 730)])  # two years: about four a day
    spread = dob_bits([ACCOUNT, *crowd(3000, 36500)])  # a century: nobody shares a day
    assert tiny < clustered < spread
    # Clustered: about one in 3,700 (3,000 others, 730 days' worth of pseudo-candidates).
    assert 11.5 < clustered < 12.5
    # Spread: none of 4.5 million pairs agree; far rarer than the model's 1 in 1,500.
    assert spread > 16


def test_same_names_and_birthday_under_another_home_link_where_the_side_measures_it() -> None:
    (decision,) = ENGINE.decide([MOVED], [ACCOUNT, *crowd(3000, 36500)])
    assert (decision.outcome, decision.target) == (Outcome.LINK, "a")


def test_the_same_pair_in_a_tiny_directory_is_asked_not_linked() -> None:
    (decision,) = ENGINE.decide([MOVED], [ACCOUNT, *crowd(40, 36500)])
    assert decision.outcome is Outcome.CANDIDATES
    assert decision.target is None
    assert [c.id for c in decision.candidates] == ["a"]


def test_a_twin_is_never_linked_nor_offered_however_rare_the_birthday() -> None:
    twin = person("r", "Isobel", "Thackeray")
    for directory in ([ACCOUNT], [ACCOUNT, *crowd(3000, 36500)]):
        (decision,) = ENGINE.decide([twin], directory)
        assert decision.outcome is Outcome.NEW
        assert decision.target is None
        assert decision.candidates == ()


def test_a_candidate_the_counts_left_out_still_counts_its_own_value_once() -> None:
    # The planner counts frequencies over its snapshot, which may not hold the account
    # as it is compared (an account another record of the upload leaves): its value is
    # still one that somebody holds, never u = 0.
    counted = Frequencies()
    for other in crowd(3000, 36500):
        counted.add("pupil", other.given.lower(), other.family.lower(), other.dob)
    index = CandidateIndex([ACCOUNT], frequencies=counted)
    (field,) = [f for f in ENGINE.score(MOVED, ACCOUNT, index).fields if f.comparison == "dob"]
    # As if counted (one fewer candidate held: within a tenth of a bit).
    assert abs(field.weight - dob_bits([ACCOUNT, *crowd(3000, 36500)])) <= 0.1
