"""The benches say, goal by goal, whether issue 13's goals 1 and 3 are met by the
figures they measured: at the goal is met, just past it is not."""

from __future__ import annotations

from bench.region import Phase, Size
from bench.region import goal_verdicts as region_verdicts
from bench.sync_bench import Measure, goal_verdicts, memory_verdict


def _measures(plain: float, first: float, again: float, churn: float) -> dict[str, Measure]:
    cpu = {"plain read": plain, "first import": first, "no-change re-import": again}
    return {phase: Measure(cpu=s) for phase, s in (*cpu.items(), ("1% churn", churn))}


def test_each_phase_is_weighed_against_the_plain_read_s_cpu() -> None:
    results = {"oneroster": _measures(0.1, 0.5, 0.01, 0.2001)}
    assert goal_verdicts(results, pupils=5000) == [
        "goal 1, oneroster (5,000 pupils), CPU against the plain read: first import 5.0x"
        " (goal 5x): met; no-change re-import 0.1x (goal 2x): met; 1% churn 2.0x (goal 2x):"
        " NOT met"
    ]


def test_a_school_of_another_size_is_said_not_to_be_the_goal_s() -> None:
    results = {"csv": _measures(1.0, 7.0, 3.0, 1.5)}
    assert goal_verdicts(results, pupils=1500) == [
        "goal 1, csv (1,500 pupils; the goal is for 5,000 pupils), CPU against the plain"
        " read: first import 7.0x (goal 5x): NOT met; no-change re-import 3.0x (goal 2x):"
        " NOT met; 1% churn 1.5x (goal 2x): met"
    ]


def test_memory_is_counted_in_megabytes_not_mebibytes() -> None:
    # 190 MiB is 199.2 MB; 191 MiB is 200.3 MB.
    assert memory_verdict([183.0, 190.0], pupils=5000, fmt="oneroster") == (
        "goal 1, oneroster (5,000 pupils): first import peak resident 199 MB"
        " (goal under 200 MB): met"
    )
    assert memory_verdict([191.0, 185.0], pupils=5000, fmt="oneroster").endswith(
        "peak resident 200 MB (goal under 200 MB): NOT met"
    )


def test_the_night_is_projected_to_3000_schools_and_the_first_load_weighed_by_copy() -> None:
    small = Size(
        schools=100,
        las=5,
        phases=[Phase("first load", seconds=12.0), Phase("nightly", seconds=20.0)],
        copy_seconds=6.0,
    )
    sampled = Size(schools=3000, las=150, phases=[Phase("nightly", seconds=30.1, schools=150)])
    whole = Size(schools=3000, las=150, phases=[Phase("nightly", seconds=540.0)])
    assert region_verdicts([small, sampled, whole]) == [
        "goal 3, 100 schools: first load 2.0x COPY (goal COPY-class, counted as within 2x): met",
        "goal 3, 100 schools: the night of 3,000 schools 10.0 min (projected from 100;"
        " goal 10 min): met",
        "goal 3, 3,000 schools: the night of 3,000 schools 10.0 min (projected from 150;"
        " goal 10 min): NOT met",
        "goal 3, 3,000 schools: the night of 3,000 schools 9.0 min (measured; goal 10 min): met",
    ]


def test_a_first_load_without_its_copy_yardstick_is_not_judged() -> None:
    # SQLite has no COPY: the region bench measures none there.
    size = Size(schools=10, las=1, phases=[Phase("first load", seconds=3.0)])
    assert region_verdicts([size]) == []
