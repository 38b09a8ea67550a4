"""Which audit events a subscriber hears of, and what each says.

An event's `data` names the school (and its LA), the account (its stable `id`, the uid
every export and the OneRoster provider use, its username and role) and what changed.
Nothing more than a subscriber of that school may read: values are sent for the fields
a roster consumer already reads (names, UPN, email, phone, year and registration group,
MIS ID, dates, status); for date of birth, gender, address and postcode only the field's
name (`also_changed`), never its value. A reason written for people is never sent (it
may name someone)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rollsync.directory import models as m

# audit kind -> event type (`<entity>.<what happened>`, the Standard Webhooks form).
EVENT_TYPES: dict[str, str] = {
    m.AuditKind.ACCOUNT_CREATED: "account.created",
    m.AuditKind.ACCOUNT_REQUESTED: "account.created",
    m.AuditKind.ACCOUNT_UPDATED: "account.updated",
    m.AuditKind.CROSS_SCHOOL_AGREED: "account.updated",
    m.AuditKind.ACCOUNT_MOVED_IN: "account.moved",
    m.AuditKind.MATCH_LINKED: "account.moved",
    m.AuditKind.ACCOUNT_UNALLOCATED: "account.unallocated",  # or account.suspended
    m.AuditKind.ACCOUNT_RESTORED: "account.restored",
    m.AuditKind.MEMBERSHIP_ADDED: "membership.added",
    m.AuditKind.MEMBERSHIP_REOPENED: "membership.added",
    m.AuditKind.MEMBERSHIP_REMOVED: "membership.removed",
    m.AuditKind.GROUP_REMOVED: "group.removed",
    m.AuditKind.CONTACT_LINKED: "contact.linked",
    m.AuditKind.CONTACT_RELINKED: "contact.linked",
    m.AuditKind.CONTACT_LINK_UPDATED: "contact.updated",
    m.AuditKind.CONTACT_UNLINKED: "contact.unlinked",
}

# Every type a subscriber may receive (docs/downstream.md#webhooks lists them).
TYPES = frozenset(EVENT_TYPES.values()) | {"account.suspended"}

# Fields whose new and old values are sent.
SHOWN = frozenset(
    {
        "username",
        "legal_given_name",
        "legal_family_name",
        "preferred_given_name",
        "preferred_family_name",
        "middle_names",
        "upn",
        "title",
        "staff_code",
        "email",
        "phone",
        "mis_id",
        "start_date",
        "leaving_date",
        "year_group",
        "registration_group",
        "status",
        "account_status",
        "priority",
        "parental_responsibility",
    }
)
# Fields named when they change, never with their values.
NAMED_ONLY = frozenset({"date_of_birth", "gender", "address", "postcode"})


def event_type(event: m.AuditEvent) -> str | None:
    """The webhook type of an audit event, or None when subscribers do not hear of it."""
    kind = EVENT_TYPES.get(event.action)
    if kind is None or event.school_id is None:
        return None
    changes = event.changes or {}
    if kind == "account.unallocated" and _new(changes.get("account_status")) == "suspended":
        return "account.suspended"
    if event.action == m.AuditKind.CROSS_SCHOOL_AGREED and not (changes.keys() - {"case"}):
        return None  # agreed but nothing applied at this school's side: no change
    if kind.startswith(("account.", "membership.", "contact.")) and event.account_id is None:
        return None
    return kind


def _new(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 2:
        return value[1]
    return value


def _field_changes(changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    shown: dict[str, Any] = {}
    named: list[str] = []
    for name, value in sorted(changes.items()):
        if name in SHOWN:
            if isinstance(value, list) and len(value) == 2:
                shown[name] = {"old": value[0], "new": value[1]}
            else:
                shown[name] = {"new": value}
        elif name in NAMED_ONLY:
            named.append(name)
    return shown, named


def needed_accounts(events: Iterable[m.AuditEvent]) -> set[int]:
    """The account ids a batch of events names (the account, and a contact's pupil)."""
    ids: set[int] = set()
    for event in events:
        if event.account_id is not None:
            ids.add(event.account_id)
        pupil = (event.changes or {}).get("pupil")
        if isinstance(pupil, int):
            ids.add(pupil)
    return ids


def needed_groups(events: Iterable[m.AuditEvent]) -> set[tuple[int, str]]:
    """(school id, group MIS ID) of each group a batch of events names."""
    return {
        (event.school_id, str(event.changes["group"]))
        for event in events
        if event.school_id is not None and (event.changes or {}).get("group") is not None
    }


def event_data(
    event: m.AuditEvent,
    kind: str,
    *,
    school: Mapping[str, Any],
    accounts: Mapping[int, Mapping[str, Any]],
    groups: Mapping[tuple[int, str], Mapping[str, Any]],
) -> dict[str, Any]:
    """The `data` of one event."""
    changes = dict(event.changes or {})
    data: dict[str, Any] = {"school": dict(school), "run": event.run_id}
    if event.account_id is not None:
        data["account"] = dict(accounts[event.account_id])
    if kind.startswith("account."):
        shown, named = _field_changes(changes)
        data["changes"] = shown
        data["also_changed"] = named
    elif kind.startswith("membership.") or kind == "group.removed":
        key = (event.school_id or 0, str(changes.get("group")))
        data["group"] = dict(groups.get(key) or {"mis_id": key[1]})
        if kind.startswith("membership."):
            data["role"] = changes.get("role")
        else:
            data["memberships_ended"] = changes.get("memberships_ended")
    elif kind.startswith("contact."):
        pupil = changes.get("pupil")
        data["pupil"] = (
            dict(accounts[pupil]) if isinstance(pupil, int) and pupil in accounts else None
        )
        shown, _ = _field_changes(changes)
        data["link"] = {name: value["new"] for name, value in shown.items()}
    return data
