"""`field__any_of` (directory/lookups.py) finds exactly the rows `field__in` finds, for
every kind of value a run looks up by, and on PostgreSQL sends the values as one array
parameter: the statement is the same length however many values are asked about."""

from __future__ import annotations

import random
from datetime import date, datetime
from typing import Any

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from rollsync.directory import models as m

# Values a file can hold and SQL text must not be confused by.
_ODD = ["O'Neil", 'say "hi"', "a,b", "{x}", "back\\slash", "Zoë", "  padded ", "NULL", ""]


@pytest.fixture
def accounts(school: m.School) -> list[m.Account]:
    made = []
    for n, family in enumerate([*_ODD, "Khan", "Smith", "Jones"]):
        account = m.Account.objects.create(
            username=f"user{n}",
            role="contact" if n % 2 else "pupil",
            legal_given_name=f"Ann{n}",
            legal_family_name=family,
            date_of_birth=date(2015, 1, 1 + n) if n % 3 else None,
            upn=f"A{n:012d}" if n % 4 else None,
        )
        m.Allocation.objects.create(
            account=account, school=school, role=account.role, mis_id=f"M{n}", status="active"
        )
        made.append(account)
    return made


def _both(model: type[Any], field: str, values: Any) -> tuple[list[int], list[int]]:
    found = sorted(
        model.objects.filter(**{f"{field}__any_of": values}).values_list("pk", flat=True)
    )
    expected = sorted(model.objects.filter(**{f"{field}__in": values}).values_list("pk", flat=True))
    return found, expected


def test_any_of_finds_what_in_finds(accounts: list[m.Account]) -> None:
    pks = [a.pk for a in accounts]
    rng = random.Random(7)
    cases: list[tuple[type[Any], str, Any]] = [
        (m.Account, "legal_family_name", _ODD),
        (m.Account, "legal_family_name", ["Khan", None, "nobody"]),
        (m.Account, "legal_family_name", ["Khan", "Khan", "Smith"]),  # repeated
        (m.Account, "date_of_birth", [date(2015, 1, 2), date(2015, 1, 3), date(2020, 2, 29)]),
        (m.Account, "pk", pks[::2]),
        (m.Account, "upn", {"A000000000001", "A000000000002", "A000000000005"}),
        (m.Allocation, "account_id", pks[1::3]),
        (m.Allocation, "account__legal_family_name", ["Jones", "Zoë"]),
        (m.Allocation, "mis_id", ("M1", "M3", "m1")),  # case matters
        # Values the field must prepare first (passed on as they are only when each is
        # already what preparing makes of it): text for a key, a time for a date.
        (m.Account, "pk", [str(pks[0]), pks[1]]),
        (m.Allocation, "account_id", [str(pks[2])]),
        (m.Account, "date_of_birth", [datetime(2015, 1, 2, 10, 30), date(2015, 1, 3)]),
    ]
    for _ in range(20):
        family = rng.sample([a.legal_family_name for a in accounts], rng.randint(1, 6))
        cases.append((m.Account, "legal_family_name", family))
    for model, field, values in cases:
        found, expected = _both(model, field, values)
        assert found == expected, (field, values)
    # The cases find some rows, not none or all: else they would pass whatever it did.
    sizes = {len(_both(model, field, values)[0]) for model, field, values in cases}
    assert len(sizes - {0, len(pks)}) > 3
    assert _both(m.Account, "legal_family_name", _ODD)[0] == sorted(pks[: len(_ODD)])


def test_any_of_with_nothing_to_find_asks_nothing(accounts: list[m.Account]) -> None:
    with CaptureQueriesContext(connection) as queries:
        assert list(m.Account.objects.filter(username__any_of=[])) == []
        assert list(m.Account.objects.filter(username__any_of=[None])) == []
    assert queries.captured_queries == []
    # Or'd with a clause that finds: that clause alone, as `in` does.
    either = m.Account.objects.filter(Q(username__any_of=[]) | Q(username="user1"))
    assert [a.username for a in either] == ["user1"]


def test_any_of_a_subquery_is_in(accounts: list[m.Account]) -> None:
    placed = m.Allocation.objects.filter(mis_id__in=["M0", "M4"]).values("account_id")
    found = m.Account.objects.filter(pk__any_of=placed)
    assert sorted(a.pk for a in found) == [accounts[0].pk, accounts[4].pk]


def test_any_of_is_one_parameter_on_postgresql(accounts: list[m.Account]) -> None:
    sent: list[tuple[str, Any]] = []

    def keep(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append((sql, params))
        return execute(sql, params, many, context)

    names = [f"name{i}" for i in range(900)]
    with connection.execute_wrapper(keep):
        list(m.Account.objects.filter(legal_family_name__any_of=names))
    ((sql, params),) = sent
    if connection.vendor == "postgresql":
        assert '"legal_family_name" = ANY(%s::varchar(' in sql and " IN (" not in sql
        assert sql.count("%s") == 1 and list(params) == [names]
    else:  # `in`, a parameter a value (SQLite bounds them: callers slice)
        assert " IN (" in sql and len(params) == 900
