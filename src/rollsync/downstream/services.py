"""Writes for downstream clients: create, rotate, revoke, and the checks that note a
client's use (client credentials, SCIM bearer tokens, OAuth access tokens); and for
scheduled exports: `export_schedule_create|remove|run`, `exports_queue_due`.

Secrets are random (256 bits) and kept only as their SHA-256; each is returned once
by the service that makes it. A rotation or revocation ends the client's access
tokens at once."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rollsync.access.scoped import scope_given
from rollsync.access.selectors import Grant
from rollsync.directory import models as m
from rollsync.directory.exports import ExportRefused, export_make
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.connections import _check_schedule, next_pull_time
from rollsync.directory.services.errors import CONFLICT, NOT_FOUND, ServiceError
from rollsync.directory.services.locks import la_lock
from rollsync.downstream.models import AccessToken, ClientKind, DownstreamClient, ExportSchedule
from rollsync.downstream.scopes import ALL_SCOPES

log = logging.getLogger("rollsync.downstream")
CLIENT_ID_PREFIX = "rsc_"
SECRET_PREFIX = {ClientKind.ONEROSTER: "rss_", ClientKind.SCIM: "rst_"}
ACCESS_TOKEN_PREFIX = "rsa_"
_LAST_USED_GRANULARITY = timedelta(minutes=1)  # at most one write a minute per client
_MAX_SECRET = 200  # longer input is never one of ours: refused before any hashing


class DownstreamClientError(ServiceError, ValueError):
    """Bad client input; the message names the field."""


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def token_lifetime() -> int:
    """Seconds an OAuth access token lives (`ROLLSYNC_OAUTH_TOKEN_SECONDS`, 3600)."""
    return int(getattr(settings, "ROLLSYNC_OAUTH_TOKEN_SECONDS", 3600))


def scope_label(client: DownstreamClient) -> str:
    if client.school is not None:
        return f"school {client.school.urn}"
    assert client.la is not None
    return f"LA {client.la.code}"


def _new_secret(kind: str) -> str:
    return SECRET_PREFIX[ClientKind(kind)] + secrets.token_urlsafe(32)


def _locked(client_pk: int) -> DownstreamClient:
    client = (
        DownstreamClient.objects.select_for_update(of=("self",))
        .select_related("school", "la")
        .filter(pk=client_pk)
        .first()
    )
    if client is None:
        raise DownstreamClientError(f"client: no downstream client {client_pk}", code=NOT_FOUND)
    if client.revoked_at is not None:
        raise DownstreamClientError(
            f"client: downstream client {client_pk} was revoked", code=CONFLICT
        )
    return client


def _audited(
    client: DownstreamClient, actor: str, what: str
) -> tuple[AuditLog, str, dict[str, Any]]:
    """The audit log of a change to `client`, the event's reason and its changes."""
    reason = (
        f"{client.kind} client {client.pk} '{client.name}' ({client.client_id}) for "
        f"{scope_label(client)} {what}"
    )
    return (
        AuditLog(actor=actor, school=client.school),
        reason,
        {"client": client.pk, "kind": client.kind},
    )


@transaction.atomic
def downstream_client_create(
    *,
    name: str,
    kind: str,
    school: m.School | None = None,
    la: m.LocalAuthority | None = None,
    actor: str = "cli",
) -> tuple[DownstreamClient, str]:
    """A read-only client for one school or one LA. Returns it and its secret (a
    OneRoster client's `client_secret`, a SCIM client's bearer token): shown now only."""
    name = name.strip()
    if not name:
        raise DownstreamClientError("name: a client needs a name (the service that uses it)")
    if len(name) > 100:
        raise DownstreamClientError("name: at most 100 characters")
    if kind not in ClientKind.values:
        raise DownstreamClientError(f"kind: {kind!r} is not one of {', '.join(ClientKind.values)}")
    if not scope_given(school=school, la=la):
        raise DownstreamClientError("scope: give exactly one of a school or an LA")
    secret = _new_secret(kind)
    client = DownstreamClient.objects.create(
        name=name,
        kind=kind,
        client_id=CLIENT_ID_PREFIX + secrets.token_urlsafe(12),
        secret_prefix=secret[:12],
        secret_hash=secret_hash(secret),
        school=school,
        la=la,
        created_by=actor,
    )
    audit, reason, changes = _audited(client, actor, "created (read-only)")
    audit.add("downstream_client_created", reason, changes=changes)
    audit.flush()
    return client, secret


@transaction.atomic
def downstream_client_rotate(*, client_pk: int, actor: str = "cli") -> tuple[DownstreamClient, str]:
    """A new secret for the client; the old one and every access token issued under it
    stop working at once. Returns the client and the new secret (shown now only)."""
    client = _locked(client_pk)
    secret = _new_secret(client.kind)
    client.secret_prefix = secret[:12]
    client.secret_hash = secret_hash(secret)
    client.rotated_at = timezone.now()
    client.save(update_fields=["secret_prefix", "secret_hash", "rotated_at"])
    AccessToken.objects.filter(client=client).delete()
    audit, reason, changes = _audited(client, actor, "given a new secret")
    audit.add("downstream_client_rotated", reason, changes=changes)
    audit.flush()
    return client, secret


@transaction.atomic
def downstream_client_revoke(*, client_pk: int, actor: str = "cli") -> DownstreamClient:
    """Stop a client working, at once and for good (its tokens too). The row stays."""
    client = _locked(client_pk)
    client.revoked_at = timezone.now()
    client.revoked_by = actor
    client.save(update_fields=["revoked_at", "revoked_by"])
    AccessToken.objects.filter(client=client).delete()
    audit, reason, changes = _audited(client, actor, "revoked")
    audit.add("downstream_client_revoked", reason, changes=changes)
    audit.flush()
    return client


def _note_use(client: DownstreamClient) -> None:
    now = timezone.now()
    if client.last_used_at is None or now - client.last_used_at >= _LAST_USED_GRANULARITY:
        DownstreamClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now


def _live(**lookup: object) -> DownstreamClient | None:
    return (
        DownstreamClient.objects.select_related("school", "la")
        .filter(revoked_at__isnull=True, **lookup)
        .first()
    )


def oneroster_client_authenticate(*, client_id: str, client_secret: str) -> DownstreamClient | None:
    """The live OneRoster client with these credentials, or None (the secret compared
    in constant time)."""
    if not client_id or len(client_id) > 40 or len(client_secret) > _MAX_SECRET:
        return None
    client = _live(client_id=client_id, kind=ClientKind.ONEROSTER)
    if client is None or not hmac.compare_digest(client.secret_hash, secret_hash(client_secret)):
        return None
    _note_use(client)
    return client


def scim_client_verify(*, token: str) -> DownstreamClient | None:
    """The live SCIM client whose bearer token this is, or None. The SCIM door calls
    this with the `Authorization: Bearer` value; the client is its principal."""
    if not token.startswith(SECRET_PREFIX[ClientKind.SCIM]) or len(token) > _MAX_SECRET:
        return None
    client = _live(secret_hash=secret_hash(token), kind=ClientKind.SCIM)
    if client is not None:
        _note_use(client)
    return client


@dataclass(frozen=True, slots=True)
class OneRosterCaller:
    """A request's principal on the OneRoster door: the client and the scopes its
    token was granted. Its grants are the client's (none once revoked)."""

    client: DownstreamClient
    scopes: frozenset[str]

    def access_grants(self) -> Sequence[Grant]:
        return self.client.access_grants()


@transaction.atomic
def access_token_store(
    *, client: DownstreamClient, token: str, scopes: Iterable[str], expires_in: int
) -> AccessToken:
    """Keep an issued access token's hash (called by the token endpoint once the
    client authenticated). Under the client's row lock, the client must still be live
    and hold the secret it authenticated with: a token asked for with a secret that a
    rotation or revocation ended meanwhile is refused (`conflict`), never kept.
    Expired tokens of the client are cleared on the way."""
    granted = sorted(set(scopes))
    unknown = [s for s in granted if s not in ALL_SCOPES]
    if unknown:
        raise DownstreamClientError(f"scope: not a OneRoster rostering scope: {unknown[0]}")
    still = DownstreamClient.objects.select_for_update().filter(
        pk=client.pk, revoked_at__isnull=True, secret_hash=client.secret_hash
    )
    if not still.exists():
        raise DownstreamClientError(
            "client: the secret was replaced or revoked meanwhile", code=CONFLICT
        )
    now = timezone.now()
    AccessToken.objects.filter(client=client, expires_at__lte=now).delete()
    return AccessToken.objects.create(
        client=client,
        token_hash=secret_hash(token),
        scopes=" ".join(granted),
        issued_at=now,
        expires_at=now + timedelta(seconds=expires_in),
    )


def access_token_verify(*, token: str, now: datetime | None = None) -> OneRosterCaller | None:
    """The caller behind a live, unexpired access token of a live client, or None."""
    if not token.startswith(ACCESS_TOKEN_PREFIX) or len(token) > _MAX_SECRET:
        return None
    row = (
        AccessToken.objects.select_related("client", "client__school", "client__la")
        .filter(
            token_hash=secret_hash(token),
            expires_at__gt=now or timezone.now(),
            client__revoked_at__isnull=True,
        )
        .first()
    )
    if row is None:
        return None
    _note_use(row.client)
    return OneRosterCaller(row.client, frozenset(row.scopes.split()))


def new_access_token() -> str:
    return ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)


# --- scheduled exports ---------------------------------------------------------------------
#
# A schedule writes its file into a directory on the server: the export read under the LA's
# lock (every run and correction of the LA's directory takes it first), so the moment read
# at, `covered_until`, splits the changes exactly: a delta holds what changed after the
# previous successful run's moment and up to its own, no gap and no overlap. The file is
# written beside its name and renamed; a refusal writes nothing, is recorded on the
# schedule in words, and the next period tries again from the same moment.


class ExportScheduleError(ServiceError, ValueError):
    """A refused export schedule write; the message names the field."""


_FILE_TIME = "%Y%m%dT%H%M%S.%fZ"
_FILE_NAME = re.compile(r"^(?P<stem>.+-)(?P<kind>bulk|delta)-\d{8}T\d{6}\.\d{6}Z\.zip$")
MAX_KEEP = 1000


@dataclass(frozen=True, slots=True)
class ScheduledExport:
    """What one run of a schedule did: a file written (and older ones removed), or why not."""

    schedule: int
    status: str  # succeeded | failed
    kind: str  # bulk | delta: what this run wrote, or would have
    since: datetime | None
    until: datetime | None
    file: str = ""
    counts: dict[str, int] = dc_field(default_factory=dict)
    removed: tuple[str, ...] = ()
    error: str = ""


class _NotWritten(Exception):
    """A scheduled export that cannot be written; the message says why, for a person."""


def _file_stem(schedule: ExportSchedule) -> str:
    if schedule.school is not None:
        scope = f"school-{schedule.school.urn}"
    else:
        assert schedule.la is not None
        scope = f"la-{schedule.la.code}"
    return f"rollsync-{scope}-{schedule.fmt}-"


def export_file_name(schedule: ExportSchedule, *, kind: str, at: datetime) -> str:
    """`rollsync-school-100001-oneroster-delta-20261130T020000.123456Z.zip`: the scope,
    format, kind and moment (UTC) the directory was read at; names sort in time order."""
    return f"{_file_stem(schedule)}{kind}-{at.astimezone(UTC).strftime(_FILE_TIME)}.zip"


def schedule_files(schedule: ExportSchedule) -> list[Path]:
    """The schedule's files in its destination, oldest first (none when it is not there)."""
    folder = Path(schedule.destination)
    stem = _file_stem(schedule)
    try:
        names = [p.name for p in folder.iterdir() if p.is_file()]
    except OSError:
        return []
    ours = [n for n in names if (hit := _FILE_NAME.match(n)) and hit["stem"] == stem]
    return [folder / n for n in sorted(ours)]


def _clean_destination(destination: str) -> str:
    text = destination.strip()
    if not text or not os.path.isabs(text):
        raise ExportScheduleError(
            f"destination: {destination!r} is not a folder path; give the full path of a "
            "folder on this server, e.g. /srv/exports/la-202",
            field="destination",
        )
    text = os.path.normpath(text)
    if len(text) > ExportSchedule._meta.get_field("destination").max_length:  # type: ignore[operator]
        raise ExportScheduleError(
            "destination: a path of at most 1000 characters", field="destination"
        )
    if not os.path.isdir(text):
        raise ExportScheduleError(
            f"destination: {text} is not a folder on this server; make it first",
            field="destination",
        )
    return text


def _writable_folder(destination: str) -> Path:
    folder = Path(destination)
    if not folder.is_dir():
        raise _NotWritten(f"the folder {destination} is not there (moved or removed?)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _NotWritten(f"rollsync may not write into the folder {destination}")
    return folder


def _write_whole(path: Path, payload: bytes) -> None:
    """Write beside the final name, flush to disk, then rename: a reader sees the whole
    file or none, and a failed write leaves nothing behind."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "xb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _prune(schedule: ExportSchedule) -> tuple[str, ...]:
    """Remove the schedule's files beyond its `keep` newest; a file that cannot be removed
    stays (the next run tries again)."""
    files = schedule_files(schedule)
    removed = []
    for old in files[: max(0, len(files) - schedule.keep)]:
        try:
            old.unlink()
        except OSError:
            continue
        removed.append(old.name)
    return tuple(removed)


@transaction.atomic
def export_schedule_create(
    *,
    school: m.School | None = None,
    la: m.LocalAuthority | None = None,
    fmt: str,
    kind: str,
    schedule: str,
    destination: str,
    keep: int,
    actor: str = "cli",
) -> ExportSchedule:
    """An export written on `schedule` (cron fields, the LA's time) into `destination`,
    keeping the `keep` newest files. Its first run comes at the schedule's next time."""
    if not scope_given(school=school, la=la):
        raise ExportScheduleError("scope: give exactly one of a school or an LA", field="scope")
    if fmt not in ExportSchedule.Format.values:
        raise ExportScheduleError(
            f"format: {fmt!r} is not one of {', '.join(ExportSchedule.Format.values)}",
            field="format",
        )
    if kind not in ExportSchedule.Kind.values:
        raise ExportScheduleError(
            f"kind: {kind!r} is not one of {', '.join(ExportSchedule.Kind.values)}", field="kind"
        )
    if fmt == ExportSchedule.Format.SDS and kind == ExportSchedule.Kind.DELTA:
        raise ExportScheduleError(
            "kind: SDS has no delta: School Data Sync ends everyone missing from a file, so "
            "a scheduled SDS export is always a bulk (an SDS delta is for reading, by hand: "
            "rollsync export --since)",
            field="kind",
        )
    if not 1 <= keep <= MAX_KEEP:
        raise ExportScheduleError(f"keep: from 1 to {MAX_KEEP} files, not {keep}", field="keep")
    try:
        cron = _check_schedule(schedule)
    except ServiceError as exc:
        raise ExportScheduleError(str(exc), field="schedule") from None
    folder = _clean_destination(destination)
    clash = ExportSchedule.objects.filter(school=school, la=la, fmt=fmt, destination=folder)
    if clash.exists():
        raise ExportScheduleError(
            f"destination: export schedule {clash.values_list('pk', flat=True)[0]} already "
            f"writes this scope's {fmt} files into {folder}; its files and this one's would "
            "be pruned as one",
            code=CONFLICT,
            field="destination",
        )
    made = ExportSchedule.objects.create(
        school=school,
        la=la,
        fmt=fmt,
        kind=kind,
        schedule=cron,
        destination=folder,
        keep=keep,
        next_run_at=next_pull_time(cron),
        created_by=actor,
    )
    audit = AuditLog(actor=actor, school=school)
    audit.add(
        "export_schedule_added",
        f"export schedule {made.pk} added by {actor}: {made.scope_label} {fmt} {kind} at "
        f"'{cron}' into {folder}, keeping {keep} file(s)",
        changes={
            "schedule": made.pk,
            "format": fmt,
            "kind": kind,
            "cron": cron,
            "destination": folder,
            "keep": keep,
        },
    )
    audit.flush()
    return made


def _schedule_or_error(schedule_pk: int) -> ExportSchedule:
    found = (
        ExportSchedule.objects.select_related("school", "la", "school__la")
        .filter(pk=schedule_pk)
        .first()
    )
    if found is None:
        raise ExportScheduleError(
            f"schedule: no export schedule {schedule_pk}", code=NOT_FOUND, field="schedule"
        )
    return found


def _locked_schedule(schedule_pk: int) -> ExportSchedule:
    """The schedule under its LA's lock (taken first, as every run of the LA takes it)
    and then its own row's."""
    seen = _schedule_or_error(schedule_pk)
    la_lock(la_id=seen.school.la_id if seen.school is not None else seen.la_id)
    list(ExportSchedule.objects.select_for_update().filter(pk=schedule_pk).values_list("pk"))
    return _schedule_or_error(schedule_pk)


@transaction.atomic
def export_schedule_remove(*, schedule_pk: int, actor: str = "cli") -> ExportSchedule:
    """Stop the schedule. The files it wrote stay where they are."""
    schedule = _locked_schedule(schedule_pk)
    label = str(schedule)
    audit = AuditLog(actor=actor, school=schedule.school)
    audit.add(
        "export_schedule_removed",
        f"{label} removed by {actor}; its files in {schedule.destination} are left there",
        changes={"schedule": schedule.pk, "destination": schedule.destination},
    )
    audit.flush()
    schedule.delete()
    schedule.pk = schedule_pk
    return schedule


def export_schedule_run(*, schedule_pk: int, actor: str = "cli") -> ScheduledExport:
    """Write the schedule's export now: a bulk, or a delta of what changed since its last
    successful run (a bulk when it has none), then remove its files beyond `keep`. A
    refusal (the export refused, an empty bulk, the folder missing or not writable) writes
    nothing and is recorded on the schedule; the returned result says why."""
    written: Path | None = None
    try:
        with transaction.atomic():
            schedule = _locked_schedule(schedule_pk)
            # Under the LA's lock nothing of the LA changes: all before `until` is committed
            # and read now, all after it comes after the lock is let go.
            until = timezone.now()
            since = schedule.covered_until if schedule.kind == ExportSchedule.Kind.DELTA else None
            kind = "delta" if since is not None else "bulk"
            result = ScheduledExport(schedule.pk, "failed", kind, since, until)
            try:
                folder = _writable_folder(schedule.destination)
                try:
                    made = export_make(
                        principal=schedule,
                        fmt=schedule.fmt,
                        today=timezone.localdate(until),
                        urn=schedule.school.urn if schedule.school is not None else None,
                        la_code=schedule.la.code if schedule.la is not None else None,
                        since=since,
                    )
                except ExportRefused as exc:
                    raise _NotWritten(f"the export was refused: {exc.message}") from None
                counts = made.counts()
                if kind == "bulk" and counts["people"] == 0:
                    raise _NotWritten(
                        f"the directory holds nobody at {schedule.scope_label}: an empty bulk "
                        "export would tell its reader that everyone has left"
                    )
                path = folder / export_file_name(schedule, kind=kind, at=until)
                try:
                    _write_whole(path, made.payload)
                except OSError as exc:
                    raise _NotWritten(
                        f"writing {path.name} into {folder} failed: {exc.strerror or exc}"
                    ) from None
                written = path
            except _NotWritten as exc:
                result = replace(result, error=f"nothing was written: {exc}")
            if written is not None:
                schedule.covered_until = until
                schedule.last_status = "succeeded"
                schedule.last_error = ""
                schedule.last_file = str(written)
                result = replace(result, status="succeeded", file=str(written), counts=counts)
            else:
                schedule.last_status = "failed"
                schedule.last_error = result.error
            schedule.last_run_at = until
            schedule.save(
                update_fields=[
                    "covered_until",
                    "last_status",
                    "last_error",
                    "last_file",
                    "last_run_at",
                ]
            )
            _audit_run(schedule, result, actor)
    except BaseException:
        if written is not None:  # the record did not commit: neither does the file
            written.unlink(missing_ok=True)
        raise
    if written is not None:
        result = replace(result, removed=_prune(schedule))
    log.info(
        "scheduled export %s",
        result.status,
        extra={"schedule": result.schedule, "kind": result.kind, "file": result.file},
    )
    return result


def _audit_run(schedule: ExportSchedule, result: ScheduledExport, actor: str) -> None:
    audit = AuditLog(actor=actor, school=schedule.school)
    changes: dict[str, Any] = {
        "schedule": schedule.pk,
        "kind": result.kind,
        "since": result.since,
        "until": result.until,
    }
    if result.status == "succeeded":
        audit.add(
            "export_schedule_written",
            f"{schedule} wrote {Path(result.file).name} ({result.kind}, "
            f"{result.counts.get('people', 0)} people)",
            changes={**changes, "file": result.file, "counts": result.counts},
        )
    else:
        audit.add(
            "export_schedule_failed",
            f"{schedule} failed: {result.error}; it tries again at its next time",
            changes={**changes, "error": result.error},
        )
    audit.flush()


def exports_queue_due(*, now: datetime | None = None) -> list[int]:
    """Queue one run per schedule whose time has come, moving its next time on in the same
    transaction: however many schedulers run this at once, a schedule's run for a period
    is queued once (rows claimed with SKIP LOCKED where there is)."""
    from rollsync.downstream import tasks

    now = now or timezone.now()
    queued: list[int] = []
    with transaction.atomic():
        due = ExportSchedule.objects.select_for_update(skip_locked=True).filter(
            next_run_at__lte=now
        )
        for schedule in due.order_by("pk"):
            schedule.next_run_at = next_pull_time(schedule.schedule, after=now)
            schedule.save(update_fields=["next_run_at"])
            tasks.enqueue_export(schedule.pk)
            queued.append(schedule.pk)
    return queued
