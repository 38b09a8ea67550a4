"""Picks each new account's username: the first candidate of the region's pattern that
no account holds. The pattern and reserved words live in the pure planner; only the
"is it taken?" question needs the database, so it is asked here, at apply time, for a
whole run's new accounts in a few queries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice

from rollsync.directory import models as m
from rollsync.directory.selectors import in_chunks
from rollsync.domain.records import PersonRecord
from rollsync.planning.usernames import username_candidates

_ROUND = 4  # candidates per person looked up in each round of queries
_CHUNK = 900  # SQLite bound-parameter limit


class UsernamesExhausted(Exception):
    pass


def usernames_allocate(*, records: Sequence[PersonRecord], pattern: str, la_code: str) -> list[str]:
    """One free username per record, in order, never one already held or given in this call."""
    streams: list[Iterator[str]] = [username_candidates(pattern, r, la_code) for r in records]
    result: list[str | None] = [None] * len(records)
    given: set[str] = set()
    pending = list(range(len(records)))
    while pending:
        wanted = {i: list(islice(streams[i], _ROUND)) for i in pending}
        for i, names in wanted.items():
            if not names:
                raise UsernamesExhausted(f"no free username left for {records[i].mis_id}")
        taken = _taken({n for names in wanted.values() for n in names})
        still: list[int] = []
        for i in pending:
            free = next((n for n in wanted[i] if n not in taken and n not in given), None)
            if free is None:
                still.append(i)
            else:
                given.add(free)
                result[i] = free
        pending = still
    return [name for name in result if name is not None]


def _taken(names: set[str]) -> set[str]:
    held = m.Account.objects.values_list("username", flat=True)
    return set(in_chunks(held, names, field="username", size=_CHUNK))
