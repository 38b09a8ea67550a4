"""`ordering.sorted_settled` gives the order of sorting by the key and then the full
text, while spelling out only the items whose keys tie."""

from __future__ import annotations

import random
from dataclasses import dataclass

from rollsync.planning.ordering import sorted_settled


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
