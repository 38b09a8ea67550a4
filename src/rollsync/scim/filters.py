"""SCIM filters (RFC 7644 section 3.4.2.2), parsed by scim2-models, as ORM queries: a
filter narrows the queryset in the database, so `totalResults` and the pages are the
database's, never a Python pass over a whole table.

Every attribute a User or a Group shows can be filtered on; `and`, `or`, `not`, `pr`,
the nine comparison operators and value paths (`emails[type eq "work"]`,
`members[value eq "..."]`) all translate. Strings compare case-insensitively except
`id` and `externalId` (caseExact). An attribute the schema declares but rollsync never
fills (`nickName`, `title`, ...) has no value: `eq` and the others match nothing, `ne`
everything. An attribute drawn from an allocation (emails, phone numbers, externalId,
the enterprise extension) matches when one of the allocations the client sees matches."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from django.db.models import Exists, OuterRef, Q, QuerySet
from scim2_models import InvalidFilterException, ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)

from rollsync.directory import models as m
from rollsync.scim.resources import ROLE_LABEL, contact_type
from rollsync.scim.selectors import shown_name

NOTHING: Final = Q(pk__isnull=True)
EVERYTHING: Final = Q(pk__isnull=False)
Compare = Callable[[CompareOperator, Any], Q]
Op = CompareOperator

_LOOKUP: Final = {
    Op.eq: "exact",
    Op.co: "contains",
    Op.sw: "startswith",
    Op.ew: "endswith",
    Op.gt: "gt",
    Op.ge: "gte",
    Op.lt: "lt",
    Op.le: "lte",
}
_FOLDED: Final = frozenset({Op.eq, Op.co, Op.sw, Op.ew})


def _present(column: str) -> Q:
    return Q(**{f"{column}__isnull": False}) & ~Q(**{column: ""})


def text(column: str, *, case_exact: bool = False) -> Compare:
    """A string column compared as SCIM compares strings."""

    def compare(op: Op, value: Any) -> Q:
        if value is None:  # `eq null`: no value
            if op is Op.eq:
                return ~_present(column)
            if op is Op.ne:
                return _present(column)
            raise InvalidFilterException(detail=f"'{op.value} null' compares nothing")
        value = value if isinstance(value, str) else str(value)
        if op is Op.ne:
            return ~Q(**{f"{column}__{'exact' if case_exact else 'iexact'}": value})
        lookup = _LOOKUP[op]
        if op in _FOLDED and not case_exact:
            lookup = "i" + lookup
        return Q(**{f"{column}__{lookup}": value})

    return compare


def derived(column: str, values: dict[str, str]) -> Compare:
    """A value rollsync derives from a column with few values (a role's label): the
    comparison is made on the labels, the query on the column."""

    def compare(op: Op, value: Any) -> Q:
        hits = [key for key, label in values.items() if _holds(label, op, value)]
        return Q(**{f"{column}__in": hits})

    return compare


def _holds(actual: str, op: Op, expected: Any) -> bool:
    if expected is None:
        return op is Op.ne
    a, e = actual.casefold(), str(expected).casefold()
    return {
        Op.eq: a == e,
        Op.ne: a != e,
        Op.co: e in a,
        Op.sw: a.startswith(e),
        Op.ew: a.endswith(e),
        Op.gt: a > e,
        Op.ge: a >= e,
        Op.lt: a < e,
        Op.le: a <= e,
    }[op]


def moment(column: str, name: str) -> Compare:
    """A dateTime column (meta.created, meta.lastModified)."""

    def compare(op: Op, value: Any) -> Q:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidFilterException(
                detail=f'{name}: {value!r} is not a dateTime (e.g. "2026-09-07T18:00:00Z")'
            ) from None
        if when.tzinfo is None:
            raise InvalidFilterException(detail=f"{name}: {value!r} has no time zone")
        if op is Op.ne:
            return ~Q(**{column: when})
        if op in (Op.co, Op.sw, Op.ew):
            raise InvalidFilterException(
                detail=f"{name}: '{op.value}' does not apply to a dateTime"
            )
        return Q(**{f"{column}__{_LOOKUP[op]}": when})

    return compare


def identifier(column: str, parse: Callable[[str], Any], name: str) -> Compare:
    """A resource's `id`: equality only (caseExact); an id that cannot be one of ours
    matches nothing."""

    def compare(op: Op, value: Any) -> Q:
        if op not in (Op.eq, Op.ne):
            raise InvalidFilterException(detail=f"{name}: only 'eq' and 'ne' compare ids")
        try:
            found = Q(**{column: parse(str(value))})
        except (ValueError, TypeError, OverflowError):
            found = NOTHING
        return found if op is Op.eq else ~found

    return compare


@dataclass(frozen=True)
class Simple:
    """One value per resource."""

    compare: Compare
    present: Q


@dataclass(frozen=True)
class Entries:
    """A multi-valued attribute whose entries are rows of another table: `within` lifts
    a condition on those rows to the resource; `exists` is the condition for a row to
    be an entry at all."""

    within: Callable[[Q], Q]
    exists: Q
    subs: dict[str, Simple] = field(default_factory=dict)


Attribute = Simple | Entries
_CORE: Final = "urn:ietf:params:scim:schemas:core:2.0:"


def attribute_key(urn: str) -> str:
    """`urn:...:core:2.0:User:name.givenName` -> `name.givenname`; an extension keeps
    its URN."""
    low = urn.lower()
    for kind in ("user:", "group:"):
        if low.startswith(_CORE + kind):
            return low[len(_CORE + kind) :]
    return low


def constant(value: str) -> Compare:
    def compare(op: Op, expected: Any) -> Q:
        return EVERYTHING if _holds(value, op, expected) else NOTHING

    return compare


def _split(urn: str) -> tuple[str, str]:
    """`name.givenname` -> (`name`, `givenname`); an extension's URN is kept on the head."""
    key = attribute_key(urn)
    prefix, colon, attr = key.rpartition(":")
    head, _, sub = attr.partition(".")
    return prefix + colon + head, sub


class _Logic(FilterVisitor[Q]):
    def visit_logical_expr(self, node: LogicalExpr) -> Q:
        parts = [self.visit(term) for term in node.terms]
        out = parts[0]
        for part in parts[1:]:
            out = (out & part) if node.op is LogicalOperator.and_ else (out | part)
        return out

    def visit_not(self, node: Not) -> Q:
        return ~self.visit(node.expr)


def _absent(op: Op) -> Q:
    """A comparison with an attribute that has no value."""
    return EVERYTHING if op is Op.ne else NOTHING


class _EntryToQ(_Logic):
    """Inside a value path: conditions on one entry (one row)."""

    def __init__(self, name: str, subs: dict[str, Simple]) -> None:
        self.name, self.subs = name, subs

    def visit_comparison(self, node: Comparison) -> Q:
        sub = self.subs.get(node.attr_path.attr.lower())
        return _absent(node.op) if sub is None else sub.compare(node.op, node.value)

    def visit_present(self, node: Present) -> Q:
        sub = self.subs.get(node.attr_path.attr.lower())
        return NOTHING if sub is None else sub.present

    def visit_value_path(self, node: ValuePath) -> Q:
        raise InvalidFilterException(detail=f"{self.name}: a value path cannot nest another")


class _ToQ(_Logic):
    def __init__(self, bound: ScimFilter[Any], attributes: dict[str, Attribute]) -> None:
        self.bound, self.attributes = bound, attributes

    def _find(self, attr_path: AttrPath, *, comparison: bool) -> tuple[Attribute | None, str]:
        resolve = self.bound.resolve_comparison if comparison else self.bound.resolve
        binding = resolve(attr_path, strict=False)
        if binding is None:  # not an attribute of this resource type: RFC 7644 3.4.2.1
            return None, ""
        whole = self.attributes.get(attribute_key(binding.urn))
        if whole is not None:
            return whole, ""
        head, sub = _split(binding.urn)
        return self.attributes.get(head), sub

    def visit_comparison(self, node: Comparison) -> Q:
        attr, sub = self._find(node.attr_path, comparison=True)
        if isinstance(attr, Simple):
            return attr.compare(node.op, node.value)
        if isinstance(attr, Entries) and sub in attr.subs:
            return attr.within(attr.exists & attr.subs[sub].compare(node.op, node.value))
        return _absent(node.op)

    def visit_present(self, node: Present) -> Q:
        attr, sub = self._find(node.attr_path, comparison=False)
        if isinstance(attr, Simple):
            return attr.present
        if isinstance(attr, Entries):
            if not sub:
                return attr.within(attr.exists)
            if sub in attr.subs:
                return attr.within(attr.exists & attr.subs[sub].present)
        return NOTHING

    def visit_value_path(self, node: ValuePath) -> Q:
        attr, _ = self._find(node.attr_path, comparison=False)
        if not isinstance(attr, Entries):
            return NOTHING  # a multi-valued attribute rollsync never fills
        inner = _EntryToQ(str(node.attr_path), attr.subs).visit(node.val_filter)
        return attr.within(attr.exists & inner)


_ENTERPRISE: Final = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:"
_CONTACT_TYPES: Final = {role: contact_type(role) for role in ROLE_LABEL}


def _user_attributes(allocations: QuerySet[m.Allocation]) -> dict[str, Attribute]:
    def via(q: Q) -> Q:  # one of the account's allocations the client sees matches
        return Q(Exists(allocations.filter(q, account=OuterRef("pk"))))

    def through(compare: Compare) -> Compare:
        return lambda op, value: via(compare(op, value))

    def active(op: Op, value: Any) -> Q:
        if not isinstance(value, bool):
            raise InvalidFilterException(detail=f"active: {value!r} is not true or false")
        on = Q(status="active") & via(Q(status="active"))
        return on if (value is (op is Op.eq)) else ~on

    with_mis = allocations.exclude(mis_id="")

    def employee_number(op: Op, value: Any) -> Q:
        by_mis = Q(Exists(with_mis.filter(text("mis_id")(op, value), account=OuterRef("pk"))))
        no_mis = ~Q(Exists(with_mis.filter(account=OuterRef("pk"))))
        return by_mis | (text("username")(op, value) & no_mis)

    def department(op: Op, value: Any) -> Q:
        year = text("year_group")(op, value)
        return via(year | (~_present("year_group") & derived("role", ROLE_LABEL)(op, value)))

    email, phone = _present("email"), _present("phone")
    return {
        "id": Simple(identifier("uid", uuid.UUID, "id"), EVERYTHING),
        "externalid": Simple(through(text("mis_id", case_exact=True)), via(_present("mis_id"))),
        "username": Simple(text("username"), EVERYTHING),
        "name.givenname": Simple(text("scim_given"), EVERYTHING),
        "name.familyname": Simple(text("scim_family"), EVERYTHING),
        "name.middlename": Simple(text("middle_names"), _present("middle_names")),
        "name.formatted": Simple(text("scim_display"), EVERYTHING),
        "displayname": Simple(text("scim_display"), EVERYTHING),
        "usertype": Simple(derived("role", ROLE_LABEL), EVERYTHING),
        "active": Simple(active, EVERYTHING),
        "emails": Entries(
            via,
            email,
            {
                "value": Simple(text("email"), email),
                "type": Simple(derived("role", _CONTACT_TYPES), email),
            },
        ),
        "phonenumbers": Entries(
            via,
            phone,
            {
                "value": Simple(text("phone"), phone),
                "type": Simple(derived("role", _CONTACT_TYPES), phone),
            },
        ),
        "meta.created": Simple(moment("created_at", "meta.created"), EVERYTHING),
        "meta.lastmodified": Simple(moment("scim_last_modified", "meta.lastModified"), EVERYTHING),
        "meta.resourcetype": Simple(constant("User"), EVERYTHING),
        _ENTERPRISE + "employeenumber": Simple(employee_number, EVERYTHING),
        _ENTERPRISE + "organization": Simple(through(text("school__name")), EVERYTHING),
        _ENTERPRISE + "department": Simple(department, EVERYTHING),
    }


def _group_attributes() -> dict[str, Attribute]:
    live = m.GroupMembership.objects.filter(ended_at__isnull=True).annotate(
        scim_display=shown_name("account__")
    )

    def via(q: Q) -> Q:  # one of the group's live memberships matches
        return Q(Exists(live.filter(q, group=OuterRef("pk"))))

    return {
        "id": Simple(identifier("pk", int, "id"), EVERYTHING),
        "externalid": Simple(text("mis_id", case_exact=True), EVERYTHING),
        "displayname": Simple(text("name"), EVERYTHING),
        "members": Entries(
            via,
            EVERYTHING,
            {
                "value": Simple(identifier("account__uid", uuid.UUID, "members.value"), EVERYTHING),
                "display": Simple(text("scim_display"), EVERYTHING),
                "type": Simple(constant("User"), EVERYTHING),
            },
        ),
        "meta.lastmodified": Simple(moment("scim_last_modified", "meta.lastModified"), EVERYTHING),
        "meta.resourcetype": Simple(constant("Group"), EVERYTHING),
    }


def users_q(scim_filter: str, model: type[Any], allocations: QuerySet[m.Allocation]) -> Q:
    """The filter as a condition on `selectors.scim_users` (its annotations)."""
    bound = ScimFilter[model](scim_filter)  # type: ignore[valid-type]
    return _ToQ(bound, _user_attributes(allocations)).visit(bound.ast)


def groups_q(scim_filter: str, model: type[Any]) -> Q:
    """The filter as a condition on `selectors.scim_groups`."""
    bound = ScimFilter[model](scim_filter)  # type: ignore[valid-type]
    return _ToQ(bound, _group_attributes()).visit(bound.ast)
