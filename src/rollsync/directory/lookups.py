"""`field__any_of=values`: `field__in=values`, sent to PostgreSQL as one array.

Django writes `IN (%s, %s, …)` with a placeholder a value; a first import asks about
thousands of names, usernames and dates at once, and Django preparing each placeholder,
psycopg splitting the statement at each one, and the server parsing each literal cost
more than the look-ups themselves (docs/performance.md, "Look-ups by array"). On
PostgreSQL this lookup sends `= ANY(%s::type[])` with the values as one parameter (the
same plan: PostgreSQL reads `IN (…)` as `= ANY(ARRAY[…])`); elsewhere it is `in`, so
SQLite's bound on parameters still applies and callers slice as they did.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import models
from django.db.models import Field, ForeignObject
from django.db.models.lookups import In

# Fields whose preparation of a value of these exact types gives the value back
# unchanged, for the lookup and for the database (`get_prep_value`,
# `get_db_prep_value`): such values are passed on as they are, not prepared one by one
# (a first import's look-up of 48,000 usernames spent a third of its time there).
_AS_THEY_ARE: dict[type[Field], frozenset[type]] = {
    models.CharField: frozenset({str}),
    models.TextField: frozenset({str}),
    models.IntegerField: frozenset({int}),
    models.BigIntegerField: frozenset({int}),
    models.AutoField: frozenset({int}),
    models.BigAutoField: frozenset({int}),
    models.DateField: frozenset({date}),
}


def _as_they_are(field: Any, values: Any) -> bool:
    """Whether `field` (a relation: its target's) prepares each of `values` to itself."""
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    kinds = _AS_THEY_ARE.get(type(field))
    return kinds is not None and set(map(type, values)) <= kinds | {type(None)}


@Field.register_lookup
class AnyOf(In):
    """The values are plain values (keys, not model objects, for a foreign key)."""

    lookup_name = "any_of"
    # Set by `get_prep_lookup`: the values need no preparation, for the lookup nor for
    # the database (`as_postgresql` need not ask again).
    as_they_are = False

    def get_prep_lookup(self) -> Any:
        if (
            self.prepare_rhs
            and isinstance(self.rhs, list | tuple | set | frozenset)
            and _as_they_are(self.lhs.output_field, self.rhs)
        ):
            self.as_they_are = True
            return list(self.rhs)
        return super().get_prep_lookup()

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        if not self.rhs_is_direct_value():
            return self.as_sql(compiler, connection)  # a subquery: as `in` writes it
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        # As `in` does: NULL is never equal to anything, and no values match no row.
        values = list(dict.fromkeys(v for v in self.rhs if v is not None))
        if not values:
            raise EmptyResultSet
        prepared = (
            values
            if self.as_they_are
            else [field.get_db_prep_value(v, connection, prepared=True) for v in values]
        )
        cast = field.db_type(connection)
        return f"{lhs} = ANY(%s::{cast}[])", (*lhs_params, prepared)


# A relation's lookups are its own (`ForeignObject.get_class_lookups`): `account_id__any_of`.
ForeignObject.register_lookup(AnyOf)
