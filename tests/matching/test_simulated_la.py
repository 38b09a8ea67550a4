"""The engine on a small simulated LA with the hard cases (twins with similar names,
birthday siblings, blended families, movers with slips or a new surname, often without
a UPN): no wrong automatic link, in a cold linkage or a sync replay, and the twins are
never one person. The figures that matter come from `python -m bench.matching_eval`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.matching_eval import Region, cold_sides, load_region, run_engine_cold, run_sync
from rollsync.matching import CandidateIndex, MatchEngine, Outcome, estimate_model
from rollsync.matching.model import default_model
from rollsync.simulate import Realism, simulate_region


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Region:
    out = tmp_path_factory.mktemp("la")
    simulate_region(
        out,
        schools=4,
        seed=7,
        days=5,
        realism=Realism(scale=0.1, hard_cases=True, hard_movers_per_day=6.0),
    )
    return load_region(Path(out))


def test_cold_linkage_makes_no_wrong_link_and_never_merges_twins(region: Region) -> None:
    left, right = cold_sides(region)
    score = run_engine_cold(left, right)
    assert score.wrong == []
    assert score.links > 0.9 * score.should_link
    # The twins, one by one: each links to their own row or to nobody.
    index = CandidateIndex(right.subjects)
    model = estimate_model(left.subjects, right.subjects, start=default_model(), index=index)
    decisions = MatchEngine(model.model).decide(left.subjects, index)
    twins = {p for pair in region.truth["twins"] for p in pair}
    checked = 0
    for s, d in zip(left.subjects, decisions, strict=True):
        if left.person[s.id] in twins and d.outcome is Outcome.LINK:
            assert right.person[d.target] == left.person[s.id]
            checked += 1
    assert checked >= len(region.truth["twins"])


def test_sync_replay_makes_no_wrong_link(region: Region) -> None:
    score = run_sync(region)
    assert score.wrong_count == 0, score.examples
    assert score.link_count > 0
    assert score.queue_share < 0.01
