"""One order for everything a plan lists, so equal inputs give equal plans."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from rollsync.domain.records import PersonRecord, Role

T = TypeVar("T")

ROLE_ORDER: dict[Role, int] = {Role.PUPIL: 0, Role.STAFF: 1, Role.CONTACT: 2}

_DIGITS = re.compile(r"(\d+)")

MisIdKey = tuple[tuple[int | str, ...], str]
RecordKey = tuple[int, MisIdKey, bool, int]


@lru_cache(maxsize=65_536)
def mis_id_key(mis_id: str) -> MisIdKey:
    """Numbers in numeric order ("2" before "10"), then the raw text to settle "01" vs "1".
    Each part is two items of one flat tuple, 0 and a number or 1 and text: it sorts as
    a tuple of (kind, value) pairs would, and a first import's sort of 12,000 records
    (a CTF contact's ID is a dozen parts) compares one tuple, not one tuple a part."""
    parts: list[int | str] = []
    for part in _DIGITS.split(mis_id):
        if part:
            parts += (0, int(part)) if part.isdigit() else (1, part)
    return (tuple(parts), mis_id)


def record_key(record: PersonRecord) -> RecordKey:
    """Pupils, staff, contacts; then MIS ID; then source row."""
    return (ROLE_ORDER[record.role], mis_id_key(record.mis_id), record.row is None, record.row or 0)


def record_order(records: Sequence[PersonRecord]) -> list[int]:
    """Indices of `records` in `record_key` order. Two rows with the same key (the same
    MIS ID on the same row) are settled by their full text, so the order never depends
    on the order they arrived in."""
    keys = [record_key(r) for r in records]
    order = sorted(range(len(records)), key=keys.__getitem__)
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and keys[order[end]] == keys[order[start]]:
            end += 1
        if end - start > 1:  # rare: only duplicate rows
            order[start:end] = sorted(order[start:end], key=lambda i: repr(records[i]))
        start = end
    return order


def sort_records(records: Sequence[PersonRecord]) -> list[PersonRecord]:
    return [records[i] for i in record_order(records)]


def sorted_settled(items: Iterable[T], key: Callable[[T], Any]) -> list[T]:
    """`items` sorted by `(key(item), repr(item))`, the text asked for only where two
    keys are equal (rare: duplicate rows), not for every item (a bundle's 42,000
    memberships cost more to spell out than to sort)."""
    keyed = sorted(((key(item), item) for item in items), key=lambda pair: pair[0])
    out: list[T] = []
    start = 0
    while start < len(keyed):
        end = start + 1
        while end < len(keyed) and keyed[end][0] == keyed[start][0]:
            end += 1
        if end - start > 1:
            out.extend(sorted((pair[1] for pair in keyed[start:end]), key=repr))
        else:
            out.append(keyed[start][1])
        start = end
    return out
