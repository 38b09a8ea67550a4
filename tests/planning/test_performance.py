"""A 1,500-pupil school in a region of 4,500 accounts plans by look-ups, never scans.

Counted, never timed (a busy machine must not fail a good change): records matched
by MIS ID never reach the matching engine, and each record that does is compared
with the few accounts its look-ups find, not with the region. Timings live in
`bench/planning_bench.py`.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from rollsync.domain.records import PersonRecord, Role
from rollsync.domain.upn import make_upn
from rollsync.planning import EngineMatcher, plan

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


def _region(region_size: int) -> tuple[Directory, list[PersonRecord], random.Random]:
    rng = random.Random(7)
    d = Directory()
    school = [_pupil(rng, n) for n in range(1500)]
    for record in school:
        d.add(record)
    for n in range(1500, 1500 + region_size):  # the region around it
        d.add(_pupil(rng, n), urn=LOCAL if n % 2 else FAR)
    return d, school, rng


def _work(region_size: int) -> tuple[int, int, dict[str, int]]:
    d, school, rng = _region(region_size)
    upload = [changed(r, year_group="X") if n % 10 == 0 else r for n, r in enumerate(school)]
    upload = upload[:1470] + [_pupil(rng, n) for n in range(9000, 9030)]
    matcher = EngineMatcher()
    result = plan(batch(*upload, complete_for=[Role.PUPIL]), d.state(), policy(), matcher=matcher)
    return matcher.work.records, matcher.work.pairs, result.counts()


def test_a_large_school_plans_by_look_ups_not_scans() -> None:
    records, pairs, counts = _work(3000)
    assert counts["updated"] + counts["unchanged"] == 1470
    assert counts["unallocated"] == 30
    assert records == 30  # only the 30 records with no MIS ID here reach the engine
    # A scan would compare 30 x 4,500 = 135,000 pairs; look-ups find a few dozen each.
    assert pairs <= 30 * 60


def test_matching_work_does_not_grow_with_the_region_like_a_scan() -> None:
    _, small_pairs, _ = _work(1000)
    records, large_pairs, _ = _work(3000)
    assert records == 30
    # Three times the region: a scan does three times the work; look-ups by date of birth,
    # UPN and name grow at most with the accounts that share them.
    assert large_pairs <= 3 * small_pairs
    assert large_pairs - small_pairs <= 30 * 40


def test_many_new_records_are_not_kept_in_the_prepare_cache() -> None:
    """A first import's thousands of new records are prepared for the engine once and let
    go when their round is decided, not held by `subject.prepare`'s cache until the plan
    is applied (a 5,000-pupil first import peaked 12-15 MiB higher with them cached); a
    night's few are cached as before."""
    from rollsync.matching import subject
    from rollsync.planning.engine_matcher import SCAN_UP_TO

    rng = random.Random(11)
    for count, cached in ((SCAN_UP_TO + 1, False), (40, True)):
        subject.prepare.cache_clear()
        d = Directory()
        d.add(_pupil(rng, 0))  # one account the new records are compared with, or not
        upload = [_pupil(rng, n) for n in range(20_000, 20_000 + count)]
        matcher = EngineMatcher()
        result = plan(batch(*upload), d.state(), policy(), matcher=matcher)
        assert matcher.work.records == count
        assert result.counts()["created"] == count
        held = subject.prepare.cache_info().currsize
        # The records when they are cached, and the directory's account if compared.
        assert held - (count if cached else 0) in (0, 1), (count, held)
