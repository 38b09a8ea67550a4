"""The agent stands alone: no Django, no rollsync, only its three dependencies and the
standard library."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import rollsync_agent

SRC = Path(rollsync_agent.__file__).resolve().parent
ALLOWED = {"httpx", "lxml", "keyring", "certifi", "filelock", "rollsync_agent"}


def _modules() -> list[str]:
    return sorted(f"rollsync_agent.{p.stem}" for p in SRC.glob("*.py") if p.stem != "__main__")


def test_imports_only_the_stdlib_and_its_dependencies() -> None:
    assert SRC.parent.name == "src" and SRC.parent.parent.name == "agent"
    seen: dict[str, set[str]] = {}
    for path in SRC.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names:
                    seen.setdefault(top, set()).add(path.name)
    assert set(seen) <= ALLOWED, seen
    assert {"httpx", "lxml", "keyring"} <= set(seen)


def test_loading_every_module_loads_no_django_nor_rollsync() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for m in {_modules()!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted({k.split('.')[0] for k in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert "rollsync_agent" in loaded and "httpx" in loaded
    assert not loaded & {"django", "rollsync", "ninja"}
