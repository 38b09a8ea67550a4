"""The product has one matcher: the engine (`planning.EngineMatcher`). The first,
rule-based matcher is a yardstick in bench/, and no product path picks another."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from rollsync import planning
from rollsync.planning import EngineMatcher, planner

SRC = Path(__file__).resolve().parents[2] / "src" / "rollsync"


def test_the_only_matcher_in_src_is_the_engine() -> None:
    matchers = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                methods = {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
                if "match" in methods and "Protocol" not in ast.unparse(node):
                    matchers.append(f"{path.relative_to(SRC)}:{node.name}")
    assert matchers == ["planning/engine_matcher.py:EngineMatcher"]
    assert not hasattr(planning, "DeterministicMatcher")


def test_the_planner_defaults_to_the_engine_and_no_door_passes_another() -> None:
    assert inspect.signature(planner.plan).parameters["matcher"].default is None
    assert "matcher = EngineMatcher()" in inspect.getsource(planner)
    assert EngineMatcher.__module__ == "rollsync.planning.engine_matcher"
    # Every product call of plan() leaves the matcher to the planner.
    calls = []
    for path in sorted(SRC.rglob("*.py")):
        if path.relative_to(SRC).parts[0] == "planning":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("plan", "planning.plan"):
                calls.append((str(path.relative_to(SRC)), [k.arg for k in node.keywords]))
    assert calls, "the scan found no call of plan()"
    assert all("matcher" not in keywords for _, keywords in calls), calls
