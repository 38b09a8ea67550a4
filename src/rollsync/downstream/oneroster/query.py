"""The OneRoster REST binding's query parameters over a collection of JSON objects:
`filter` (parsed with lark, docs/decisions/0071), `sort` + `orderBy`, `fields`,
`limit` + `offset`. Pure Python: objects in, objects out, or a `QueryError` that
names the parameter at fault.

Filter grammar (OneRoster 1.1 section 3.4.4, 1.2 REST binding): `field op 'value'`
where op is one of `= != > >= < <= ~` (`~` contains, without regard to case),
joined by ` AND ` / ` OR ` (AND binds tighter). A dotted field reaches into a
nested object or a list of them (`org.sourcedId`, `roles.role`); on a list the test
holds when it holds for any item. `dateLastModified` (and any other date-time
field) compares as a point in time, so `dateLastModified>'2026-09-01T00:00:00Z'`
selects what changed after then."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedInput, v_args
from lark.exceptions import VisitError

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000  # Microsoft SDS asks for 5,000 a page
DATE_TIME_FIELDS = frozenset({"dateLastModified"})

_GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: comparison (_AND comparison)*
comparison: FIELD OP VALUE
FIELD: /[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/
OP: "!=" | ">=" | "<=" | "=" | ">" | "<" | "~"
VALUE: /'[^']*'/
_AND: "AND"
_OR: "OR"
%import common.WS
%ignore WS
"""
_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]


class QueryError(ValueError):
    """A query parameter that cannot be honoured: which one, and why."""

    def __init__(self, message: str, *, parameter: str) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 date-time (a date alone is its midnight), in UTC; None if not one."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _values(obj: Any, path: Sequence[str]) -> list[Any]:
    """Every value at a dotted path (lists fan out)."""
    if isinstance(obj, list):
        return [v for item in obj for v in _values(item, path)]
    if not path:
        return [] if obj is None else [obj]
    if not isinstance(obj, dict) or path[0] not in obj:
        return []
    return _values(obj[path[0]], path[1:])


def _test(op: str, left: Any, right: str, right_time: datetime | None) -> bool:
    if right_time is not None:
        when = parse_time(str(left))
        if when is None:
            return False
        a: Any = when
        b: Any = right_time
    else:
        a, b = str(left), right
    if op == "~":
        return str(b).casefold() in str(a).casefold()
    return {
        "=": a == b,
        "!=": a != b,
        ">": a > b,
        ">=": a >= b,
        "<": a < b,
        "<=": a <= b,
    }[op]


@v_args(inline=True)
class _Build(Transformer[Token, Predicate]):
    def __init__(self, fields: frozenset[str]) -> None:
        super().__init__()
        self.fields = fields

    def comparison(self, field: Token, op: Token, value: Token) -> Predicate:
        name, right = str(field), str(value)[1:-1]
        path = name.split(".")
        if path[0] not in self.fields:
            raise QueryError(f"filter: no field {path[0]!r} to filter on", parameter="filter")
        right_time = None
        if path[-1] in DATE_TIME_FIELDS:
            right_time = parse_time(right)
            if right_time is None or op == "~":
                raise QueryError(
                    f"filter: {name} compares with a date-time such as "
                    f"'2026-09-01T00:00:00Z' ({op}{value} is not one)",
                    parameter="filter",
                )
        operator = str(op)

        def predicate(obj: Obj) -> bool:
            found = _values(obj, path)
            if operator == "!=":  # no value at all differs too
                return all(_test("!=", v, right, right_time) for v in found)
            return any(_test(operator, v, right, right_time) for v in found)

        return predicate

    def and_expr(self, *parts: Predicate) -> Predicate:
        return lambda obj: all(p(obj) for p in parts)

    def or_expr(self, *parts: Predicate) -> Predicate:
        return lambda obj: any(p(obj) for p in parts)


def parse_filter(text: str, fields: Iterable[str]) -> Predicate:
    """A predicate for a `filter` parameter over objects with these top-level fields."""
    if len(text) > 2000:
        raise QueryError("filter: at most 2000 characters", parameter="filter")
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as e:
        raise QueryError(
            f"filter: cannot read it at character {e.column}: write field<op>'value' "
            "(op one of = != > >= < <= ~), joined by AND or OR",
            parameter="filter",
        ) from None
    try:
        built: Predicate = _Build(frozenset(fields)).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, QueryError):
            raise e.orig_exc from None
        raise
    return built


def _int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise QueryError(f"{name}: a whole number from {low} to {high}", parameter=name)
    return int(raw)


@dataclass(frozen=True, slots=True)
class Page:
    objects: list[Obj]
    total: int
    limit: int
    offset: int


def _sort_key(field: str) -> Callable[[Obj], tuple[int, Any]]:
    def key(obj: Obj) -> tuple[int, Any]:
        value = obj.get(field)
        if value is None or isinstance(value, (dict, list)):
            return (1, "")
        when = parse_time(value) if field in DATE_TIME_FIELDS else None
        return (0, when if when is not None else str(value).casefold())

    return key


def select_fields(obj: Obj, fields: Sequence[str] | None) -> Obj:
    return obj if fields is None else {k: obj[k] for k in fields if k in obj}


def parse_fields(params: dict[str, str], known: Iterable[str]) -> list[str] | None:
    raw = params.get("fields")
    if raw is None or not raw.strip():
        return None
    wanted = [f.strip() for f in raw.split(",") if f.strip()]
    allowed = set(known)
    for name in wanted:
        if name not in allowed:
            raise QueryError(f"fields: no field {name!r}", parameter="fields")
    return wanted


def run_query(objects: list[Obj], params: dict[str, str], known: Sequence[str]) -> Page:
    """Filter, sort and page a collection as the query parameters ask."""
    limit = _int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int(params, "offset", 0, 0, 10**9)
    selected = objects
    if params.get("filter"):
        predicate = parse_filter(params["filter"], known)
        selected = [o for o in objects if predicate(o)]
    sort = params.get("sort")
    order = (params.get("orderBy") or "asc").lower()
    if order not in ("asc", "desc"):
        raise QueryError("orderBy: asc or desc", parameter="orderBy")
    if sort:
        if sort not in known:
            raise QueryError(f"sort: no field {sort!r} to sort on", parameter="sort")
        selected = sorted(selected, key=_sort_key(sort), reverse=order == "desc")
    elif order == "desc":
        selected = list(reversed(selected))
    return Page(selected[offset : offset + limit], len(selected), limit, offset)
