"""A 1,500-pupil school plans in milliseconds: look-ups, never scans.

The bound is loose (ten times what a laptop takes) so that a slow CI machine
passes, while a per-record scan of the region (quadratic) still fails.
"""

from __future__ import annotations

import random
import time
from datetime import date, timedelta

from rollsync.domain.records import PersonRecord, Role
from rollsync.domain.upn import make_upn
from rollsync.planning import plan

from .helpers import FAR, LOCAL, Directory, batch, changed, policy, pupil

GIVEN = ["Amy", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivan", "Jo", "Kai", "Lena"]
FAMILY = ["Smith", "Jones", "Patel", "Khan", "Brown", "Wilson", "Taylor", "Davies", "Evans"]


def _pupil(rng: random.Random, n: int) -> PersonRecord:
    return pupil(
        str(1000 + n),
        rng.choice(GIVEN),
        rng.choice(FAMILY),
        date_of_birth=date(2008, 1, 1) + timedelta(days=rng.randrange(3000)),
        upn=make_upn("202", f"{2001 + n // 1000}", 15, n % 1000),
        year_group=str(rng.randrange(7, 14)),
    )


def test_a_large_school_plans_in_milliseconds() -> None:
    rng = random.Random(7)
    d = Directory()
    school = [_pupil(rng, n) for n in range(1500)]
    for record in school:
        d.add(record)
    for n in range(1500, 4500):  # the region around it
        d.add(_pupil(rng, n), urn=LOCAL if n % 2 else FAR)
    state = d.state()
    upload = [changed(r, year_group="X") if n % 10 == 0 else r for n, r in enumerate(school)]
    upload = upload[:1470] + [_pupil(rng, n) for n in range(5000, 5030)]
    started = time.perf_counter()
    result = plan(batch(*upload, complete_for=[Role.PUPIL]), state, policy())
    elapsed = time.perf_counter() - started
    counts = result.counts()
    assert counts["updated"] + counts["unchanged"] == 1470
    assert counts["unallocated"] == 30
    assert elapsed < 0.6, f"planning 1,500 pupils took {elapsed * 1000:.0f} ms"
