"""Planner timing (on demand, never in CI): `.venv/bin/python -m bench.planning_bench`.

Plans a 1,500-pupil school in a region of 4,500 accounts (the shape
`tests/planning/test_performance.py` counts the work of) and prints the best of a
few runs in milliseconds, with the matching work, as JSON.
"""

from __future__ import annotations

import json
import sys
import time

from rollsync.domain.records import Role
from rollsync.planning import EngineMatcher, plan
from tests.planning.helpers import batch, changed, policy
from tests.planning.test_performance import _pupil, _region


def main(argv: list[str]) -> None:
    repeats = int(argv[0]) if argv else 5
    d, school, rng = _region(3000)
    state = d.state()
    upload = [changed(r, year_group="X") if n % 10 == 0 else r for n, r in enumerate(school)]
    upload = upload[:1470] + [_pupil(rng, n) for n in range(9000, 9030)]
    upload_batch = batch(*upload, complete_for=[Role.PUPIL])
    timings = []
    matcher = EngineMatcher()
    for _ in range(repeats):
        matcher = EngineMatcher()
        started = time.perf_counter()
        plan(upload_batch, state, policy(), matcher=matcher)
        timings.append(time.perf_counter() - started)
    print(
        json.dumps(
            {
                "pupils": len(upload),
                "accounts": len(state.accounts),
                "best_ms": round(min(timings) * 1000, 1),
                "engine_records": matcher.work.records,
                "engine_pairs": matcher.work.pairs,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
