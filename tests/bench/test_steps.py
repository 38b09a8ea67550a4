"""`bench.steps`: a first import and a churn night timed step by step through the real
services (`./dev bench --steps`), every step found where the sync service calls it,
and everything put back as it was."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bench import steps as bench_steps
from bench.sync_bench import _churned, _files_for, _import, school_for
from rollsync.domain.upn import normalise_upn
from rollsync.simulate import make_school_truth

NIGHT_ONLY = {"read in part", "people left out checked"}
FIRST_ONLY = {"read in full"}


def _originals() -> list[Any]:
    return [bench_steps._owner(s.owner).__dict__[s.name] for s in bench_steps.STEPS]


@pytest.mark.django_db(transaction=True)
def test_a_first_import_and_a_churn_are_timed_step_by_step(tmp_path: Path) -> None:
    day1 = make_school_truth(pupils=40, seed=11)
    day2 = _churned(day1, 0.05, seed=12)
    school = school_for(day1)
    before = _originals()
    files1 = _files_for("oneroster", day1, tmp_path / "d1", 1)
    files2 = _files_for("oneroster", day2, tmp_path / "d2", 2)
    with bench_steps.timed_steps() as first:
        assert _import(files1, school, day1.date) == ("applied",)
    with bench_steps.timed_steps() as night:
        assert _import(files2, school, day1.date + timedelta(days=1)) == ("applied",)
    assert _originals() == before

    called = {label for label, tally in first.tallies.items() if tally.calls}
    assert called == {s.label for s in bench_steps.STEPS} - NIGHT_ONLY
    called = {label for label, tally in night.tallies.items() if tally.calls}
    assert called == {s.label for s in bench_steps.STEPS} - FIRST_ONLY
    for times in (first, night):
        for tally in times.tallies.values():
            assert tally.cpu >= 0 and tally.wall >= 0
        plan = times.tallies["plan"]
        matcher = times.tallies["  of which the matcher"]
        assert matcher.calls == plan.calls == 1 and matcher.cpu <= plan.cpu


def test_a_step_that_is_not_there_fails_and_the_others_are_put_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _originals()
    renamed = bench_steps.Step("gone", "rollsync.planning", "no_such_function")
    monkeypatch.setattr(bench_steps, "STEPS", (*bench_steps.STEPS[:3], renamed))
    with pytest.raises(KeyError, match="no_such_function"), bench_steps.timed_steps():
        pass
    monkeypatch.undo()
    assert _originals() == before


def test_the_bench_s_starters_have_upns_of_their_own() -> None:
    # A CTF names a pupil by UPN: starters without one were refused, and the bench's CTF
    # churn measured a held run.
    day1 = make_school_truth(pupils=300, seed=11)
    day2 = _churned(day1, 0.01, seed=12)
    starters = [p for p in day2.pupils if p.mis_id.startswith("NEW")]
    assert len(starters) == 1  # a third of max(3, 1% of 300)
    day1_upns = {p.upn for p in day1.pupils}
    upns = [normalise_upn(p.upn) for p in starters]
    assert len(set(upns)) == len(upns) and not set(upns) & day1_upns
