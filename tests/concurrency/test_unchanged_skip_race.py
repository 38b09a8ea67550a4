"""Two identical uploads of one school at the same moment (docs/decisions/0088), two real
`rollsync import` processes on PostgreSQL, started together: exactly one run applies the
file's changes; the other is the skip ("same file as run N") or a plain no-op (planned in
full, nothing to change), never a second set of changes. The directory and the audit
trail are as after one run (a serial load of the file once), and neither run fails.

Both orders are forced through: the same bytes as the school's last applied run (both are
skip candidates: the first to take the LA's lock skips; the other skips too, standing on
the same planned run, or, when it looked before that skip committed, finds a newer
applied run than the one it stood on and plans in full), and a changed file (the first
applies it, the other skips to it or plans a no-op, by when it looked outside the lock)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.concurrency.conftest import (
    database_is_postgres,
    dump,
    import_at_once,
    la_plan,
    prepared,
)

pytestmark = pytest.mark.skipif(
    not database_is_postgres(), reason="row locks and a real server: PostgreSQL only"
)


@pytest.fixture(scope="module")
def school_days(tmp_path_factory: pytest.TempPathFactory, scratch_pg: Any) -> tuple[Path, str]:
    """A plan whose chains are one bundle school's day-1 and day-2 files, and a migrated
    template with its schools set up."""
    home = tmp_path_factory.mktemp("skiprace")
    plan_path = la_plan(home, schools=2, seed=31, scale=0.04, days=2)
    plan = json.loads(plan_path.read_text())
    [bundle] = [c for c in plan["chains"] if len({j["date"] for j in c}) == len(c) == 2][:1]
    plan["chains"] = [[bundle[0]], [bundle[1]]]  # chain 0: day 1, chain 1: day 2
    plan_path.write_text(json.dumps(plan))
    template = scratch_pg("")
    prepared(template, home, plan_path)
    return plan_path, template


def _runs_and_events(url: str) -> dict[int, dict[str, Any]]:
    with psycopg.connect(url) as conn:
        runs = {
            pk: {"status": status, "same_as": same_as, "counts": counts, "events": 0}
            for pk, status, same_as, counts in conn.execute(
                "SELECT id, status, same_as_id, counts FROM directory_syncrun"
            )
        }
        for run_id, n in conn.execute(
            "SELECT run_id, count(*) FROM directory_auditevent WHERE run_id IS NOT NULL"
            " GROUP BY run_id"
        ):
            runs[run_id]["events"] = n
    return runs


CHANGE_KEYS = ("created", "updated", "moved_in", "unallocated", "restored")


def _changes(counts: dict[str, int]) -> int:
    return sum(int(counts.get(k, 0)) for k in CHANGE_KEYS)


@pytest.mark.parametrize("day", [0, 1], ids=["same-as-applied", "changed-file"])
def test_two_identical_uploads_at_once_apply_once(
    tmp_path: Path, scratch_pg: Any, school_days: tuple[Path, str], day: int
) -> None:
    plan_path, template = school_days
    once_url, twice_url = scratch_pg(template), scratch_pg(template)
    # Both databases start from the school's day 1, applied (its plan settled).
    for url in (once_url, twice_url):
        first, err = import_at_once(plan_path, url, tmp_path, [[0]])
        assert [r["status"] for r in first] == ["applied"], (first, err)
    before = _runs_and_events(twice_url)

    # The same file: once in one database, twice at the same moment in the other.
    once, _ = import_at_once(plan_path, once_url, tmp_path, [[day]])
    assert [r["status"] for r in once] == ["applied"], once
    twice, errors = import_at_once(
        plan_path, twice_url, tmp_path, [[day], [day]], barrier=tmp_path / "go"
    )

    assert all("Traceback" not in e for e in errors), errors
    assert [r["status"] for r in twice] == ["applied", "applied"], twice
    runs = _runs_and_events(twice_url)
    new = {pk: r for pk, r in runs.items() if pk not in before}
    assert len(new) == 2
    # Exactly one run made changes (day 2) or none did (day 1 again); the other (or
    # both) is the skip or a plain no-op: no audit event, no change counted.
    changed = [pk for pk, r in new.items() if r["events"] or _changes(r["counts"])]
    quiet = [pk for pk in new if pk not in changed]
    once_runs = {pk: r for pk, r in _runs_and_events(once_url).items() if pk not in before}
    [once_run] = once_runs.values()
    assert len(changed) == (1 if once_run["events"] else 0)
    assert len(quiet) == 2 - len(changed)
    for pk in quiet:
        r = new[pk]
        assert r["events"] == 0 and _changes(r["counts"]) == 0, r
        if r["same_as"] is not None:  # the skip: it stands on a planned applied run
            assert runs[r["same_as"]]["status"] == "applied"
            assert runs[r["same_as"]]["same_as"] is None
    if changed:
        [pk] = changed
        assert new[pk]["counts"] == once_run["counts"]
        assert new[pk]["events"] == once_run["events"]
    # the directory and the audit trail are as after one run of the file
    one, two = dump(once_url, tmp_path), dump(twice_url, tmp_path)
    runs_once, runs_twice = one.pop("runs"), two.pop("runs")
    assert two == one
    assert len(runs_twice) == len(runs_once) + 1
    assert {tuple(r) for r in runs_twice} == {tuple(r) for r in runs_once}
