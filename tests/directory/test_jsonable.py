"""`serialize.jsonable`: plain values as they are, enums by value, dates as ISO text,
sets sorted; its quick paths for plain dicts and lists change none of that."""

from __future__ import annotations

import enum
from collections import OrderedDict
from datetime import UTC, date, datetime

from rollsync.directory.serialize import jsonable


class _Text(str, enum.Enum):  # noqa: UP042 - as the domain enums are
    A = "a"


class _Number(enum.IntEnum):
    X = 3


def test_jsonable_values() -> None:
    when = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    cases = [
        (None, None),
        (True, True),
        (2, 2),
        (2.5, 2.5),
        ("s", "s"),
        (_Text.A, "a"),
        (_Number.X, 3),
        (date(2020, 1, 2), "2020-01-02"),
        (when, "2020-01-02T03:04:05+00:00"),
        ({1: "a", _Text.A: _Number.X, "k": [_Text.A, (1, date(2021, 1, 1))]},
         {"1": "a", "_Text.A": 3, "k": ["a", [1, "2021-01-01"]]}),
        (OrderedDict(a=_Text.A), {"a": "a"}),
        ({"y", "x"}, ["x", "y"]),
        ([None, {"d": {"e": _Text.A}}], [None, {"d": {"e": "a"}}]),
        ((True, _Number.X), [True, 3]),
    ]  # fmt: skip
    for value, expected in cases:
        got = jsonable(value)
        assert got == expected and type(got) is type(expected), (value, got)
        if isinstance(got, bool | int) and not isinstance(value, enum.Enum):
            assert got is value
