"""The guard: runs that must wait for a person's approval.

A hold never removes an action: the plan stays complete, so the person who
approves sees exactly what the run would do. What holds a run:

- "unallocate_share": per role and per report, it would unallocate more than the
  school's limit (`guard_unallocate_pct`) of that role's accounts that report lists
  (active accounts for the current report, future starters for the future one).
  Pupils, staff and contacts are counted apart: a students.csv cut short is judged
  against the school's pupils, never diluted by its contacts;
- "rekey_share": it would change the MIS ID of more than the limit of one
  role's active accounts (a change of MIS that matched by name);
- "empty_export": a full list of a role is empty, or names fewer than half of
  that role's active accounts (a truncated export): it never empties a school;
- "group_removal_share", "membership_removal_share", "contact_link_removal_share":
  it would remove more than the school's limit of the groups, group memberships or
  contact links the school holds (Groups & Classes or Contacts cut short);
- "errors_and_leavers": the upload has rejected rows (row errors of any source other
  than "notice") and the run would unallocate someone or start their removal (mark
  them as leaving): a broken file never removes anyone unseen.

An export that holds nobody is not held but refused outright (`nobody_listed`: a
whole-file error, so the run fails and nothing is applied; docs/decisions/0062), and so is
an upload whose every row was rejected (`all_rows_rejected`).

Small schools: the share is the share. The limit is the school's own policy, so 1 of
3 staff leaving (33%) is held under the default 10%; a school that finds that too
strict raises its limit, and approving a held run is one step. There is no minimum
count below which removals pass unheld: that is simple, and errs towards asking.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rollsync.domain.actions import (
    ActionKind,
    ContactLinkChanges,
    GroupChanges,
    Hold,
    PersonAction,
    Plan,
)
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import ImportBatch, Role, RowError
from rollsync.domain.reports import CURRENT_REPORT_FOR_ROLE, FUTURE_REPORT_FOR_ROLE, GROUPS
from rollsync.domain.run_status import commonest_reason
from rollsync.domain.state import AllocationState, AllocationStatus, DirectoryState
from rollsync.ingest import reader_for
from rollsync.planning.index import StateIndex
from rollsync.planning.leavers import complete_roles, listed_keys
from rollsync.planning.ordering import ROLE_ORDER
from rollsync.planning.wording import ROLE_PLURAL, ROLE_WORD, report_label

UNALLOCATE_SHARE = "unallocate_share"
REKEY_SHARE = "rekey_share"
EMPTY_EXPORT = "empty_export"
GROUP_REMOVAL_SHARE = "group_removal_share"
MEMBERSHIP_REMOVAL_SHARE = "membership_removal_share"
CONTACT_LINK_REMOVAL_SHARE = "contact_link_removal_share"
ERRORS_AND_LEAVERS = "errors_and_leavers"

# Row errors from this source are said to the school but are not faults in the file.
NOTICE = "notice"

_LIVE = (AllocationStatus.ACTIVE, AllocationStatus.FUTURE)


def find_holds(
    plan: Plan, batch: ImportBatch, state: DirectoryState, policy: SchoolPolicy
) -> list[Hold]:
    """The holds of a plan, whether or not a person has acknowledged them (the approval
    screen shows them again after `plan` returned them empty for an acknowledged run)."""
    return holds_for(
        plan.actions,
        batch,
        StateIndex(state),
        policy,
        groups=plan.groups,
        contact_links=plan.contact_links,
        errors=plan.errors,
    )


def holds_for(
    actions: Iterable[PersonAction],
    batch: ImportBatch,
    index: StateIndex,
    policy: SchoolPolicy,
    *,
    groups: GroupChanges | None = None,
    contact_links: ContactLinkChanges | None = None,
    errors: Iterable[RowError] = (),
) -> list[Hold]:
    """`errors`: the row errors of the plan beyond the batch's own (relations that name
    someone unknown, say); they count toward "errors_and_leavers" like the batch's."""
    actions = list(actions)
    return [
        *_unallocate_share(actions, index, policy),
        *_rekey_share(actions, index, policy),
        *_empty_export(batch, index, policy),
        *_relations_share(
            groups or GroupChanges(), contact_links or ContactLinkChanges(), index, policy
        ),
        *_errors_and_leavers(actions, [*batch.errors, *errors]),
    ]


def _share(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 100.0


def _report_of(allocation: AllocationState) -> str:
    """The report that lists this allocation's person: the current one for an active
    account, the future one for a future starter made from it."""
    role = allocation.role
    future = FUTURE_REPORT_FOR_ROLE.get(role)
    if (
        allocation.status is not AllocationStatus.ACTIVE
        and future is not None
        and allocation.source_report in (future, None)
    ):
        return future
    return CURRENT_REPORT_FOR_ROLE[role]


def _unallocate_share(
    actions: list[PersonAction], index: StateIndex, policy: SchoolPolicy
) -> list[Hold]:
    listed: Counter[tuple[Role, str]] = Counter(
        (a.role, _report_of(a))
        for a in index.state.allocations
        if a.school_urn == index.urn and a.status in _LIVE
    )
    removed: Counter[tuple[Role, str]] = Counter()
    for action in actions:
        if action.kind is not ActionKind.UNALLOCATE:
            continue
        allocation = index.allocation_by_id.get(action.allocation_id or -1)
        report = (
            _report_of(allocation)
            if allocation is not None
            else CURRENT_REPORT_FOR_ROLE[action.role]
        )
        removed[(action.role, report)] += 1
    holds = []
    for role, report in sorted(removed, key=lambda k: (ROLE_ORDER[k[0]], k[1])):
        part, whole = removed[(role, report)], listed[(role, report)]
        share = _share(part, whole)
        if share <= policy.guard_unallocate_pct:
            continue
        kind = "active" if report == CURRENT_REPORT_FOR_ROLE[role] else "future"
        holds.append(
            Hold(
                UNALLOCATE_SHARE,
                f"This run would unallocate {part} of the {whole} {kind} {role.value} "
                f"accounts of the {report_label(report)} report ({share:.1f}%), above the "
                f"school's {policy.guard_unallocate_pct:g}% limit.",
            )
        )
    return holds


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
                f"{export} lists only {sent} "
                f"{ROLE_WORD[role] if sent == 1 else ROLE_PLURAL[role]}, fewer than half of the "
                f"school's {active} active {role.value} accounts: it may have been cut short."
            )
        holds.append(Hold(EMPTY_EXPORT, message))
    return holds


def _relations_share(
    groups: GroupChanges,
    contact_links: ContactLinkChanges,
    index: StateIndex,
    policy: SchoolPolicy,
) -> list[Hold]:
    state = index.state
    checks = (
        (GROUP_REMOVAL_SHARE, len(groups.remove), len(state.groups), "groups", "Groups & Classes"),
        (
            MEMBERSHIP_REMOVAL_SHARE,
            len(groups.remove_members),
            state.memberships_in_all,
            "group memberships",
            "Groups & Classes",
        ),
        (
            CONTACT_LINK_REMOVAL_SHARE,
            len(contact_links.remove),
            len(state.contact_links),
            "contact links",
            "Contacts",
        ),
    )
    holds = []
    for code, part, whole, what, report in checks:
        share = _share(part, whole)
        if part and share > policy.guard_unallocate_pct:
            holds.append(
                Hold(
                    code,
                    f"This run would remove {part} of the school's {whole} {what} "
                    f"({share:.1f}%), above the school's {policy.guard_unallocate_pct:g}% "
                    f"limit: the {report} export may have been cut short, so a person "
                    "checks it first.",
                )
            )
    return holds


def _errors_and_leavers(actions: list[PersonAction], errors: list[RowError]) -> list[Hold]:
    rows = {(e.source, e.row) for e in errors if e.row is not None and e.source != NOTICE}
    unallocated = sum(1 for a in actions if a.kind is ActionKind.UNALLOCATE)
    marked = sum(
        1
        for a in actions
        if a.kind is ActionKind.MARK_LEAVER and "leaver_pending_since" in a.changes
    )
    if not rows or not (unallocated or marked):
        return []
    n = len(rows)
    people = unallocated + marked
    rows_said = f"{n} rejected row" + ("" if n == 1 else "s")
    people_said = f"{people} " + ("person" if people == 1 else "people")
    later = " (now or when their grace period ends)" if marked else ""
    return [
        Hold(
            ERRORS_AND_LEAVERS,
            f"This run has {rows_said} and would unallocate {people_said}{later}: "
            "a person checks it first.",
        )
    ]


# --- whole-file refusals ----------------------------------------------------------------

# Reports whose export may rightly be empty: nobody starting later, no marks on a day
# without sessions. Any other export that lists nobody is refused.
_MAY_BE_EMPTY = frozenset(FUTURE_REPORT_FOR_ROLE.values()) | {"attendance"}
PULLED_FORMAT_SUFFIX = "-api"  # the formats of pulls from MIS APIs (ingest.PULLED_FORMATS)


def _one_report_per_file(fmt: str) -> bool:
    """A rollsync CSV, a SIMS report, a pull from an MIS API: judged by its one report."""
    try:
        return reader_for(fmt).needs_report or fmt.endswith(PULLED_FORMAT_SUFFIX)
    except ValueError:
        return False


def nobody_listed(batch: ImportBatch) -> RowError | None:
    """A whole-file error when the export holds nobody: a bundle (CTF, OneRoster, SDS)
    with no person in it, on any row; a rollsync CSV of pupils, staff or contacts with
    no row; a Groups & Classes CSV with no row; a pull of one report from an MIS API
    judged the same way. Such a file is a broken or empty export,
    never a school with nobody in it: the run fails (docs/decisions/0062). Future lists
    and Attendance may rightly be empty and are never refused for it."""
    if batch.fatal:
        return None
    if batch.people or batch.rejected_keys or batch.unchanged_keys or batch.deletions:
        return None
    if any(e.row is not None and e.source != NOTICE for e in batch.errors):
        return None  # rows there were, and were refused: `all_rows_rejected` says so
    # One report per upload (a rollsync CSV, or a pull from an MIS API, stored per report
    # in a format named "<vendor>-api"): judged by that report.
    if _one_report_per_file(batch.source_format):
        if not batch.reports or batch.reports <= _MAY_BE_EMPTY:
            return None
        if batch.reports <= {GROUPS} and (batch.groups or batch.memberships):
            return None
        if batch.reports <= {GROUPS}:
            return RowError(
                None,
                None,
                "The Groups & Classes export lists no groups. An empty export is never "
                "applied: nothing was changed. Check the MIS export and send it again.",
            )
        label = ", ".join(sorted(report_label(r) for r in batch.reports))
        what = f"The {label} export"
    else:
        what = f"The {batch.source_label or batch.source_format} export"
    return RowError(
        None,
        None,
        f"{what} lists nobody: no pupils, staff or contacts. An empty export is never "
        "applied: nothing was changed. Check the MIS export and send it again.",
    )


def all_rows_rejected(batch: ImportBatch, plan: Plan) -> RowError | None:
    """A whole-file error when every row of the upload was rejected and nothing in it
    could be used: the run fails (it is never "applied") and says why."""
    rows = batch.rows_read
    rejected = plan.counts()["rejected"]
    if batch.fatal or rows <= 0 or rejected < rows:
        return None
    used = (
        plan.unchanged_left_out  # people left out of a partial batch, unchanged: used
        or any(a.record is not None and a.kind is not ActionKind.REJECT for a in plan.actions)
        or plan.groups.upsert
        or plan.groups.add_members
        or plan.contact_links.upsert
        or plan.attendance.upsert
    )
    if used:
        return None
    reasons = [e.as_dict() for e in plan.errors]
    reason = commonest_reason(reasons)
    if not reason:
        reasons = [
            {"row": a.record.row if a.record else 0, "message": a.reason}
            for a in plan.actions
            if a.kind is ActionKind.REJECT
        ]
        reason = commonest_reason(reasons)
    said = f"All {rows:,} rows were rejected, so nothing was applied."
    return RowError(None, None, f"{said} The commonest reason: {reason}" if reason else said)
