"""The guard: runs that must wait for a person's approval.

A hold never removes an action: the plan stays complete, so the person who
approves sees exactly what the run would do. Three things hold a run:

- "unallocate_share": it would unallocate more than the school's limit of its
  active accounts (all roles together);
- "rekey_share": it would change the MIS ID of more than the limit of one
  role's active accounts (a change of MIS that matched by name);
- "empty_export": a full list of a role is empty, or names fewer than half of
  that role's active accounts (a truncated export): it never empties a school.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rollsync.domain.actions import ActionKind, Hold, PersonAction, Plan
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import ImportBatch
from rollsync.domain.reports import CURRENT_REPORT_FOR_ROLE
from rollsync.domain.state import DirectoryState
from rollsync.planning.index import StateIndex
from rollsync.planning.leavers import complete_roles, listed_keys
from rollsync.planning.ordering import ROLE_ORDER
from rollsync.planning.wording import ROLE_PLURAL, report_label

UNALLOCATE_SHARE = "unallocate_share"
REKEY_SHARE = "rekey_share"
EMPTY_EXPORT = "empty_export"


def find_holds(
    plan: Plan, batch: ImportBatch, state: DirectoryState, policy: SchoolPolicy
) -> list[Hold]:
    """The holds of a plan, whether or not a person has acknowledged them (the approval
    screen shows them again after `plan` returned them empty for an acknowledged run)."""
    return holds_for(plan.actions, batch, StateIndex(state), policy)


def holds_for(
    actions: Iterable[PersonAction], batch: ImportBatch, index: StateIndex, policy: SchoolPolicy
) -> list[Hold]:
    actions = list(actions)
    return [
        *_unallocate_share(actions, index, policy),
        *_rekey_share(actions, index, policy),
        *_empty_export(batch, index, policy),
    ]


def _share(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 100.0


def _unallocate_share(
    actions: list[PersonAction], index: StateIndex, policy: SchoolPolicy
) -> list[Hold]:
    removed = sum(1 for a in actions if a.kind is ActionKind.UNALLOCATE)
    active = sum(index.active_here.values())
    share = _share(removed, active)
    if not removed or share <= policy.guard_unallocate_pct:
        return []
    return [
        Hold(
            UNALLOCATE_SHARE,
            f"This run would unallocate {removed} of {active} active accounts ({share:.1f}%), "
            f"above the school's {policy.guard_unallocate_pct:g}% limit.",
        )
    ]


def _rekey_share(
    actions: list[PersonAction], index: StateIndex, policy: SchoolPolicy
) -> list[Hold]:
    rekeyed = Counter(a.role for a in actions if a.rekey)
    holds = []
    for role in sorted(rekeyed, key=ROLE_ORDER.__getitem__):
        active = index.active_here[role]
        share = _share(rekeyed[role], active)
        if share > policy.guard_rekey_pct:
            holds.append(
                Hold(
                    REKEY_SHARE,
                    f"This run would change the MIS ID of {rekeyed[role]} of {active} active "
                    f"{role.value} accounts ({share:.1f}%), above the school's "
                    f"{policy.guard_rekey_pct:g}% limit: this looks like a change of MIS, "
                    "so a person checks the matches first.",
                )
            )
    return holds


def _empty_export(batch: ImportBatch, index: StateIndex, policy: SchoolPolicy) -> list[Hold]:
    listed = Counter(role for role, _ in listed_keys(batch))
    holds = []
    for role in sorted(complete_roles(batch, policy), key=ROLE_ORDER.__getitem__):
        active, sent = index.active_here[role], listed[role]
        export = f"The {report_label(CURRENT_REPORT_FOR_ROLE[role])} export"
        if not active or sent * 2 >= active:
            continue
        if sent == 0:
            message = (
                f"{export} lists no {ROLE_PLURAL[role]}, but the school has {active} active "
                f"{role.value} accounts: an empty export never removes a school's accounts."
            )
        else:
            message = (
                f"{export} lists only {sent} {ROLE_PLURAL[role]}, fewer than half of the "
                f"school's {active} active {role.value} accounts: it may have been cut short."
            )
        holds.append(Hold(EMPTY_EXPORT, message))
    return holds
