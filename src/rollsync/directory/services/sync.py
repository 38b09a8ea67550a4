"""The sync run: store the upload, parse, plan (pure), then apply in one transaction.

upload_store -> sync_run_execute -> [held] -> sync_run_approve
                                 -> sync_plan_apply (atomic, audited)
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from rollsync import ingest, planning
from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.serialize import action_to_dict, jsonable, record_to_dict
from rollsync.directory.services import bulk, locks, settled
from rollsync.directory.services.accounts import (
    IDENTITY_FIELDS,
    cross_school_case_ask,
    live_elsewhere,
)
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.errors import CONFLICT, NOT_FOUND
from rollsync.directory.services.uploads import (  # noqa: F401 - upload_store: callers' old home
    SyncError,
    upload_store,
)
from rollsync.directory.services.usernames import usernames_allocate
from rollsync.domain.actions import ActionKind, PersonAction, Plan
from rollsync.domain.records import ImportBatch, PersonRecord, Role, RowError
from rollsync.domain.reports import CATALOGUE, drop_opted_out, report_for_record
from rollsync.domain.run_status import WAITS_FOR_RUN, WAITS_ON
from rollsync.domain.state import AccountStatus, AllocationStatus
from rollsync.ops.tasklog import run_logged
from rollsync.planning import fields as planning_fields
from rollsync.planning import guard

# Where each canonical field lives: the person (account) or their place at a school
# (allocation). The planner owns the split; the apply step follows it.
ACCOUNT_FIELDS = frozenset(planning_fields.ACCOUNT_FIELDS)
ALLOCATION_FIELDS = frozenset(planning_fields.ALLOCATION_FIELDS) | {
    "leaver_pending_since",
    "status",
}


class RunError(SyncError):
    """A refused run request (approve, reject, Force run): the run's state, or what
    there is to run, refuses it; nothing was changed."""

    code = CONFLICT


def _restrict_to_accepted(batch: ImportBatch, accepted: frozenset[str]) -> list[RowError]:
    """Drop the parts of a bundle whose report the school has not accepted. Returns one
    notice per dropped report; refuses the upload when nothing in it is accepted."""
    carried = set(batch.reports)
    refused = sorted(carried - accepted)
    if not refused:
        return []
    if carried and carried <= set(refused):
        labels = ", ".join(CATALOGUE[r].label for r in refused if r in CATALOGUE)
        return [
            RowError(
                None,
                None,
                f"the school has not accepted the {labels} report; accept it in AutoUpdate Settings before uploading it",
            )
        ]
    notices = []
    for report in refused:
        spec = CATALOGUE.get(report)
        if spec is None:
            continue
        if spec.role is not None:
            kept = [p for p in batch.people if report_for_record(p) != report]
            dropped = len(batch.people) - len(kept)
            batch.people = kept
            if spec.role is Role.CONTACT:
                batch.contact_links = []
            batch.complete_for = (
                batch.complete_for - {spec.role} if not spec.future else batch.complete_for
            )
        elif report == "groups":
            dropped = len(batch.memberships)
            batch.groups, batch.memberships = [], []
        else:
            dropped = len(batch.attendance)
            batch.attendance = []
        notices.append(f"{spec.label}: not accepted by the school, {dropped} rows not processed")
    batch.reports = frozenset(carried & accepted)
    return [RowError(None, None, n, source="notice") for n in notices]


def _payload(upload: m.Upload) -> bytes:
    """The upload's bytes: as the instance holds them, or, loaded without them (a worker
    loads a task's upload so: `tasks._perform`), read as binary and kept on it."""
    if "data" in upload.get_deferred_fields():
        upload.data = selectors.upload_bytes(upload_id=upload.pk) or b""
    return bytes(upload.data)


def _parse_upload(*, upload: m.Upload, school: m.School, today: date) -> ImportBatch:
    """Parse the upload (no lock needed: it reads only the school's identity)."""
    return ingest.parse_upload(
        _payload(upload),
        fmt=upload.fmt,
        school=selectors.school_ref(school),
        report=upload.report or None,
        today=today,
    )


def _parse_in_part(
    *,
    upload: m.Upload,
    school: m.School,
    today: date,
    prior: m.SyncRun,
    also: frozenset[str] = frozenset(),
) -> ImportBatch | None:
    """The upload read in part against `prior`'s (`ingest.parse_changed`; `also`: users
    to build whatever their rows), or None: parse it in full. No lock needed: under the
    lock, `settled.partial_holds` names the accounts changed since `prior`'s plan, and
    the upload is read again if it left any of them out."""
    earlier = settled.earlier_upload(prior=prior)
    if earlier is None:
        return None
    return ingest.parse_changed(
        earlier.data,
        _payload(upload),
        fmt=upload.fmt,
        school=selectors.school_ref(school),
        refused=earlier.refused,
        also=also,
        listing=earlier.listing,
        today=today,
        report=upload.report or None,
    )


def _reread(
    also: frozenset[str], *, upload: m.Upload, school: m.School, today: date, prior: m.SyncRun
) -> ImportBatch | None:
    return _parse_in_part(upload=upload, school=school, today=today, prior=prior, also=also)


def _plan_upload(
    *,
    upload: m.Upload,
    school: m.School,
    today: date,
    acknowledged: bool,
    batch: ImportBatch | None = None,
    settlements: list[settled.Settlement] | None = None,
    settings: selectors.SchoolSettings | None = None,
    reread: Callable[[frozenset[str]], ImportBatch | None] | None = None,
    built: frozenset[str] = frozenset(),
    tries: int = 0,
) -> Plan:
    """Filter to what the school accepts and uploads, and plan. Pure but for reads.
    `batch` is the upload parsed ahead (outside the lock); it is changed here, so a
    second try parses afresh (None). `settlements` receives what the plan depended on
    beyond the upload and the directory (`settled.settlement_of`). `settings`: the
    school's settings when the caller has read them (for the run's digest).

    A batch read in part (`unchanged_keys`; the caller has checked that the directory
    stands on the earlier plan) is planned as it is unless the school no longer takes
    every report it carries (then it is parsed in full), or some of its unchanged people
    are not as that plan left them, or the directory cannot vouch for them
    (`planning.unsafe_unchanged`: waiting to be matched, an account active at another
    school, a contact link to someone the batch plans): then it is read again with them
    built (`reread`, given every MIS ID `built` so far), or in full after three tries."""
    if settings is None:
        settings = selectors.school_settings(school=school)
    if batch is not None and batch.unchanged_keys and not batch.reports <= settings.accepted:
        batch = None
    if batch is None:
        batch = _parse_upload(upload=upload, school=school, today=today)
    if batch.fatal:
        return Plan(errors=list(batch.errors))
    accepted = settings.accepted
    notices = _restrict_to_accepted(batch, accepted)
    if any(n.row is None and n.source != "notice" for n in notices):
        return Plan(errors=[*batch.errors, *notices])
    drop_opted_out(batch, settings.opted_out())
    state = selectors.directory_state_for(school=school, batch=batch, settings=settings)
    policy = selectors.school_policy(
        school=school, today=today, acknowledged=acknowledged, accepted=accepted
    )
    # One index of the snapshot for both (building it is a tenth of a churn read in part).
    index = planning.StateIndex(state)
    unsafe = (
        planning.unsafe_unchanged(batch, state, policy, index=index)
        if batch.unchanged_keys
        else None
    )
    if unsafe:
        more = built | {mis_id for _, mis_id in unsafe}
        again = reread(more) if reread is not None and tries < 3 and more != built else None
        return _plan_upload(
            upload=upload,
            school=school,
            today=today,
            acknowledged=acknowledged,
            batch=again,
            settlements=settlements,
            settings=settings,
            reread=reread,
            built=more,
            tries=tries + 1,
        )
    plan = planning.plan(
        batch,
        state,
        policy,
        username_pattern=school.la.region.username_pattern,
        index=index,
    )
    plan.errors.extend(notices)
    refusals = _refusals(batch, plan)
    if refusals:  # the run fails: it keeps the rejected rows and why, nothing else
        return Plan(
            actions=[a for a in plan.actions if a.kind is ActionKind.REJECT],
            errors=[*plan.errors, *refusals],
        )
    if settlements is not None:
        settlements.append(
            settled.settlement_of(batch=batch, state=state, plan=plan, policy=policy)
        )
    return plan


def _refusals(batch: ImportBatch, plan: Plan) -> list[RowError]:
    """Whole-file errors that make the run `failed`: an export that holds nobody, and an
    upload whose every row was rejected (never shown as applied)."""
    found = guard.nobody_listed(batch) or guard.all_rows_rejected(batch, plan)
    return [found] if found is not None else []


def _record_plan(run: m.SyncRun, plan: Plan) -> None:
    run.counts = plan.counts() | plan.relation_counts()
    run.errors = [e.as_dict() for e in plan.errors]
    run.holds = [dataclasses.asdict(h) for h in plan.holds] + [
        {**dataclasses.asdict(h), "acknowledged_by": run.approved_by}
        for h in plan.acknowledged_holds
    ]
    run.actions = [action_to_dict(a) for a in plan.actions]
    run.read_in_part = plan.unchanged_left_out > 0 or plan.members_left_out > 0


def _is_failed(plan: Plan) -> bool:
    return any(e.row is None and e.source != "notice" for e in plan.errors)


@run_logged  # its log lines name the school, upload and run (docs/operations.md)
def sync_run_execute(
    *,
    upload: m.Upload,
    dry_run: bool = False,
    as_of: date | None = None,
    actor: str = "cli",
) -> m.SyncRun:
    """Process one upload for its school. Never raises on bad data: the run records it."""
    started = time.perf_counter()
    school = selectors.school_get(urn=upload.school.urn)
    run = m.SyncRun(
        upload=upload,
        school=school,
        status=m.SyncRun.Status.FAILED,
        dry_run=dry_run,
        as_of=as_of or timezone.localdate(),
    )
    run = _plan_and_apply(run=run, school=school, started=started, actor=actor, acknowledged=False)
    if run.status == m.SyncRun.Status.APPLIED and not run.dry_run:
        sync_waiting_release(school=school, actor=actor)  # a held run it overtook
    return run


@contextmanager
def _no_collections() -> Iterator[None]:
    """A run makes and keeps hundreds of thousands of small objects (records, the
    snapshot, the plan) and frees them all by reference counting: it makes no cycles
    (`tests/directory/test_run_garbage.py`). Python's cycle collector still walks each
    object it keeps once or twice for no garbage: 6% of a first import's CPU and 11-14%
    of a 1% churn's, even at a first threshold of 50,000 (docs/performance.md). So the
    collector rests while a run holds them, and takes up where it was after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _plan_and_apply(
    *, run: m.SyncRun, school: m.School, started: float, actor: str, acknowledged: bool
) -> m.SyncRun:
    """Parse (outside any lock, so schools overlap usefully), then plan and apply under
    the LA's lock (`_plan_and_apply_once`). A lost race (deadlock, serialization
    failure, a username taken meanwhile, SQLite busy) rolls the try back and plans
    again from the directory as it then is; only the last try's failure is recorded."""
    with _no_collections():
        return _plan_and_apply_tries(
            run=run, school=school, started=started, actor=actor, acknowledged=acknowledged
        )


def _plan_and_apply_tries(
    *, run: m.SyncRun, school: m.School, started: float, actor: str, acknowledged: bool
) -> m.SyncRun:
    # The same bytes as the last applied run of the report: not parsed now, and not at all
    # when the check under the lock finds nothing changed since (docs/decisions/0088).
    standing = None if acknowledged else settled.standing_on(run=run)
    prior = settled.skip_candidate(run=run, standing=standing)
    # Other bytes than that run's: read in part against it when the directory still
    # stands on its plan (only the people whose rows changed are built and planned).
    candidate = None if prior else settled.partial_candidate(run=run, standing=standing)
    in_part_on, touched = candidate if candidate is not None else (None, frozenset[str]())
    # Held in a list the first try takes it from: once planned, nothing here keeps the
    # batch alive while the plan is applied (peak memory, docs/performance.md).
    parsed: list[ImportBatch] = []
    try:
        if prior is None:
            batch = None
            if in_part_on is not None:
                batch = _parse_in_part(
                    upload=run.upload,
                    school=school,
                    today=run.as_of,
                    prior=in_part_on,
                    also=touched,
                )
            if batch is None:
                batch = _parse_upload(upload=run.upload, school=school, today=run.as_of)
            parsed.append(batch)
    except Exception as exc:  # a bug must not lose the upload: the run records it
        return _finish(
            run,
            started,
            failure=f"internal error while planning: {locks.public_error(exc)}",
            detail=locks.public_traceback(exc),
        )
    kept = (run.pk, run.status, run.applied_at)
    for attempt in range(locks.ATTEMPTS):
        try:
            return _plan_and_apply_once(
                run=run,
                school=school,
                started=started,
                actor=actor,
                acknowledged=acknowledged,
                parsed=parsed,
                prior=prior,
                in_part_on=in_part_on,
                touched=touched,
            )
        except _LostRace as lost:
            exc = lost.cause
            if attempt == locks.ATTEMPTS - 1:
                what = (
                    "apply failed, nothing was changed"
                    if lost.stage == "apply"
                    else "internal error while planning"
                )
                return _finish(
                    run,
                    started,
                    failure=f"{what}: {locks.public_error(exc)}",
                    detail=locks.public_traceback(exc),
                )
            parsed.clear()  # planning changed it: the next try parses afresh
            run.pk, run.status, run.applied_at = kept  # as before the rolled-back try
            locks.pause(attempt)
    raise AssertionError("unreachable")  # pragma: no cover


class _NoLongerHeld(Exception):
    """An approval found, under the lock, that another approval or a rejection came first."""

    def __init__(self, status: str | None) -> None:
        super().__init__(status)
        self.status = status


def _check_still_held(run: m.SyncRun, *, acknowledged: bool) -> None:
    if not acknowledged or run.pk is None:
        return
    # Locked (after the LA): a rejection waits for this approval, or came first.
    status = (
        m.SyncRun.objects.select_for_update()
        .filter(pk=run.pk)
        .values_list("status", flat=True)
        .first()
    )
    if status != m.SyncRun.Status.HELD:
        raise _NoLongerHeld(status)


class _LostRace(Exception):
    def __init__(self, cause: BaseException, stage: str) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.stage = stage


# A plan that makes at least this many accounts (a first import, a big intake) lets go
# of the matcher's caches before it is applied (`_release_planning_memory`).
_RELEASE_AFTER_CREATES = 1_000


def _release_planning_memory(plan: Plan) -> None:
    """Between planning and applying a plan that makes many accounts: let go of what only
    planning needed, so applying reuses that memory instead of adding to it (a
    5,000-pupil first import peaked at 205 MiB resident; docs/performance.md, Memory).
    The matcher's caches then hold the new records' keys, which no later run asks for
    (it compares the accounts made from them); after any other plan they hold the
    school's accounts, which the next run compares again, so they stay. glibc is then
    asked to hand the freed heap back (`malloc_trim`; a no-op elsewhere)."""
    creates = sum(1 for a in plan.actions if a.kind is ActionKind.CREATE)
    if creates < _RELEASE_AFTER_CREATES:
        return
    from rollsync.matching import blocking, normalise, subject

    subject.prepare.cache_clear()
    blocking._name_keys.cache_clear()
    normalise.fold.cache_clear()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _let_go_of_bytes(upload: m.Upload) -> None:
    """Once planned, nothing in a run reads its upload's bytes: they are let go before
    it applies (a SIMS Groups report, 12 MB of XML, stood beside its 47,000 memberships
    being written: the first import's resident peak, docs/performance.md, Memory). They
    are a deferred field again, which a try that plans again reads back from the
    database (`_payload`)."""
    upload.__dict__.pop("data", None)


def _libc() -> Any:
    try:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        lib = ctypes.CDLL(name) if name else None
        return lib if lib is not None and hasattr(lib, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _libc()


def _plan_and_apply_once(
    *,
    run: m.SyncRun,
    school: m.School,
    started: float,
    actor: str,
    acknowledged: bool,
    parsed: list[ImportBatch],
    prior: m.SyncRun | None = None,
    in_part_on: m.SyncRun | None = None,
    touched: frozenset[str] = frozenset(),
) -> m.SyncRun:
    """Plan against the directory and apply, in one transaction that holds the LA's
    lock (`locks.la_lock`): two runs of one LA (one school's or two local schools')
    never plan against the same state, so neither applies a stale plan, and a person
    arriving at two local schools at once is made once. With `prior` (the same bytes
    as that applied run), the run is recorded as applied with no changes when nothing
    it could plan differently has happened since (`settled.skip_holds`). A batch read
    in part against `in_part_on` is planned with the people whose accounts changed since
    that run built (`settled.partial_holds`); a change of the school's settings meanwhile
    makes it parsed and planned in full."""
    stage = "planning"
    try:
        with transaction.atomic():
            locks.la_lock(school=school)
            _check_still_held(run, acknowledged=acknowledged)
            if _overtaken(run=run, school=school, actor=actor, held=acknowledged):
                return _finish(run, started)
            if not acknowledged and _waits(run=run, school=school, actor=actor):
                return _finish(run, started)
            # Read before planning: a setting changed meanwhile makes the digest differ
            # from what the plan read, so a later upload is planned in full, never skipped.
            # The school's settings, read once for the skip, the digest and the plan.
            settings = selectors.school_settings(school=school)
            if prior is not None and settled.skip_holds(run=run, prior=prior, settings=settings):
                settled.skip_record(run=run, prior=prior)
                return _finish(run, started)
            if prior is not None:
                # The same bytes, but something its plan reads happened since: read in
                # part against that run, as other bytes would be (no line differs: only
                # the people touched since, and those a date may change, are built).
                # Asked only now, under the lock: a skip that holds asks nothing more.
                in_part_on, touched = _same_bytes_in_part(
                    run=run, prior=prior, parsed=parsed, settings=settings
                )
            digest = (
                ""
                if run.dry_run
                else settled.settled_digest(upload=run.upload, school=school, settings=settings)
            )
            settlements: list[settled.Settlement] = []
            batch = parsed.pop() if parsed else None
            built = touched
            reread = (
                None
                if in_part_on is None
                else functools.partial(
                    _reread, upload=run.upload, school=school, today=run.as_of, prior=in_part_on
                )
            )
            if batch is not None and batch.unchanged_keys:
                assert in_part_on is not None and reread is not None
                now = settled.partial_holds(
                    run=run, prior=in_part_on, school=school, settings=settings
                )
                if now is None:
                    batch = None  # the settings changed meanwhile: parse and plan in full
                elif not now <= touched:
                    # Accounts touched meanwhile: their people are built too.
                    built = touched | now
                    batch = reread(built)
            plan = _plan_upload(
                upload=run.upload,
                school=school,
                today=run.as_of,
                acknowledged=acknowledged,
                batch=batch,
                reread=reread,
                built=built,
                settlements=settlements,
                settings=settings,
            )
            _record_plan(run, plan)
            _release_planning_memory(plan)
            _let_go_of_bytes(run.upload)
            if _is_failed(plan):
                run.status = m.SyncRun.Status.FAILED
            elif run.dry_run:
                run.status = m.SyncRun.Status.PREVIEW
            elif plan.held:
                run.status = m.SyncRun.Status.HELD
            else:
                stage = "apply"
                sync_plan_apply(
                    run=run,
                    plan=plan,
                    school=school,
                    actor=actor,
                    started=started,
                    settled_on=(digest, settlements[0]) if settlements else None,
                )
                return run
    except _NoLongerHeld:
        raise
    except Exception as exc:  # a bug must not lose the upload: the run records it
        if locks.is_lost_race(exc):
            raise _LostRace(exc, stage) from exc  # tried again by _plan_and_apply
        what = (
            "apply failed, nothing was changed"
            if stage == "apply"
            else "internal error while planning"
        )
        return _finish(
            run,
            started,
            failure=f"{what}: {locks.public_error(exc)}",
            detail=locks.public_traceback(exc),
        )
    return _finish(run, started)


def _same_bytes_in_part(
    *,
    run: m.SyncRun,
    prior: m.SyncRun,
    parsed: list[ImportBatch],
    settings: selectors.SchoolSettings,
) -> tuple[m.SyncRun | None, frozenset[str]]:
    """For an upload of the same bytes as `prior`'s whose skip did not hold: the run it
    is read in part against and the MIS IDs built whatever their rows
    (`settled.partial_candidate`), with the batch put in `parsed`; (None, nothing) when it
    cannot be read in part (then it is parsed in full). Before, such an upload was
    parsed and planned in full: a school's unchanged Students file every night after a
    night with a starter, once anything happened in its LA (docs/performance.md).
    `settings`: the school's, read under the lock for the skip (not read again)."""
    found = settled.partial_candidate(run=run, standing=prior, settings=settings)
    if found is None:
        return None, frozenset()
    in_part_on, touched = found
    batch = _parse_in_part(
        upload=run.upload, school=run.school, today=run.as_of, prior=in_part_on, also=touched
    )
    if batch is None:
        return None, frozenset()
    parsed.append(batch)
    return in_part_on, touched


def _finish(
    run: m.SyncRun, started: float, *, failure: str | None = None, detail: str = ""
) -> m.SyncRun:
    if failure is not None:
        # The transaction rolled back; the in-memory run may carry the plan it could not apply.
        run.status = m.SyncRun.Status.FAILED
        run.applied_at = None
        run.errors = [*(run.errors or []), {"row": None, "field": None, "message": failure}]
        run.detail = detail
    run.seconds = time.perf_counter() - started
    if run.pk is not None and not m.SyncRun.objects.filter(pk=run.pk).exists():
        run.pk = None  # rolled back with the failed transaction: store it afresh
    run.save()
    run.upload.outcome = run.status
    run.upload.save(update_fields=["outcome"])
    return run


@transaction.atomic
def sync_plan_apply(
    *,
    run: m.SyncRun,
    plan: Plan,
    school: m.School,
    actor: str,
    started: float,
    settled_on: tuple[str, settled.Settlement] | None = None,
) -> None:
    """Carry out a plan in one transaction; every change gets an audit event.
    `settled_on`: the digest and settlement a later unchanged upload may stand on
    (`services.settled`), recorded with the run once its events are written."""
    now = timezone.now()
    run.status = m.SyncRun.Status.APPLIED
    run.applied_at = now
    run.save()
    who = f"run {run.pk}" + (f" approved by {run.approved_by}" if run.approved_by else "")
    audit = AuditLog(actor=who, run=run, school=school)
    applier = _PlanApplier(run=run, school=school, audit=audit, now=now)
    applier.apply_people(plan.actions)
    applier.apply_relations(plan)
    audit.flush()
    saved = ["seconds"]
    if settled_on is not None:
        digest, settlement = settled_on
        settled.settled_set(run=run, digest=digest, settlement=settlement)
        saved += settled.SETTLED_FIELDS
        if settlement.listing is not None:
            settled.listing_keep(upload=run.upload, listing=settlement.listing)
    run.seconds = time.perf_counter() - started
    run.save(update_fields=saved)
    run.upload.outcome = run.status
    run.upload.save(update_fields=["outcome"])


_CREATE_SLICE = 1000  # new accounts made (and their events written) at a time
# Rows a bulk INSERT writes in one statement (the backend may allow fewer: SQLite's bound
# on parameters): a slice's rows in one statement, not two (queries a first-load run).
INSERT_BATCH = _CREATE_SLICE


def _touches_allocation(action: PersonAction) -> bool:
    """Whether applying `action` reads or changes its allocation here: every kind with a
    handler does, and leavers and updates (`_apply_together`), but an unchanged person
    with no identity change withheld."""
    if action.allocation_id is None or action.kind is ActionKind.CREATE:
        return False
    if action.kind is ActionKind.UNCHANGED:
        return bool(action.withheld)
    return action.kind in _TOGETHER or hasattr(_PlanApplier, f"_on_{action.kind.value}")


class _PlanApplier:
    def __init__(self, *, run: m.SyncRun, school: m.School, audit: AuditLog, now: Any):
        self.run = run
        self.school = school
        self.audit = audit
        self.now = now
        self.today = run.as_of
        # MIS ID -> account id at this school once people are applied (relations use it).
        self._account_by_mis: dict[tuple[Role, str], int] | None = None
        # The MIS IDs the plan's relations name (`apply_relations`); None: every one.
        self._relations_name: set[str] | None = None
        # Accounts still active at another school: their identity waits for that school.
        self.holding: dict[int, m.School] = {}
        self.moves = _MoveIns()

    # -- people ---------------------------------------------------------------

    def apply_people(self, actions: list[PersonAction]) -> None:
        creates = [a for a in actions if a.kind is ActionKind.CREATE]
        self._create_accounts(creates)
        # Only the allocations some handler changes or reads are loaded as model objects:
        # an unchanged person (most of a nightly run) costs no row read here.
        allocations = {
            al.pk: al
            for al in selectors.in_chunks(
                m.Allocation.objects.select_related("account"),
                {a.allocation_id for a in actions if _touches_allocation(a)},
            )
        }
        # Only actions that would change someone need to know who else holds them.
        changing = [a for a in actions if a.changes or a.withheld]
        self.holding = live_elsewhere(
            account_ids={a.account_id for a in changing if a.account_id is not None}
            | {
                allocations[a.allocation_id].account_id
                for a in changing
                if a.allocation_id in allocations
            },
            school=self.school,
        )
        self.moves.prefetch(
            [a for a in actions if a.kind is ActionKind.MOVE_IN], school=self.school
        )
        # Leavers, or updates, one after another: applied together (`_apply_together`).
        together: list[tuple[PersonAction, m.Allocation]] = []
        for action in actions:
            if action.kind is ActionKind.CREATE:
                continue
            if action.kind is ActionKind.UNCHANGED and not action.withheld:
                continue  # nothing to apply (`_on_unchanged`): it parts no leavers
            allocation = allocations.get(action.allocation_id) if action.allocation_id else None
            if action.kind in _TOGETHER:
                if together and together[0][0].kind is not action.kind:
                    self._apply_together(together)
                together.append((action, _require(allocation, action)))
                continue
            handler = getattr(self, f"_on_{action.kind.value}", None)
            if handler is None:
                continue
            self._apply_together(together)
            if action.kind in _DEFERRED_KINDS:
                handler(action, allocation)
                continue
            # It reads or writes the directory itself: the move-ins so far are written
            # first, and what it changed is read again by a later move-in of the account.
            self.moves.write(now=self.now)
            handler(action, allocation)
            self.moves.forget(action.account_id, allocation.account_id if allocation else None)
        self._apply_together(together)
        self.moves.write(now=self.now)

    @property
    def account_by_mis(self) -> dict[tuple[Role, str], int]:
        """Read once people are applied, and only by a run with relations to apply (a
        people-only run, half a night's, needs none: one query less)."""
        if self._account_by_mis is None:
            rows = (
                m.Allocation.objects.filter(school=self.school)
                .exclude(mis_id="")
                .values_list("role", "mis_id", "account_id")
            )
            named = self._relations_name
            self._account_by_mis = {
                (Role(role), mis_id): account_id
                for role, mis_id, account_id in (
                    rows if named is None else selectors.named_or_all(rows, named, field="mis_id")
                )
            }
        return self._account_by_mis

    def _create_accounts(self, creates: list[PersonAction]) -> None:
        if not creates:
            return
        records = [_require_record(a) for a in creates]
        usernames = usernames_allocate(
            records=records,
            pattern=self.school.la.region.username_pattern,
            la_code=self.school.la.code,
        )
        # In slices: a first import's accounts, places and events are not all held as
        # model objects at once (the audit events are written in order as they go).
        for start in range(0, len(creates), _CREATE_SLICE):
            end = start + _CREATE_SLICE
            self._create_slice(creates[start:end], usernames[start:end])

    def _create_slice(self, creates: list[PersonAction], usernames: list[str]) -> None:
        records = [_require_record(a) for a in creates]
        # Rows, not model objects: nothing reads them back but their keys (`bulk`).
        account_ids = bulk.insert_rows(
            m.Account,
            [
                {
                    "username": username,
                    "role": record.role.value,
                    "status": AccountStatus.ACTIVE.value,
                    **_account_values(record),
                }
                for record, username in zip(records, usernames, strict=True)
            ],
            batch_size=INSERT_BATCH,
            returning=True,
        )
        # (a new account is nobody else's: nothing to withhold; `withheld` is never applied)
        allocations = []
        for action, record, account_id, username in zip(
            creates, records, account_ids, usernames, strict=True
        ):
            allocations.append(
                {
                    "account_id": account_id,
                    "school_id": self.school.pk,
                    "role": record.role.value,
                    "status": action.status or AllocationStatus.ACTIVE.value,
                    "source_report": report_for_record(record),
                    "last_move_or_create_at": self.now,
                    "last_move_or_create_kind": "created",
                    **_allocation_values(record),
                }
            )
            self.audit.add(
                "account_created",
                action.reason,
                account_id=account_id,
                changes={"username": [None, username], "mis_id": [None, record.mis_id]},
            )
        bulk.insert_rows(m.Allocation, allocations, batch_size=INSERT_BATCH)
        self.audit.flush_if_many()

    def _apply_together(self, together: list[tuple[PersonAction, m.Allocation]]) -> None:
        """Consecutive actions of one kind of `_TOGETHER` (the list is emptied)."""
        if together and together[0][0].kind is ActionKind.UNALLOCATE:
            self._unallocate_all(together)
        elif together:
            self._update_all(together)

    def _update_all(self, updating: list[tuple[PersonAction, m.Allocation]]) -> None:
        """UPDATE actions that follow one another, applied as one after another would
        be, their rows written together: each place and account changed in memory in the
        actions' order, its event added in that order, then one statement a table for
        the columns any of them changed (a September night changes every pupil's year
        group: a few statements, not two a pupil). Two places of one account change
        one account. `updating` is emptied."""
        self.moves.write(now=self.now)
        places: list[m.Allocation] = []
        place_fields: set[str] = set()
        accounts: dict[int, m.Account] = {}
        account_fields: set[str] = set()
        for action, allocation in updating:
            changes = self._safe_changes(action, allocation.account_id)
            account = accounts.get(allocation.account_id, allocation.account)
            place_fields |= _set_place(allocation, changes)
            changed = _set_account(account, changes)
            if changed:
                account_fields |= changed
                accounts[account.pk] = account
            places.append(allocation)
            if changes:
                self.audit.add(
                    "account_updated",
                    action.reason,
                    account_id=allocation.account_id,
                    changes=changes,
                )
        _write_changed(m.Allocation, places, place_fields, now=self.now)
        _write_changed(m.Account, list(accounts.values()), account_fields, now=self.now)
        for action, allocation in updating:
            self.moves.forget(action.account_id, allocation.account_id)
        updating.clear()

    def _on_move_in(self, action: PersonAction, allocation: m.Allocation | None) -> None:
        """Staff and contacts (and pupils) who already have an account at another school
        of the LA. Their rows are changed in memory here and written with the run's other
        move-ins in a few statements (`_MoveIns.write`); the audit events are added in
        the actions' order, as before."""
        record = _require_record(action)
        moves = self.moves
        account = moves.account(action.account_id)
        if allocation is None:  # a new place here for an account from a local school
            # An allocation here from before (unallocated) keeps what the record lacks.
            allocation = moves.place(account=account, school=self.school, role=record.role.value)
            allocation.status = action.status or AllocationStatus.ACTIVE.value
            allocation.source_report = report_for_record(record)
            allocation.requested_single = False
            allocation.leaver_pending_since = None
            allocation.unallocated_at = None
        else:  # an account requested ahead of the MIS: the MIS record now backs it
            allocation.requested_single = False
            allocation.status = action.status or AllocationStatus.ACTIVE.value
            moves.keep(allocation)
        for name, value in _allocation_values(record).items():
            setattr(allocation, name, value)
        allocation.last_move_or_create_at = self.now
        allocation.last_move_or_create_kind = "moved"
        changes = self._safe_changes(action, account.pk)
        for name in _set_account(account, changes):
            moves.dirty(account, name)
        if account.status != AccountStatus.ACTIVE.value:
            account.status = AccountStatus.ACTIVE.value
            moves.dirty(account, "status")
        self.audit.add("account_moved_in", action.reason, account_id=account.pk, changes=changes)

    def _on_unchanged(self, action: PersonAction, allocation: m.Allocation | None) -> None:
        """Nothing to apply; identity changes the planner withheld still go to the
        school that holds the account (a case it sees), not nowhere."""
        if action.withheld and allocation is not None:
            self._safe_changes(action, allocation.account_id)

    def _on_restore(self, action: PersonAction, allocation: m.Allocation | None) -> None:
        allocation = _require(allocation, action)
        allocation.status = action.status or AllocationStatus.ACTIVE.value
        allocation.unallocated_at = None
        allocation.leaver_pending_since = None
        changes = self._safe_changes(action, allocation.account_id)
        self._apply_changes(allocation, changes, reactivate=True)
        self.audit.add(
            "account_restored",
            action.reason,
            account_id=allocation.account_id,
            changes=changes,
        )

    def _on_mark_leaver(self, action: PersonAction, allocation: m.Allocation | None) -> None:
        allocation = _require(allocation, action)
        self._apply_record_changes(allocation, action)
        if allocation.leaver_pending_since is None:
            allocation.leaver_pending_since = self.today
            allocation.save(update_fields=["leaver_pending_since", "updated_at"])
            self.audit.add(
                "leaver_pending",
                action.reason,
                account_id=allocation.account_id,
                changes={"leaver_pending_since": [None, self.today]},
            )

    def _unallocate_all(self, leaving: list[tuple[PersonAction, m.Allocation]]) -> None:
        """UNALLOCATE actions that follow one another, applied as one after another
        would be (`allocations_unallocate`); `leaving` is emptied."""
        if not leaving:
            return
        self.moves.write(now=self.now)
        for action, allocation in leaving:
            if allocation.school_id == self.school.pk:
                allocation.school = self.school  # its event names the school: no read each
            self._apply_record_changes(allocation, action)
        allocations_unallocate(
            ending=[(allocation, action.reason) for action, allocation in leaving],
            audit=self.audit,
            now=self.now,
        )
        for action, allocation in leaving:
            self.moves.forget(action.account_id, allocation.account_id)
        leaving.clear()

    def _on_needs_matching(self, action: PersonAction, allocation: m.Allocation | None) -> None:
        record = _require_record(action)
        case = m.MatchCase.objects.filter(
            school=self.school,
            role=record.role.value,
            mis_id=record.mis_id,
            status=m.MatchCase.Status.OPEN,
        ).first()
        if case is not None and not action.candidates:
            # Already waiting: the planner did not look again, so the case keeps the
            # candidates and explanation a person is working from; only the record refreshes.
            if case.record != record_to_dict(record):
                case.record = record_to_dict(record)
                case.save(update_fields=["record"])
            return
        accounts = selectors.accounts_by_ids(c.account_id for c in action.candidates)
        candidates = [
            {
                "account_id": c.account_id,
                "username": accounts[c.account_id].username if c.account_id in accounts else None,
                "score": c.score,
                "explanation": c.explanation,
            }
            for c in action.candidates
        ]
        if case is None:
            case = m.MatchCase.objects.create(
                school=self.school,
                run=self.run,
                role=record.role.value,
                mis_id=record.mis_id,
                record=record_to_dict(record),
                candidates=candidates,
                reason=action.reason,
            )
            self.audit.add(
                "match_case_opened",
                action.reason,
                changes={"case": case.pk, "mis_id": record.mis_id},
            )
        else:
            case.record, case.candidates, case.reason = (
                record_to_dict(record),
                candidates,
                action.reason,
            )
            case.save(update_fields=["record", "candidates", "reason"])

    # -- helpers --------------------------------------------------------------

    def _safe_changes(self, action: PersonAction, account_id: int) -> dict[str, tuple[Any, Any]]:
        """The action's changes this run may make. Never a field the record does not
        clearly carry (the stored value stays); never `withheld`; and, for an account
        still active at another school, never an identity field: those go, with
        `withheld`, into a cross-school case that school has to agree to."""
        unknown = action.record.unknown_fields if action.record is not None else frozenset()
        changes = {k: v for k, v in action.changes.items() if k not in unknown}
        asked = {k: v for k, v in action.withheld.items() if k not in unknown}
        holding = self.holding.get(account_id)
        if holding is not None:
            for name in IDENTITY_FIELDS & changes.keys():
                asked.setdefault(name, changes.pop(name))
        if asked:
            self._ask_other_school(action, account_id, holding, asked)
        return changes

    def _ask_other_school(
        self,
        action: PersonAction,
        account_id: int,
        holding: m.School | None,
        asked: dict[str, tuple[Any, Any]],
    ) -> None:
        # A move-in of this run may have changed the account in memory, not yet written.
        account = self.moves.accounts.get(account_id) or m.Account.objects.get(pk=account_id)
        if holding is None:  # the planner withheld it; the directory names the school
            holding = live_elsewhere(account_ids=[account_id], school=self.school).get(account_id)
        stored = {
            name: [jsonable(getattr(account, name)), jsonable(new)]
            for name, (_, new) in asked.items()
            if name in IDENTITY_FIELDS
        }
        if holding is None:
            # Nobody else holds the account any more: still not applied by this run
            # (the planner said to withhold); the next run plans it afresh.
            self.audit.add(
                "identity_change_withheld",
                f"Not applied for MIS ID {action.mis_id}: {action.reason}",
                account_id=account_id,
                changes=stored,
            )
            return
        cross_school_case_ask(
            account=account,
            school=self.school,
            holding_school=holding,
            role=action.role.value,
            mis_id=action.mis_id,
            asked=stored,
            reason=action.reason,
            audit=self.audit,
            run=self.run,
        )

    def _apply_record_changes(self, allocation: m.Allocation, action: PersonAction) -> None:
        """A leaver's record may still bring changes (a leaving date set in the MIS)."""
        from_record = {
            name: change
            for name, change in self._safe_changes(action, allocation.account_id).items()
            if name in ACCOUNT_FIELDS or name in planning_fields.ALLOCATION_FIELDS
        }
        if from_record:
            self._apply_changes(allocation, from_record)

    def _apply_changes(
        self,
        allocation: m.Allocation,
        changes: dict[str, tuple[Any, Any]],
        *,
        reactivate: bool = False,
    ) -> None:
        _set_place(allocation, changes)
        allocation.save()
        self._update_account(allocation.account, changes, reactivate=reactivate)

    def _update_account(
        self, account: m.Account, changes: dict[str, tuple[Any, Any]], *, reactivate: bool
    ) -> None:
        dirty = bool(_set_account(account, changes))
        if reactivate and account.status != AccountStatus.ACTIVE.value:
            account.status = AccountStatus.ACTIVE.value
            dirty = True
        if dirty:
            account.save()

    # -- groups, contacts, attendance --------------------------------------------

    def apply_relations(self, plan: Plan) -> None:
        # Only the places of the MIS IDs the relations name are read (`account_by_mis`):
        # a night's few, not the school's thousands.
        self._relations_name = (
            {person_mis for _, _, person_mis, _ in plan.groups.add_members}
            | {link.contact_mis_id for link in plan.contact_links.upsert}
            | {link.pupil_mis_id for link in plan.contact_links.upsert}
            | {mark.pupil_mis_id for mark in plan.attendance.upsert}
        )
        # The audit events are written in order, in the same transaction: after a part
        # when many are held (a first import's tens of thousands of membership events are
        # not all held in memory at once), else all together at the end of the run.
        self.audit.flush_if_many()
        _apply_groups(self, plan)
        self.audit.flush_if_many()
        _apply_contact_links(self, plan)
        self.audit.flush_if_many()
        _apply_attendance(self, plan)


# Kinds whose consecutive actions are applied together (`_PlanApplier._apply_together`).
_TOGETHER = frozenset({ActionKind.UNALLOCATE, ActionKind.UPDATE})


def _set_place(allocation: m.Allocation, changes: dict[str, tuple[Any, Any]]) -> set[str]:
    """Set, in memory, the place's fields among `changes`; their names."""
    names = {name for name in changes if name in ALLOCATION_FIELDS}
    for name in names:
        new = changes[name][1]
        setattr(allocation, name, jsonable(new) if name == "status" else new)
    return names


def _set_account(account: m.Account, changes: dict[str, tuple[Any, Any]]) -> set[str]:
    """Set, in memory, the account's fields among `changes`; their names."""
    names = {name for name in changes if name in ACCOUNT_FIELDS}
    for name in names:
        new = changes[name][1]
        setattr(account, name, jsonable(new) if name == "gender" else new)
    return names


def _write_changed(
    model: type[m.Allocation] | type[m.Account],
    rows: list[Any],
    fields: set[str],
    *,
    now: Any,
) -> None:
    """Write `fields` of `rows` (changed in memory) and their `updated_at`, in one
    statement a slice; a row written twice is written once (each is one object)."""
    if not rows:
        return
    for row in rows:
        row.updated_at = now
    unique = list({row.pk: row for row in rows}.values())
    model.objects.bulk_update(unique, sorted(fields | {"updated_at"}), batch_size=500)


# Handlers that only change rows `_MoveIns` holds in memory (or nothing): the run's
# move-ins are written after them, not before.
_DEFERRED_KINDS = frozenset({ActionKind.MOVE_IN, ActionKind.UNCHANGED})
# An allocation's columns a move-in may set (all but its key, its account, school, role).
_PLACE_FIELDS = [
    f.name
    for f in m.Allocation._meta.concrete_fields
    if f.name not in {"id", "account", "school", "role", "created_at"}
]


class _MoveIns:
    """The run's move-ins, applied together: their accounts and any earlier places at
    this school read in two queries, and the places and accounts written in one
    statement each (per 500), whatever the number of people (it was a get-or-create and
    two saves each: a quarter of a first load in an LA where staff and contacts are
    already known)."""

    def __init__(self) -> None:
        self.school: m.School | None = None
        self.accounts: dict[int, m.Account] = {}
        self.known: set[int] = set()  # accounts whose places here are in `places`
        self.places: dict[tuple[int, str], m.Allocation] = {}
        self.new: list[m.Allocation] = []
        self.kept: dict[int, m.Allocation] = {}
        self.changed: dict[int, set[str]] = {}

    def prefetch(self, actions: list[PersonAction], *, school: m.School) -> None:
        self.school = school
        self._read({a.account_id for a in actions if a.account_id is not None})

    def _read(self, ids: set[int]) -> None:
        if not ids:
            return
        self.accounts.update(m.Account.objects.in_bulk(ids))
        for al in selectors.in_chunks(
            m.Allocation.objects.filter(school=self.school), ids, field="account_id"
        ):
            self.places[(al.account_id, al.role)] = al
        self.known |= ids

    def forget(self, *account_ids: int | None) -> None:
        """Another handler may have changed these accounts (or their places here)."""
        for pk in account_ids:
            if pk is not None and pk in self.known:
                self.known.discard(pk)
                self.accounts.pop(pk, None)
                for key in [k for k in self.places if k[0] == pk]:
                    del self.places[key]

    def account(self, account_id: int | None) -> m.Account:
        if account_id is None:
            raise SyncError("a move-in names no account")
        if account_id not in self.known:  # forgotten (or, never, not prefetched)
            self._read({account_id})
        return self.accounts[account_id]

    def place(self, *, account: m.Account, school: m.School, role: str) -> m.Allocation:
        """The account's place at this school in this role: the one from before, or a
        new one (two MIS IDs of one account in one run share it, as the unique key says)."""
        allocation = self.places.get((account.pk, role))
        if allocation is None:
            allocation = m.Allocation(account=account, school=school, role=role)
            self.places[(account.pk, role)] = allocation
            self.new.append(allocation)
        elif allocation.pk is not None:
            self.keep(allocation)
        return allocation

    def keep(self, allocation: m.Allocation) -> None:
        """An existing place changed in memory: written with the others (and the one a
        later move-in of the same account and role finds)."""
        self.kept[allocation.pk] = allocation
        self.places[(allocation.account_id, allocation.role)] = allocation

    def dirty(self, account: m.Account, name: str) -> None:
        self.changed.setdefault(account.pk, set()).add(name)

    def write(self, *, now: Any) -> None:
        """Write what the move-ins so far changed (then nothing is pending)."""
        if self.new:
            m.Allocation.objects.bulk_create(self.new, batch_size=INSERT_BATCH)
            self.new = []
        if self.kept:
            _write_changed(m.Allocation, list(self.kept.values()), set(_PLACE_FIELDS), now=now)
            self.kept = {}
        if self.changed:
            accounts = [self.accounts[pk] for pk in self.changed]
            _write_changed(m.Account, accounts, set().union(*self.changed.values()), now=now)
            self.changed = {}


def _apply_groups(ap: _PlanApplier, plan: Plan) -> None:
    """Groups and memberships are ended, never deleted; one that comes back in a later
    export is re-opened (the same row: its history stays with it)."""
    changes = plan.groups
    if not (changes.upsert or changes.remove or changes.add_members or changes.remove_members):
        return
    named = {record.mis_id for record in changes.upsert} | set(changes.remove)
    named |= {group_mis for group_mis, _, _ in changes.remove_members}
    named |= {group_mis for group_mis, _, _, _ in changes.add_members}
    # Only the groups the plan names: a night's few, not the school's thousand-odd.
    groups = m.Group.objects.filter(school=ap.school)
    existing = {g.mis_id: g for g in selectors.named_or_all(groups, named, field="mis_id")}
    created: list[m.Group] = []
    for record in changes.upsert:
        group = existing.get(record.mis_id)
        if group is None:
            group = m.Group(
                school=ap.school,
                mis_id=record.mis_id,
                name=record.name,
                kind=record.kind.value,
                modified_at=ap.now,
            )
            existing[record.mis_id] = group
            created.append(group)
            ap.audit.add(
                "group_created", f"Group {record.name} ({record.mis_id}) is new in the MIS"
            )
            continue
        if group.ended_at is not None:
            ap.audit.add(
                "group_reopened",
                f"Group {record.name} ({record.mis_id}) is in the MIS again",
                changes={"ended_at": [group.ended_at, None]},
            )
            group.ended_at, group.modified_at = None, ap.now
            group.save(update_fields=["ended_at", "modified_at"])
        if (group.name, group.kind) != (record.name, record.kind.value):
            ap.audit.add(
                "group_updated",
                f"Group {record.mis_id} changed in the MIS",
                changes={
                    "name": [group.name, record.name],
                    "kind": [group.kind, record.kind.value],
                },
            )
            group.name, group.kind, group.modified_at = record.name, record.kind.value, ap.now
            if group.pk is not None:  # a group made above is stored with the others
                group.save()
    # New groups in one statement (their keys come back: memberships need them).
    m.Group.objects.bulk_create(created, batch_size=INSERT_BATCH)
    # The open memberships being ended, read and ended together (was an UPDATE each).
    leaving = [
        (group, account_id, role)
        for group_mis, account_id, role in changes.remove_members
        if (group := existing.get(group_mis)) is not None and group.pk is not None
    ]
    open_rows: dict[tuple[int, int, str], int] = {}
    if leaving:
        for pk, group_id, account_id, role_value in selectors.in_chunks(
            m.GroupMembership.objects.filter(
                group__school=ap.school, ended_at__isnull=True
            ).values_list("pk", "group_id", "account_id", "role"),
            {account_id for _, account_id, _ in leaving},
            field="account_id",
        ):
            open_rows[(group_id, account_id, role_value)] = pk
    ending = []
    for group, account_id, role in leaving:
        pk = open_rows.pop((group.pk, account_id, role.value), None)
        if pk is not None:  # (one key listed twice is ended, and told, once)
            ending.append(pk)
            ap.audit.add(
                "membership_removed",
                f"No longer a {role.value} of {group.name}",
                account_id=account_id,
                changes={"group": group.mis_id, "role": role.value},
            )
    for start in range(0, len(ending), _CREATE_SLICE):
        m.GroupMembership.objects.filter(pk__in=ending[start : start + _CREATE_SLICE]).update(
            ended_at=ap.now, modified_at=ap.now
        )
    wanted = [
        (group, account_id, role)
        for group_mis, person_role, person_mis, role in changes.add_members
        if (account_id := ap.account_by_mis.get((person_role, person_mis))) is not None
        and (group := existing.get(group_mis)) is not None
    ]  # a person with no account yet (queued for matching, deferred, excluded) is skipped
    # Only the rows of the people being added (ended ones come back), never the school's.
    known = {
        (gm.group_id, gm.account_id, gm.role): gm
        for gm in selectors.in_chunks(
            m.GroupMembership.objects.filter(group__school=ap.school),
            {account_id for _, account_id, _ in wanted},
            field="account_id",
        )
    }
    new_members: list[dict[str, Any]] = []  # rows, not model objects (`bulk`)
    reopened: list[m.GroupMembership] = []
    added: set[tuple[int, int, str]] = set()  # two MIS IDs of one account: one row
    for group, account_id, role in wanted:
        key = (group.pk, account_id, role.value)
        row = known.get(key)
        if row is None:
            if key in added:
                continue
            added.add(key)
            new_members.append(
                {
                    "group_id": group.pk,
                    "account_id": account_id,
                    "role": role.value,
                    "modified_at": ap.now,
                }
            )
            ap.audit.add(
                "membership_added",
                f"Now a {role.value} of {group.name}",
                account_id=account_id,
                changes={"group": group.mis_id, "role": role.value},
            )
            if len(new_members) == _CREATE_SLICE:  # not a first import's all at once
                bulk.insert_rows(m.GroupMembership, new_members, batch_size=INSERT_BATCH)
                ap.audit.flush_if_many()
                new_members = []
        elif row.ended_at is not None:
            row.ended_at, row.modified_at = None, ap.now
            reopened.append(row)
            ap.audit.add(
                "membership_reopened",
                f"A {role.value} of {group.name} again",
                account_id=account_id,
                changes={"group": group.mis_id, "role": role.value},
            )
    bulk.insert_rows(m.GroupMembership, new_members, batch_size=INSERT_BATCH)
    m.GroupMembership.objects.bulk_update(reopened, ["ended_at", "modified_at"], batch_size=500)
    for mis_id in changes.remove:
        group = existing.get(mis_id)
        if group is None or group.ended_at is not None:
            continue
        members = m.GroupMembership.objects.filter(group=group, ended_at__isnull=True).update(
            ended_at=ap.now, modified_at=ap.now
        )
        ap.audit.add(
            "group_removed",
            f"Group {group.name} ({mis_id}) is no longer in the MIS: ended with its"
            f" {members} memberships, nothing deleted",
            changes={"ended_at": [None, ap.now], "memberships_ended": members, "group": mis_id},
        )
        group.ended_at = group.modified_at = ap.now
        group.save(update_fields=["ended_at", "modified_at"])


def _apply_contact_links(ap: _PlanApplier, plan: Plan) -> None:
    """Contact links are ended, never deleted; a link that comes back is re-opened."""
    changes = plan.contact_links
    if not (changes.upsert or changes.remove):
        return
    existing = _contact_links_named(ap, plan)
    ending = [
        existing[key].pk
        for key in changes.remove
        if key in existing and existing[key].ended_at is None
    ]
    m.ContactLink.objects.filter(pk__in=ending).update(ended_at=ap.now)
    for contact_id, pupil_id in changes.remove:
        row = existing.get((contact_id, pupil_id))
        if row is None or row.pk not in ending:
            continue
        row.ended_at = ap.now
        ap.audit.add(
            "contact_unlinked",
            "Contact no longer listed for this pupil (link ended, not deleted)",
            account_id=contact_id,
            changes={"pupil": pupil_id},
        )
    # New links as plain rows, not model objects (a first import makes thousands).
    created: dict[tuple[int, int], dict[str, Any]] = {}
    to_update: list[m.ContactLink] = []
    for link in changes.upsert:
        contact_id = ap.account_by_mis.get((Role.CONTACT, link.contact_mis_id))
        pupil_id = ap.account_by_mis.get((Role.PUPIL, link.pupil_mis_id))
        if contact_id is None or pupil_id is None:
            continue  # one side has no account yet (queued for matching, deferred or excluded)
        values = (link.priority, link.parental_responsibility, link.relationship)
        row = existing.get((contact_id, pupil_id))
        new = created.get((contact_id, pupil_id))
        if row is None and new is None:
            created[(contact_id, pupil_id)] = {
                "school_id": ap.school.pk,
                "contact_id": contact_id,
                "pupil_id": pupil_id,
                **dict(zip(_LINK_VALUES, values, strict=True)),
            }
            action = "contact_linked"
        elif new is not None:
            if tuple(new[name] for name in _LINK_VALUES) == values:
                continue
            new.update(zip(_LINK_VALUES, values, strict=True))
            action = "contact_link_updated"
        elif row.ended_at is not None:
            row.priority, row.parental_responsibility, row.relationship = values
            row.ended_at = None
            to_update.append(row)
            action = "contact_relinked"
        elif (row.priority, row.parental_responsibility, row.relationship) != values:
            row.priority, row.parental_responsibility, row.relationship = values
            to_update.append(row)
            action = "contact_link_updated"
        else:
            continue
        ap.audit.add(
            action,
            f"Contact {link.contact_mis_id} for pupil {link.pupil_mis_id}",
            account_id=contact_id,
            changes={
                "pupil": pupil_id,
                "priority": values[0],
                "parental_responsibility": values[1],
            },
        )
    bulk.insert_rows(m.ContactLink, list(created.values()), batch_size=INSERT_BATCH)
    m.ContactLink.objects.bulk_update(
        to_update,
        ["priority", "parental_responsibility", "relationship", "ended_at"],
        batch_size=500,
    )


_LINK_VALUES = ("priority", "parental_responsibility", "relationship")

# Up to this many contacts, their links are read by ID (well within SQLite's limit on
# bound parameters); more (a first import), the school's links are read whole.
_FEW_CONTACTS = 500


def _contact_links_named(ap: _PlanApplier, plan: Plan) -> dict[tuple[int, int], m.ContactLink]:
    """The school's stored links between the accounts the plan's link changes name, by
    (contact, pupil): a night that changes a few links reads those contacts' links, not
    the school's thousands as model objects (a third of a 1% churn's apply step)."""
    changes = plan.contact_links
    contacts = {contact_id for contact_id, _ in changes.remove}
    for link in changes.upsert:
        contact_id = ap.account_by_mis.get((Role.CONTACT, link.contact_mis_id))
        if contact_id is not None:
            contacts.add(contact_id)
    links = m.ContactLink.objects.filter(school=ap.school)
    if len(contacts) <= _FEW_CONTACTS:
        links = links.filter(contact_id__in=contacts)
    return {(c.contact_id, c.pupil_id): c for c in links}


def _apply_attendance(ap: _PlanApplier, plan: Plan) -> None:
    marks = plan.attendance.upsert
    if not marks:
        return
    existing = {
        (a.account_id, a.date, a.session): a
        for a in m.AttendanceMark.objects.filter(
            school=ap.school, date__in={mark.date for mark in marks}
        )
    }
    to_create: list[m.AttendanceMark] = []
    to_update: list[m.AttendanceMark] = []
    for mark in marks:
        account_id = ap.account_by_mis.get((Role.PUPIL, mark.pupil_mis_id))
        if account_id is None:
            continue
        row = existing.get((account_id, mark.date, mark.session))
        if row is None:
            row = m.AttendanceMark(
                school=ap.school,
                account_id=account_id,
                date=mark.date,
                session=mark.session,
                code=mark.code,
            )
            existing[(account_id, mark.date, mark.session)] = row
            to_create.append(row)
        elif row.code != mark.code:
            row.code = mark.code
            to_update.append(row)
    m.AttendanceMark.objects.bulk_create(to_create, batch_size=INSERT_BATCH)
    m.AttendanceMark.objects.bulk_update(to_update, ["code"], batch_size=500)
    if to_create or to_update:
        ap.audit.add(
            "attendance_recorded",
            f"{len(to_create)} attendance marks recorded, {len(to_update)} corrected",
        )


def allocation_unallocate(
    *, allocation: m.Allocation, audit: AuditLog, reason: str, now: Any
) -> None:
    """End an allocation; with no allocation left the account is suspended. Never deletes."""
    allocations_unallocate(ending=[(allocation, reason)], audit=audit, now=now)


def allocations_unallocate(
    *, ending: list[tuple[m.Allocation, str]], audit: AuditLog, now: Any
) -> None:
    """End these allocations in order, as `allocation_unallocate` would one after another
    (an account is suspended by the last of its places to end), in three statements
    however many: a night's leavers were three each (the place, a look for another, the
    account)."""
    if not ending:
        return
    ended = AllocationStatus.UNALLOCATED.value
    was = {allocation.pk: allocation.status for allocation, _ in ending}
    for allocation, _ in ending:
        allocation.status, allocation.unallocated_at = ended, now
    m.Allocation.objects.filter(pk__in=was).update(
        status=ended, unallocated_at=now, updated_at=timezone.now()
    )
    accounts = {allocation.account_id for allocation, _ in ending}
    # Each account's places still live once every one of these has ended; a place of
    # these ends only at its turn.
    live: dict[int, set[int]] = defaultdict(set)
    for account_id, pk in (
        m.Allocation.objects.filter(account_id__in=accounts)
        .exclude(status=ended)
        .values_list("account_id", "pk")
    ):
        live[account_id].add(pk)
    for allocation, _ in ending:
        if was[allocation.pk] != ended:
            live[allocation.account_id].add(allocation.pk)
    suspended: list[int] = []
    for allocation, reason in ending:
        still = live[allocation.account_id]
        still.discard(allocation.pk)
        changes: dict[str, Any] = {
            "status": [was[allocation.pk], ended],
            "school": allocation.school.name,
        }
        if not still:
            suspended.append(allocation.account_id)
            changes["account_status"] = ["active", "suspended"]
        audit.add("account_unallocated", reason, account_id=allocation.account_id, changes=changes)
    if suspended:
        m.Account.objects.filter(pk__in=suspended).update(status=AccountStatus.SUSPENDED.value)


def _account_values(record: PersonRecord) -> dict[str, Any]:
    """A new account's person fields from the record; a field it does not clearly carry
    is left out (never written from a guess)."""
    return {
        name: jsonable(getattr(record, name)) if name == "gender" else getattr(record, name)
        for name in ACCOUNT_FIELDS - record.unknown_fields
    }


def _allocation_values(record: PersonRecord) -> dict[str, Any]:
    """Allocation fields from the record, leaving out those it does not clearly carry
    (an existing allocation keeps its stored value for them)."""
    return {
        name: getattr(record, name)
        for name in ALLOCATION_FIELDS - {"leaver_pending_since", "status"} - record.unknown_fields
    }


def _require(allocation: m.Allocation | None, action: PersonAction) -> m.Allocation:
    if allocation is None:
        raise SyncError(
            f"{action.kind.value} for {action.role.value} {action.mis_id} names no allocation"
        )
    return allocation


def _require_record(action: PersonAction) -> PersonRecord:
    if action.record is None:
        raise SyncError(
            f"{action.kind.value} for {action.role.value} {action.mis_id} carries no record"
        )
    return action.record


# --- held runs -------------------------------------------------------------------------


def sync_run_approve(*, run: m.SyncRun, actor: str) -> m.SyncRun:
    """Apply a held run: its upload is planned again against the directory as it is now,
    with the guard acknowledged by `actor`, so what is applied is never stale. The runs
    that wait for it are then planned again (`sync_waiting_release`)."""
    if run.status != m.SyncRun.Status.HELD:
        raise RunError(f"run {run.pk} is {run.status}, not held: only a held run can be approved")
    _refuse_waiting(run)
    newer = m.SyncRun.objects.filter(
        school=run.school,
        upload__report=run.upload.report,
        status=m.SyncRun.Status.APPLIED,
        created_at__gt=run.created_at,
    ).exists()
    if newer:
        with transaction.atomic():
            run.status = m.SyncRun.Status.SUPERSEDED
            run.save(update_fields=["status"])
            audit = AuditLog(actor=actor, run=run, school=run.school)
            audit.add(
                "run_superseded",
                f"Held run {run.pk} was overtaken by a newer applied run; {actor} tried to"
                " approve it and nothing was applied",
                changes={"status": ["held", "superseded"]},
            )
            audit.flush()
            _upload_outcome(run)
        sync_waiting_release(school=run.school, actor=actor)
        raise RunError(
            f"run {run.pk} was overtaken by a newer applied run for this school; nothing was applied"
        )
    run.approved_by = actor
    try:
        run = _plan_and_apply(
            run=run, school=run.school, started=time.perf_counter(), actor=actor, acknowledged=True
        )
    except _NoLongerHeld as done:  # another approval (or a rejection) came first
        run.refresh_from_db()
        raise SyncError(
            f"run {run.pk} is {done.status}, not held: only a held run can be approved"
        ) from None
    sync_waiting_release(school=run.school, actor=actor)
    return run


def sync_run_reject(*, run: m.SyncRun, actor: str) -> None:
    """Turn a held run down: nothing of it is applied, and the decision is audited. The
    runs that waited for it are then planned against the directory as it is."""
    _reject(run=run, actor=actor)
    sync_waiting_release(school=run.school, actor=actor)


@transaction.atomic
def _reject(*, run: m.SyncRun, actor: str) -> None:
    locked = m.SyncRun.objects.select_for_update().filter(pk=run.pk).first()
    status = locked.status if locked is not None else run.status
    if status != m.SyncRun.Status.HELD:
        raise RunError(f"run {run.pk} is {status}, not held")
    run.status = m.SyncRun.Status.REJECTED
    run.approved_by = actor
    run.save(update_fields=["status", "approved_by"])
    _upload_outcome(run)
    audit = AuditLog(actor=actor, run=run, school=run.school)
    audit.add(
        "run_rejected",
        f"Held run {run.pk} rejected by {actor}: nothing of it was applied",
        changes={"status": ["held", "rejected"]},
    )
    audit.flush()


# --- what a run's upload shows, and runs that wait for a held people run ------------------


def _upload_outcome(run: m.SyncRun) -> None:
    """The upload shows the status of its latest run (a rejected or superseded held run
    no longer reads "held" in Upload History or Whole School Bulk Results)."""
    latest = m.SyncRun.objects.filter(upload_id=run.upload_id).order_by("-pk").first()
    if latest is not None and latest.pk == run.pk:
        m.Upload.objects.filter(pk=run.upload_id).update(outcome=run.status)
        if m.SyncRun.upload.is_cached(run):  # never load an upload's bytes just for this
            run.upload.outcome = run.status


def _refuse_waiting(run: m.SyncRun) -> None:
    waits_for = (
        m.SyncRun.objects.filter(pk=run.pk).values_list("waits_for_id", flat=True).first()
        if run.pk is not None
        else run.waits_for_id
    )
    if waits_for is not None:
        raise RunError(
            f"run {run.pk} waits for run {waits_for}: it is planned again by itself when run "
            f"{waits_for} is approved or rejected, so approve or reject run {waits_for} instead"
        )


def _blocking_run(*, school: m.School, report: str) -> m.SyncRun | None:
    """The school's held people run that an upload of `report` must wait for: a held
    (not itself waiting) run of a report listing the people `report` names, or of a
    bundle, that no newer applied run of its report has overtaken. None when nothing
    blocks (`domain.run_status.WAITS_ON`)."""
    wanted = WAITS_ON.get(report)
    if not wanted:
        return None
    held = (
        m.SyncRun.objects.filter(
            school=school,
            status=m.SyncRun.Status.HELD,
            waits_for__isnull=True,
            dry_run=False,
            upload__report__in=[*wanted, ""],
        )
        .select_related("upload")
        .defer("upload__data", "actions")
        .order_by("-pk")
    )
    for candidate in held:
        overtaken = m.SyncRun.objects.filter(
            school=school,
            upload__report=candidate.upload.report,
            upload__fmt=candidate.upload.fmt,
            status=m.SyncRun.Status.APPLIED,
            dry_run=False,
            created_at__gt=candidate.created_at,
        ).exists()
        if not overtaken:
            return candidate
    return None


def _same_report(run: m.SyncRun, school: m.School) -> QuerySet[m.SyncRun]:
    """The school's runs of uploads of `run`'s report and format."""
    return m.SyncRun.objects.filter(
        school=school, upload__report=run.upload.report, upload__fmt=run.upload.fmt
    )


def _overtaken(*, run: m.SyncRun, school: m.School, actor: str, held: bool) -> bool:
    """Called with the LA locked, before planning: an upload received after this one, of
    the same school, report and format, has already been applied. With several workers
    the two can be taken at once and the older parsed more slowly; applied now, it would
    take the school back to its older file (a leaver back, a starter gone). It is
    superseded instead, audited, and nothing is applied; so is a `held` run being
    approved. A dry run still previews, and an upload with the same bytes and options
    as the newest applied one runs as usual (two identical uploads at once: the skip of
    decision 0088, or a plan with nothing to change)."""
    if run.dry_run:
        return False
    newest = (
        _same_report(run, school)
        .filter(status=m.SyncRun.Status.APPLIED, dry_run=False, upload_id__gt=run.upload_id)
        .order_by("-upload_id", "-pk")
        .values_list("pk", "upload_id", "upload__sha256", "upload__asked")
        .first()
    )
    if newest is None:
        return False
    newer_run, newer_upload, sha256, asked = newest
    if (sha256, asked) == (run.upload.sha256, run.upload.asked):
        return False  # the same file as the school's newest: it cannot take it back
    why = (
        f"Not applied: upload {newer_upload} of the same report, received after this one, "
        f"was applied first (run {newer_run}); this older file would have taken the school "
        "back to it."
    )
    run.status = m.SyncRun.Status.SUPERSEDED
    run.counts, run.holds, run.actions = {}, [], []
    run.errors = [{"row": None, "field": None, "message": why, "source": "notice"}]
    run.save()
    audit = AuditLog(actor=actor, run=run, school=school)
    audit.add(
        "run_superseded",
        f"Run {run.pk} of upload {run.upload_id} was overtaken by run {newer_run} of the "
        f"newer upload {newer_upload}; nothing was applied",
        changes={"status": ["held" if held else None, "superseded"], "overtaken_by": newer_run},
    )
    audit.flush()
    return True


def _waits(*, run: m.SyncRun, school: m.School, actor: str) -> bool:
    """Called with the school locked, before planning. A newer upload of a report
    supersedes its older waiting run; a Groups & Classes, Attendance or Contacts upload
    that arrives while the school's people run is held waits for it (stored as held with
    the reason "waits for run N") instead of being planned against the old directory."""
    if run.dry_run:
        return False
    report = run.upload.report
    _supersede_waiting(run=run, school=school, actor=actor)
    blocker = _blocking_run(school=school, report=report)
    if blocker is None:
        run.waits_for = None
        return False
    first_time = run.waits_for_id != blocker.pk
    run.status = m.SyncRun.Status.HELD
    run.waits_for = blocker
    run.counts, run.errors, run.actions = {}, [], []
    label = CATALOGUE[blocker.upload.report].label if blocker.upload.report else "bundle"
    run.holds = [
        {
            "code": WAITS_FOR_RUN,
            "message": (
                f"Waits for run {blocker.pk} ({label}), which is held: this upload names people "
                f"that run lists, so it is planned again by itself when run {blocker.pk} is "
                "approved or rejected."
            ),
            "run": blocker.pk,
        }
    ]
    run.save()
    if first_time:
        audit = AuditLog(actor=actor, run=run, school=school)
        audit.add(
            "run_waiting",
            f"Run {run.pk} waits for held run {blocker.pk} of the same school",
            changes={"waits_for": blocker.pk},
        )
        audit.flush()
    return True


def _supersede_waiting(*, run: m.SyncRun, school: m.School, actor: str) -> None:
    """An older waiting run of the same report is overtaken by this newer upload: it is
    superseded (audited) and never applied."""
    older = (
        _same_report(run, school)
        .filter(status=m.SyncRun.Status.HELD, waits_for__isnull=False, upload__pk__lt=run.upload.pk)
        .select_related("upload")
        .defer("upload__data", "actions")
    )
    if run.pk is not None:
        older = older.exclude(pk=run.pk)
    for old in older:
        old.status = m.SyncRun.Status.SUPERSEDED
        old.save(update_fields=["status"])
        _upload_outcome(old)
        audit = AuditLog(actor=actor, run=old, school=school)
        audit.add(
            "run_superseded",
            f"Run {old.pk} waited for run {old.waits_for_id} and was overtaken by a newer "
            f"upload of the same report (upload {run.upload.pk}); nothing of it was applied",
            changes={"status": ["held", "superseded"]},
        )
        audit.flush()


def sync_waiting_release(*, school: m.School, actor: str) -> list[m.SyncRun]:
    """Plan again the school's runs that wait for a held run that no longer blocks them
    (approved, rejected, superseded or overtaken): each is planned against the directory
    as it is now, with its own guard, and applied, held, failed or made to wait for
    another held run. Each is taken under the school's lock and only while it still
    waits, so no run is ever applied twice. Returns the runs planned again."""
    released: list[m.SyncRun] = []
    for run_id in (
        m.SyncRun.objects.filter(
            school=school, status=m.SyncRun.Status.HELD, waits_for__isnull=False
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        with transaction.atomic():
            locks.la_lock(school=school)  # the LA first, as every run takes it
            run = (
                m.SyncRun.objects.filter(
                    pk=run_id, status=m.SyncRun.Status.HELD, waits_for__isnull=False
                )
                .select_related("upload", "school", "school__la__region", "waits_for")
                .first()
            )
            if run is None:
                continue  # released (or decided) meanwhile
            blocker = run.waits_for
            assert blocker is not None
            still = _blocking_run(school=school, report=run.upload.report)
            if still is not None and still.pk == blocker.pk:
                continue
            audit = AuditLog(actor=actor, run=run, school=school)
            audit.add(
                "run_released",
                f"Run {blocker.pk}, which run {run.pk} waited for, is now {blocker.status}: "
                f"run {run.pk} is planned again against the directory as it is",
                changes={"waits_for": blocker.pk, "blocker_status": blocker.status},
            )
            audit.flush()
            released.append(
                _plan_and_apply(
                    run=run,
                    school=run.school,
                    started=time.perf_counter(),
                    actor=actor,
                    acknowledged=False,
                )
            )
    return released


# --- work for the background worker ----------------------------------------------------


def run_approve_queue(*, run: m.SyncRun, actor: str) -> str:
    """Queue the approval of a held run (planning it again and applying it is long work)
    for every door; returns the task id. A run that is not held is refused here."""
    from rollsync.directory import tasks

    status = m.SyncRun.objects.filter(pk=run.pk).values_list("status", flat=True).first()
    if status is None:
        raise RunError(f"run {run.pk} does not exist", code=NOT_FOUND)
    if status != m.SyncRun.Status.HELD:
        raise RunError(f"run {run.pk} is {status}, not held: only a held run can be approved")
    _refuse_waiting(run)  # a waiting run is planned again by itself, never approved
    try:
        return tasks.enqueue_approve(run.pk, actor=actor)
    except tasks.TaskInputError as exc:  # changed meanwhile
        raise RunError(str(exc)) from None


def run_force(
    *,
    school: m.School,
    report: str | None,
    actor: str,
    as_of: date | None = None,
    dry_run: bool = False,
) -> str:
    """Force run, for every door: process the school's newest upload of `report` again
    (a bundle counts for every report; with no report, the newest upload), planned
    against the directory as it is now. Audited with who asked; returns the task id."""
    from rollsync.directory.services.uploads import upload_latest_for_report, upload_queue

    if report and report not in CATALOGUE:
        raise RunError(
            f"unknown report {report!r}; known: {', '.join(CATALOGUE)}",
            code="invalid",
            field="report",
        )
    upload = upload_latest_for_report(school=school, report=report)
    if upload is None:
        what = f"{CATALOGUE[report].label} upload" if report else "upload"
        raise RunError(f"{school.urn} {school.name} has no {what} to run again", field="report")
    with transaction.atomic():
        task_id = upload_queue(upload=upload, actor=actor, as_of=as_of, dry_run=dry_run)
        audit = AuditLog(actor=actor, school=school)
        audit.add(
            "force_run_queued",
            f"Force run of upload {upload.pk}"
            f" ({CATALOGUE[report].label if report else 'latest upload'}) requested by {actor}",
            changes={"upload": upload.pk, "task": task_id, "dry_run": dry_run},
        )
        audit.flush()
    return task_id
