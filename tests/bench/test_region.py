"""bench.region at a toy size: a region of 3 tiny schools loaded and synced for a night
through the real queue and two real `rollsync worker` processes (no time asserted)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import statements
from bench.region import Phase, _day_files, _logged, _simulate_la, la_sizes, realism, sampled
from tests.scratch_pg import ScratchDatabases

ROOT = Path(__file__).resolve().parents[2]
BENCH = [sys.executable, "-m", "bench", "region", "--schools", "3", "--scale", "0.05", "--json"]


def test_a_region_is_spread_over_its_las_as_evenly_as_it_goes() -> None:
    assert la_sizes(10, 3) == [4, 3, 3]
    assert la_sizes(3000, 150) == [20] * 150
    assert la_sizes(2, 5) == [1, 1]  # never an LA without a school


def test_churn_scales_the_simulators_daily_rates_and_keeps_the_schools_mis() -> None:
    from rollsync.simulate import Realism

    base, tenfold = Realism(), realism(0.0155)
    assert tenfold.pupil_starter_rate == pytest.approx(base.pupil_starter_rate * 10)
    assert tenfold.staff_leaver_rate == pytest.approx(base.staff_leaver_rate * 10)
    assert tenfold.mover_rate == pytest.approx(base.mover_rate * 10)
    assert tenfold.mis_change is False
    assert (tenfold.scale, tenfold.primary_size) == (base.scale, base.primary_size)


def test_interleaved_order_queues_every_schools_first_file_then_their_second() -> None:
    def f(urn: str, report: str, day: int = 1) -> dict[str, object]:
        return {"urn": urn, "report": report, "day": day}

    region = [
        {"files": [f("1", "students"), f("1", "groups"), f("1", "students", day=2)]},
        {"files": [f("2", "students"), f("2", "staff"), f("2", "groups")]},
    ]
    plain = [(j["urn"], j["report"]) for j in _day_files(region, 1, "school")]
    mixed = [(j["urn"], j["report"]) for j in _day_files(region, 1, "interleaved")]
    assert plain == [("1", "students"), ("1", "groups"), ("2", "students"), ("2", "staff"),
                     ("2", "groups")]  # fmt: skip
    assert mixed == [("1", "students"), ("2", "students"), ("1", "groups"), ("2", "staff"),
                     ("2", "groups")]  # fmt: skip


def test_arrival_order_shuffles_the_schools_and_keeps_each_schools_files_together() -> None:
    region = [
        {"files": [{"urn": f"{la}{n}", "report": r, "day": 1} for n in range(5)
                   for r in ("students", "staff", "groups")]}
        for la in "AB"
    ]  # fmt: skip
    first = [(j["urn"], j["report"]) for j in _day_files(region, 1, "arrival")]
    assert first == [(j["urn"], j["report"]) for j in _day_files(region, 1, "arrival")]
    plain = [(j["urn"], j["report"]) for j in _day_files(region, 1, "school")]
    assert sorted(first) == sorted(plain) and first != plain
    urns = [urn for urn, _ in first]
    # Each school's three files together, in their own order.
    assert [urns[i] for i in range(0, 30, 3)] == [urns[i + 2] for i in range(0, 30, 3)]
    assert [r for _, r in first] == ["students", "staff", "groups"] * 10
    # The two LAs' schools are mixed, not one LA's then the other's.
    las = "".join(urns[i][0] for i in range(0, 30, 3))
    assert las not in ("AAAAABBBBB", "BBBBBAAAAA")


def test_each_task_is_counted_once_with_the_queries_of_its_deliveries_put_back(
    tmp_path: Path,
) -> None:
    log = tmp_path / "queries.log"
    log.write_text(
        "a 40 again\n"  # waited for an earlier upload of its school
        "b 100 done\n"
        "a 50 done\n"
        "c 7 again\n"  # another phase's task
        "b 3\n"  # a line from before the outcome was logged: not counted
        "d 9 do"  # a line being written
    )
    assert _logged(log) == {"done": {"b": [100], "a": [50]}, "again": {"a": [40], "c": [7]}}
    phase = Phase("night")
    _count_into(phase, ["a", "b"], log)
    assert (phase.counted, phase.queries, phase.again) == (2, 190, 1)
    assert not log.exists()


def _count_into(phase: Phase, tasks: list[str], log: Path) -> None:
    """`_measure`'s counting without a database: the part that reads the log."""
    import bench.region as region

    logged = region._logged(log)
    measured = region._count_logged(tasks, logged)
    phase.counted, phase.queries, phase.again = measured
    log.unlink()


def test_the_las_of_a_region_have_their_own_codes_and_urns(tmp_path: Path) -> None:
    las = [_simulate_la((n, 2, 5, 0.05, 0.01, str(tmp_path), 4)) for n in (0, 1)]
    schools = [[(s["la_code"], int(s["urn"])) for s in la["schools"]] for la in las]
    assert [sorted({code for code, _ in la}) for la in schools] == [["200"], ["201"]]
    assert all(100000 <= urn < 100004 for _, urn in schools[0])
    assert all(100004 <= urn < 100008 for _, urn in schools[1])
    assert {f["day"] for la in las for f in la["files"]} == {1, 2}


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        scratch = ScratchDatabases(url)
        try:
            yield scratch.create("rs_region_test")
        finally:
            scratch.drop_all()
    else:
        yield f"sqlite:///{tmp_path / 'region.sqlite3'}"


def test_the_region_bench_loads_and_syncs_a_toy_region_through_real_workers(
    database: str, tmp_path: Path
) -> None:
    timings = tmp_path / "statements"
    timings.mkdir()
    done = subprocess.run(
        [*BENCH, "--database-url", database],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "ROLLSYNC_BENCH_STATEMENTS": str(timings)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "A region every night" in done.stdout
    [size] = json.loads(done.stdout.strip().splitlines()[-1])
    assert (size["schools"], size["las"]) == (3, 1)
    first, night = size["phases"]
    assert (first["name"], night["name"]) == ("first load", "nightly")
    for phase in (first, night):
        # every upload ran once, in a worker that counted its queries, and nothing failed
        assert phase["uploads"] == phase["runs"] == phase["counted"] > 0
        assert phase["queries"] > phase["counted"]
        assert phase["failures"] == 0
        assert phase["statuses"] == {"applied": phase["runs"]}
    assert size["accounts"] > 0
    # Each phase's statements timed by the workers (every run's row written, the
    # parameters folded), and the sums report as a table.
    for day, phase in (("day1", first), ("day2", night)):
        summed = statements.totals(timings.glob(f"*-{day}.json"))
        runs = [
            n for sql, (n, _) in summed.items() if sql.startswith('INSERT INTO "directory_syncrun"')
        ]
        assert len(runs) == 1 and runs[0] >= phase["runs"], runs  # a run tried again: twice
        assert not any("%s" in sql for sql in summed)
        assert sum(n for n, _ in summed.values()) >= phase["queries"]
        lines = statements.report(summed, top=3)
        assert lines[0].endswith(f"in {sum(int(n) for n, _ in summed.values()):,} statements")
        assert len(lines) == 4
    assert first["changed"] == first["records"] > 0  # a first load creates everyone
    assert 0 < night["changed"] < night["records"]  # a night changes a few
    if database.startswith("postgres"):
        assert size["copy_seconds"] is not None
        assert size["analyze_seconds"] is not None  # statistics taken after the first load
        assert size["rows"]["directory_account"] == size["accounts"]
        assert size["rows"]["directory_syncrun"] == first["runs"]
    else:
        assert size["copy_seconds"] is None
        assert size["analyze_seconds"] is None
        # without --keep the database is left empty
        with sqlite3.connect(database.removeprefix("sqlite:///")) as conn:
            assert conn.execute("SELECT count(*) FROM directory_account").fetchone() == (0,)


def test_a_sample_is_the_first_schools_in_the_queues_order_with_all_their_files() -> None:
    jobs = [{"urn": urn, "report": r} for urn, r in (("3", "students"), ("1", "students"),
            ("1", "groups"), ("2", "students"), ("3", "groups"))]  # fmt: skip
    assert sampled(jobs, 0) == jobs
    assert [(j["urn"], j["report"]) for j in sampled(jobs, 2)] == [
        ("3", "students"), ("1", "students"), ("1", "groups"), ("3", "groups")]  # fmt: skip
    assert sampled(jobs, 9) == jobs
