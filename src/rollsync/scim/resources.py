"""Accounts and groups as SCIM resources (RFC 7643): what a client sees of them.

A User shows the allocations its client sees; the first of them in `primary_allocation`
order gives `externalId`, `active`, the enterprise extension and the email and phone
types. `meta.version` is a digest of everything else the resource shows, so it changes
whenever anything shown changes, and only then."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError
from pydantic.networks import EmailStr
from scim2_models import Email, EnterpriseUser, Group, GroupMember, Meta, Name, PhoneNumber

from rollsync.directory import models as m
from rollsync.domain.state import AccountStatus, AllocationStatus
from rollsync.scim.provider import UserResource

ROLE_LABEL: Final = {"pupil": "Pupil", "staff": "Staff", "contact": "Contact"}
_STATUS_RANK: Final = {
    AllocationStatus.ACTIVE.value: 0,
    AllocationStatus.FUTURE.value: 1,
    AllocationStatus.UNALLOCATED.value: 2,
}
_EMAIL: Final = TypeAdapter(EmailStr)


def contact_type(role: str) -> str:
    """The `type` of an allocation's email and phone: a member of staff's are work
    details, a pupil's or a contact's are home ones."""
    return "work" if role == "staff" else "home"


def department(allocation: m.Allocation) -> str:
    """A pupil's year group; otherwise the role (Staff, Contact)."""
    return str(allocation.year_group or ROLE_LABEL.get(allocation.role, allocation.role))


def primary_allocation(allocations: Sequence[m.Allocation]) -> m.Allocation | None:
    """Active before future before unallocated; then the latest start; then the oldest."""
    if not allocations:
        return None
    return sorted(
        allocations,
        key=lambda a: (
            _STATUS_RANK.get(a.status, 3),
            -(a.start_date.toordinal() if a.start_date else 0),
            a.pk,
        ),
    )[0]


def is_active(account: m.Account, allocations: Sequence[m.Allocation]) -> bool:
    """Active: the account is not suspended and holds an active allocation the client
    sees. Suspended, unallocated and future (not started) accounts are `active: false`."""
    return account.status == AccountStatus.ACTIVE.value and any(
        a.status == AllocationStatus.ACTIVE.value for a in allocations
    )


def _valid_email(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(_EMAIL.validate_python(value.strip()))
    except ValidationError:
        return None  # not an address SCIM can carry; the MIS value stays as it is


def _distinct(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(pairs))


def version_of(body: dict[str, Any]) -> str:
    """A weak ETag over what the resource shows (meta left out)."""
    shown = {k: v for k, v in body.items() if k != "meta"}
    digest = hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()
    return f'W/"{digest[:32]}"'


def user_of(account: Any) -> Any:
    """A `scim_users` account as a SCIM User with the enterprise extension."""
    allocations: list[m.Allocation] = list(getattr(account, "scim_allocations", []))
    main = primary_allocation(allocations)
    ordered = ([main] if main else []) + [a for a in allocations if a is not main]
    emails = _distinct(
        [
            (email, contact_type(a.role))
            for a in ordered
            if (email := _valid_email(a.email)) is not None
        ]
    )
    phones = _distinct([(a.phone.strip(), contact_type(a.role)) for a in ordered if a.phone])
    user = UserResource(
        id=str(account.uid),
        external_id=(main.mis_id or None) if main else None,
        user_name=account.username,
        name=Name(
            given_name=account.scim_given,
            family_name=account.scim_family,
            middle_name=account.middle_names or None,
            formatted=account.scim_display,
        ),
        display_name=account.scim_display,
        user_type=ROLE_LABEL.get(account.role, account.role),
        active=is_active(account, allocations),
        emails=[Email(value=v, type=Email.Type(t)) for v, t in emails] or None,
        phone_numbers=[PhoneNumber(value=v, type=PhoneNumber.Type(t)) for v, t in phones] or None,
    )
    user[EnterpriseUser] = EnterpriseUser(
        employee_number=(main.mis_id if main and main.mis_id else account.username),
        organization=main.school.name if main else None,
        department=department(main) if main else None,
    )
    user.meta = Meta(
        resource_type="User",
        created=account.created_at,
        last_modified=account.scim_last_modified,
        version=version_of(user.model_dump()),
    )
    return user


def group_of(group: Any) -> Group:
    """A `scim_groups` group as a SCIM Group; one member entry per account."""
    members: dict[str, GroupMember] = {}
    for membership in getattr(group, "scim_members", []):
        account = membership.account
        uid = str(account.uid)
        if uid not in members:
            given = account.preferred_given_name or account.legal_given_name
            family = account.preferred_family_name or account.legal_family_name
            ref: Any = f"Users/{uid}"  # relative: scim2-server makes it a URL
            members[uid] = GroupMember(value=uid, ref=ref, type="User", display=f"{given} {family}")
    resource = Group(
        id=str(group.pk),
        external_id=group.mis_id,
        display_name=group.name,
        members=list(members.values()) or None,
    )
    resource.meta = Meta(
        resource_type="Group",
        last_modified=group.scim_last_modified,
        version=version_of(resource.model_dump()),
    )
    return resource
