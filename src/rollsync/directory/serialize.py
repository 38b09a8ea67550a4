"""Plain-JSON forms of records and plan actions, for SyncRun.actions and MatchCase.record."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from enum import Enum
from typing import Any

from rollsync.domain.actions import PersonAction
from rollsync.domain.records import Gender, PersonRecord, Role

# Exact types that are JSON as they are (a subclass, such as a str-valued Enum, is not).
_AS_IS = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    # The common shapes first (an audit event's changes: a flat dict, [old, new] pairs),
    # without a call per plain value: a first import writes 66,000 events.
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        return {
            k if type(k) is str else str(k): v if type(v) in _AS_IS else jsonable(v)
            for k, v in value.items()
        }
    if kind is list or kind is tuple:
        return [v if type(v) in _AS_IS else jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=str)  # stable JSON for equal sets
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def record_to_dict(record: PersonRecord) -> dict[str, Any]:
    return {
        f.name: jsonable(getattr(record, f.name))
        for f in dataclasses.fields(record)
        if getattr(record, f.name) not in (None, False, frozenset()) or f.name == "role"
    }


_DATE_FIELDS = {"date_of_birth", "start_date", "leaving_date"}


def record_from_dict(data: dict[str, Any]) -> PersonRecord:
    values: dict[str, Any] = dict(data)
    values["role"] = Role(values["role"])
    if values.get("gender"):
        values["gender"] = Gender(values["gender"])
    for name in _DATE_FIELDS & values.keys():
        values[name] = date.fromisoformat(values[name])
    if "unknown_fields" in values:
        values["unknown_fields"] = frozenset(values["unknown_fields"])
    return PersonRecord(**values)


def action_to_dict(action: PersonAction) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": action.kind.value,
        "role": action.role.value,
        "mis_id": action.mis_id,
        "reason": action.reason,
    }
    if action.record is not None:
        out["name"] = f"{action.record.legal_given_name} {action.record.legal_family_name}"
    for name in ("account_id", "allocation_id", "status", "from_school_urn", "username_base"):
        value = getattr(action, name)
        if value is not None:
            out[name] = value
    if action.changes:
        out["changes"] = {
            k: [jsonable(old), jsonable(new)] for k, (old, new) in action.changes.items()
        }
    if action.candidates:
        out["candidates"] = [
            {"account_id": c.account_id, "score": c.score, "explanation": c.explanation}
            for c in action.candidates
        ]
    if action.rekey:
        out["rekey"] = True
    if action.withheld:
        out["withheld"] = {
            k: [jsonable(old), jsonable(new)] for k, (old, new) in action.withheld.items()
        }
    return out
