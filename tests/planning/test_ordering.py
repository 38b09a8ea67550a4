"""`ordering.sorted_settled` gives the order of sorting by the key and then the full
text, while spelling out only the items whose keys tie. `ordering.mis_id_key` sorts MIS
IDs as the tuple of (kind, value) parts it stands for: numbers in numeric order ("2"
before "10"), text as text, a number before text at the same place, a shorter run of
parts first, and the raw text last ("01" and "1")."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from rollsync.planning.ordering import mis_id_key, sorted_settled


@dataclass(frozen=True)
class _Row:
    group: str
    person: str
    row: int | None
    extra: str


def test_sorted_settled_is_the_order_of_key_then_text() -> None:
    rng = random.Random(7)
    for _ in range(50):
        rows = [
            _Row(
                rng.choice("ABC"),
                rng.choice(["1", "2", "10"]),
                rng.choice([None, 0, 1, 2]),
                rng.choice(["x", "y", "z"]),
            )
            for _ in range(rng.randrange(0, 40))
        ]

        def key(r: _Row) -> tuple[str, str, int]:
            return (r.group, r.person, r.row or 0)

        assert sorted_settled(rows, key=key) == sorted(rows, key=lambda r: (*key(r), repr(r)))


def test_sorted_settled_spells_out_only_ties() -> None:
    spelled: list[int] = []

    class Counted:
        def __init__(self, n: int, k: int) -> None:
            self.n, self.k = n, k

        def __repr__(self) -> str:
            spelled.append(self.n)
            return f"Counted({self.n})"

    items = [Counted(n, k) for n, k in enumerate([5, 3, 3, 1, 4])]
    assert [i.n for i in sorted_settled(items, key=lambda i: i.k)] == [3, 1, 2, 4, 0]
    assert sorted(spelled) == [1, 2]


_DIGITS = re.compile(r"(\d+)")


def _parts(mis_id: str) -> tuple[tuple[tuple[int, int, str], ...], str]:
    """The order the key must give, spelt out one tuple a part."""
    return (
        tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in _DIGITS.split(mis_id)
            if part
        ),
        mis_id,
    )


def test_numbers_in_numeric_order_then_the_raw_text() -> None:
    ids = ["10", "2", "a10", "a2", "a", "01", "1", "1a", "ctf:smith:jo:9f", "ctf:smith:jo:10"]
    assert sorted(ids, key=mis_id_key) == [
        "01",
        "1",
        "1a",
        "2",
        "10",
        "a",
        "a2",
        "a10",
        "ctf:smith:jo:9f",
        "ctf:smith:jo:10",
    ]


# IDs made of a few runs of digits (leading zeros too) and of letters and marks.
_IDS = st.lists(
    st.one_of(st.from_regex(r"\A0{0,2}[0-9]{1,4}\Z"), st.text("ab:-Zé", min_size=1, max_size=3)),
    max_size=5,
).map("".join)


@settings(max_examples=300)
@given(st.lists(_IDS, max_size=30))
def test_sorted_as_their_parts_are(ids: list[str]) -> None:
    assert sorted(ids, key=mis_id_key) == sorted(ids, key=_parts)
