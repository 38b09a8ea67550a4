"""bench: what a candidate side can say about twins (issue 12, goal 5)."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from bench.matching_eval import LINK_ODDS, Side, twin_evidence, upper_bound
from rollsync.matching import Subject
from rollsync.matching import compare as cmp
from rollsync.matching.model import default_model


def test_with_no_twin_seen_the_bound_is_the_rule_of_three() -> None:
    assert upper_bound(0, 3_881) == pytest.approx(1 - 0.05 ** (1 / 3_881), rel=1e-9)
    assert upper_bound(0, 3_881) == pytest.approx(3 / 3_881, rel=0.01)


def test_the_bound_is_clopper_pearsons() -> None:
    # One in ten seen: the one-sided 95% upper bound in the published tables is 0.3942.
    assert upper_bound(1, 10) == pytest.approx(0.3942, abs=1e-4)
    assert upper_bound(2, 3_881) > upper_bound(0, 3_881)
    assert upper_bound(10, 10) == 1.0


def test_a_side_counts_those_who_share_surname_and_birthday_under_another_name() -> None:
    born = date(2015, 3, 4)
    side = Side(
        [
            Subject(id="R1", given="Ann", family="Lee", dob=born),
            Subject(id="R2", given="Anna", family="Lee", dob=born),  # Ann's twin
            Subject(id="R3", given="Ann", family="Lee", dob=born),  # Ann again: a duplicate
            Subject(id="R4", given="Ann", family="Lee", dob=date(2016, 3, 4)),
            Subject(id="R5", given="Bo", family="Ng", dob=date(2016, 3, 4)),
            Subject(id="R6", given="Bo", family="Ng", dob=date(2016, 3, 4)),  # a duplicate
            Subject(id="R7", given="Tom", family="Lee"),  # no birthday: not counted
        ],
        {},
        [],
    )
    evidence = twin_evidence(side, default_model())
    assert (evidence.candidates, evidence.with_twin) == (6, 3)
    assert evidence.share == pytest.approx(3 / 6)


def test_at_the_share_needed_a_copy_is_exactly_the_link_lines_odds_against_a_twin() -> None:
    model = dataclasses.replace(default_model(), match_share=0.8)
    needed = twin_evidence(Side([], {}, []), model).needed
    pattern = (
        model.m[cmp.I_GIVEN][cmp.G_DIFFERENT]
        * model.m[cmp.I_FAMILY][cmp.F_EXACT]
        * model.m[cmp.I_DOB][cmp.D_EXACT]
        * model.m[cmp.I_HOME][cmp.H_ADDRESS]
    )
    assert (0.8 * pattern) / (0.2 * needed) == pytest.approx(LINK_ODDS)
    fewer = dataclasses.replace(model, match_share=0.5)
    assert twin_evidence(Side([], {}, []), fewer).needed < needed
    assert twin_evidence(Side([], {}, []), model).candidates_needed > 3 / needed * 0.99
