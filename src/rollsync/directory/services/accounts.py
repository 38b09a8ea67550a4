"""A person's decisions on accounts: restore, exclusions, match cases, request single."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from rollsync.directory import models as m
from rollsync.directory.serialize import jsonable, record_from_dict
from rollsync.directory.services import locks
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.errors import (
    CONFLICT,
    INVALID,
    NOT_FOUND,
    REFUSED,
    ServiceError,
)
from rollsync.directory.services.usernames import usernames_allocate
from rollsync.domain.records import PersonRecord, Role
from rollsync.domain.reports import report_for_record
from rollsync.domain.sentences import sentence_case
from rollsync.domain.state import AccountStatus, AllocationStatus
from rollsync.planning.fields import ACCOUNT_FIELDS, DETAIL_FIELDS


class AccountError(ServiceError, ValueError):
    """A refused decision on an account, an exclusion or a case (by default the state
    refuses it: `conflict`); its message is a sentence a person reads."""

    code = CONFLICT

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(sentence_case(message), code=code, field=field)


class MatchLinkRefused(AccountError):
    """A needs-matching link the rule forbids: only to an account the case offered, and
    only to one the school may link to (its own or a local school's). Every door (web,
    API, command) refuses with this one error."""

    code = REFUSED

    def __init__(self, message: str) -> None:
        super().__init__(message, field="account_id")


# Identity: what makes an account this person. An account still active at another
# school keeps these until that school agrees (a cross-school case).
IDENTITY_FIELDS = frozenset(ACCOUNT_FIELDS)
_LIVE = (AllocationStatus.ACTIVE.value, AllocationStatus.FUTURE.value)


class RestoreNeedsDecision(AccountError):
    """The person is not in the school's latest export: a plain restore would be undone
    by the next run. The person restoring decides: keep the account as non-MIS at the
    school (the sync then leaves it alone), or restore it anyway."""


def restore_warning(*, allocation: m.Allocation) -> str:
    """Why a restore would not last, said before it is made ("" when it would): the
    allocation is backed by an MIS ID that the school's latest export of its role does
    not list (or lists as leaving), so the next run would unallocate it again."""
    if not allocation.mis_id or allocation.requested_single:
        return ""  # no MIS record backs it: the sync never unallocates it
    from rollsync.directory.selectors import latest_export_listing

    found = latest_export_listing(
        school=allocation.school, role=allocation.role, mis_id=allocation.mis_id
    )
    if found is None or found[1]:
        return ""
    run = found[0]
    who = allocation.account.username
    return (
        f"{who} (MIS ID {allocation.mis_id}) is not in the latest export of "
        f"{allocation.school.name} (run {run.pk}, {run.as_of:%d %b %Y}): the next run would "
        f"unallocate them again. Keep them as non-MIS at {allocation.school.name} (the sync "
        "then leaves them alone), or restore them anyway."
    )


@locks.retried
@transaction.atomic
def account_restore(
    *, username: str, school: m.School, actor: str, keep_non_mis: bool | None = None
) -> m.Allocation:
    """Give an unallocated account its place at the school back, with everything it had
    (groups, contacts and history were never removed).

    When the school's latest export does not list the person (`restore_warning`), the
    restore is refused with `RestoreNeedsDecision` until the caller decides:
    `keep_non_mis=True` keeps the account as non-MIS at the school (its MIS ID is let go,
    so no run unallocates it; recorded as a Review Non-MIS Accounts "keep"), and
    `keep_non_mis=False` restores it anyway (the next run treats it as a leaver again)."""
    locks.la_lock(school=school)  # first: runs of the LA plan against this account
    allocation = (
        m.Allocation.objects.select_for_update()
        .select_related("account", "school")
        .filter(account__username=username, school=school)
        .first()
    )
    if allocation is None:
        raise AccountError(f"{username} has never been allocated to {school.urn} {school.name}")
    if allocation.status != AllocationStatus.UNALLOCATED.value:
        raise AccountError(
            f"{username} is {allocation.status} at {school.urn}, not unallocated: nothing to restore"
        )
    warning = restore_warning(allocation=allocation)
    if warning and keep_non_mis is None:
        raise RestoreNeedsDecision(warning)
    if keep_non_mis and not warning:
        raise AccountError(
            f"{username} is in the latest export of {school.name} (or has no MIS ID): "
            "restore them as they are"
        )
    old_mis_id = allocation.mis_id
    allocation.status = AllocationStatus.ACTIVE.value
    allocation.unallocated_at = None
    allocation.leaver_pending_since = None
    allocation.leaving_date = None
    changes: dict[str, Any] = {"status": ["unallocated", "active"]}
    if keep_non_mis:
        allocation.mis_id = ""
        changes["mis_id"] = [old_mis_id, ""]
    allocation.save()
    account = allocation.account
    was = account.status
    account.status = AccountStatus.ACTIVE.value
    account.save(update_fields=["status", "updated_at"])
    changes["account_status"] = [was, account.status]
    if keep_non_mis:
        reason = (
            f"Restored at {school.name} by {actor} and kept as non-MIS: MIS ID {old_mis_id} "
            "is not in the latest export"
        )
    elif warning:
        reason = (
            f"Restored at {school.name} by {actor}, who was told MIS ID {old_mis_id} is not "
            "in the latest export"
        )
    else:
        reason = f"Restored at {school.name} by {actor}"
    audit = AuditLog(actor=actor, school=school)
    audit.add("account_restored", reason, account_id=account.pk, changes=changes)
    audit.flush()
    if keep_non_mis:
        # The one "keep as non-MIS" decision: Review Non-MIS Accounts records the same.
        account_non_mis_keep(allocation=allocation, actor=actor)
    return allocation


@transaction.atomic
def exclusion_add(
    *,
    school: m.School,
    actor: str,
    mis_id: str | None = None,
    given_name: str | None = None,
    family_name: str | None = None,
    date_of_birth: date | None = None,
    role: Role | None = None,
    note: str = "",
) -> m.Exclusion:
    if not mis_id and not (given_name and family_name):
        raise AccountError(
            "an exclusion needs an MIS ID, or a forename and a surname",
            code=INVALID,
            field="mis_id",
        )
    exclusion = m.Exclusion.objects.create(
        school=school,
        role=role.value if role else None,
        mis_id=mis_id or None,
        given_name=given_name or None,
        family_name=family_name or None,
        date_of_birth=date_of_birth,
        note=note,
        created_by=actor,
    )
    audit = AuditLog(actor=actor, school=school)
    audit.add(
        "exclusion_added",
        f"{_exclusion_label(exclusion)} must never get an account at {school.name}",
    )
    audit.flush()
    return exclusion


@transaction.atomic
def exclusion_remove(*, school: m.School, exclusion_id: int, actor: str) -> None:
    exclusion = m.Exclusion.objects.filter(school=school, pk=exclusion_id).first()
    if exclusion is None:
        raise AccountError(
            f"exclusion {exclusion_id} is not on {school.urn}'s list", code=NOT_FOUND
        )
    label = _exclusion_label(exclusion)
    exclusion.delete()
    audit = AuditLog(actor=actor, school=school)
    audit.add("exclusion_removed", f"{label} may get an account again")
    audit.flush()


def _exclusion_label(e: m.Exclusion) -> str:
    name = " ".join(x for x in (e.given_name, e.family_name) if x)
    parts = [p for p in (name, f"MIS ID {e.mis_id}" if e.mis_id else "") if p]
    return " / ".join(parts)


@locks.retried
@transaction.atomic
def match_case_resolve(
    *,
    case_id: int,
    actor: str,
    link_account_id: int | None = None,
    create: bool = False,
    exclude: bool = False,
) -> m.MatchCase:
    """A person's decision on a needs-matching case. Linking gives the account a place at
    the school under this MIS ID, so later runs match it by MIS ID and never ask again;
    creating makes a new account the same way, and is never overturned by a later run."""
    if sum((link_account_id is not None, create, exclude)) != 1:
        raise AccountError(
            "choose exactly one of --link ACCOUNT, --create, --exclude", code=INVALID
        )
    # The LA's lock first (as every run takes it), then the case's row.
    school_id = m.MatchCase.objects.filter(pk=case_id).values_list("school_id", flat=True).first()
    if school_id is not None:
        locks.la_lock_for_school_id(school_id)
    case = (
        m.MatchCase.objects.select_for_update()
        .select_related("school", "school__la__region")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise AccountError(f"match case {case_id} does not exist")
    if case.status != m.MatchCase.Status.OPEN:
        raise AccountError(f"match case {case_id} was already resolved ({case.status})")
    school = case.school
    record = record_from_dict(case.record)
    audit = AuditLog(actor=actor, school=school)
    if link_account_id is not None:
        account = match_link_target(case=case, account_id=link_account_id)
        if account.role != record.role.value:
            raise MatchLinkRefused(
                f"account {account.username} is a {account.role} account, the record is a {record.role.value}"
            )
        holding = live_elsewhere(account_ids=[account.pk], school=school).get(account.pk)
        _place(account=account, record=record, school=school, kind="moved")
        # The MIS is the source of truth for the person it sends: the linked account
        # takes its details now, so the next run finds nothing to change. An account
        # still active at another school keeps its identity until that school agrees.
        changes = account_fields_from_record(
            account, record, skip=IDENTITY_FIELDS if holding is not None else frozenset()
        )
        account.status = AccountStatus.ACTIVE.value
        account.save()
        case.status, case.resolved_account = m.MatchCase.Status.LINKED, account
        audit.add(
            "match_linked",
            f"Matched MIS ID {record.mis_id} to {account.username} by {actor}",
            account_id=account.pk,
            changes=changes,
        )
        if holding is not None:
            cross_school_case_ask(
                account=account,
                school=school,
                holding_school=holding,
                role=record.role.value,
                mis_id=record.mis_id,
                asked=identity_asked(account, record),
                reason=f"Matched to MIS ID {record.mis_id} by {actor} (needs-matching case {case.pk})",
                audit=audit,
                match_case=case,
            )
    elif create:
        account = _create_account(record=record, school=school)
        case.status, case.resolved_account = m.MatchCase.Status.CREATED, account
        audit.add(
            "account_created",
            f"Created as a new person for MIS ID {record.mis_id} by {actor} (needs-matching case {case.pk})",
            account_id=account.pk,
            changes={"username": [None, account.username]},
        )
    else:
        m.Exclusion.objects.create(
            school=school,
            role=record.role.value,
            mis_id=record.mis_id,
            given_name=record.legal_given_name,
            family_name=record.legal_family_name,
            date_of_birth=record.date_of_birth,
            note=f"from needs-matching case {case.pk}",
            created_by=actor,
        )
        case.status = m.MatchCase.Status.EXCLUDED
        audit.add(
            "exclusion_added",
            f"MIS ID {record.mis_id} excluded by {actor} (needs-matching case {case.pk})",
        )
    case.resolved_at = timezone.now()
    case.resolved_by = actor
    case.save()
    audit.flush()
    return case


def match_link_target(*, case: m.MatchCase, account_id: int) -> m.Account:
    """The one rule for linking a needs-matching case, whichever door asks: the account
    must be one the case offered, and placed at the case's school or a local school."""
    offered = {c.get("account_id") for c in case.candidates if isinstance(c, dict)}
    if account_id not in offered:
        raise MatchLinkRefused(
            f"account {account_id} is not one of the accounts offered for match case {case.pk}:"
            " link only to a candidate shown with the case, or create a new account"
        )
    account = m.Account.objects.filter(pk=account_id).first()
    if account is None:
        raise MatchLinkRefused(f"account {account_id} does not exist")
    local = m.Allocation.objects.filter(account=account, school__la_id=case.school.la_id)
    if not local.exists():
        raise MatchLinkRefused(
            f"account {account.username} is not at {case.school.name} or a local school:"
            " it cannot be linked from here"
        )
    return account


def live_elsewhere(*, account_ids: Iterable[int], school: m.School) -> dict[int, m.School]:
    """Accounts with an active or future place at a school other than `school`: the
    school that holds each (the lowest allocation id when several do)."""
    out: dict[int, m.School] = {}
    ordered = sorted(set(account_ids))
    schools: dict[int, m.School] = {}
    for start in range(0, len(ordered), 900):  # SQLite caps bound parameters
        rows = (
            m.Allocation.objects.filter(
                account_id__in=ordered[start : start + 900], status__in=_LIVE
            )
            .exclude(school=school)
            .order_by("pk")
            .values_list("account_id", "school_id")
        )
        for account_id, school_id in rows:
            if account_id not in out:
                if school_id not in schools:
                    schools[school_id] = m.School.objects.get(pk=school_id)
                out[account_id] = schools[school_id]
    return out


def identity_asked(account: m.Account, record: PersonRecord) -> dict[str, list[Any]]:
    """{field: [stored, asked]} for the identity fields the record would change (never a
    field the record does not clearly carry)."""
    asked: dict[str, list[Any]] = {}
    for name in ACCOUNT_FIELDS:
        if name in record.unknown_fields:
            continue
        new = getattr(record, name)
        new = new.value if name == "gender" and new is not None else new
        old = getattr(account, name)
        if _blank(old) != _blank(new):
            asked[name] = [jsonable(old), jsonable(new)]
    return asked


def _blank(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    return value


def cross_school_case_ask(
    *,
    account: m.Account,
    school: m.School,
    holding_school: m.School,
    role: str,
    mis_id: str,
    asked: dict[str, list[Any]],
    reason: str,
    audit: AuditLog,
    run: m.SyncRun | None = None,
    match_case: m.MatchCase | None = None,
) -> m.CrossSchoolCase | None:
    """Record identity changes `school` asks for on an account active at `holding_school`
    (called inside the caller's transaction). One open case per school and account: a
    later ask refreshes it. The same changes, once declined, are not asked again."""
    asked = {k: [jsonable(v[0]), jsonable(v[1])] for k, v in asked.items()}
    if not asked:
        return None
    case = (
        m.CrossSchoolCase.objects.select_for_update()
        .filter(school=school, account=account, status=m.CrossSchoolCase.Status.OPEN)
        .first()
    )
    if case is not None:
        if case.changes != asked or case.holding_school_id != holding_school.pk:
            case.changes, case.holding_school, case.reason = asked, holding_school, reason
            case.save(update_fields=["changes", "holding_school", "reason", "updated_at"])
            audit.add(
                "cross_school_case_updated",
                f"Identity changes for {account.username} still wait for {holding_school.name}",
                account_id=account.pk,
                changes={"case": case.pk, **asked},
            )
        return case
    declined = m.CrossSchoolCase.objects.filter(
        school=school,
        account=account,
        status=m.CrossSchoolCase.Status.DECLINED,
    ).only("changes")
    if any(c.changes == asked for c in declined):
        return None  # asked before and declined: no new case until the MIS sends something else
    case = m.CrossSchoolCase.objects.create(
        school=school,
        holding_school=holding_school,
        account=account,
        role=role,
        mis_id=mis_id,
        changes=asked,
        reason=reason,
        run=run,
        match_case=match_case,
    )
    audit.add(
        "cross_school_case_opened",
        f"{school.name} asks to change {', '.join(sorted(asked))} of {account.username},"
        f" who is active at {holding_school.name}: waiting for {holding_school.name} to agree",
        account_id=account.pk,
        changes={"case": case.pk, **asked},
    )
    return case


@locks.retried
@transaction.atomic
def cross_school_case_decide(
    *, case_id: int, school: m.School, actor: str, agree: bool
) -> m.CrossSchoolCase:
    """The school that holds the account agrees (the changes are applied) or declines
    (nothing changes). Only that school (or those above it) may decide."""
    locks.la_lock(school=school)  # before the case and account rows, as runs take them
    case = (
        m.CrossSchoolCase.objects.select_for_update()
        .select_related("school", "holding_school", "account")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise AccountError(f"cross-school case {case_id} does not exist")
    if case.holding_school_id != school.pk:
        raise AccountError(
            f"only {case.holding_school.name}, where the account is active, can agree or decline"
            f" cross-school case {case_id}"
        )
    if case.status != m.CrossSchoolCase.Status.OPEN:
        raise AccountError(f"cross-school case {case_id} was already decided ({case.status})")
    account = m.Account.objects.select_for_update().get(pk=case.account_id)
    applied: dict[str, list[Any]] = {}
    if agree:
        for name, (old, new) in case.changes.items():
            current = jsonable(getattr(account, name))
            if _blank(current) != _blank(old):
                raise AccountError(
                    f"the account's {name.replace('_', ' ')} changed since"
                    f" {case.school.name} asked: decline this case; the next run asks again"
                )
            value = date.fromisoformat(new) if name == "date_of_birth" and new else new
            setattr(account, name, value)
            applied[name] = [old, new]
        account.save()
        if "upn" in case.changes:
            m.Allocation.objects.filter(account=account, school=case.school, role=case.role).update(
                upn=case.changes["upn"][1]
            )
    case.status = m.CrossSchoolCase.Status.AGREED if agree else m.CrossSchoolCase.Status.DECLINED
    case.decided_at = timezone.now()
    case.decided_by = actor
    case.save(update_fields=["status", "decided_at", "decided_by", "updated_at"])
    verb = "agreed to" if agree else "declined"
    for at in (case.holding_school, case.school):
        audit = AuditLog(actor=actor, school=at)
        audit.add(
            "cross_school_agreed" if agree else "cross_school_declined",
            f"{case.holding_school.name} ({actor}) {verb} the identity changes"
            f" {case.school.name} asked for {account.username}",
            account_id=account.pk,
            changes={"case": case.pk, **(applied if agree else {})},
        )
        audit.flush()
    return case


def _place(
    *,
    account: m.Account,
    record: PersonRecord,
    school: m.School,
    kind: str,
    requested: bool = False,
) -> m.Allocation:
    existing = m.Allocation.objects.filter(
        account=account, school=school, role=record.role.value
    ).first()
    values: dict[str, Any] = {
        "mis_id": record.mis_id,
        "upn": record.upn,
        "start_date": record.start_date,
        "leaving_date": record.leaving_date,
        "year_group": record.year_group,
        "registration_group": record.registration_group,
        **{name: getattr(record, name) for name in DETAIL_FIELDS},
        "status": AllocationStatus.ACTIVE.value,
        "source_report": "" if requested else report_for_record(record),
        "requested_single": requested,
        "leaver_pending_since": None,
        "unallocated_at": None,
        "last_move_or_create_at": timezone.now(),
        "last_move_or_create_kind": kind,
    }
    if existing is not None:
        for name, value in values.items():
            if name in record.unknown_fields:
                continue  # not clearly carried: the stored value stays
            setattr(existing, name, value)
        existing.save()
        return existing
    return m.Allocation.objects.create(
        account=account, school=school, role=record.role.value, **values
    )


def account_fields_from_record(
    account: m.Account, record: PersonRecord, *, skip: frozenset[str] = frozenset()
) -> dict[str, list[Any]]:
    """Copy the record's person fields onto the account (never a field the record does
    not clearly carry, nor one in `skip`); returns {field: [old, new]}."""
    changes: dict[str, list[Any]] = {}
    for name in ACCOUNT_FIELDS:
        if name in record.unknown_fields or name in skip:
            continue
        new = getattr(record, name)
        new = new.value if name == "gender" and new is not None else new
        if getattr(account, name) != new:
            changes[name] = [getattr(account, name), new]
            setattr(account, name, new)
    return changes


def _create_account(
    *, record: PersonRecord, school: m.School, requested: bool = False
) -> m.Account:
    [username] = usernames_allocate(
        records=[record], pattern=school.la.region.username_pattern, la_code=school.la.code
    )
    account = m.Account.objects.create(
        username=username,
        role=record.role.value,
        legal_given_name=record.legal_given_name,
        legal_family_name=record.legal_family_name,
        preferred_given_name=record.preferred_given_name,
        preferred_family_name=record.preferred_family_name,
        middle_names=record.middle_names,
        date_of_birth=record.date_of_birth,
        gender=record.gender.value if record.gender else None,
        upn=record.upn,
    )
    _place(account=account, record=record, school=school, kind="created", requested=requested)
    return account


@dataclass(frozen=True)
class LikelyAccount:
    """An existing account the matching engine says may be the person asked for."""

    account: m.Account
    score: float
    explanation: str
    places: tuple[str, ...]  # "Hillside Primary (active, MIS ID 1002)"

    def line(self) -> str:
        name = f"{self.account.legal_given_name} {self.account.legal_family_name}"
        born = f", born {self.account.date_of_birth:%d %b %Y}" if self.account.date_of_birth else ""
        where = "; ".join(self.places) or "no school"
        return f"{self.account.username} ({name}{born}; {where}): {self.explanation}"


class LikelyExistingAccounts(AccountError):
    """User Request Single found accounts that may already be this person: nothing is
    made until the person asking confirms (`create_anyway`)."""

    def __init__(self, candidates: list[LikelyAccount]):
        self.candidates = candidates
        who = "; ".join(c.line() for c in candidates)
        super().__init__(
            f"{len(candidates)} existing account{'s' if len(candidates) != 1 else ''} may "
            f"already be this person: {who}. Nothing was created: check them, or create "
            "anyway to make a second account"
        )


def request_single_candidates(*, school: m.School, record: PersonRecord) -> list[LikelyAccount]:
    """The accounts the sync's own matcher (`planning.EngineMatcher`, as a run would)
    links or offers for this person at this school, best first."""
    from rollsync.directory.selectors import directory_state_for
    from rollsync.domain.records import ImportBatch
    from rollsync.planning import EngineMatcher
    from rollsync.planning.matching import Candidates, Link

    batch = ImportBatch(
        source_format="request-single",
        reports=frozenset(),
        complete_for=frozenset(),
        people=[record],
    )
    state = directory_state_for(school=school, batch=batch)
    [decision] = EngineMatcher().match([record], state)
    found: list[tuple[int, float, str]] = []
    if isinstance(decision, Link):
        found.append((decision.account_id, 1.0, decision.explanation))
    elif isinstance(decision, Candidates):
        found.extend((c.account_id, c.score, c.explanation) for c in decision.candidates)
    # The same legal name and date of birth at this school, whatever the engine's view
    # of it (a non-MIS account here is only ever offered, never linked): always shown.
    same = m.Allocation.objects.filter(
        school=school,
        role=record.role.value,
        account__legal_given_name__iexact=record.legal_given_name,
        account__legal_family_name__iexact=record.legal_family_name,
        account__date_of_birth=record.date_of_birth,
    ).exclude(status=AllocationStatus.UNALLOCATED.value)
    seen = {account_id for account_id, _, _ in found}
    for account_id in same.values_list("account_id", flat=True):
        if account_id not in seen:
            found.append((account_id, 1.0, "the same legal name and date of birth at this school"))
            seen.add(account_id)
    accounts = m.Account.objects.in_bulk([a for a, _, _ in found])
    places: dict[int, list[str]] = {}
    for al in (
        m.Allocation.objects.filter(account_id__in=accounts)
        .exclude(status=AllocationStatus.UNALLOCATED.value)
        .select_related("school")
        .order_by("school__name")
    ):
        mis = f", MIS ID {al.mis_id}" if al.mis_id else ", no MIS ID"
        places.setdefault(al.account_id, []).append(f"{al.school.name} ({al.status}{mis})")
    return [
        LikelyAccount(accounts[a], score, _lower(explanation), tuple(places.get(a, ())))
        for a, score, explanation in found
        if a in accounts
    ]


def _lower(text: str) -> str:
    text = text.rstrip(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


@locks.retried
@transaction.atomic
def account_request_single(
    *, school: m.School, record: PersonRecord, actor: str, create_anyway: bool = False
) -> m.Account:
    """An account made by hand ahead of the MIS (User Request Single). It has no MIS ID;
    when the MIS sends the same person (same legal name and date of birth) the run links
    the record to it instead of making a second account.

    The sync's matcher runs first: when it finds accounts that may be this person, nothing
    is made (`LikelyExistingAccounts`, listing them) unless `create_anyway` confirms."""
    if not record.legal_given_name.strip() or not record.legal_family_name.strip():
        raise AccountError("a forename and a surname are required", code=INVALID)
    if record.role is not Role.CONTACT and record.date_of_birth is None:
        raise AccountError(
            "a date of birth is required so the MIS record can be matched to it later",
            code=INVALID,
        )
    locks.la_lock(school=school)  # a run of the LA may be making this person now
    candidates = request_single_candidates(school=school, record=record)
    if candidates and not create_anyway:
        raise LikelyExistingAccounts(candidates)
    account = _create_account(record=record, school=school, requested=True)
    audit = AuditLog(actor=actor, school=school)
    said = (
        f"; created anyway though {', '.join(c.account.username for c in candidates)} "
        "may be the same person"
        if candidates
        else ""
    )
    audit.add(
        "account_requested",
        f"Requested ahead of the MIS by {actor}{said}",
        account_id=account.pk,
        changes={"username": [None, account.username]},
    )
    audit.flush()
    return account


# --- accounts no MIS record backs (Review Non-MIS Accounts) ------------------------------


@transaction.atomic
def account_non_mis_keep(*, allocation: m.Allocation, actor: str) -> None:
    """A person looked at an account no MIS record backs and kept it (recorded, so the
    review list shows when and by whom)."""
    audit = AuditLog(actor=actor, school=allocation.school)
    audit.add(
        "non_mis_kept",
        f"Kept by {actor} after review: not in the MIS, still needed",
        account_id=allocation.account_id,
    )
    audit.flush()


@transaction.atomic
def account_non_mis_unallocate(*, allocation: m.Allocation, actor: str) -> None:
    """Unallocate an account no MIS record backs (restorable, never deleted)."""
    from rollsync.directory.services.sync import allocation_unallocate

    # first, as every change of the LA's places: a scheduled delta's bounds rely on it
    locks.la_lock_for_school_id(allocation.school_id)
    locked = m.Allocation.objects.select_for_update().select_related("school").get(pk=allocation.pk)
    if locked.status == AllocationStatus.UNALLOCATED.value:
        raise AccountError(f"{allocation.account.username} is already unallocated here")
    if locked.mis_id and not locked.requested_single:
        raise AccountError(
            f"{allocation.account.username} is backed by MIS ID {locked.mis_id}: the MIS decides"
        )
    audit = AuditLog(actor=actor, school=locked.school)
    allocation_unallocate(
        allocation=locked,
        audit=audit,
        reason=f"Unallocated by {actor} after review: not in the MIS",
        now=timezone.now(),
    )
    audit.flush()
