"""The safety properties of issue 7, checked on one run against what the export stated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.safety.exports import IDENTITY_FIELDS, SchoolExports
from tests.safety.mutations import Oracle


@dataclass
class Outcome:
    status: str
    errors: list[dict[str, Any]]
    counts: dict[str, int]
    after: dict[str, Any]
    violations: dict[str, list[str]] = field(default_factory=dict)


def reported_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors the run reports, notices (reports not accepted, and the like) aside."""
    return [e for e in errors if e.get("source") != "notice"]


def check(
    *,
    ex: SchoolExports,
    oracle: Oracle,
    people: dict[int, str],
    before: dict[str, Any],
    outcome: Outcome,
    diff_lines: list[str],
) -> dict[str, list[str]]:
    """Violations of each property: a (only plain unallocations and identity changes),
    b (errors + unallocation is held), c (failed/held change nothing), d (no one gets
    another's identity)."""
    out: dict[str, list[str]] = {"a": [], "b": [], "c": [], "d": []}
    applied = outcome.status == "applied"
    if outcome.status in ("failed", "held", "preview"):
        out["c"] = diff_lines[:20]
    unallocated = _unallocations(before, outcome.after)
    if applied and reported_errors(outcome.errors) and unallocated:
        out["b"].append(
            f"applied with {len(reported_errors(outcome.errors))} errors while unallocating "
            f"{len(unallocated)}: {reported_errors(outcome.errors)[:3]}"
        )
    for account_id, role in unallocated:
        person = people.get(account_id)
        if person is None or not oracle.allows_unallocation(person, role, ex):
            name = _name(before, account_id)
            out["a"].append(f"unallocated {role} {name} (account {account_id}) not plainly gone")
    others = {(p.legal_given, p.legal_family, p.dob): pid for pid, p in ex.people.items()}
    foreign = {(g, f) for g, f, _ in oracle.foreign}
    for account_id, old in before["accounts"].items():
        new = outcome.after["accounts"].get(account_id)
        if new is None:
            out["a"].append(f"account {account_id} deleted")
            continue
        person = people.get(account_id)
        for fld in IDENTITY_FIELDS:
            if (old[fld] or None) == (new[fld] or None):
                continue
            if person is None or not oracle.allows_change(person, fld, new[fld], ex):
                out["a"].append(
                    f"account {account_id} {fld}: {old[fld]!r} -> {new[fld]!r} not plainly stated"
                )
        ident = (new["legal_given_name"], new["legal_family_name"], new["date_of_birth"])
        if ident != (old["legal_given_name"], old["legal_family_name"], old["date_of_birth"]):
            owner = others.get(ident)
            if owner is not None and owner != person:
                out["d"].append(
                    f"account {account_id} ({_name(before, account_id)}) now {ident}, person {owner}"
                )
            elif (new["legal_given_name"], new["legal_family_name"]) in foreign and (
                person is None
                or (new["legal_given_name"], new["legal_family_name"])
                != (ex.people[person].legal_given, ex.people[person].legal_family)
            ):
                out["d"].append(
                    f"account {account_id} ({_name(before, account_id)}) took an imposter's name {ident}"
                )
    return out


def _unallocations(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[int, str]]:
    out = []
    for pk, old in before["allocations"].items():
        new = after["allocations"].get(pk)
        if old["status"] != "unallocated" and (new is None or new["status"] == "unallocated"):
            out.append((old["account_id"], old["role"]))
    return out


def _name(before: dict[str, Any], account_id: int) -> str:
    a = before["accounts"].get(account_id, {})
    return f"{a.get('legal_given_name')} {a.get('legal_family_name')}"
