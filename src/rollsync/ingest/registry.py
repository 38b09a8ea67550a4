"""The connector registry: which parser reads which upload format.

Every connector turns one upload's bytes into one `ImportBatch` for one school.
The four standard-file formats register themselves in `rollsync.ingest`; an MIS
connector adds its own format with `register` and is then reachable through
`parse_upload` like the others.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from rollsync.domain.records import ImportBatch
from rollsync.domain.state import SchoolRef


class Connector(Protocol):
    """Reads one format. `parse` never raises for bad input: a refused file is a
    batch whose errors include one with row=None (see `ImportBatch.fatal`)."""

    @property
    def format(self) -> str: ...

    @property
    def needs_report(self) -> bool:
        """Whether the caller must say which report the upload carries."""
        ...

    def parse(
        self, payload: bytes, *, school: SchoolRef, report: str | None, today: date | None = None
    ) -> ImportBatch:
        """`today` is the date dates of birth are checked against (None: the real date)."""
        ...


_CONNECTORS: dict[str, Connector] = {}


def register(connector: Connector) -> Connector:
    """Add a connector; a format can be registered once."""
    if connector.format in _CONNECTORS:
        raise ValueError(f"format {connector.format!r} is already registered")
    _CONNECTORS[connector.format] = connector
    return connector


def connector_for(fmt: str) -> Connector:
    try:
        return _CONNECTORS[fmt]
    except KeyError:
        known = ", ".join(_CONNECTORS)
        raise ValueError(f"unknown upload format {fmt!r}; known formats: {known}") from None


def registered_formats() -> tuple[str, ...]:
    return tuple(_CONNECTORS)
