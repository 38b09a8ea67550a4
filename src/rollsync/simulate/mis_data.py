"""A school's day as its MIS holds it, vendor-neutral, for the MIS simulators
(`rollsync.missim`): every report the school could send, as one JSON file.

`simulate_region(..., mis_data=True)` writes `day-NN/<URN>/mis-data.json` beside the
exports (not in the manifest: no file upload carries it); each simulator turns it into
its vendor's shapes when asked. `dump_snapshot` / `load_snapshot` round-trip exactly.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from typing import Any

from rollsync.domain.records import Gender, GroupKind, MembershipRole, Role
from rollsync.simulate.model import Address
from rollsync.simulate.snapshot import (
    ExportGroup,
    ExportLink,
    ExportMark,
    ExportPerson,
    SchoolSnapshot,
)

MIS_DATA_FILE = "mis-data.json"


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (Role, Gender, GroupKind, MembershipRole)):
        return value.value
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def dump_snapshot(snap: SchoolSnapshot) -> bytes:
    return json.dumps(_plain(snap), indent=0, sort_keys=True).encode("utf-8")


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _person(d: dict[str, Any]) -> ExportPerson:
    address = Address(**d["address"]) if d.get("address") else None
    return ExportPerson(
        **{
            **d,
            "role": Role(d["role"]),
            "gender": Gender(d["gender"]),
            "dob": date.fromisoformat(d["dob"]),
            "start_date": _date(d.get("start_date")),
            "leaving_date": _date(d.get("leaving_date")),
            "address": address,
        }
    )


def load_snapshot(payload: bytes) -> SchoolSnapshot:
    d = json.loads(payload)
    return SchoolSnapshot(
        day=d["day"],
        date=date.fromisoformat(d["date"]),
        la_code=d["la_code"],
        la_name=d["la_name"],
        urn=d["urn"],
        estab=d["estab"],
        school_name=d["school_name"],
        phase=d["phase"],
        mis=d["mis"],
        fmt=d["fmt"],
        domain=d["domain"],
        academic_year=d["academic_year"],
        reports=frozenset(d["reports"]),
        pupils=[_person(p) for p in d["pupils"]],
        staff=[_person(p) for p in d["staff"]],
        contacts=[_person(p) for p in d["contacts"]],
        links=[ExportLink(**x) for x in d["links"]],
        groups=[
            ExportGroup(
                mis_id=g["mis_id"],
                name=g["name"],
                kind=GroupKind(g["kind"]),
                year=g["year"],
                subject=g["subject"],
                members=tuple(
                    (Role(role), mis_id, MembershipRole(mrole))
                    for role, mis_id, mrole in g["members"]
                ),
            )
            for g in d["groups"]
        ],
        attendance=[
            ExportMark(m["pupil_mis_id"], date.fromisoformat(m["date"]), m["session"], m["code"])
            for m in d["attendance"]
        ],
    )
