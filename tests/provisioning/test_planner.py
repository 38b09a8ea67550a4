"""The provisioning planner alone: (directory, tenant) -> actions, pure."""

from __future__ import annotations

from dataclasses import replace

from rollsync.provisioning.model import ActionKind, Directory, TenantGroup, TenantState, TenantUser
from rollsync.provisioning.plan import plan
from tests.provisioning.helpers import DOMAIN, directory, person

K = ActionKind


def as_tenant(d: Directory, *, suspended: frozenset[str] = frozenset()) -> TenantState:
    """The tenant exactly as a finished run leaves it (tenant ids t-<key>)."""
    users = tuple(
        TenantUser(f"t-{u.key}", u.email, u.given_name, u.family_name, u.key in suspended, u.key)
        for u in d.users
    )
    groups = tuple(
        TenantGroup(
            f"g-{g.key}",
            g.key,
            g.name,
            frozenset(f"t-{k}" for k in g.owners),
            frozenset(f"t-{k}" for k in g.members),
        )
        for g in d.groups
    )
    return TenantState(users, groups)


def kinds(actions: object) -> list[tuple[str, str, str | None]]:
    return [(a.kind.value, a.key, a.user) for a in actions]  # type: ignore[attr-defined]


def test_an_empty_tenant_gets_every_user_group_owner_and_member() -> None:
    d = directory(4)
    p = plan(d, TenantState(()))
    counts = {k: v for k, v in p.counts().items() if v}
    assert counts == {
        "create_user": 6,
        "create_group": 2,
        "add_owner": 2,
        "add_member": 4,
    }
    create = next(a for a in p.actions if a.kind is K.CREATE_USER)
    assert create.changes["email"] == ["", create.changes["email"][1]]
    assert create.changes["email"][1].endswith("@" + DOMAIN)


def test_a_tenant_in_step_gives_an_empty_plan() -> None:
    d = directory(6)
    assert plan(d, as_tenant(d)).actions == ()


def test_a_user_gone_from_the_directory_is_suspended_once_and_restored_when_back() -> None:
    d = directory(4)
    gone = d.users[0]
    without = replace(
        d,
        users=d.users[1:],
        groups=tuple(replace(g, members=g.members - {gone.key}) for g in d.groups),
    )
    p = plan(without, as_tenant(d))
    assert kinds(p.actions) == [
        ("suspend_user", gone.key, None),
        ("remove_member", "rs-class-a", gone.key),
    ]
    assert p.actions[0].tenant_id == f"t-{gone.key}"
    # Already suspended (and out of the class): nothing more.
    after = as_tenant(without)
    suspended = TenantUser(f"t-{gone.key}", gone.email, "x", "y", True, gone.key)
    assert plan(without, replace(after, users=(*after.users, suspended))).actions == ()
    # Back in the directory: restored, with its names put right in the same action.
    back = plan(d, as_tenant(d, suspended=frozenset({gone.key})))
    assert kinds(back.actions) == [("restore_user", gone.key, None)]
    assert back.actions[0].changes == {}


def test_a_changed_name_is_an_update_naming_old_and_new() -> None:
    d = directory(2)
    t = as_tenant(d)
    renamed = replace(t.users[0], family_name="Old")
    p = plan(d, replace(t, users=(renamed, *t.users[1:])))
    assert kinds(p.actions) == [("update_user", renamed.key or "", None)]
    assert p.actions[0].changes == {"family_name": ["Old", d.users[0].family_name]}


def test_accounts_rollsync_did_not_make_are_never_changed_and_block_a_create() -> None:
    d = directory(2)
    t = as_tenant(d)
    mine = d.users[0]
    by_hand = TenantUser("h1", mine.email, "Hand", "Made", False, None)
    other = TenantUser("h2", f"head@{DOMAIN}", "Head", "Teacher", False, None)
    p = plan(d, replace(t, users=(by_hand, other, *t.users[1:])))
    assert kinds(p.actions) == [("conflict", mine.key, None)]
    assert "not made by rollsync" in p.actions[0].reason
    assert p.actions[0].tenant_id == "h1"


def test_two_tenant_accounts_with_one_key_use_the_first_and_report_the_second() -> None:
    d = directory(2)
    t = as_tenant(d)
    dup = replace(t.users[0], id="t-zzz", email=f"copy@{DOMAIN}")
    p = plan(d, replace(t, users=(*t.users, dup)))
    assert kinds(p.actions) == [("conflict", dup.key or "", None)]
    assert p.actions[0].tenant_id == "t-zzz"


def test_group_members_added_by_hand_stay_and_a_renamed_class_is_renamed() -> None:
    d = directory(4)
    t = as_tenant(d)
    a = t.groups[0]
    outsider = TenantUser("h9", f"helper@{DOMAIN}", "Help", "Er", False, None)
    moved = person(3)  # a pupil of class b, wrongly in a as well
    grown = replace(a, name="Old name", members=a.members | {"h9", f"t-{moved.key}"})
    p = plan(d, TenantState((*t.users, outsider), (grown, t.groups[1])))
    assert kinds(p.actions) == [
        ("update_group", "rs-class-a", None),
        ("remove_member", "rs-class-a", moved.key),
    ]
    assert p.actions[0].changes == {"name": ["Old name", "Class a"]}


def test_a_teacher_who_leaves_a_class_stops_being_its_owner() -> None:
    d = directory(2)
    t = as_tenant(d)
    a, b = t.groups
    swapped = replace(a, owners=b.owners)
    p = plan(d, replace(t, groups=(swapped, b)))
    assert sorted(kinds(p.actions)) == sorted(
        [
            ("add_owner", "rs-class-a", person(1001).key),
            ("remove_owner", "rs-class-a", person(1002).key),
        ]
    )


def test_an_ended_class_keeps_its_group_and_teachers_and_its_pupils_leave() -> None:
    d = directory(4, owners_are_members=True)
    t = as_tenant(d)
    ended = replace(d, groups=d.groups[1:])
    p = plan(ended, t)
    a = d.groups[0]
    assert kinds(p.actions) == [
        ("remove_member", "rs-class-a", k) for k in sorted(a.members - a.owners)
    ]
    assert {x.reason for x in p.actions} == {"the class has ended in the directory"}
    # Applied, the group holds its teacher alone, and nothing more is planned.
    left = replace(t.groups[0], members=frozenset(f"t-{k}" for k in a.owners))
    assert plan(ended, replace(t, groups=(left, t.groups[1]))).actions == ()
