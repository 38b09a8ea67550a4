"""The connector registry: one registered class per vendor, reached by name."""

from __future__ import annotations

from .base import Connector

_CONNECTORS: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    """Class decorator: add a connector; a name can be registered once."""
    if cls.name in _CONNECTORS:
        raise ValueError(f"connector {cls.name!r} is already registered")
    _CONNECTORS[cls.name] = cls
    return cls


def connector_for(name: str) -> Connector:
    try:
        return _CONNECTORS[name]()
    except KeyError:
        known = ", ".join(_CONNECTORS) or "none"
        raise ValueError(f"unknown MIS connector {name!r}; known: {known}") from None


def registered_connectors() -> tuple[str, ...]:
    return tuple(_CONNECTORS)


def connector_class(name: str) -> type[Connector] | None:
    return _CONNECTORS.get(name)
