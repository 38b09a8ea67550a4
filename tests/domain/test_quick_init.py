"""`quick_init`: a frozen dataclass built by a written-out `__init__` is the same object
as one built by the dataclass's own, and stays frozen."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field
from datetime import date

import pytest

from rollsync.domain import actions, records, state
from rollsync.domain.quick import quick_init
from rollsync.ingest import roster
from rollsync.matching import compare, engine, subject
from rollsync.planning import index, matching


@dataclass(frozen=True, slots=True)
class Stock:
    name: str
    born: date | None = None
    tags: frozenset[str] = frozenset()
    seen: list[int] = field(default_factory=list, hash=False)


@quick_init
@dataclass(frozen=True, slots=True)
class Quick:
    name: str
    born: date | None = None
    tags: frozenset[str] = frozenset()
    seen: list[int] = field(default_factory=list, hash=False)


def _values(obj: object) -> dict[str, object]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("Ada",), {}),
        (("Ada", date(2015, 3, 1)), {}),
        (("Ada",), {"tags": frozenset({"x"}), "seen": [1, 2]}),
        ((), {"name": "Ada", "born": None, "tags": frozenset(), "seen": []}),
    ],
)
def test_the_same_fields_as_the_stock_init(args: tuple[object, ...], kwargs: dict[str, object]):
    quick, stock = Quick(*args, **kwargs), Stock(*args, **kwargs)  # type: ignore[arg-type]
    assert type(quick) is Quick
    assert _values(quick) == _values(stock)
    assert repr(quick) == repr(stock).replace("Stock", "Quick")


def test_a_default_factory_makes_a_new_value_each_time():
    first, second = Quick("Ada"), Quick("Bea")
    assert first.seen == [] and second.seen == []
    assert first.seen is not second.seen


def test_still_frozen_equal_hashable_and_copied():
    quick = Quick("Ada", date(2015, 3, 1), frozenset({"x"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.name = "Bea"  # type: ignore[misc]
    # Nor may it change class afterwards, as a stock one may not (the frozen check
    # refuses it, by a TypeError on a slots class).
    for obj, other in ((quick, Stock), (Stock("Ada"), Quick)):
        with pytest.raises(TypeError):
            obj.__class__ = other  # type: ignore[assignment]
    assert type(quick) is Quick and quick.name == "Ada"
    same = Quick("Ada", date(2015, 3, 1), frozenset({"x"}))
    assert quick == same and hash(quick) != hash(Quick("Bea", date(2015, 3, 1)))
    assert {quick: 1}[same] == 1
    assert quick != Stock("Ada", date(2015, 3, 1), frozenset({"x"}))
    for again in (pickle.loads(pickle.dumps(quick)), copy.copy(quick), copy.deepcopy(quick)):
        assert type(again) is Quick and again == quick
    renamed = dataclasses.replace(quick, name="Bea")
    assert type(renamed) is Quick and _values(renamed) == {**_values(quick), "name": "Bea"}


def test_a_subclass_is_built_by_the_stock_init_and_stays_itself():
    class Plain(Quick):  # no slots of its own: another layout
        pass

    @dataclass(frozen=True, slots=True)
    class More(Quick):  # its own dataclass __init__
        extra: int = 0

    plain, more = Plain("Ada", tags=frozenset({"x"})), More("Ada", extra=2)
    assert type(plain) is Plain and type(more) is More
    assert _values(plain) == _values(Quick("Ada", tags=frozenset({"x"})))
    assert plain.seen == [] and more.extra == 2 and more.name == "Ada"
    with pytest.raises(dataclasses.FrozenInstanceError):
        plain.name = "Bea"  # type: ignore[misc]


def test_wrong_arguments_are_refused_as_before():
    for call in (lambda: Quick(), lambda: Quick("Ada", nope=1), lambda: Quick(*"abcde")):
        with pytest.raises(TypeError):
            call()  # type: ignore[call-arg]
    assert inspect.signature(Quick) == inspect.signature(Stock)


def test_refuses_a_class_it_could_not_build_the_same():
    @dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class Derived:
        a: int
        b: int = field(init=False, default=0)

    @dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        a: int

    for cls in (NotFrozen, NoSlots, Checked, Derived, KeywordOnly):
        stock_init = cls.__init__
        with pytest.raises(TypeError):
            quick_init(cls)
        assert cls.__init__ is stock_init


# Every class the run builds by the thousand, built quickly: each is equal to the same
# values set by the stock way (field by field, on an empty object).
QUICK_CLASSES = [
    state.AccountState,
    state.AllocationState,
    records.PersonRecord,
    records.ContactLink,
    records.MembershipRecord,
    records.AttendanceMark,
    records.RowError,
    actions.PersonAction,
    actions.Candidate,
    index.Location,
    matching.Link,
    matching.Candidates,
    matching.New,
    subject.Subject,
    subject.Prepared,
    engine.FieldResult,
    engine.Scored,
    engine.Decision,
    compare.Comparison,
    roster.Assignment,
    roster.ContactPair,
]


@pytest.mark.parametrize("cls", QUICK_CLASSES, ids=lambda c: c.__name__)
def test_the_run_s_classes_are_built_quickly_and_the_same(cls: type):
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
    assert "__rs_become" in cls.__init__.__code__.co_names
    fields = dataclasses.fields(cls)
    values = [object() for _ in fields]  # any value will do: nothing checks them
    built = cls(*values)
    by_hand = object.__new__(cls)
    for f, value in zip(fields, values, strict=True):
        object.__setattr__(by_hand, f.name, value)
    assert type(built) is cls
    assert all(getattr(built, f.name) is v for f, v in zip(fields, values, strict=True))
    assert built == by_hand
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, fields[0].name, None)
