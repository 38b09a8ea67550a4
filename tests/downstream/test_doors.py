"""The downstream doors (the OAuth token endpoint, the OneRoster views, the command)
hold no model write of their own: they write only through `downstream.services`."""

from __future__ import annotations

from pathlib import Path

import rollsync
from tests.doors.test_no_writes_outside_services import _hits

SRC = Path(rollsync.__file__).parent / "downstream"


def test_the_downstream_doors_hold_no_write() -> None:
    doors = [*sorted((SRC / "views").glob("*.py")), SRC / "commands.py", SRC / "oauth.py"]
    assert len(doors) >= 5
    assert [hit for path in doors for hit in _hits(path)] == []
