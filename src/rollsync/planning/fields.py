"""Which stored fields an incoming record changes.

An action's `changes` maps a field name to (old, new). Account fields belong to
the person (the same in every school); allocation fields belong to the
person's place at this school, including the contact details (`DETAIL_FIELDS`)
that each school's MIS words its own way. "upn" is stored on both and is set on both.
The planner also uses three bookkeeping fields of the allocation:
"status", "leaver_pending_since" and "unallocated_at". An allocation's
`source_report` is set when it is made (CREATE, MOVE_IN) and is not compared.

A field the record names in `unknown_fields` (a value that could not be read, a
column or file the upload lacks, a row cut short) is never compared: its None
means "not known", so the stored value is kept. A CREATE still makes the
account with None for it (there is nothing stored to keep).

A blank never clears a permanent fact of who someone is (`NEVER_CLEARED`: legal
names, date of birth, gender, UPN). Every MIS holds these for everyone it exports;
a blank there is a gap in the export (a column emptied by a spreadsheet, a field
left out by a report), not news that the child has no date of birth, and clearing
one would also remove the evidence that keeps later matching right. Preferred and
middle names may genuinely be removed in the MIS, so a blank clears them.
"""

from __future__ import annotations

from typing import Any

from rollsync.domain.records import PersonRecord
from rollsync.domain.state import AccountState, AllocationState

ACCOUNT_FIELDS = (
    "legal_given_name",
    "legal_family_name",
    "preferred_given_name",
    "preferred_family_name",
    "middle_names",
    "date_of_birth",
    "gender",
    "upn",
)
# Per-school contact details: each school's MIS words them its own way.
DETAIL_FIELDS = ("title", "staff_code", "email", "phone", "postcode", "address")
ALLOCATION_FIELDS = (
    "mis_id",
    "upn",
    "start_date",
    "leaving_date",
    "year_group",
    "registration_group",
    *DETAIL_FIELDS,
)

# Allocation fields copied from the record as they are.
_ALLOCATION_RECORD_FIELDS = (
    "upn",
    "start_date",
    "leaving_date",
    "year_group",
    "registration_group",
    *DETAIL_FIELDS,
)

Changes = dict[str, tuple[Any, Any]]


def _clean(value: Any) -> Any:
    """A blank string and a missing value are the same thing."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


NEVER_CLEARED = frozenset(
    {"legal_given_name", "legal_family_name", "date_of_birth", "gender", "upn"}
)


def account_changes(record: PersonRecord, account: AccountState) -> Changes:
    changes: Changes = {}
    unknown = record.unknown_fields
    for name in ACCOUNT_FIELDS:
        if name in unknown:
            continue  # not known: the stored value stays
        old, new = getattr(account, name), getattr(record, name)
        if old == new:
            continue  # the usual case: nothing to clean
        old, new = _clean(old), _clean(new)
        if old != new and not (new is None and name in NEVER_CLEARED):
            changes[name] = (old, new)
    return changes


def allocation_changes(record: PersonRecord, allocation: AllocationState) -> Changes:
    changes: Changes = {}
    if allocation.mis_id != record.mis_id:
        changes["mis_id"] = (allocation.mis_id, record.mis_id)  # "": no MIS record backed it
    unknown = record.unknown_fields
    for name in _ALLOCATION_RECORD_FIELDS:
        if name in unknown:
            continue  # not known: the stored value stays
        old, new = getattr(allocation, name), getattr(record, name)
        if old == new:
            continue
        old, new = _clean(old), _clean(new)
        if old != new and not (new is None and name in NEVER_CLEARED):
            changes[name] = (old, new)
    return changes


def record_changes(
    record: PersonRecord, account: AccountState, allocation: AllocationState | None
) -> Changes:
    """Every stored value the record would change, account fields first."""
    changes = account_changes(record, account)
    if allocation is not None:
        for name, change in allocation_changes(record, allocation).items():
            changes.setdefault(name, change)  # a UPN already differing on the account says it
    return changes
