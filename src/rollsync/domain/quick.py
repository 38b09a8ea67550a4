"""`quick_init`: a frozen dataclass made as fast as a plain one.

A frozen dataclass's `__init__` sets each field with `object.__setattr__`, because its
own `__setattr__` refuses every write: about 0.3 µs a field, 6 µs for the 21 fields of
an `AllocationState` (measured), where a plain slots class stores them in 0.6 µs in
all. A night's run builds tens of thousands of them (a snapshot's accounts and places,
a parse's records and memberships, a plan's actions), so the frozen writes were a
tenth of a churn's CPU.

`quick_init` keeps the class as it is (frozen, its fields, equality, hash, repr,
pickling, `dataclasses.replace`) and gives it an `__init__` that fills the new object
as an instance of a plain twin: a class with the same slots in the same order, so the
two have the same layout and Python lets an object change between them. The object
becomes the twin only after its arguments are bound and its default factories have
run, and is the frozen class again before `__init__` returns: nothing between can
raise, and no one ever sees the twin.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def quick_init(cls: type[T]) -> type[T]:
    """Give the frozen slots dataclass `cls` the faster `__init__` (module docstring).
    Refuses a class it could not build the same: not a frozen slots dataclass, or with
    a `__post_init__`, a field left out of `__init__` or keyword-only fields."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen dataclass with slots")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or any(not f.init for f in fields):
        raise TypeError(f"{cls.__name__} has a __post_init__ or a field not in __init__")
    if any(f.kw_only for f in fields):
        raise TypeError(f"{cls.__name__} has keyword-only fields")
    # The same slots in the same order: the same layout, so the object may change class.
    twin = type(f"_{cls.__name__}Filling", (), {"__slots__": cls.__slots__})  # type: ignore[attr-defined]
    __init__ = _filling_init(cls, twin, fields)
    __init__.__doc__ = cls.__init__.__doc__
    __init__.__signature__ = inspect.signature(cls.__init__)  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


def _filling_init(
    cls: type[Any], twin: type[Any], fields: tuple[dataclasses.Field[Any], ...]
) -> Callable[..., None]:
    """An `__init__` with the dataclass's own parameters and defaults that makes the
    object a `twin`, stores each field as a plain slot, and makes it a `cls` again; an
    object of a subclass (another layout, and it must stay of its class) is given to the
    dataclass's own `__init__`. Written out and compiled, as `dataclasses` writes its
    own: passing `*args` on to another function cost as much as the frozen writes it
    saves on a small class."""
    env: dict[str, Any] = {
        "__rs_become": object.__setattr__,  # the frozen class refuses `obj.__class__ =`
        "__rs_twin": twin,
        "__rs_cls": cls,
        "__rs_stock": cls.__init__,
        "__rs_missing": dataclasses.MISSING,
    }
    params, made = [], []
    for f in fields:
        if f.default_factory is not dataclasses.MISSING:
            env[f"__rs_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=__rs_missing")
            made.append(f"if {f.name} is __rs_missing: {f.name} = __rs_factory_{f.name}()")
        elif f.default is not dataclasses.MISSING:
            env[f"__rs_default_{f.name}"] = f.default
            params.append(f"{f.name}=__rs_default_{f.name}")
        else:
            params.append(f.name)
    names = [f.name for f in fields]
    lines = [
        f"def __init__(__rs_self, {', '.join(params)}):",
        *(f"    {line}" for line in made),
        "    if type(__rs_self) is not __rs_cls:",
        f"        __rs_stock(__rs_self, {', '.join(names)})",
        "        return",
        "    __rs_become(__rs_self, '__class__', __rs_twin)",
        *(f"    __rs_self.{name} = {name}" for name in names),
        "    __rs_self.__class__ = __rs_cls",
    ]
    exec("\n".join(lines), env)  # our own text: the class's field names
    init: Callable[..., None] = env["__init__"]
    return init
