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

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject
from django.db.models.lookups import In


@Field.register_lookup
class AnyOf(In):
    """The values are plain values (keys, not model objects, for a foreign key)."""

    lookup_name = "any_of"

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        if not self.rhs_is_direct_value():
            return self.as_sql(compiler, connection)  # a subquery: as `in` writes it
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        # As `in` does: NULL is never equal to anything, and no values match no row.
        values = list(dict.fromkeys(v for v in self.rhs if v is not None))
        if not values:
            raise EmptyResultSet
        prepared = [field.get_db_prep_value(v, connection, prepared=True) for v in values]
        cast = field.db_type(connection)
        return f"{lhs} = ANY(%s::{cast}[])", (*lhs_params, prepared)


# A relation's lookups are its own (`ForeignObject.get_class_lookups`): `account_id__any_of`.
ForeignObject.register_lookup(AnyOf)
