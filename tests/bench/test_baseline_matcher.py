"""The first, rule-based matcher, now a yardstick in bench/ (the product has one
matcher: the engine). Its tests followed it here."""

from __future__ import annotations

from bench.baseline_matcher import DeterministicMatcher, spoken_name
from rollsync.planning import Candidates, Link, Via
from tests.planning.helpers import LOCAL, Directory, pupil


def test_spoken_name_keeps_words_for_fuzzy_comparison() -> None:
    assert spoken_name("Mary-Jane", "O'Neil") == "mary jane oneil"


def test_matcher_answers_in_record_order_with_decision_types() -> None:
    d = Directory()
    d.add(pupil("1"))
    d.add(pupil("L-2", "Bo", "Li"), urn=LOCAL)
    records = [pupil("3", "Cy", "Ng"), pupil("2", "Bo", "Lee"), pupil("1")]
    decisions = DeterministicMatcher().match(records, d.state())
    assert [type(x).__name__ for x in decisions] == ["New", "Candidates", "Link"]
    link = decisions[2]
    assert isinstance(link, Link) and link.via == Via.MIS_ID and link.account_id == 1
    near = decisions[1]
    assert isinstance(near, Candidates) and near.candidates[0].account_id == 2
