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


def _tasks_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "rollsync.directory.tasks":
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "rollsync.directory":
            out += ["tasks" for a in node.names if a.name == "tasks"]
    return out


def test_the_queue_is_reached_only_through_services_and_selectors() -> None:
    """Views, endpoints and commands queue work through a service (`upload_receive`,
    `run_force`, `run_approve_queue`) and read it through a selector; only the worker
    command starts the worker (and `rollsync serve --worker` runs one in a thread), and
    the API's presenter names the status type."""
    allowed = {
        "cli.py": ["worker_main"],
        "web/serve.py": ["tasks"],
        "api/present.py": ["TaskStatus"],
        "api/selectors.py": ["TaskNotFound", "TaskStatus", "task_status"],
        "web/selectors.py": ["tasks"],
    }
    found = {
        path.relative_to(SRC).as_posix(): names
        for path in DOORS
        if (names := sorted(_tasks_imports(path)))
    }
    assert found == allowed
