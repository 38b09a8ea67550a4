"""Issue 7, "Proven, not promised": mutations of real simulator exports, synced on top
of a baseline through the real services, on whichever database DATABASE_URL names.

Each case runs inside a savepoint that is rolled back, so every case starts from the
same baseline (day 1 applied). 500 cases per format, 2,000 per run, derandomized.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.safety import checks
from tests.safety.directory import account_people, diff, load_baseline, run_upload, snapshot
from tests.safety.exports import FORMATS, school_exports
from tests.safety.mutations import BUNDLE_KINDS, NONE, ROW_KINDS, Mutation, apply_mutation

REPORT = os.environ.get("ROLLSYNC_SAFETY_REPORT", "")  # a file to list every violation in
EXAMPLES = int(os.environ.get("ROLLSYNC_SAFETY_EXAMPLES", "500"))  # per format


def mutations(fmt: str) -> st.SearchStrategy[Mutation]:
    kinds = ROW_KINDS + (BUNDLE_KINDS if fmt in ("oneroster", "sds") else ())
    return st.builds(
        Mutation,
        kind=st.sampled_from(kinds),
        target=st.integers(0, 11),
        at=st.floats(0, 1, allow_nan=False),
        rows=st.lists(st.integers(0, 99), min_size=1, max_size=4).map(tuple),
        columns=st.tuples(st.integers(0, 24), st.integers(0, 24)),
        variant=st.integers(0, 63),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_exports_change_only_what_they_state_plainly(fmt: str) -> None:
    ex = school_exports(fmt)
    school = load_baseline(ex)
    people = account_people(school, ex)
    before = snapshot()
    seen: dict[str, int] = {}
    failures: dict[str, list[str]] = {"a": [], "b": [], "c": [], "d": []}
    kinds: dict[str, Counter[str]] = {prop: Counter() for prop in failures}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        # Every case runs; violations are gathered and reported together below, so a
        # run shows how often each property fails (shrinking would cost minutes).
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mut=mutations(fmt))
    def case(mut: Mutation) -> None:
        oracle = apply_mutation(ex, mut)
        with transaction.atomic():
            run = run_upload(school, oracle.upload, ex.dates[1])
            after = snapshot()
            transaction.set_rollback(True)
        outcome = checks.Outcome(
            str(run.status), list(run.errors or []), dict(run.counts or {}), after
        )
        seen[outcome.status] = seen.get(outcome.status, 0) + 1
        found = checks.check(
            ex=ex,
            oracle=oracle,
            people=people,
            before=before,
            outcome=outcome,
            diff_lines=diff(before, after),
        )
        where = f"{oracle.description} -> {outcome.status}"
        for prop, lines in found.items():
            if lines:
                failures[prop].append(f"{where}: {lines[:3]}")
                kinds[prop][f"{oracle.description.split(':')[0]}:{mut.kind}"] += 1

    case()
    if REPORT:  # every violation, for whoever fixes them
        with open(REPORT, "a", encoding="utf-8") as out:
            for prop, cases in failures.items():
                out.writelines(f"{fmt} ({prop}) {line}\n" for line in cases)
    assert snapshot() == before  # every case rolled back
    assert sum(seen.values()) == EXAMPLES, seen
    summary = "\n".join(
        f"({prop}) {PROPERTIES[prop]}: {len(cases)} of {EXAMPLES} cases "
        f"({', '.join(f'{k} {n}' for k, n in kinds[prop].most_common())}), e.g.\n  "
        + "\n  ".join(cases[:4])
        for prop, cases in failures.items()
        if cases
    )
    assert not summary, f"{fmt}, outcomes {seen}:\n{summary}"


PROPERTIES = {
    "a": "an applied run unallocated or changed identity the export did not state plainly",
    "b": "a run that reported errors and unallocated was applied, not held",
    "c": "a failed or held run changed the directory",
    "d": "an account was rewritten with another person's identity",
}


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_oracle_accepts_every_unmutated_day_two_file(fmt: str) -> None:
    """Calibration: day 2 exactly as the simulator wrote it (its leavers, starters,
    surname and preferred-name changes) breaks no property, so a violation in the
    property above is the mutation's doing, not the oracle's."""
    ex = school_exports(fmt)
    school = load_baseline(ex)
    people = account_people(school, ex)
    before = snapshot()
    targets = range(len(ex.uploads(2))) if fmt == "csv" else range(1)
    statuses = []
    for target in targets:
        oracle = apply_mutation(ex, Mutation(NONE, target=target))
        with transaction.atomic():
            run = run_upload(school, oracle.upload, ex.dates[1])
            after = snapshot()
            transaction.set_rollback(True)
        outcome = checks.Outcome(
            str(run.status), list(run.errors or []), dict(run.counts or {}), after
        )
        found = checks.check(
            ex=ex,
            oracle=oracle,
            people=people,
            before=before,
            outcome=outcome,
            diff_lines=diff(before, after),
        )
        assert found == {"a": [], "b": [], "c": [], "d": []}, (oracle.description, found)
        statuses.append((oracle.upload.name, outcome.status, outcome.counts.get("unallocated", 0)))
    assert all(status == "applied" for _, status, _ in statuses), statuses
    assert sum(n for _, _, n in statuses) >= 1, statuses  # day 2 has a leaver to check against
