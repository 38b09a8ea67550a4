"""Many new rows of one table at once: `bulk_create`'s rows, by COPY on PostgreSQL.

A first import writes some 130,000 rows (accounts, places, memberships and their audit
events). Through `bulk_create` on PostgreSQL most of its CPU went to model objects, to
Django building each INSERT (a value prepared per field and row) and to the driver
spelling every value out inside the SQL text (Django binds on the client); COPY sends
the same values as rows, converted by the driver's C code. Elsewhere (SQLite) the rows
go through `bulk_create` as before. The rows are the same either way: a column not
given holds what a new model object would (its default), and an `auto_now` or
`auto_now_add` column the time it is written, as `bulk_create` stamps it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from datetime import date, datetime
from operator import itemgetter
from typing import Any

import orjson
from django.db import connection, models
from django.db.backends.utils import CursorDebugWrapper
from django.utils import timezone


def copying() -> bool:
    """Whether new rows go by COPY here (PostgreSQL), not `bulk_create`."""
    return connection.vendor == "postgresql"


def insert_rows(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    batch_size: int,
    returning: bool = False,
) -> list[int]:
    """One new row per mapping, as `bulk_create([model(**row), ...])` would write it
    (keys: field or attribute names, `school` or `school_id`). With `returning`, the
    new rows' keys in the order of `rows` (as `bulk_create` sets them); else []."""
    if not rows:
        return []
    if not copying():
        objs = [model(**row) for row in rows]
        model._default_manager.bulk_create(objs, batch_size=batch_size)
        return [obj.pk for obj in objs] if returning else []
    return _copy(model, rows, None, returning=returning)


def copy_rows(
    model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """PostgreSQL only (`copying`): one new row per sequence of values for `fields`
    (attribute names), in that order, written as given, a stamped column too; the
    other columns hold their defaults or, stamped, the time of the write."""
    if rows:
        _copy(model, rows, list(fields), returning=False)


def insert_objects(objs: Sequence[models.Model], *, batch_size: int) -> None:
    """`bulk_create` of model objects of one model, for callers that do not read their
    keys back: on PostgreSQL the objects are left as saved (`_state.adding` false, their
    `auto_now` columns stamped, as `bulk_create` leaves them) but with no key."""
    if not objs:
        return
    model = type(objs[0])
    if not copying():
        model._default_manager.bulk_create(objs, batch_size=batch_size)
        return
    pk = model._meta.pk
    fields = [f for f in model._meta.concrete_fields if f is not pk]
    stamped = [(f.attname, stamp) for f in fields if (stamp := _stamp(f)) is not None]
    related = [f for f in fields if f.is_relation]
    names = [f.attname for f in fields]
    rows = []
    times = [(name, stamp()) for name, stamp in stamped]  # one statement: one time
    for obj in objs:
        # a related object given before it was saved: its key, as bulk_create takes it
        if any(getattr(obj, f.attname) is None and f.is_cached(obj) for f in related):
            obj._prepare_related_fields_for_save(operation_name="bulk_create")
        for name, time in times:
            setattr(obj, name, time)
        rows.append([getattr(obj, name) for name in names])
    _copy(model, rows, names, returning=False)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


def _stamp(field: Any) -> Callable[[], Any] | None:
    """What an `auto_now`/`auto_now_add` column holds when a row is written (None: not
    such a column), as the field's `pre_save` sets it."""
    if not (getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)):
        return None
    return timezone.now if isinstance(field, models.DateTimeField) else date.today


# Values the driver writes as Django would prepare them (no conversion needed), by the
# field's kind (a foreign key's by its target's).
_PLAIN: tuple[tuple[type, frozenset[type]], ...] = (
    (models.CharField, frozenset({str})),
    (models.TextField, frozenset({str})),
    (models.IntegerField, frozenset({int})),
    (models.BooleanField, frozenset({bool})),
    (models.UUIDField, frozenset({uuid.UUID})),
)


def _converter(field: Any) -> tuple[frozenset[type], Callable[[Any], Any]]:
    """How one column's values reach the driver: the exact types passed on as they are
    (as Django would pass them unchanged; None too), and the conversion of any other
    value, as the field's own preparation (`get_db_prep_save`) makes it."""

    def prepare(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    target = field.target_field if isinstance(field, models.ForeignKey) else field
    if isinstance(target, models.JSONField):  # what get_db_prep_save makes of an object
        adapt, encoder = connection.ops.adapt_json_value, target.encoder
        if encoder is None:
            return frozenset(), lambda v: _json(v, adapt) if type(v) in (dict, list) else prepare(v)
        return frozenset(), lambda v: adapt(v, encoder) if type(v) in (dict, list) else prepare(v)
    if isinstance(target, models.DateTimeField):  # aware: unchanged; naive: made aware
        return (
            frozenset(),
            lambda v: v if type(v) is datetime and v.tzinfo is not None else prepare(v),
        )
    if isinstance(target, models.DateField):
        return frozenset({date}), prepare
    for kind, types in _PLAIN:
        if isinstance(target, kind):
            return types, prepare
    return frozenset(), prepare


# orjson writes the JSON values json.dumps writes (the jsonb stored is the same), about
# ten times faster: a first import's 66,000 audit events spent 0.2 s of CPU in json.dumps.
# A value it would write otherwise than json.dumps (a date, a dataclass, a subclass of
# str, an integer beyond 64 bits, a key that is not text) raises here and goes the old
# way, so it is written, or refused, as before (decision 0110).
_AS_JSON_DUMPS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _json(value: Any, adapt: Callable[[Any, Any], Any]) -> Any:
    """A JSONField's dict or list as COPY's text of it: orjson's, else Django's way."""
    try:
        return orjson.dumps(value, option=_AS_JSON_DUMPS).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return adapt(value, None)


def _copy(
    model: type[models.Model],
    rows: Sequence[Any],
    fields: list[str] | None,
    *,
    returning: bool,
) -> list[int]:
    """COPY `rows`: sequences of values for `fields`, or (`fields` None) mappings by
    field or attribute name, whose stamped columns take the time of the write as
    `pre_save` would. `returning`: keys taken from the table's sequence first, in the
    order of `rows`."""
    opts = model._meta
    pk = opts.pk
    assert pk is not None
    by_name = {f.attname: f for f in opts.concrete_fields}
    given = [by_name[name] for name in fields] if fields is not None else []
    rest = [f for f in opts.concrete_fields if f is not pk and f not in given]
    # Each other column: by field or attribute name from a mapping, else the default
    # a new object holds, or the time of the write for a stamped column (one time for
    # the statement's rows, not a call a row).
    fill = [
        (
            f.name,
            f.attname,
            f.target_field.attname if f.is_relation else None,
            (stamp(),) if (stamp := _stamp(f)) is not None else None,
            f.get_default,
        )
        for f in rest
    ]
    columns = ([pk] if returning else []) + given + rest
    kept, prepared = zip(*(_converter(f) for f in columns), strict=True)
    keys: list[int] = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if returning:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [quote(opts.db_table), pk.column, len(rows)],
            )
            keys = sorted(key for (key,) in cursor.fetchall())
        statement = "COPY {} ({}) FROM STDIN".format(
            quote(opts.db_table), ", ".join(quote(f.column) for f in columns)
        )
        # Every row is made before the COPY starts: while it runs the server waits for
        # rows, and a session cut off then is not idle, so no timeout of its own ends it
        # (docs/operations.md, "Workers on several hosts"); a value that cannot be
        # prepared fails here, before anything is sent.
        by_column = ([keys] if returning else []) + _columns(rows, fields, fill)
        # Prepared a column at a time: a column whose values are all of the types the
        # driver takes as they are (most) is passed on whole.
        for at, (values, ok, prepare) in enumerate(zip(by_column, kept, prepared, strict=True)):
            types = set(map(type, values))
            if types <= ok | _NONE:
                continue
            if (
                types <= _TIME_OR_NONE
                and isinstance(columns[at], models.DateTimeField)
                and all(v.tzinfo is not None for v in set(values) - {None})
            ):
                continue  # aware times, as they are (a statement's rows share a few)
            by_column[at] = tuple(v if v is None or type(v) in ok else prepare(v) for v in values)
        ready = zip(*by_column, strict=True)
        logged = (
            cursor.debug_sql(statement) if isinstance(cursor, CursorDebugWrapper) else nullcontext()
        )
        connection.validate_no_broken_transaction()
        with logged, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
            write = copy.write_row
            for values in ready:
                write(values)
    return keys


_NONE = frozenset({type(None)})
_TIME_OR_NONE = frozenset({datetime, type(None)})


def _columns(
    rows: Sequence[Any], fields: list[str] | None, fill: list[tuple[Any, ...]]
) -> list[Sequence[Any]]:
    """`rows` a column at a time, `fields`' columns then `fill`'s (`_copy`), each column
    taken from every row at once: sequences for `fields` by transposing them, mappings
    by name, else by attribute name, else the column's default; a column some mappings
    name and others do not, row by row."""
    count = len(rows)
    if fields is not None:
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
        shapes: set[frozenset[str]] = {frozenset()}
    else:
        columns = []
        shapes = {frozenset(row) for row in rows}
    for name, attname, target, stamped, default in fill:
        if stamped is not None:
            columns.append([stamped[0]] * count)
        elif all(name in shape for shape in shapes):
            values = list(map(itemgetter(name), rows))
            if target is not None:  # related objects
                values = [v if v is None else getattr(v, target) for v in values]
            columns.append(values)
        elif all(attname in shape for shape in shapes):
            columns.append(list(map(itemgetter(attname), rows)))
        elif not any(name in shape or attname in shape for shape in shapes):
            columns.append([default() for _ in range(count)])
        else:
            columns.append([_value(row, name, attname, target, default) for row in rows])
    return columns


def _value(row: Mapping[str, Any], name: str, attname: str, target: Any, default: Any) -> Any:
    """One mapping's value for a column: by field name (a related object: its key), by
    attribute name, or the column's default."""
    if name in row:
        value = row[name]
        return getattr(value, target) if target is not None and value is not None else value
    return row[attname] if attname in row else default()
