"""Every door (web views, JSON API endpoints, the command) writes only through
`directory/services` (or the API app's token service): no model write of its own.
This scans their source for the ORM's write calls so it stays true."""

from __future__ import annotations

import ast
from pathlib import Path

import rollsync

SRC = Path(rollsync.__file__).parent
DOORS = [
    *sorted((SRC / "web").rglob("*.py")),
    *sorted((SRC / "api").rglob("*.py")),
    SRC / "cli.py",
    SRC / "cli_support.py",
]
# Modules of a door that are services themselves (writes allowed, audited there).
SERVICES = {SRC / "api" / "services.py"}
WRITES = {
    "save",
    "create",
    "update",
    "delete",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
    "select_for_update",
    "raw",
}
# Calls named like a write that are not model writes, by (file, receiver source).
NOT_MODEL_WRITES = {
    ("web/views/auth.py", "image"),  # the QR code's SVG written to a buffer
}


def _hits(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(SRC).as_posix()
    out = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in WRITES:
            continue
        receiver = ast.unparse(node.func.value)
        if (rel, receiver) in NOT_MODEL_WRITES or receiver == "router":  # @router.delete
            continue
        out.append(f"{rel}:{node.lineno}: {receiver}.{node.func.attr}(...)")
    return out


def test_the_doors_hold_no_write_of_their_own() -> None:
    doors = [p for p in DOORS if p not in SERVICES and "migrations" not in p.parts]
    assert len(doors) > 20  # the scan sees the doors (web views, endpoints, commands)
    hits = [hit for path in doors for hit in _hits(path)]
    assert hits == []


def test_the_scan_finds_a_write() -> None:
    """The scan itself works: a view that saved a model would be caught."""
    probe = SRC / "web" / "views" / "users.py"
    source = probe.read_text() + "\n\ndef _probe(a):\n    a.school.save(update_fields=['mis'])\n"
    tree = ast.parse(source)
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in WRITES
    ]
    assert [ast.unparse(c.func.value) for c in calls] == ["a.school"]


def test_web_actions_is_gone() -> None:
    """The web app's own writes were folded into the entity services."""
    assert not (SRC / "directory" / "services" / "web_actions.py").exists()
