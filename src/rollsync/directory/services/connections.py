"""MIS connections: connect a school's MIS once, then pull from it on a schedule or at once
(Force run), every door through these functions.

A pull is: take the connection's pull lease (a school's pulls never overlap), ask the
connector for every accepted report the MIS can send (outside any transaction: it talks
to the vendor), store each report's bundle as an upload exactly as it came (Upload
History: source = the MIS, what was asked for, size, checksum), and sync each upload as
any file is synced, people before the reports that name them. A pull that fails (any
request, any answer not as documented) stores and applies nothing: the directory stays as
it was, the failure is recorded (as an upload row without data, so Upload History tells
the truth, and on the connection: its light), and the next try starts clean. Once the
pull is whole, each report's run stands on its own, as each uploaded file's does (one
may be held or fail on its data while another applies); the pull's status is the worst.
"""

from __future__ import annotations

import logging
import secrets as pysecrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from croniter import croniter
from django.conf import settings as dj_settings
from django.db import transaction
from django.utils import timezone

from rollsync import connectors as c
from rollsync.connectors.http import check_base_url
from rollsync.directory import models as m
from rollsync.directory.secrets import SecretsUnreadable, reseal, seal, unseal
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.errors import ServiceError
from rollsync.domain.mis import can_send, mis_info
from rollsync.domain.reports import CATALOGUE

log = logging.getLogger("rollsync.connections")

# What a failed scheduled pull waits before its next try: 30 min, then 1 h, then the
# regular schedule (a daily pull that keeps failing turns the light red, not a storm).
RETRY_DELAYS = (timedelta(minutes=30), timedelta(hours=1))


class MisConnectionError(ServiceError, ValueError):
    """A connection cannot be made, changed or pulled as asked."""


@dataclass(frozen=True, slots=True)
class PullOutcome:
    """One pull: its status (applied, held, failed, preview), its runs, and why it failed."""

    school: m.School
    status: str
    runs: list[m.SyncRun] = field(default_factory=list)
    uploads: list[m.Upload] = field(default_factory=list)
    error: str = ""


def _pull_lease() -> timedelta:
    return timedelta(minutes=float(getattr(dj_settings, "ROLLSYNC_PULL_LEASE_MINUTES", 60)))


def connector_of(name: str) -> c.Connector:
    try:
        return c.connector_for(name)
    except ValueError:
        known = ", ".join(c.registered_connectors())
        raise MisConnectionError(
            f"unknown MIS {name!r}; rollsync connects to: {known}", field="mis"
        ) from None


def next_pull_time(schedule: str, *, after: datetime | None = None) -> datetime:
    """The next time a cron schedule (in the LA's time zone) comes round after `after`."""
    base = timezone.localtime(after or timezone.now())
    return croniter(schedule, base).get_next(datetime)  # type: ignore[no-any-return]


def _check_schedule(schedule: str) -> str:
    text = " ".join(schedule.split())
    if not croniter.is_valid(text) or len(text.split()) != 5:
        raise MisConnectionError(
            f"{schedule!r} is not a schedule: give five cron fields in the LA's time, "
            "e.g. '0 2 * * *' (daily at 02:00) or '30 18 * * 1-5' (weekday evenings)",
            field="schedule",
        )
    return text


def _clean_settings(
    connector: c.Connector, values: dict[str, str], stored: dict[str, str] | None = None
) -> dict[str, str]:
    """The connector's non-secret fields from `values`: required ones present, the URL
    safe. Unknown names are refused (a typo would otherwise be silently dropped)."""
    names = {f.name for f in connector.fields}
    unknown = sorted(set(values) - names)
    if unknown:
        raise MisConnectionError(
            f"{connector.label} has no setting {unknown[0]!r}; it takes "
            + ", ".join(f.name for f in connector.fields),
            field=unknown[0],
        )
    out = dict(stored or {})
    for f in connector.fields:
        if f.secret:
            continue
        value = (values.get(f.name) or "").strip()
        if value:
            out[f.name] = value
        if f.required and not out.get(f.name):
            raise MisConnectionError(f"{f.label} is required for {connector.label}", field=f.name)
    if out.get("url"):
        try:
            out["url"] = check_base_url(out["url"])
        except c.UnsafeUrl as exc:
            raise MisConnectionError(exc.message, field="url", code="invalid") from None
    return out


def _clean_secrets(
    connector: c.Connector, values: dict[str, str], stored: dict[str, str]
) -> dict[str, str]:
    """New secrets replace stored ones; a secret left blank keeps the stored one."""
    out = dict(stored)
    for f in connector.fields:
        if not f.secret:
            continue
        value = values.get(f.name) or ""
        if value.strip():
            out[f.name] = value.strip()
        if f.required and not out.get(f.name):
            raise MisConnectionError(f"{f.label} is required for {connector.label}", field=f.name)
    return out


def _as_connection(
    school: m.School, settings: dict[str, str], secrets: dict[str, str]
) -> c.Connection:
    return c.Connection(school_urn=school.urn, settings=settings, secrets=secrets)


def _stored_secrets(conn: m.MisConnection) -> dict[str, str]:
    try:
        return unseal(conn.secrets)
    except SecretsUnreadable as exc:
        raise MisConnectionError(str(exc), code="refused", field="secrets") from None


def connection_get(*, school: m.School) -> m.MisConnection | None:
    return m.MisConnection.objects.filter(school=school).first()


def connection_connect(
    *,
    school: m.School,
    mis: str,
    settings: dict[str, str],
    secrets: dict[str, str],
    actor: str,
    schedule: str | None = None,
) -> m.MisConnection:
    """Connect (or reconnect) a school's MIS with credentials entered by a person. The
    credentials are checked at once (a token and one page); when they fail, nothing is
    stored and the error says what is wrong. Connecting another MIS than the school's
    changes its MIS (`school_mis_set`): accounts are kept, and the first pull re-keys
    people by evidence and is held for approval."""
    from rollsync.directory.services.schools import school_mis_set

    connector = connector_of(mis)
    existing = connection_get(school=school)
    same = existing is not None and existing.connector == connector.name
    clean = _clean_settings(connector, settings, existing.settings if same and existing else None)
    kept = _stored_secrets(existing) if same and existing else {}
    secret_values = _clean_secrets(connector, secrets, kept)
    cron = (
        _check_schedule(schedule)
        if schedule
        else (existing.schedule if same and existing else _default_cron(connector))
    )
    checked = _as_connection(school, clean, secret_values)
    try:
        result = connector.check(checked)
    except c.ConnectorError as exc:
        raise MisConnectionError(exc.message, code="refused", field=exc.field) from None
    secret_values.update(checked.renewed)
    clean.update(result.settings)
    with transaction.atomic():
        conn = m.MisConnection.objects.select_for_update().filter(school=school).first()
        if conn is None:
            conn = m.MisConnection(school=school)
        conn.connector = connector.name
        conn.settings = clean
        conn.secrets = seal(secret_values)
        _mark_connected(conn)
        conn.schedule = cron
        conn.next_pull_at = next_pull_time(cron)
        conn.approval_state = ""
        conn.connected_by = actor
        if not same:
            conn.cursors = {}
        conn.save()
        audit = AuditLog(actor=actor, school=school)
        audit.add(
            "connection_made",
            f"{connector.label} connected by {actor}: {result.summary}",
            changes={
                "mis": connector.name,
                "settings": clean,
                # which secrets were entered, never their values
                "secrets_entered": sorted(k for k, v in secrets.items() if v.strip()),
            },
        )
        audit.flush()
        school_mis_set(school=school, mis=connector.mis, actor=actor)
    return conn


def _default_cron(connector: c.Connector) -> str:
    # Connector.default_schedule reads "daily 02:00" or "weekdays 18:30"
    kind, _, hhmm = connector.default_schedule.partition(" ")
    hour, _, minute = hhmm.partition(":")
    days = "1-5" if kind == "weekdays" else "*"
    return f"{int(minute or 0)} {int(hour or 2)} * * {days}"


def _mark_connected(conn: m.MisConnection) -> None:
    conn.state = m.MisConnection.State.CONNECTED
    conn.failures = 0
    conn.credentials_refused = False
    conn.last_error = ""


def connection_approval_begin(*, school: m.School, mis: str, actor: str, return_url: str) -> str:
    """Start an approval hand-off (Arbor): the school signs in to its MIS and approves;
    returns the URL to send the person to. Until approval the connection is "awaiting
    approval" and nothing is pulled."""
    from rollsync.directory.services.schools import school_mis_set

    connector = connector_of(mis)
    if not connector.needs_approval:
        raise MisConnectionError(
            f"{connector.label} is connected by entering its credentials", field="mis"
        )
    state = pysecrets.token_urlsafe(32)
    url = connector.approval_url(_as_connection(school, {}, {}), return_url=return_url, state=state)
    if not url:
        raise MisConnectionError(
            f"{connector.label} has no approval page configured", code="refused"
        )
    with transaction.atomic():
        conn = m.MisConnection.objects.select_for_update().filter(school=school).first()
        if conn is None or conn.connector != connector.name:
            if conn is None:
                conn = m.MisConnection(school=school)
            conn.settings, conn.secrets, conn.cursors = {}, b"", {}
            conn.schedule = _default_cron(connector)
            conn.state = m.MisConnection.State.AWAITING_APPROVAL
            conn.next_pull_at = None
        conn.connector = connector.name
        conn.approval_state = state
        conn.connected_by = actor
        conn.save()
        audit = AuditLog(actor=actor, school=school)
        audit.add(
            "connection_approval_started",
            f"{connector.label} approval link issued to {actor}",
            changes={"mis": connector.name},
        )
        audit.flush()
        school_mis_set(school=school, mis=connector.mis, actor=actor)
    return url


def connection_approval_complete(*, state: str, code: str, actor: str) -> m.MisConnection:
    """The MIS sent the browser back: exchange the one-time code for the endpoint and
    credentials, check them, and connect. A state rollsync did not issue is refused."""
    if not state or not code:
        raise MisConnectionError("the approval came back without its code", field="code")
    conn = m.MisConnection.objects.select_related("school").filter(approval_state=state).first()
    if conn is None or not pysecrets.compare_digest(conn.approval_state, state):
        raise MisConnectionError(
            "this approval link is not one rollsync issued, or it was used already: "
            "start the approval again from AutoUpdate Settings",
            code="refused",
            field="state",
        )
    connector = connector_of(conn.connector)
    try:
        approved = connector.complete_approval(_as_connection(conn.school, {}, {}), code=code)
        clean = _clean_settings(connector, dict(approved.settings))
        checked = _as_connection(conn.school, clean, dict(approved.secrets))
        result = connector.check(checked)
    except c.ConnectorError as exc:
        raise MisConnectionError(exc.message, code="refused", field=exc.field) from None
    approved_secrets = {**approved.secrets, **checked.renewed}
    with transaction.atomic():
        conn = m.MisConnection.objects.select_for_update().get(pk=conn.pk)
        if conn.approval_state != state:
            raise MisConnectionError("this approval was completed already", code="conflict")
        conn.settings = {**clean, **result.settings}
        conn.secrets = seal(approved_secrets)
        _mark_connected(conn)
        conn.approval_state = ""
        conn.next_pull_at = next_pull_time(conn.schedule)
        conn.save()
        audit = AuditLog(actor=actor, school=conn.school)
        audit.add(
            "connection_made",
            f"{connector.label} access approved; {result.summary}",
            changes={"mis": connector.name, "settings": clean, "approved": True},
        )
        audit.flush()
    return conn


def connection_approval_abandon(*, state: str, actor: str, why: str) -> bool:
    """The MIS sent the browser back without approving (`?error=`): the link is spent, so
    it cannot be replayed; the connection stays awaiting approval. False when the state
    is not one rollsync issued."""
    if not state:
        return False
    with transaction.atomic():
        conn = (
            m.MisConnection.objects.select_for_update()
            .select_related("school")
            .filter(approval_state=state)
            .first()
        )
        if conn is None:
            return False
        conn.approval_state = ""
        conn.save(update_fields=["approval_state"])
        audit = AuditLog(actor=actor, school=conn.school)
        audit.add(
            "connection_approval_refused",
            f"{connector_of(conn.connector).label} access was not approved: {why[:200]}",
            changes={"mis": conn.connector},
        )
        audit.flush()
    return True


def connection_disconnect(*, school: m.School, actor: str) -> bool:
    """Forget the connection and its secrets. Uploads and runs stay. False when the school
    had no connection."""
    with transaction.atomic():
        conn = m.MisConnection.objects.select_for_update().filter(school=school).first()
        if conn is None:
            return False
        label = connector_of(conn.connector).label
        conn.delete()
        audit = AuditLog(actor=actor, school=school)
        audit.add(
            "connection_removed",
            f"{label} disconnected by {actor}; its credentials are forgotten",
            changes={"mis": conn.connector},
        )
        audit.flush()
    return True


def connection_schedule_set(*, school: m.School, schedule: str, actor: str) -> m.MisConnection:
    cron = _check_schedule(schedule)
    with transaction.atomic():
        conn = m.MisConnection.objects.select_for_update().filter(school=school).first()
        if conn is None:
            raise MisConnectionError(
                f"{school.urn} {school.name} has no MIS connection", code="not_found"
            )
        if connector_of(conn.connector).agent:
            raise MisConnectionError(
                "the rollsync agent uploads SIMS's data: its schedule is set in the agent on "
                "the school's server (rollsync-agent schedule), not here",
                code="refused",
                field="schedule",
            )
        if connector_of(conn.connector).push:
            raise MisConnectionError(
                f"{connector_of(conn.connector).label} pushes to rollsync: its schedule is kept "
                "in the MIS (every evening after 18:00), not here",
                code="refused",
                field="schedule",
            )
        old = conn.schedule
        conn.schedule = cron
        if conn.state != m.MisConnection.State.AWAITING_APPROVAL:
            conn.next_pull_at = next_pull_time(cron)
        conn.save(update_fields=["schedule", "next_pull_at"])
        audit = AuditLog(actor=actor, school=school)
        audit.add(
            "connection_schedule_changed",
            f"pull schedule changed from {old} to {cron} by {actor}",
            changes={"schedule": [old, cron]},
        )
        audit.flush()
    return conn


def connections_rekey() -> int:
    """Encrypt every connection's secrets under the newest key (after a new key is put
    first in ROLLSYNC_CONNECTION_KEYS). Returns how many were rewritten."""
    done = 0
    for pk in m.MisConnection.objects.exclude(secrets=b"").values_list("pk", flat=True):
        with transaction.atomic():
            conn = m.MisConnection.objects.select_for_update().get(pk=pk)
            conn.secrets = reseal(conn.secrets)
            conn.save(update_fields=["secrets"])
            done += 1
    return done


# --- pulls ---------------------------------------------------------------------------


def _reports_to_pull(
    school: m.School, connector: c.Connector, asked: list[str] | None
) -> list[str]:
    accepted = set(school.accepted_reports.values_list("report", flat=True))
    if asked:
        unknown = [r for r in asked if r not in CATALOGUE]
        if unknown:
            raise MisConnectionError(
                f"unknown report {unknown[0]!r}; known: {', '.join(CATALOGUE)}", field="report"
            )
        not_sent = [
            r
            for r in asked
            if not can_send(connector.mis, r, attendance_service=school.attendance_service)
        ]
        if not_sent:
            raise MisConnectionError(
                f"{connector.label} cannot send {CATALOGUE[not_sent[0]].label}", field="report"
            )
        not_accepted = [r for r in asked if r not in accepted]
        if not_accepted:
            raise MisConnectionError(
                f"{school.name} has not accepted {CATALOGUE[not_accepted[0]].label}: accept it in "
                "AutoUpdate Settings first",
                field="report",
            )
        wanted = set(asked)
    else:
        wanted = {
            r
            for r in accepted
            if can_send(connector.mis, r, attendance_service=school.attendance_service)
        }
    reports = [r for r in CATALOGUE if r in wanted]
    if not reports:
        raise MisConnectionError(
            f"{school.name} has accepted no report {connector.label} can send: accept one in "
            "AutoUpdate Settings first",
            field="report",
        )
    return reports


def _lease_take(school: m.School, holder: str) -> m.MisConnection:
    now = timezone.now()
    with transaction.atomic():
        conn = m.MisConnection.objects.select_for_update().filter(school=school).first()
        if conn is None:
            raise MisConnectionError(
                f"{school.urn} {school.name} has no MIS connection: connect it first",
                code="not_found",
            )
        if conn.state == m.MisConnection.State.AWAITING_APPROVAL:
            raise MisConnectionError(
                "MISSING ENDPOINT URL: the school has not approved access in its MIS yet; "
                "re-authorise from AutoUpdate Settings",
                code="refused",
            )
        if conn.pulling_since is not None and conn.pulling_since > now - _pull_lease():
            raise MisConnectionError(
                f"a pull of {school.name} is already running (since "
                f"{timezone.localtime(conn.pulling_since):%H:%M}); wait for it to finish",
                code="conflict",
            )
        conn.pulling_since = now
        conn.pull_holder = holder
        conn.save(update_fields=["pulling_since", "pull_holder"])
    return conn


def _pull_request(
    conn: m.MisConnection, school: m.School, reports: list[str], as_of: date | None
) -> c.PullRequest:
    opted: dict[str, set[str]] = {}
    for report, fld in school.opt_outs.values_list("report", "field"):
        opted.setdefault(report, set()).add(fld)
    cursors: dict[str, dict[str, Any]] = {}
    previous: dict[str, bytes] = {}
    for report in reports:
        saved = (conn.cursors or {}).get(report)
        if not isinstance(saved, dict) or not saved.get("upload"):
            continue
        data = (
            m.Upload.objects.filter(pk=saved["upload"], school=school)
            .values_list("data", flat=True)
            .first()
        )
        if data:
            cursors[report] = dict(saved.get("cursor") or {})
            previous[report] = bytes(data)
    return c.PullRequest(
        reports=frozenset(reports),
        opted_out={r: frozenset(f) for r, f in opted.items()},
        cursors=cursors,
        previous=previous,
        today=as_of,
        now=timezone.now(),
    )


def connection_pull(
    *,
    school: m.School,
    actor: str,
    reports: list[str] | None = None,
    dry_run: bool = False,
    as_of: date | None = None,
    trigger: str = "force",
    holder: str | None = None,
) -> PullOutcome:
    """Pull the school's MIS now (Force run, or its schedule) and sync what came."""
    from rollsync.directory.services.sync import sync_run_execute
    from rollsync.directory.services.uploads import (
        import_outcome,
        upload_record_failed_pull,
        upload_store,
    )

    conn0 = connection_get(school=school)
    if conn0 is None:
        raise MisConnectionError(
            f"{school.urn} {school.name} has no MIS connection: connect it first", code="not_found"
        )
    connector = connector_of(conn0.connector)
    if trigger == "force":
        _force_run_allowed(connector)
    wanted = _reports_to_pull(school, connector, reports)
    conn = _lease_take(school, holder or pysecrets.token_hex(8))
    outcome: PullOutcome
    try:
        request = _pull_request(conn, school, wanted, as_of)
        asked = ", ".join(CATALOGUE[r].label for r in wanted)
        try:
            secret_values = _stored_secrets(conn)
            connection = _as_connection(school, dict(conn.settings), secret_values)
            try:
                pulled = connector.pull(connection, request)
            finally:
                _keep_renewed(conn, connection)
        except (c.ConnectorError, MisConnectionError) as exc:
            message = exc.message if isinstance(exc, c.ConnectorError) else str(exc)
            upload = upload_record_failed_pull(
                school=school, source=connector.mis, fmt=connector.fmt, asked=asked, why=message
            )
            outcome = PullOutcome(school, "failed", [], [upload], message)
            _record(conn, connector, outcome, trigger=trigger, actor=actor, exc=exc)
            return outcome
        except Exception as exc:  # a defect in a connector: recorded, never half-applied
            log.exception("pull of %s failed", school.urn)
            message = f"the pull failed inside rollsync ({type(exc).__name__}); the service desk can see why in the log"
            upload = upload_record_failed_pull(
                school=school, source=connector.mis, fmt=connector.fmt, asked=asked, why=message
            )
            outcome = PullOutcome(school, "failed", [], [upload], message)
            _record(conn, connector, outcome, trigger=trigger, actor=actor, exc=None)
            return outcome
        runs: list[m.SyncRun] = []
        uploads: list[m.Upload] = []
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        # People before the reports that name them (contacts, groups, attendance).
        order = {code: n for n, code in enumerate(CATALOGUE)}
        for part in sorted(pulled, key=lambda p: order.get(p.report, len(order))):
            upload = upload_store(
                school=school,
                payload=part.payload,
                fmt=part.fmt,
                report=part.report,
                filename=f"{connector.name}-{part.report}-{stamp}.zip",
                source=connector.mis,
                asked=part.asked,
                pulled=True,
                outcome=import_outcome(dry_run=dry_run, as_of=as_of),
            )
            uploads.append(upload)
            run = sync_run_execute(upload=upload, dry_run=dry_run, as_of=as_of, actor=actor)
            runs.append(run)
            if run.status == m.SyncRun.Status.APPLIED and not dry_run:
                conn.cursors = {
                    **(conn.cursors or {}),
                    part.report: {"cursor": dict(part.cursor), "upload": upload.pk},
                }
            elif run.status == m.SyncRun.Status.FAILED:
                conn.cursors = {k: v for k, v in (conn.cursors or {}).items() if k != part.report}
        statuses = {r.status for r in runs}
        if m.SyncRun.Status.FAILED in statuses:
            status = "failed"
        elif m.SyncRun.Status.HELD in statuses:
            status = "held"
        elif dry_run:
            status = "preview"
        else:
            status = "applied"
        error = ""
        if status == "failed":
            bad = next(r for r in runs if r.status == m.SyncRun.Status.FAILED)
            error = _first_error(bad)
        outcome = PullOutcome(school, status, runs, uploads, error)
        _record(conn, connector, outcome, trigger=trigger, actor=actor, exc=None)
        return outcome
    finally:
        m.MisConnection.objects.filter(pk=conn.pk, pull_holder=conn.pull_holder).update(
            pulling_since=None, pull_holder=""
        )


def _keep_renewed(conn: m.MisConnection, connection: c.Connection) -> None:
    """Seal and store the secrets the vendor renewed during the call (a rotated refresh
    token), at once: the old one may already be spent."""
    if not connection.renewed:
        return
    with transaction.atomic():
        fresh = m.MisConnection.objects.select_for_update().filter(pk=conn.pk).first()
        if fresh is None:
            return
        fresh.secrets = seal({**_stored_secrets(fresh), **connection.renewed})
        fresh.save(update_fields=["secrets"])


def _force_run_allowed(connector: c.Connector) -> None:
    """Force run only where the MIS allows one (the help pages: Integris and Pupil Asset
    run on weekday evenings only; Bromcom is run from Bromcom)."""
    info = mis_info(connector.mis)
    if info is not None and not info.force_run:
        raise MisConnectionError(
            f"{info.name} has no Force run: {info.manual_run}", code="refused", field="mis"
        )


def _first_error(run: m.SyncRun) -> str:
    """Why the run failed: its whole-file error, else its first error."""
    errors = [e for e in run.errors or [] if isinstance(e, dict) and e.get("message")]
    fatal = [e for e in errors if e.get("row") is None]
    return str((fatal or errors)[0]["message"]) if errors else "the run failed"


def _record(
    conn: m.MisConnection,
    connector: c.Connector,
    outcome: PullOutcome,
    *,
    trigger: str,
    actor: str,
    exc: BaseException | None,
) -> None:
    """What the pull means for the connection: its light, its next try, and the audit."""
    now = timezone.now()
    with transaction.atomic():
        fresh = m.MisConnection.objects.select_for_update().filter(pk=conn.pk).first()
        if fresh is None:  # disconnected while pulling: nothing left to record on
            return
        fresh.last_pull_at = now
        fresh.last_outcome = outcome.status
        if outcome.status != "preview":
            fresh.cursors = conn.cursors
        if outcome.status == "failed":
            fresh.failures += 1
            fresh.state = m.MisConnection.State.FAILING
            fresh.last_error = outcome.error
            fresh.credentials_refused = isinstance(exc, c.CredentialsRefused)
            if isinstance(exc, c.SetupIncomplete):
                fresh.state = m.MisConnection.State.AWAITING_APPROVAL
                fresh.next_pull_at = None
            elif fresh.credentials_refused:
                fresh.next_pull_at = None  # no retry storm: a person must enter them again
            elif trigger == "schedule" and fresh.failures <= len(RETRY_DELAYS):
                fresh.next_pull_at = now + RETRY_DELAYS[fresh.failures - 1]
        elif outcome.status != "preview":
            fresh.failures = 0
            fresh.state = m.MisConnection.State.CONNECTED
            fresh.credentials_refused = False
            fresh.last_error = ""
        if fresh.next_pull_at is None and fresh.state == m.MisConnection.State.CONNECTED:
            fresh.next_pull_at = next_pull_time(fresh.schedule)
        fresh.save()
        audit = AuditLog(actor=actor, school=conn.school)
        if outcome.status == "failed":
            audit.add(
                "mis_pull_failed",
                f"{connector.label} pull ({trigger}) failed: {outcome.error}",
                changes={
                    "uploads": [u.pk for u in outcome.uploads],
                    "runs": [r.pk for r in outcome.runs],
                },
            )
        else:
            audit.add(
                "mis_pulled",
                f"{connector.label} pull ({trigger}): {outcome.status}",
                changes={
                    "uploads": [u.pk for u in outcome.uploads],
                    "runs": [r.pk for r in outcome.runs],
                },
            )
        audit.flush()


# --- the schedule -------------------------------------------------------------------


def connections_due(*, now: datetime | None = None) -> list[m.MisConnection]:
    """Connections whose next pull time has come (and that may be pulled without a person)."""
    return list(
        m.MisConnection.objects.select_related("school")
        .filter(next_pull_at__lte=now or timezone.now(), credentials_refused=False)
        .exclude(state=m.MisConnection.State.AWAITING_APPROVAL)
    )


def connections_queue_due(*, actor: str = "schedule", now: datetime | None = None) -> list[str]:
    """Queue one pull per due connection, moving its next time on in the same
    transaction: however many schedulers run this at once, each school's pull for a
    period is queued once (rows are claimed with SKIP LOCKED where the database has it)."""
    from rollsync.directory import tasks

    now = now or timezone.now()
    queued: list[str] = []
    with transaction.atomic():
        qs = (
            m.MisConnection.objects.select_for_update(skip_locked=True)
            .filter(next_pull_at__lte=now, credentials_refused=False)
            .exclude(state=m.MisConnection.State.AWAITING_APPROVAL)
        )
        for conn in qs:
            conn.next_pull_at = next_pull_time(conn.schedule, after=now)
            conn.save(update_fields=["next_pull_at"])
            if m.QueuedTask.objects.filter(
                kind=m.QueuedTask.Kind.PULL,
                school_id=conn.school_id,
                status__in=[m.QueuedTask.Status.QUEUED, m.QueuedTask.Status.RUNNING],
            ).exists():
                continue  # one pull of a school at a time: the queued one will do
            queued.append(tasks.enqueue_pull(conn.school_id, actor=actor, trigger="schedule"))
    return queued


def connection_pull_queue(
    *, school: m.School, actor: str, reports: list[str] | None = None, dry_run: bool = False
) -> str:
    """Force run from the web or the API: queue the pull on the worker; returns the task id."""
    from rollsync.directory import tasks

    conn = connection_get(school=school)
    if conn is None:
        raise MisConnectionError(
            f"{school.urn} {school.name} has no MIS connection: connect it first", code="not_found"
        )
    if conn.state == m.MisConnection.State.AWAITING_APPROVAL:
        raise MisConnectionError(
            "MISSING ENDPOINT URL: the school has not approved access in its MIS yet; re-authorise",
            code="refused",
        )
    _force_run_allowed(connector_of(conn.connector))
    _reports_to_pull(school, connector_of(conn.connector), reports)
    with transaction.atomic():
        # One pull of a school at a time: a second Force run follows the one under way.
        m.MisConnection.objects.select_for_update().filter(pk=conn.pk).first()
        under_way = (
            m.QueuedTask.objects.filter(
                kind=m.QueuedTask.Kind.PULL,
                school_id=school.pk,
                status__in=[m.QueuedTask.Status.QUEUED, m.QueuedTask.Status.RUNNING],
            )
            .values_list("pk", flat=True)
            .first()
        )
        if under_way is not None:
            return str(under_way)
        task_id = tasks.enqueue_pull(
            school.pk, actor=actor, trigger="force", reports=reports or [], dry_run=dry_run
        )
        audit = AuditLog(actor=actor, school=school)
        audit.add(
            "mis_pull_queued",
            f"Force run: pull of {connector_of(conn.connector).label} requested by {actor}",
            changes={"task": task_id, "reports": reports or [], "dry_run": dry_run},
        )
        audit.flush()
    return task_id
