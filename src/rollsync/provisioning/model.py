"""What provisioning compares: the directory as a tenant should hold it, the tenant as it
was read back, and the plan between them. Pure values; no vendor, no Django.

Every account rollsync pushes carries an immutable key, the rollsync account id (Google:
an `externalIds` entry of customType "rollsync"; Microsoft: the SCIM `externalId`, which
Entra keeps as the user's `employeeId`). Every class group carries one too: its mail
nickname `rs-class-<group id>`. A tenant user or group without such a key is someone
else's and is never changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class UserKind(StrEnum):
    PUPIL = "pupil"
    STAFF = "staff"


class ActionKind(StrEnum):
    CREATE_USER = "create_user"
    UPDATE_USER = "update_user"
    SUSPEND_USER = "suspend_user"
    RESTORE_USER = "restore_user"
    CREATE_GROUP = "create_group"
    UPDATE_GROUP = "update_group"
    ADD_OWNER = "add_owner"
    ADD_MEMBER = "add_member"
    REMOVE_OWNER = "remove_owner"
    REMOVE_MEMBER = "remove_member"
    CONFLICT = "conflict"  # planned but never applied: a person must look


USER_KINDS = frozenset(
    {
        ActionKind.CREATE_USER,
        ActionKind.UPDATE_USER,
        ActionKind.SUSPEND_USER,
        ActionKind.RESTORE_USER,
    }
)


@dataclass(frozen=True, slots=True)
class DesiredUser:
    key: str  # the rollsync account id
    email: str  # username@domain: the tenant's sign-in name
    given_name: str
    family_name: str
    kind: UserKind


@dataclass(frozen=True, slots=True)
class DesiredGroup:
    key: str  # "rs-class-<group id>", the group's mail nickname
    name: str
    email: str  # key@domain (Google's group key)
    owners: frozenset[str] = frozenset()  # user keys: the class's teachers
    members: frozenset[str] = frozenset()  # user keys: pupils (and, on Microsoft, teachers)


@dataclass(frozen=True, slots=True)
class Directory:
    """The directory of one school or LA as its tenant should hold it."""

    domain: str
    users: tuple[DesiredUser, ...]
    groups: tuple[DesiredGroup, ...] = ()


@dataclass(frozen=True, slots=True)
class TenantUser:
    id: str  # the tenant's own id
    email: str
    given_name: str
    family_name: str
    suspended: bool
    key: str | None = None  # None: not one of rollsync's


@dataclass(frozen=True, slots=True)
class TenantGroup:
    id: str
    key: str  # its mail nickname (every group read back is one of rollsync's)
    name: str
    owners: frozenset[str] = frozenset()  # tenant user ids
    members: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class TenantState:
    users: tuple[TenantUser, ...]
    groups: tuple[TenantGroup, ...] = ()


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    key: str  # the user's key, or the group's key for group actions
    reason: str
    changes: dict[str, list[str]] = field(default_factory=dict)  # field: [old, new]
    user: str | None = None  # owner/member actions: the user's key
    tenant_id: str | None = None  # the tenant's id of the user or group, when it exists

    def label(self) -> str:
        who = f" {self.user}" if self.user else ""
        return f"{self.kind.value} {self.key}{who}"


@dataclass(frozen=True, slots=True)
class ProvisionPlan:
    actions: tuple[Action, ...]

    def counts(self) -> dict[str, int]:
        out = {k.value: 0 for k in ActionKind}
        for a in self.actions:
            out[a.kind.value] += 1
        return out

    @property
    def is_empty(self) -> bool:
        return not self.actions


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one action: done, or failed with the tenant's words."""

    action: Action
    ok: bool
    error: str = ""
