"""Words for reasons: what a school admin reads in Whole School Bulk Results."""

from __future__ import annotations

from datetime import date
from typing import Any

from rollsync.domain.records import Role
from rollsync.domain.reports import CATALOGUE

ROLE_WORD: dict[Role, str] = {
    Role.PUPIL: "pupil",
    Role.STAFF: "staff member",
    Role.CONTACT: "contact",
}
ROLE_PLURAL: dict[Role, str] = {Role.PUPIL: "pupils", Role.STAFF: "staff", Role.CONTACT: "contacts"}

FIELD_LABEL: dict[str, str] = {
    "legal_given_name": "legal forename",
    "legal_family_name": "legal surname",
    "preferred_given_name": "preferred forename",
    "preferred_family_name": "preferred surname",
    "middle_names": "middle names",
    "date_of_birth": "date of birth",
    "gender": "gender",
    "upn": "UPN",
    "title": "title",
    "staff_code": "staff code",
    "email": "email",
    "phone": "phone",
    "postcode": "postcode",
    "address": "address",
    "mis_id": "MIS ID",
    "start_date": "start date",
    "leaving_date": "leaving date",
    "year_group": "year group",
    "registration_group": "registration group",
    "status": "status",
    "leaver_pending_since": "pending removal",
    "unallocated_at": "removal date",
}


def day(value: date) -> str:
    """4 September 2024"""
    return f"{value.day} {value:%B %Y}"


def report_label(code: str) -> str:
    spec = CATALOGUE.get(code)
    return spec.label if spec else code


def _value(value: Any) -> str:
    if isinstance(value, date):
        return day(value)
    return str(value)


def describe_change(field_name: str, old: Any, new: Any) -> str:
    label = FIELD_LABEL.get(field_name, field_name.replace("_", " "))
    if field_name == "leaver_pending_since" and new is None:
        return "the pending removal is cancelled"
    if field_name == "unallocated_at":
        return ""  # said by the status change
    if old is None or old == "":
        return f"{label} set to {_value(new)}"
    if new is None:
        return f"{label} cleared (was {_value(old)})"
    return f"{label} changed from {_value(old)} to {_value(new)}"


def describe_changes(changes: dict[str, tuple[Any, Any]], skip: tuple[str, ...] = ()) -> str:
    """ "legal surname changed from Smith to Jones, year group changed from 7 to 8"."""
    parts = [
        describe_change(name, old, new) for name, (old, new) in changes.items() if name not in skip
    ]
    return ", ".join(p for p in parts if p)


def describe_withheld(changes: dict[str, tuple[Any, Any]]) -> str:
    """ "Legal surname (Smith to Jones) and UPN (none to A123...)": changes not made."""
    parts = [
        f"{FIELD_LABEL.get(name, name.replace('_', ' '))} "
        f"({'none' if old is None else _value(old)} to {_value(new)})"
        for name, (old, new) in changes.items()
    ]
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return text[:1].upper() + text[1:]


def sentence(*parts: str) -> str:
    """Join clauses into sentences, each ending with a full stop."""
    out = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        out.append(part if part.endswith((".", "!", "?")) else part + ".")
    return " ".join(out)
