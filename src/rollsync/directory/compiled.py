"""Queries compiled once per process and shape, run again with new values.

Django builds a query anew at every use (a QuerySet, its lookups, then its SQL), which
for the skip's check of the audit events since a run (one query of several EXISTS tests
over some fifty event kinds) cost 6.4 ms of CPU against 0.6 ms to run it: a third of a
skip (docs/performance.md). Here a query is built once per shape, with placeholder
numbers for the values that change from run to run (a school, an LA, an audit mark),
compiled, and the places of those placeholders among its parameters noted; each later
use puts the real values in those places and runs the same SQL. A shape is everything
else the query is built from: it must be part of the key.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import QuerySet

# Numbers no id or mark ever is (they are positive), each placeholder distinct.
_PLACEHOLDERS = (-2_000_000_011, -2_000_000_013, -2_000_000_017, -2_000_000_019)


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, str], ...]  # (position among the parameters, value's name)


_cache: dict[tuple[Hashable, ...], _Compiled] = {}


def compiled_sql(
    key: Hashable, build: Callable[..., QuerySet[Any]], *, exists: bool = False, **values: int
) -> tuple[str, list[Any]]:
    """The SQL and parameters of `build(**values)` (with `exists`, of its `.exists()`),
    as Django compiles them, from the SQL compiled for `key` the first time. `build` must
    make the same query for every value of `values` but for those values (everything else
    it reads is in `key`)."""
    names = sorted(values)
    cache_key = (connection.vendor, key, exists, *names)
    found = _cache.get(cache_key)
    if found is None:
        found = _compile(build, names, exists=exists)
        _cache[cache_key] = found
    params = list(found.params)
    for at, name in found.slots:
        params[at] = type(params[at])(values[name])  # the driver's wrapper kept
    return found.sql, params


def compiled_exists(key: Hashable, build: Callable[..., QuerySet[Any]], **values: int) -> bool:
    """`build(**values).exists()`, run from the SQL compiled for `key` (`compiled_sql`)."""
    sql, params = compiled_sql(key, build, exists=True, **values)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def compiled_values(
    key: Hashable, build: Callable[..., QuerySet[Any]], **values: int
) -> list[tuple[Any, ...]]:
    """The rows of `build(**values)` (a `values_list` of plain columns), run from the SQL
    compiled for `key` (`compiled_sql`)."""
    sql, params = compiled_sql(key, build, **values)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _compile(build: Callable[..., QuerySet[Any]], names: list[str], *, exists: bool) -> _Compiled:
    if len(names) > len(_PLACEHOLDERS):
        raise ValueError(f"at most {len(_PLACEHOLDERS)} values change: {names}")
    stand_in = dict(zip(names, _PLACEHOLDERS, strict=False))
    query = build(**stand_in).query
    if exists:
        query = query.exists()
    sql, params = query.get_compiler(connection=connection).as_sql()
    named = {number: name for name, number in stand_in.items()}
    slots = tuple(
        (at, named[param])
        for at, param in enumerate(params)
        if isinstance(param, int) and not isinstance(param, bool) and param in named
    )
    missing = set(names) - {name for _, name in slots}
    if missing:  # a value the query holds some other way (in its text, or changed)
        raise ValueError(f"the query does not take {sorted(missing)} as parameters")
    return _Compiled(sql, tuple(params), slots)
