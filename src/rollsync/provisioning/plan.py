"""The provisioning planner: (directory, tenant) -> actions, each with its reason. Pure,
like the sync's planner; a dry run shows exactly this.

Rules:
- a directory user found in the tenant by key is updated where a field differs, restored
  when suspended; one not found is created, unless its email is taken by a tenant user
  without rollsync's key (a CONFLICT, never applied: rollsync does not take over accounts);
- a tenant user with rollsync's key that the directory no longer holds is suspended,
  never deleted; a suspended one stays as it is;
- a class group found by key is renamed where its name differs, else created; owners and
  members are added and removed to match, but only rollsync's users are ever removed (a
  person added by hand in the tenant stays); a class that has ended keeps its group and
  its teachers, and its other members leave it;
- two tenant users with the same key: the first (by tenant id) is used, the rest are a
  CONFLICT.
A person in CONFLICT is added to no class.
Applying the plan and planning again gives an empty plan.
"""

from __future__ import annotations

from .model import (
    Action,
    ActionKind,
    DesiredGroup,
    DesiredUser,
    Directory,
    ProvisionPlan,
    TenantGroup,
    TenantState,
    TenantUser,
)


def _user_changes(want: DesiredUser, have: TenantUser) -> dict[str, list[str]]:
    changes: dict[str, list[str]] = {}
    for name, old, new in (
        ("email", have.email.lower(), want.email),
        ("given_name", have.given_name, want.given_name),
        ("family_name", have.family_name, want.family_name),
    ):
        if old != new:
            changes[name] = [old, new]
    return changes


def _plan_users(directory: Directory, tenant: TenantState) -> tuple[list[Action], dict[str, str]]:
    actions: list[Action] = []
    ours: dict[str, TenantUser] = {}
    for user in sorted(tenant.users, key=lambda u: u.id):
        if user.key is None:
            continue
        if user.key in ours:
            actions.append(
                Action(
                    ActionKind.CONFLICT,
                    user.key,
                    f"the tenant holds two accounts with rollsync's key {user.key} "
                    f"({ours[user.key].email}, {user.email}); rollsync changes only the first",
                    tenant_id=user.id,
                )
            )
            continue
        ours[user.key] = user
    by_email = {u.email.lower(): u for u in tenant.users}
    wanted: set[str] = set()
    for want in sorted(directory.users, key=lambda u: u.key):
        wanted.add(want.key)
        have = ours.get(want.key)
        if have is None:
            taken = by_email.get(want.email)
            if taken is not None:
                actions.append(
                    Action(
                        ActionKind.CONFLICT,
                        want.key,
                        f"{want.email} already exists in the tenant and was not made by "
                        "rollsync (it has no rollsync key): nothing was pushed for this "
                        "person; rename or remove that account in the tenant",
                        tenant_id=taken.id,
                    )
                )
                continue
            actions.append(
                Action(
                    ActionKind.CREATE_USER,
                    want.key,
                    f"new {want.kind.value} in the directory",
                    changes={
                        "email": ["", want.email],
                        "given_name": ["", want.given_name],
                        "family_name": ["", want.family_name],
                    },
                )
            )
            continue
        changes = _user_changes(want, have)
        if have.suspended:
            actions.append(
                Action(
                    ActionKind.RESTORE_USER,
                    want.key,
                    "back in the directory (allocated again or restored)",
                    changes=changes,
                    tenant_id=have.id,
                )
            )
        elif changes:
            actions.append(
                Action(
                    ActionKind.UPDATE_USER,
                    want.key,
                    "changed in the directory",
                    changes=changes,
                    tenant_id=have.id,
                )
            )
    for key, have in sorted(ours.items()):
        if key not in wanted and not have.suspended:
            actions.append(
                Action(
                    ActionKind.SUSPEND_USER,
                    key,
                    "no longer placed at a school of this connection (unallocated)",
                    tenant_id=have.id,
                )
            )
    return actions, {key: u.id for key, u in ours.items()}


def _plan_roles(
    want: DesiredGroup,
    have: TenantGroup | None,
    key_of: dict[str, str],
    blocked: set[str],
) -> list[Action]:
    actions: list[Action] = []
    gid = have.id if have else None
    for wanted, held_ids, add, remove, what in (
        (
            want.owners,
            have.owners if have else frozenset(),
            ActionKind.ADD_OWNER,
            ActionKind.REMOVE_OWNER,
            "teacher",
        ),
        (
            want.members,
            have.members if have else frozenset(),
            ActionKind.ADD_MEMBER,
            ActionKind.REMOVE_MEMBER,
            "member",
        ),
    ):
        held = {key_of[i] for i in held_ids if i in key_of}
        for user in sorted(wanted - held - blocked):
            actions.append(
                Action(
                    add, want.key, f"{what} of the class in the directory", user=user, tenant_id=gid
                )
            )
        for user in sorted(held - wanted):
            actions.append(
                Action(
                    remove, want.key, f"no longer a {what} of the class", user=user, tenant_id=gid
                )
            )
    return actions


def plan(directory: Directory, tenant: TenantState) -> ProvisionPlan:
    actions, ids = _plan_users(directory, tenant)
    key_of = {tenant_id: key for key, tenant_id in ids.items()}
    # A person whose account cannot be made (a conflict) is not added to any class.
    blocked = {a.key for a in actions if a.kind is ActionKind.CONFLICT} - ids.keys()
    held = {g.key: g for g in sorted(tenant.groups, key=lambda g: g.id, reverse=True)}
    for want in sorted(directory.groups, key=lambda g: g.key):
        have = held.get(want.key)
        if have is None:
            actions.append(
                Action(
                    ActionKind.CREATE_GROUP,
                    want.key,
                    "a class in Groups & Classes",
                    changes={"name": ["", want.name]},
                )
            )
        elif have.name != want.name:
            actions.append(
                Action(
                    ActionKind.UPDATE_GROUP,
                    want.key,
                    "the class was renamed",
                    changes={"name": [have.name, want.name]},
                    tenant_id=have.id,
                )
            )
        actions.extend(_plan_roles(want, have, key_of, blocked))
    wanted = {g.key for g in directory.groups}
    for key, have in sorted(held.items()):
        if key in wanted:
            continue
        # The class has ended: its pupils leave the group; it is never deleted, and its
        # teachers keep it (an owner stays, so Microsoft never loses a group's last owner).
        for user in sorted(
            {key_of[i] for i in have.members if i in key_of} - _owners(have, key_of)
        ):
            actions.append(
                Action(
                    ActionKind.REMOVE_MEMBER,
                    key,
                    "the class has ended in the directory",
                    user=user,
                    tenant_id=have.id,
                )
            )
    return ProvisionPlan(tuple(actions))


def _owners(group: TenantGroup, key_of: dict[str, str]) -> set[str]:
    return {key_of[i] for i in group.owners if i in key_of}
