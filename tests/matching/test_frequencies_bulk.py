"""`Frequencies.add_all` counts in bulk exactly what `add` counts one candidate at a
time (the planner counts every account of the snapshot with it)."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from rollsync.matching.blocking import Frequencies

ROWS = st.tuples(
    st.sampled_from([None, "", "pupil", "contact"]),
    st.sampled_from(["", "amy", "amie", "sam"]),
    st.sampled_from(["", "smith", "jones"]),
    st.sampled_from([None, date(2015, 3, 4), date(2015, 4, 3)]),
    st.sampled_from(["", "amy", "sam"]),
)


def _seen(f: Frequencies) -> tuple[object, ...]:
    """Every count, without the zero entries a look-up leaves behind."""

    def kept(counter: dict[object, int]) -> dict[object, int]:
        return {k: v for k, v in counter.items() if v}

    counts = {role: kept(c) for role, c in f.counts.items() if kept(c)}
    return (
        counts,
        kept(f.sizes),
        kept(f.forenames),
        kept(f.held),
        kept(f.agreeing),
        kept(f.homes),
        f.homes_counted,
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(ROWS, max_size=30), st.lists(ROWS, max_size=30))
def test_add_all_counts_what_add_counts(
    earlier: list[tuple[str | None, str, str, date | None, str]],
    rows: list[tuple[str | None, str, str, date | None, str]],
) -> None:
    one, bulk = Frequencies(), Frequencies()
    for row in earlier:  # counted before: agreement with them counts too
        one.add(*row)
        bulk.add(*row)
    for row in rows:
        one.add(*row)
    bulk.add_all(rows)
    assert _seen(bulk) == _seen(one)
    for role in (None, "pupil", "contact"):
        for field in ("given", "family", "dob"):
            assert bulk.agreement(role, field) == one.agreement(role, field)
