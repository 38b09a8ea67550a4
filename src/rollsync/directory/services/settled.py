"""An unchanged re-import, known without parsing or planning it (docs/decisions/0088).

An applied run records what its plan stood on (`SyncRun.settled_*`): the upload's
checksum and options with the school's settings (a digest), the newest audit event
once it was applied (a mark), the first date after its day that its plan depended on,
and whether records new to the school were planned against the LA. A later upload of
the same report with the same bytes and options is then recorded as applied with no
changes, "same file as run N, nothing changed since", when, under the LA's lock, the
digest is the same, no audit event after the mark touches the school, an account it
holds (or, for `la_wide`, any school of its LA), and that date has not come. Anything
else, or any doubt, and the upload is parsed and planned in full.

Why an audit mark is enough: every write to accounts, places, cases, groups and links
goes through `services` with an audit event in the same transaction, under the LA's
lock (docs/architecture.md); the check runs under that lock too, so such an event is
either visible to it or gets a higher id. The settings that are written without the
LA's lock (policy, reports, opt-outs, exclusions, the MIS connection) are compared by
value in the digest instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from rollsync import ingest
from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.compiled import compiled_exists, compiled_values
from rollsync.directory.selectors import SchoolSettings
from rollsync.domain.actions import COUNT_KEYS, ActionKind, Plan
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import ImportBatch, Role
from rollsync.domain.reports import (
    ATTENDANCE,
    CATALOGUE,
    CONTACTS,
    GROUPS,
    STAFF,
    STAFF_FUTURE,
    STUDENTS,
    STUDENTS_FUTURE,
)
from rollsync.domain.state import AllocationStatus, DirectoryState
from rollsync.ingest.collect import refused_for_the_day

# Kinds that leave a record new to the school after the run (no place here under its MIS
# ID): the next run looks it up among the LA's accounts again, so LA changes count.
_STILL_NEW_KINDS = frozenset(
    {ActionKind.NEEDS_MATCHING, ActionKind.EXCLUDED, ActionKind.DEFER_START, ActionKind.REJECT}
)
# What a full plan of an unchanged file would count as unchanged: every person N placed.
_PLACED_COUNTS = ("created", "updated", "unchanged", "moved_in", "restored")
_KEPT_COUNTS = ("needs_matching", "excluded", "deferred", "rejected")


@dataclass(slots=True)
class Settlement:
    """What an applied plan depended on, beyond its upload and the directory."""

    until: date | None  # the first date after the run's day its plan depended on
    la_wide: bool
    # People the plan unallocated though the upload lists them (a leaving date passed):
    # a later full plan of the same file counts them unchanged (`skip_record`).
    listed_gone: int = 0
    # The reader's listing of the upload (`ImportBatch.listing`), kept for the next read
    # in part (`listing_keep`).
    listing: bytes | None = None


def settlement_of(
    *, batch: ImportBatch, state: DirectoryState, plan: Plan, policy: SchoolPolicy
) -> Settlement:
    """Every date that a plan compares with its day (leaving and start dates, the end of a
    grace period) found in the records and the snapshot; the earliest still to come is
    when a re-plan could differ. A row refused for a date of birth after the day makes
    the next day differ."""
    today = policy.today
    grace = timedelta(days=policy.leaver_grace_days)
    found: list[date | None] = []
    for record in batch.people:
        found += (record.start_date, _day_after(record.leaving_date))
    for allocation in state.allocations:
        found += (allocation.start_date, _day_after(allocation.leaving_date))
        if allocation.leaver_pending_since is not None:
            found.append(allocation.leaver_pending_since + grace)
    if any(a.kind is ActionKind.MARK_LEAVER for a in plan.actions):
        found.append(today + grace)
    if any(refused_for_the_day(e) for e in batch.errors):
        found.append(today + timedelta(days=1))
    coming = [d for d in found if d is not None and d > today]
    return Settlement(
        until=min(coming) if coming else None,
        la_wide=any(a.kind in _STILL_NEW_KINDS for a in plan.actions),
        listed_gone=sum(
            1 for a in plan.actions if a.kind is ActionKind.UNALLOCATE and a.record is not None
        ),
        listing=batch.listing,
    )


def _day_after(leaving: date | None) -> date | None:
    """The first day a plan takes a leaving date for passed (`leaving < today`): a date
    of today, taken as itself, was never to come, and the same file was skipped every
    night after with the leaver still allocated (found by a region's quiet night checked
    against full plans, 3 December 2026)."""
    return leaving + timedelta(days=1) if leaving is not None else None


def settled_digest(
    *, upload: m.Upload, school: m.School, settings: SchoolSettings | None = None
) -> str:
    """The upload's checksum and options and every school setting a plan reads that is
    written without the LA's lock, as one SHA-256 (a handful of small reads, none when
    the caller passes the `settings` its plan reads: the digest then names exactly what
    the plan read)."""
    if settings is None:
        settings = selectors.school_settings(school=school)
    parts = {
        "upload": [upload.sha256, upload.fmt, upload.report, upload.asked],
        "school": [
            school.urn,
            school.estab,
            school.la_id,
            school.mis,
            school.attendance_service,
            school.guard_unallocate_pct,
            school.guard_rekey_pct,
            school.leaver_grace_days,
            school.la.code,
            school.la.region.username_pattern,
        ],
        "reports": sorted(settings.accepted),
        "opt_outs": list(settings.opt_outs),
        "exclusions": list(settings.exclusions),
        "connection": settings.connection,
    }
    text = json.dumps(parts, default=str, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def audit_mark() -> int:
    """The newest audit event's id (0 when there is none)."""
    return int(m.AuditEvent.objects.aggregate(top=Max("pk"))["top"] or 0)


SETTLED_FIELDS = (
    "settled_digest",
    "settled_until",
    "settled_la_wide",
    "settled_listed_gone",
    "settled_mark",
)


def settled_set(*, run: m.SyncRun, digest: str, settlement: Settlement) -> None:
    """Called under the LA's lock once `run`'s changes and their audit events are
    written, in its transaction; the caller saves `SETTLED_FIELDS` with the run."""
    run.settled_digest = digest
    run.settled_until = settlement.until
    run.settled_la_wide = settlement.la_wide
    run.settled_listed_gone = settlement.listed_gone
    run.settled_mark = audit_mark()


def _applied(*, school: m.School, report: str) -> QuerySet[m.SyncRun]:
    """The school's applied runs of the report, the latest first."""
    return m.SyncRun.objects.filter(
        school=school,
        status=m.SyncRun.Status.APPLIED,
        dry_run=False,
        upload__report=report,
    ).order_by("-applied_at", "-pk")


def _latest_applied(*, school: m.School, report: str) -> m.SyncRun | None:
    return (
        _applied(school=school, report=report)
        .select_related("upload")
        .defer("upload__data", "actions", "errors", "holds", "detail")
        .first()
    )


def _latest_applied_id(*, school: m.School, report: str) -> int | None:
    """`_latest_applied`'s id alone: under the lock a skip or a read in part only asks
    whether the run it stands on is still the latest (0.65 ms of CPU against 1.3 for
    the whole run and its upload, of a skip's 25-30)."""
    found: int | None = _applied(school=school, report=report).values_list("pk", flat=True).first()
    return found


def standing_on(*, run: m.SyncRun) -> m.SyncRun | None:
    """Outside any lock, before parsing: the school's last applied run of the upload's
    report when this upload may stand on it in some way (the skip, `skip_candidate`, or a
    read in part, `partial_candidate`): another upload, with the same format and options,
    of the same or an earlier day, whose run settled. None means parse and plan in full.
    A dry run, a run planned again (approval, release) and a Force run (an upload already
    run: a person asks for a full plan) stand on nothing."""
    upload = run.upload
    if run.dry_run or run.pk is not None:
        return None
    if m.SyncRun.objects.filter(upload=upload, dry_run=False).exists():
        return None
    prior = _latest_applied(school=run.school, report=upload.report)
    if prior is None or prior.settled_mark is None or prior.upload_id == upload.pk:
        return None
    before = prior.upload
    if (before.fmt, before.asked) != (upload.fmt, upload.asked) or run.as_of < prior.as_of:
        return None
    return prior


def skip_candidate(*, run: m.SyncRun, standing: m.SyncRun | None) -> m.SyncRun | None:
    """`standing` (`standing_on`) when this upload may be skipped on it: a standard file
    format, the same bytes, and a day before its plan's next date."""
    if standing is None or run.upload.fmt not in ingest.FORMATS:
        return None
    if standing.upload.sha256 != run.upload.sha256:
        return None
    if standing.settled_until is not None and run.as_of >= standing.settled_until:
        return None
    return standing


def skip_holds(*, run: m.SyncRun, prior: m.SyncRun, settings: SchoolSettings | None = None) -> bool:
    """Under the LA's lock: `prior` is still the last applied run of the report, no audit
    event since touches the school, an account placed here or (when records new to the
    school were planned against the LA) any school of the LA (attendance recorded counts
    only for an upload that can carry attendance: `reads_attendance`), and the school's settings
    are as its plan read them (`settings`, when the caller has read them under the lock
    for a plan if this says no). The audit check comes before the settings: on a night
    with changes it is the one that says no."""
    school = m.School.objects.select_related("la__region").get(pk=run.school_id)
    if _latest_applied_id(school=school, report=run.upload.report) != prior.pk:
        return False
    assert prior.settled_mark is not None
    if touched_since_exists(
        school=school,
        mark=prior.settled_mark,
        la_wide=prior.settled_la_wide,
        attendance_read=reads_attendance(run.upload.report),
        reads=REPORT_READS.get(run.upload.report),
    ):
        return False
    digest = settled_digest(upload=run.upload, school=school, settings=settings)
    return digest == prior.settled_digest


def partial_candidate(
    *, run: m.SyncRun, standing: m.SyncRun | None, settings: SchoolSettings | None = None
) -> tuple[m.SyncRun, frozenset[str]] | None:
    """`standing` (`standing_on`) when the upload may be read in part against it
    (`ingest.parse_changed`), with the MIS IDs of the people to build whatever their
    rows; None: parse and plan in full. It may when the format is read in part, that
    run's upload is still stored, and the school's settings are as its plan read them.

    Unlike the skip (`skip_candidate`), neither a date coming nor a change to some of
    the school's accounts since stops a read in part: the people whose accounts an audit
    event since touched are built and planned afresh, and so is anyone a date could
    change (`planning.unsafe_unchanged`: a start date come, a leaving date passed, a
    grace period under way), or still new to the school."""
    if standing is None or not ingest.reads_in_part(run.upload.fmt, run.upload.report or None):
        return None
    if standing.upload.purged_at is not None:
        return None
    touched = _stands_but_for(school=run.school, prior=standing, settings=settings)
    if touched is None:
        return None
    return standing, touched | likely_unsafe_ids(school=run.school, today=run.as_of)


def partial_holds(
    *, run: m.SyncRun, prior: m.SyncRun, school: m.School, settings: SchoolSettings | None = None
) -> frozenset[str] | None:
    """Under the LA's lock, for an upload read in part against `prior`: None when `prior`
    is no longer the last applied run of the report or the school's settings changed
    (plan in full), else the MIS IDs of the people whose accounts an audit event since
    `prior`'s mark touched (to be built, if the read in part left them out). `school`:
    the run's, whose settings its plan reads and its digest names."""
    if _latest_applied_id(school=school, report=run.upload.report) != prior.pk:
        return None
    return _stands_but_for(school=school, prior=prior, settings=settings)


# Reports whose plan reads the matching queue only from its snapshot, for the people
# its file names but does not list (a Groups & Classes file's members, a Contacts
# file's pupils): someone waiting to be matched is never left out
# (`planning.unsafe_unchanged`), and a record of its own waiting is planned afresh.
_CASES_FROM_THE_SNAPSHOT = frozenset({GROUPS, CONTACTS})


def _stands_but_for(
    *, school: m.School, prior: m.SyncRun, settings: SchoolSettings | None = None
) -> frozenset[str] | None:
    """The MIS IDs here of the accounts an audit event after `prior`'s mark names, of a
    kind the plan of `prior`'s report reads (`_unread_kinds`), when the school's settings
    digest with `prior`'s upload is `prior`'s and no such event names the school without
    an account (a change nobody can be pinned to); else None."""
    assert prior.settled_mark is not None
    digest = settled_digest(upload=prior.upload, school=school, settings=settings)
    if digest != prior.settled_digest:
        return None
    report = prior.upload.report
    unread = _unread_kinds(attendance_read=reads_attendance(report), reads=REPORT_READS.get(report))
    if report in _CASES_FROM_THE_SNAPSHOT:
        # A case opened since (a doubtful starter on the Students run) names no account.
        unread |= {m.AuditKind.MATCH_CASE_OPENED}

    def unpinned(school_id: int, mark: int) -> QuerySet[m.AuditEvent]:
        since = m.AuditEvent.objects.filter(pk__gt=mark)
        return since.filter(school_id=school_id, account__isnull=True).exclude(
            action__in=sorted(unread)
        )

    def touched(school_id: int, mark: int) -> QuerySet[m.Allocation]:
        # Driven from the school's places, each a probe of the (account, id) index
        # (decision 0095). An event of this school naming an account is an event naming
        # it: a second arm for those (a UNION, until 2 December 2026) found nothing more,
        # and with the statistics of a school just loaded PostgreSQL ran it as a probe of
        # the (school, id) index per place: 99 of the query's 110 ms, twice a night.
        # Of the kinds the plan reads: a membership added since says nothing a Contacts
        # file's plan reads about that pupil (nor a link a Groups file's).
        since = m.AuditEvent.objects.filter(pk__gt=mark).exclude(action__in=sorted(unread))
        here = m.Allocation.objects.filter(school_id=school_id)
        return here.filter(Exists(since.filter(account_id=OuterRef("account_id")))).values_list(
            "mis_id"
        )

    values = {"school_id": school.pk, "mark": prior.settled_mark}
    if compiled_exists(("unpinned since", unread), unpinned, **values):
        return None
    return frozenset(
        mis_id
        for (mis_id,) in compiled_values(("touched here", unread), touched, **values)
        if mis_id
    )


def likely_unsafe_ids(*, school: m.School, today: date) -> frozenset[str]:
    """MIS IDs here that `planning.unsafe_unchanged` would most likely name, read before
    parsing so that the read in part builds them at once instead of reading the upload
    again (measured on a simulated LA: nearly every night otherwise read twice, for the
    parents of children at two schools). The planner's rule stays the one that counts:
    anyone missed here is still built, by a second read. Three index look-ups: places
    here whose account has a live place at another school; places a date has changed or
    may change (a start date come, a leaving date passed, a grace period under way); the
    school's open matching cases."""
    live = (AllocationStatus.ACTIVE.value, AllocationStatus.FUTURE.value)
    here = m.Allocation.objects.filter(school=school)
    elsewhere = m.Allocation.objects.filter(
        account_id=OuterRef("account_id"), status__in=live
    ).exclude(school=school)
    shared = here.filter(Exists(elsewhere)).values_list("mis_id", flat=True)
    dated = here.filter(
        Q(leaver_pending_since__isnull=False)
        | Q(status=AllocationStatus.FUTURE.value, start_date__lte=today)
        | Q(leaving_date__lt=today, status__in=live)
    ).values_list("mis_id", flat=True)
    waiting = m.MatchCase.objects.filter(school=school, status=m.MatchCase.Status.OPEN).values_list(
        "mis_id", flat=True
    )
    return frozenset(mis_id for query in (shared, dated, waiting) for mis_id in query if mis_id)


@dataclass(frozen=True)
class EarlierUpload:
    """What a read in part stands on: `prior`'s upload bytes, the (file, line) of each
    row error its run reported, and the reader's listing of those bytes, if kept."""

    data: bytes
    refused: list[tuple[str | None, int]]
    listing: bytes | None


def earlier_upload(*, prior: m.SyncRun) -> EarlierUpload | None:
    """For a read in part against `prior`; None when its bytes are gone (purged). A
    skipped `prior` has the listing of the planned run whose bytes it repeats."""
    found = selectors.upload_bytes(upload_id=prior.upload_id)
    if not found:
        return None
    errors = m.SyncRun.objects.filter(pk=prior.pk).values_list("errors", flat=True).get()
    refused = [(e.get("source"), int(e["row"])) for e in errors if e.get("row") is not None]
    uploads = Q(upload_id=prior.upload_id)
    if prior.same_as_id is not None:
        uploads |= Q(upload__runs__pk=prior.same_as_id)
    listings = dict(m.UploadListing.objects.filter(uploads).values_list("upload_id", "data"))
    listing = listings.get(prior.upload_id) or next(iter(listings.values()), None)
    return EarlierUpload(found, refused, None if listing is None else bytes(listing))


def listing_keep(*, upload: m.Upload, listing: bytes) -> None:
    """Keep the reader's listing of `upload`, whose run applied (the same bytes again for
    a second run of it), and let go of the listings of the school's other uploads of the
    report: a read in part stands only on the last applied run, or on the planned run a
    skipped one repeats, which is this one until another run of the report is planned.
    One listing a school and report, not one a night until retention (90 kB a night for
    a 5,000-pupil school). Two statements, under the LA's lock."""
    m.UploadListing.objects.bulk_create(
        [m.UploadListing(upload=upload, data=listing)],
        update_conflicts=True,
        unique_fields=["upload"],
        update_fields=["data"],
    )
    others = m.Upload.objects.filter(school_id=upload.school_id, report=upload.report)
    m.UploadListing.objects.filter(upload__in=others.exclude(pk=upload.pk)).delete()


# Kinds of audit event that record bookkeeping no plan reads: an upload received (every
# file through the web, the API, the SIMS agent or a push writes one before its run), a
# pull done or failed, uploads purged, exports written, downstream tenants, webhooks,
# tokens and credentials. Counted against the skip, the door's own `upload_received`
# made every upload through a door be planned in full (docs/decisions/0101). A Force run
# queued (and a pull queued, a connection's Force run) is not bookkeeping: it is how a
# person asks for a full plan of the same file. Every other kind counts: a kind added
# later counts until it is shown to belong here (tests/directory/test_unchanged_skip.py
# lists each kind's side).
BOOKKEEPING = frozenset(
    {
        m.AuditKind.AGENT_LICENCE_ISSUED,
        m.AuditKind.AGENT_UPLOADED,
        m.AuditKind.API_TOKEN_CREATED,
        m.AuditKind.API_TOKEN_REVOKED,
        m.AuditKind.DOWNSTREAM_CLIENT_CREATED,
        m.AuditKind.DOWNSTREAM_CLIENT_REVOKED,
        m.AuditKind.DOWNSTREAM_CLIENT_ROTATED,
        m.AuditKind.EXPORT_SCHEDULE_ADDED,
        m.AuditKind.EXPORT_SCHEDULE_FAILED,
        m.AuditKind.EXPORT_SCHEDULE_REMOVED,
        m.AuditKind.EXPORT_SCHEDULE_WRITTEN,
        m.AuditKind.MIS_PULL_FAILED,
        m.AuditKind.MIS_PULLED,
        m.AuditKind.MIS_PUSHED,
        m.AuditKind.PUSH_CREDENTIALS_ISSUED,
        m.AuditKind.TENANT_CONNECTED,
        m.AuditKind.TENANT_DISCONNECTED,
        m.AuditKind.TENANT_PROVISIONED,
        m.AuditKind.UPLOAD_ABANDONED,
        m.AuditKind.UPLOAD_PURGED,
        m.AuditKind.UPLOAD_RECEIVED,
        m.AuditKind.WEBHOOK_ADDED,
        m.AuditKind.WEBHOOK_DELIVERIES_PRUNED,
        m.AuditKind.WEBHOOK_DISABLED,
        m.AuditKind.WEBHOOK_ENABLED,
        m.AuditKind.WEBHOOK_REMOVED,
        m.AuditKind.WEBHOOK_REPLAYED,
        m.AuditKind.WEBHOOK_ROTATED,
        m.AuditKind.WEBHOOK_SECRETS_RESEALED,
    }
)


def reads_attendance(report: str) -> bool:
    """Whether a plan of an upload of `report` can read attendance marks: a bundle (the
    report "") or the Attendance report. A plan reads marks only of the dates its own
    batch records (`selectors.directory_state_for`), and only an upload carrying
    attendance has any; the file of any other report never does."""
    return not report or report == ATTENDANCE


@dataclass(frozen=True, slots=True)
class ReportReads:
    """What the plan of one report's file reads of its school when none of the file's
    records is new there (`selectors.roles_planned`, `selectors.directory_state_for`):
    the school's people of `roles` (and their places elsewhere), groups and memberships
    only if `groups`, contact links only if `links`."""

    roles: frozenset[str]
    groups: bool = False
    links: bool = False


_PUPILS = frozenset({Role.PUPIL.value})
_STAFF = frozenset({Role.STAFF.value})
# The reports a school sends one file each (rollsync CSV, SIMS CommandReporter); a
# bundle (report "") reads everything. tests/directory/test_report_scoped_skip.py holds each
# against `roles_planned` of a file of the report.
REPORT_READS = {
    STUDENTS: ReportReads(_PUPILS),
    STUDENTS_FUTURE: ReportReads(_PUPILS),
    STAFF: ReportReads(_STAFF),
    STAFF_FUTURE: ReportReads(_STAFF),
    CONTACTS: ReportReads(frozenset({Role.CONTACT.value, Role.PUPIL.value}), links=True),
    GROUPS: ReportReads(_PUPILS | _STAFF, groups=True),
    ATTENDANCE: ReportReads(_PUPILS),
}
# Kinds that change one account's people data and nothing else: against a report's skip
# they count only for an account placed at the school in a role the report reads
# (`touched_since`, decision 0102). Groups and memberships, and contact links, count
# only for a report that reads them, and then whatever account they name.
PERSON_KINDS = frozenset(
    {
        m.AuditKind.ACCOUNT_CREATED,
        m.AuditKind.ACCOUNT_MOVED_IN,
        m.AuditKind.ACCOUNT_RESTORED,
        m.AuditKind.ACCOUNT_UNALLOCATED,
        m.AuditKind.ACCOUNT_UPDATED,
        m.AuditKind.LEAVER_PENDING,
    }
)
GROUP_KINDS = frozenset(
    {
        m.AuditKind.GROUP_CREATED,
        m.AuditKind.GROUP_REMOVED,
        m.AuditKind.GROUP_REOPENED,
        m.AuditKind.GROUP_UPDATED,
        m.AuditKind.MEMBERSHIP_ADDED,
        m.AuditKind.MEMBERSHIP_REMOVED,
        m.AuditKind.MEMBERSHIP_REOPENED,
    }
)
LINK_KINDS = frozenset(
    {
        m.AuditKind.CONTACT_LINKED,
        m.AuditKind.CONTACT_LINK_UPDATED,
        m.AuditKind.CONTACT_RELINKED,
        m.AuditKind.CONTACT_UNLINKED,
    }
)
_PERSON_KINDS = sorted(PERSON_KINDS)


def touched_since(
    *,
    school: m.School,
    mark: int,
    la_wide: bool,
    attendance_read: bool = True,
    reads: ReportReads | None = None,
) -> QuerySet[m.School]:
    """The school, if an audit event after `mark` names it, an account placed there or
    (`la_wide`) any school of its LA (ask `.exists()`), of a kind that can change what a
    plan reads: not `BOOKKEEPING`, and without `attendance_read` not attendance recorded
    either (it changes nothing but the marks, and a school that sends one file per report
    sends attendance every day, after which no other report's file could be skipped;
    docs/decisions/0101). One query of EXISTS tests, each
    a probe of the (school, id) or (account, id) index per school or per account placed
    here: one test of "school = S OR account IN (…)" is no index's to answer, and
    PostgreSQL read every event since the mark, the region's (80 ms at 300 schools;
    decision 0095). The school's places and the LA's schools drive their tests: driven
    by the events, the accounts' test walked the account index from its start."""
    if reads is not None and not la_wide:
        ignored = _unread_kinds(attendance_read=attendance_read, reads=reads)
        return _touched_for_report(school=school, mark=mark, ignored=ignored, reads=reads)
    ignored = _unread_kinds(attendance_read=attendance_read, reads=None)
    since = m.AuditEvent.objects.filter(pk__gt=mark).exclude(action__in=sorted(ignored))
    event_for_account = Exists(since.filter(account_id=OuterRef("account_id")))
    touched = Exists(since.filter(school_id=school.pk)) | Exists(
        m.Allocation.objects.filter(school=school).filter(event_for_account)
    )
    if la_wide:
        event_at_school = Exists(since.filter(school_id=OuterRef("pk")))
        touched |= Exists(m.School.objects.filter(la_id=school.la_id).filter(event_at_school))
    return m.School.objects.filter(pk=school.pk).filter(touched)


def touched_since_exists(
    *,
    school: m.School,
    mark: int,
    la_wide: bool,
    attendance_read: bool = True,
    reads: ReportReads | None = None,
) -> bool:
    """`touched_since(...).exists()`, run from its SQL compiled once per shape
    (`directory.compiled`): built and compiled, a skip's check cost 6.4 ms of CPU, run
    0.6 (docs/performance.md)."""
    values = {"school_id": school.pk, "mark": mark}
    if la_wide:
        values["la_id"] = school.la_id  # (its LA's schools are asked about only then)
    shape = (la_wide, attendance_read, reads)
    build = touched_since_query(la_wide=la_wide, attendance_read=attendance_read, reads=reads)
    return compiled_exists(("touched since", *shape), build, **values)


def touched_since_query(
    *, la_wide: bool, attendance_read: bool, reads: ReportReads | None
) -> Callable[..., QuerySet[m.School]]:
    """`touched_since` of one shape, made from the values that change from run to run
    (`school_id`, `mark`, and `la_id` when `la_wide`), for `directory.compiled`."""

    def build(**values: int) -> QuerySet[m.School]:
        at = m.School(pk=values["school_id"], la_id=values.get("la_id"))
        return touched_since(
            school=at,
            mark=values["mark"],
            la_wide=la_wide,
            attendance_read=attendance_read,
            reads=reads,
        )

    return build


def _touched_for_report(
    *, school: m.School, mark: int, ignored: frozenset[str], reads: ReportReads
) -> QuerySet[m.School]:
    """`touched_since` for the file of one report whose plan read no record new to the
    school (decision 0102): group and link kinds count only if the report reads them; a
    kind of `PERSON_KINDS` only if its account is placed here in a role the report
    reads, or is placed nowhere here (or it names none); a case opened only if a run of
    a report listing people of those roles (or no run) opened it. A school that sends
    one file per report changes pupils on most nights; counted against every report,
    each night's Students run stopped the skip of every other report's file that night
    and the next (the bench's rollsync-CSV school: 5 of 7 unchanged files planned in
    full on a night with no change at all). `ignored`: `_unread_kinds` of the report."""
    since = m.AuditEvent.objects.filter(pk__gt=mark).exclude(action__in=sorted(ignored))
    here = m.Allocation.objects.filter(school=school)
    roles = sorted(reads.roles)
    # A case opened by the run of a report listing people of a role this one does not
    # read (a doubtful starter on the Students run, for Staff): a plan reads a case only
    # for the record it is about (`planning.planner`, the matcher's decisions).
    unrelated = sorted(
        code
        for code, spec in CATALOGUE.items()
        if spec.role is not None and spec.role.value not in reads.roles
    )
    at_school = since.filter(school_id=school.pk).exclude(
        action=m.AuditKind.MATCH_CASE_OPENED, run__upload__report__in=unrelated
    )
    # At the school: every kind but a person's; a person's if its account is placed
    # nowhere here, or it names none (no place has a null account): those placed here
    # are the next test's.
    account_here = Exists(here.filter(account_id=OuterRef("account_id")))
    touched = Exists(at_school.exclude(action__in=_PERSON_KINDS)) | Exists(
        at_school.filter(action__in=_PERSON_KINDS).filter(~account_here)
    )
    # Anywhere, naming an account placed here: any kind for a place the report reads,
    # all but a person's for the others.
    for_account = since.filter(account_id=OuterRef("account_id"))
    touched |= Exists(here.filter(role__in=roles).filter(Exists(for_account))) | Exists(
        here.filter(Exists(for_account.exclude(action__in=_PERSON_KINDS)))
    )
    return m.School.objects.filter(pk=school.pk).filter(touched)


def _unread_kinds(*, attendance_read: bool, reads: ReportReads | None) -> frozenset[str]:
    """The kinds of audit event a plan does not read: bookkeeping always (decision 0101:
    every file through a door writes `upload_received` before its run), attendance
    recorded unless it can carry attendance, and for the file of one report (`reads`,
    `REPORT_READS`) groups and links unless it reads them. Neither a skip
    (`touched_since`) nor a read in part (`_stands_but_for`: before decision 0104 any
    event naming the school alone stopped it, so no upload through a door was ever read
    in part) is stopped by one of them."""
    kinds = set(BOOKKEEPING)
    if not attendance_read:
        kinds.add(m.AuditKind.ATTENDANCE_RECORDED)
    if reads is not None:
        if not reads.groups:
            kinds |= GROUP_KINDS
        if not reads.links:
            kinds |= LINK_KINDS
    return frozenset(kinds)


def skip_record(*, run: m.SyncRun, prior: m.SyncRun) -> None:
    """The run applied with no changes, standing on `prior`'s plan (the run it named, or
    the planned run a skipped `prior` stood on). Its counts are what a full plan of the
    same file would count: everyone `prior`'s plan placed, and everyone it listed and
    unallocated (a leaving date passed: their access already removed), unchanged; the
    rows refused or queued, as before. Saved by the caller (`sync._finish`)."""
    planned_id = prior.same_as_id or prior.pk
    planned = m.SyncRun.objects.filter(pk=planned_id)
    counts, errors, listed_gone = planned.values_list(
        "counts", "errors", "settled_listed_gone"
    ).get()
    run.status = m.SyncRun.Status.APPLIED
    run.applied_at = timezone.now()
    run.same_as_id = planned_id
    run.counts = dict.fromkeys(COUNT_KEYS, 0) | {
        "unchanged": sum(int(counts.get(k, 0)) for k in _PLACED_COUNTS) + listed_gone,
        **{k: int(counts.get(k, 0)) for k in _KEPT_COUNTS},
    }
    run.errors = [
        *(e for e in errors if e.get("row") is not None),
        {
            "row": None,
            "field": None,
            "message": f"same file as run {planned_id}, nothing changed since",
            "source": "notice",
        },
    ]
    run.holds, run.actions = [], []
    run.settled_digest = prior.settled_digest
    run.settled_until = prior.settled_until
    run.settled_la_wide = prior.settled_la_wide
    run.settled_listed_gone = listed_gone
    run.settled_mark = audit_mark()
