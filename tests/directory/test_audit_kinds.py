"""Audit event kinds are a closed set (`models.AuditKind`): the audit log refuses any
other, and every kind a module of src/ writes is listed (a static scan, so a new kind
cannot be written without being added there)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from rollsync.directory import models as m
from rollsync.directory.services.audit import AuditLog, UnknownAuditKind
from rollsync.directory.services.schools import school_add

SRC = Path(__file__).resolve().parents[2] / "src" / "rollsync"
PURE = ("domain", "ingest", "matching", "planning", "simulate", "connectors", "missim")


def _strings(node: ast.expr, function: ast.AST | None) -> tuple[set[str], list[str]]:
    """The string values an expression can take: a literal, either branch of `a if c
    else b`, or every string a local name is assigned in the enclosing function."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}, []
    if isinstance(node, ast.IfExp):
        a, bad_a = _strings(node.body, function)
        b, bad_b = _strings(node.orelse, function)
        return a | b, bad_a + bad_b
    if isinstance(node, ast.Name) and function is not None:
        found: set[str] = set()
        bad: list[str] = []
        for inner in ast.walk(function):
            if isinstance(inner, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == node.id for t in inner.targets
            ):
                values, unknown = _strings(inner.value, None)
                found |= values
                bad += unknown
        if found and not bad:
            return found, []
    return set(), [ast.unparse(node)]


def written_kinds() -> tuple[dict[str, list[str]], list[str]]:
    """Every audit kind src/ writes (`<log>.add(kind, reason, ...)`) or looks up
    (`action=` on AuditEvent queries), with where; and the places it cannot tell."""
    kinds: dict[str, list[str]] = {}
    unknown: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        # The pure packages cannot reach the audit log (import contracts), and their
        # `.add(a, b)` calls are other things' (graphs, counters).
        if "migrations" in path.parts or path.relative_to(SRC).parts[0] in PURE:
            continue
        tree = ast.parse(path.read_text())
        parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                parents[child] = parent
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
                continue
            exprs = []
            if call.func.attr == "add" and len(call.args) >= 2:
                exprs.append(call.args[0])  # AuditLog.add(kind, reason, ...)
            if call.func.attr in ("filter", "exclude", "get", "create") and (
                "AuditEvent" in ast.unparse(call.func)
            ):
                exprs += [k.value for k in call.keywords if k.arg == "action"]
            function: ast.AST | None = call
            while function is not None and not isinstance(
                function, ast.FunctionDef | ast.AsyncFunctionDef
            ):
                function = parents.get(function)
            for expr in exprs:
                values, bad = _strings(expr, function)
                where = f"{path.relative_to(SRC)}:{call.lineno}"
                for value in values:
                    kinds.setdefault(value, []).append(where)
                unknown += [f"{where} {b}" for b in bad]
    return kinds, unknown


def test_every_kind_written_in_src_is_listed() -> None:
    kinds, unknown = written_kinds()
    assert unknown == []
    assert len(kinds) >= 40  # the scan sees the services' writes (a blind scan finds none)
    missing = {kind: where for kind, where in kinds.items() if kind not in m.AuditKind.values}
    assert missing == {}
    # And the list holds nothing nobody writes.
    assert sorted(set(m.AuditKind.values) - set(kinds)) == []


def test_the_scan_sees_a_kind_that_is_not_listed(tmp_path: Path, monkeypatch: Any) -> None:
    fake = tmp_path / "rollsync"
    (fake / "directory").mkdir(parents=True)
    (fake / "directory" / "x.py").write_text(
        "def f(audit, flag):\n"
        "    kind = 'made_up_kind' if flag else 'account_created'\n"
        "    audit.add(kind, 'why')\n"
        "    audit.add('another_made_up', 'why')\n"
    )
    monkeypatch.setattr(f"{__name__}.SRC", fake)
    kinds, unknown = written_kinds()
    assert unknown == []
    assert sorted(kinds) == ["account_created", "another_made_up", "made_up_kind"]


def test_the_audit_log_refuses_an_unknown_kind(db: Any) -> None:
    school = school_add(urn="100001", la_code="202", estab="2001", name="A")
    before = m.AuditEvent.objects.count()
    with pytest.raises(UnknownAuditKind) as refused, transaction.atomic():
        log = AuditLog(actor="t", school=school)
        log.add("account_created", "fine")
        log.add("made_up_kind", "not fine")
        log.flush()
    assert str(refused.value) == (
        "unknown audit event kind 'made_up_kind': list it in rollsync.directory.models.AuditKind"
    )
    assert m.AuditEvent.objects.count() == before
    log = AuditLog(actor="t", school=school)
    log.add("account_created", "fine")
    assert log.flush() == 1


def test_the_kinds_are_the_field_s_choices() -> None:
    field = m.AuditEvent._meta.get_field("action")
    assert [value for value, _ in field.choices] == sorted(m.AuditKind.values)
