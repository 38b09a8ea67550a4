"""Receiving an upload: every door (web form, JSON API, `rollsync import`, the worker's
callers) hands the file to `upload_store`, which reads it in chunks, hashes it as it
goes, stops as soon as it passes `MAX_UPLOAD_BYTES`, and only then stores it.

A refused file stores nothing: no Upload row, no run, no audit event. An accepted file
is held in memory once (one growing buffer, handed to the database without a copy).

An upload whose processing was cut short (a killed `rollsync import`; a web upload
stored but never queued) has no run. `uploads_stale` finds those older than the stale
period; `uploads_resume` (`rollsync uploads resume`, and the worker when it starts)
processes each again as it was asked, or marks it `abandoned` with a message the
Upload History shows when that would be unsafe. None stays "received" for ever.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import chain
from typing import IO

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BinaryField, Func, Q, Value
from django.utils import timezone

from rollsync import ingest
from rollsync.directory import models as m
from rollsync.directory.services import locks
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.errors import NOT_FOUND, TOO_LARGE, ServiceError
from rollsync.domain.limits import MAX_UPLOAD_BYTES
from rollsync.domain.reports import CATALOGUE

CHUNK_BYTES = 1024 * 1024
_MIB = 1024 * 1024

RECEIVED = "received"  # Upload.outcome before any run: stored, not yet processed
IMPORTING = "import"  # stored by `rollsync import`, which is syncing it ("import YYYY-MM-DD")
PREVIEWING = "preview"  # stored by `rollsync import --dry-run` ("preview YYYY-MM-DD")
ABANDONED = "abandoned"  # Upload.outcome of an upload whose processing never finished
QUEUED = "queued"  # Upload.outcome while the worker has it; the run sets the final outcome

# What a door may hand over: the bytes, a binary file object, or chunks of bytes.
UploadSource = bytes | bytearray | memoryview | IO[bytes] | Iterable[bytes]


class UploadError(ServiceError):
    """A refused upload (or run request: `sync.RunError` is one); the message says why,
    for a school admin."""


SyncError = UploadError  # the name most callers know


def upload_limit() -> int:
    """The limit in force (`MAX_UPLOAD_BYTES`; read when called, so tests can lower it)."""
    return MAX_UPLOAD_BYTES


class UploadTooLarge(UploadError):
    """The file passed the upload limit; nothing was stored."""

    code = TOO_LARGE

    def __init__(self, *, size: int | None, limit: int | None = None) -> None:
        self.size = size
        self.limit = upload_limit() if limit is None else limit
        super().__init__(too_large_message(size, limit=self.limit), field="file")


def too_large_message(size: int | None, *, limit: int | None = None) -> str:
    """'the file is 300 MiB; rollsync accepts files up to 100 MiB' (the size when it is
    known, from a file's length or the request's Content-Length; else 'more than')."""
    limit = upload_limit() if limit is None else limit
    allowed = f"{limit // _MIB} MiB" if limit >= _MIB else f"{limit} bytes"
    if size is not None and size > limit and round(size / _MIB) > limit // _MIB:
        said = f"{round(size / _MIB)} MiB" if limit >= _MIB else f"{size} bytes"
        return f"the file is {said}; rollsync accepts files up to {allowed}"
    return f"the file is more than {allowed}; rollsync accepts files up to {allowed}"


@dataclass(frozen=True, slots=True)
class Received:
    """A file read whole, within the limit: its bytes (one buffer), size and SHA-256."""

    data: bytes | bytearray
    size: int
    sha256: str


def _chunks(source: UploadSource) -> Iterator[bytes | bytearray | memoryview]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source)
        for start in range(0, len(view), CHUNK_BYTES):
            yield view[start : start + CHUNK_BYTES]
        return
    read = getattr(source, "read", None)
    if read is not None:
        while chunk := read(CHUNK_BYTES):
            yield chunk
        return
    yield from source  # type: ignore[misc]


def upload_read(
    source: UploadSource, *, limit: int | None = None, declared_size: int | None = None
) -> Received:
    """Read a file in chunks, hashing as it goes; raise `UploadTooLarge` the moment it
    passes `limit` (having read at most one chunk more than the limit). A declared size
    (a file's length on disk, a request's Content-Length) over the limit refuses it
    before reading at all."""
    limit = upload_limit() if limit is None else limit
    if declared_size is not None and declared_size > limit:
        raise UploadTooLarge(size=declared_size, limit=limit)
    if isinstance(source, bytes):
        # Already one immutable buffer in memory: kept as it is, not copied (a run parses
        # the upload's bytes: a copy would stand beside it through the parse).
        if len(source) > limit:
            raise UploadTooLarge(size=declared_size, limit=limit)
        return Received(data=source, size=len(source), sha256=hashlib.sha256(source).hexdigest())
    chunks: Iterable[bytes | bytearray | memoryview] = _chunks(source)
    read = getattr(source, "read", None)
    if read is not None and declared_size is not None:
        # A file of known size (on disk): read as one buffer, which is then the upload's
        # bytes, not grown chunk by chunk and copied whole at the end (two copies at once
        # of a 12 MB SIMS report, at the first import's resident peak).
        whole = read(declared_size)  # (a read allocates what it is asked for)
        more = read(1)
        if not more:
            return Received(data=whole, size=len(whole), sha256=hashlib.sha256(whole).hexdigest())
        # A short read (a stream, not a file): what was read, then the rest, in chunks.
        chunks = chain((whole, more), chunks)
    digest = hashlib.sha256()
    data = bytearray()
    for chunk in chunks:
        if len(data) + len(chunk) > limit:
            raise UploadTooLarge(size=declared_size, limit=limit)
        digest.update(chunk)
        data += chunk
    return Received(data=data, size=len(data), sha256=digest.hexdigest())


def upload_store(
    *,
    school: m.School,
    payload: UploadSource,
    fmt: str,
    report: str = "",
    filename: str = "",
    source: str = "cli",
    declared_size: int | None = None,
    limit: int | None = None,
    outcome: str = "received",
    asked: str = "",
    pulled: bool = False,
) -> m.Upload:
    """Keep the delivery exactly as it came, with its checksum (the Upload History).
    `pulled`: a bundle a connector pulled from an MIS API (`services.connections`), in
    one of the pulled formats no person may upload; `asked` says what it asked for.

    The format and report are checked first (a rollsync CSV holds one report: it must be
    named, through every door), then the file is read within the limit (an empty file
    is refused too); a refusal (`UploadError`, `UploadTooLarge`) stores nothing."""
    allowed = ingest.PULLED_FORMATS if pulled else ingest.FORMATS
    if fmt not in allowed:
        raise SyncError(f"unknown format {fmt!r}; rollsync reads {', '.join(allowed)}")
    if report and report not in CATALOGUE:
        raise SyncError(f"unknown report {report!r}; known: {', '.join(CATALOGUE)}")
    if ingest.reader_for(fmt).needs_report and not report:
        raise UploadError(f"required with format {fmt} (one report per file)", field="report")
    received = upload_read(
        payload,
        limit=limit,
        declared_size=declared_size,
    )
    if received.size == 0:
        raise UploadError("the file is empty", field="file")

    def store() -> m.Upload:
        upload = m.Upload.objects.create(
            school=school,
            source=source,
            fmt=fmt,
            report=report,
            filename=filename[:255],
            asked=asked[:300],
            size=received.size,
            sha256=received.sha256,
            data=b"" if connection.vendor == "postgresql" else _zeroblob(received.size),
            outcome=outcome,
        )
        if connection.vendor == "postgresql":
            _pg_write_data(upload.pk, received.data)
        else:
            _sqlite_write_data(upload.pk, received.data)
        return upload

    # A busy database (SQLite's one writer past its timeout) is waited out, not a lost
    # upload: the insert is tried again, and the file is still in memory.
    upload = locks.atomic_retrying(store)
    # The bytes a run of it parses, as one immutable buffer: the read buffer is let go
    # rather than kept beside the copy a parse would make of it.
    upload.data = bytes(received.data)
    return upload


def _pg_write_data(upload_id: int, data: bytes | bytearray) -> None:
    """Write the bytes as a binary parameter. Django's PostgreSQL cursor binds on the
    client, which spells bytea out as hex inside the SQL text: three more copies of the
    file in memory, and a 300 MB file passes PostgreSQL's 1 GB limit on one allocation.
    A server-side-binding cursor on the same connection (so the same transaction) sends
    it as a binary parameter: one passing copy inside the driver, measured at about 2.1
    times the file at the peak (1.2 times on SQLite), where the old path took about 7."""
    import psycopg
    from psycopg import sql

    connection.ensure_connection()
    raw = connection.connection
    table = m.Upload._meta.db_table
    with psycopg.Cursor(raw) as cursor:
        cursor.execute(
            sql.SQL("UPDATE {} SET data = %b WHERE id = %s").format(sql.Identifier(table)),
            (data, upload_id),
        )


def _zeroblob(size: int) -> Func:
    """SQLite's blob of `size` zero bytes, which it stores without making it."""
    return Func(Value(size), function="zeroblob", output_field=BinaryField())


def _sqlite_write_data(upload_id: int, data: bytes | bytearray) -> None:
    """Write the bytes into the row's blob, inserted at their size as zeros, a slice at
    a time (SQLite's incremental blob I/O). Bound as a parameter, SQLite copied the file
    and built its row from the copy: two more copies at once, the resident peak of a
    SIMS school's first import (its 12 MB Groups report; docs/performance.md, Memory)."""
    if not data:
        return
    connection.ensure_connection()
    with connection.connection.blobopen(m.Upload._meta.db_table, "data", upload_id) as blob:
        for chunk in _chunks(data):
            blob.write(chunk)


def upload_file_open(path: str | os.PathLike[str]) -> tuple[IO[bytes], int]:
    """A file on disk to hand to `upload_store`, with its size for the early refusal.
    The caller closes it."""
    handle = open(path, "rb")  # noqa: SIM115
    return handle, os.fstat(handle.fileno()).st_size


def import_outcome(*, dry_run: bool, as_of: date | None) -> str:
    """The outcome an upload carries while the command that stored it processes it
    itself: what was asked, so that a stale one can be resumed as asked ("import",
    "preview", or either with its as-of date: "import 2026-09-07")."""
    word = PREVIEWING if dry_run else IMPORTING
    return f"{word} {as_of.isoformat()}" if as_of else word


def upload_receive_for_import(
    *,
    school: m.School,
    payload: UploadSource,
    fmt: str,
    report: str = "",
    filename: str = "",
    source: str = "cli",
    declared_size: int | None = None,
    dry_run: bool = False,
    as_of: date | None = None,
) -> m.Upload:
    """Store an upload its caller is about to process itself (`rollsync import`). Until
    its run is stored its outcome says what was asked (`import_outcome`): should the
    caller be killed first, `uploads_resume` does exactly that."""
    return upload_store(
        school=school,
        payload=payload,
        fmt=fmt,
        report=report,
        filename=filename,
        source=source,
        declared_size=declared_size,
        outcome=import_outcome(dry_run=dry_run, as_of=as_of),
    )


# --- uploads handed to the background worker ---------------------------------------------


PULL_FAILED = "pull failed"


def upload_record_failed_pull(
    *, school: m.School, source: str, fmt: str, asked: str, why: str
) -> m.Upload:
    """A pull that failed before anything could be stored: a row without data, so Upload
    History shows every pull and why this one failed (nothing was applied)."""
    return locks.atomic_retrying(
        lambda: m.Upload.objects.create(
            school=school,
            source=source,
            fmt=fmt,
            filename=f"pull failed: {why}"[:255],
            asked=asked[:300],
            size=0,
            sha256=hashlib.sha256(b"").hexdigest(),
            data=b"",
            outcome=PULL_FAILED,
        )
    )


def upload_latest_for_report(*, school: m.School, report: str | None) -> m.Upload | None:
    """The one rule for which upload a Force run processes: the newest upload of
    `report` at the school, a bundle (CTF, OneRoster, SDS: no single report) counting for
    every report. With no report, the newest upload."""
    uploads = m.Upload.objects.filter(school=school).exclude(outcome=PULL_FAILED).defer("data")
    if report:
        uploads = uploads.filter(Q(report=report) | Q(report=""))
    return uploads.order_by("-received_at", "-pk").first()


def upload_queue(
    *, upload: m.Upload, actor: str, as_of: date | None = None, dry_run: bool = False
) -> str:
    """Hand a stored upload to the background worker (its outcome is `queued` until the
    run gives it the run's status); returns the task id (`tasks.task_status`)."""
    from rollsync.directory import tasks

    with transaction.atomic():
        m.Upload.objects.filter(pk=upload.pk).update(outcome=QUEUED)
        upload.outcome = QUEUED
        try:
            return tasks.enqueue_sync(upload.pk, as_of=as_of, actor=actor, dry_run=dry_run)
        except tasks.TaskInputError as exc:
            raise UploadError(str(exc), code=NOT_FOUND) from None


_DOOR = {"api": "the API", "web": "the web app", "cli": "the command line"}


def upload_receive(
    *,
    school: m.School,
    payload: UploadSource,
    fmt: str,
    report: str | None,
    filename: str,
    actor: str,
    source: str,
    declared_size: int | None = None,
    dry_run: bool = False,
    as_of: date | None = None,
) -> tuple[m.Upload, str]:
    """Every door's upload for the worker (the web form, the JSON API): the file is
    stored as it came (`upload_store`, within the upload limit), audited, and queued,
    all or nothing. Returns the upload and the task id. `upload_store`'s refusals (an
    empty file, a rollsync CSV with no report, a file over the limit) store nothing."""
    with transaction.atomic():
        upload = upload_store(
            school=school,
            payload=payload,
            fmt=fmt,
            report=report or "",
            filename=filename[:255],
            source=source,
            declared_size=declared_size,
        )
        task_id = upload_queue(upload=upload, actor=actor, as_of=as_of, dry_run=dry_run)
        audit = AuditLog(actor=actor, school=school)
        audit.add(
            "upload_received",
            f"Upload {upload.pk} ({upload.filename or 'unnamed'}, {fmt}"
            f"{', ' + report if report else ''}) received through {_DOOR.get(source, source)};"
            f" {'dry run' if dry_run else 'sync'} queued",
            changes={
                "upload": upload.pk,
                "sha256": upload.sha256,
                "size": upload.size,
                "task": task_id,
            },
        )
        audit.flush()
    return upload, task_id


def _asked(upload: m.Upload) -> tuple[bool, date | None] | None:
    """(dry run?, as of) as asked when the upload arrived, or None when unknown. A web
    upload (stored, then queued) is always a sync as of its day of processing."""
    word, _, day = upload.outcome.partition(" ")
    if word in (IMPORTING, PREVIEWING):
        try:
            return word == PREVIEWING, date.fromisoformat(day) if day else None
        except ValueError:
            return None
    if upload.outcome == RECEIVED and upload.source == "web":
        return False, None
    return None


# --- uploads whose processing never finished ----------------------------------------------


def stale_after() -> timedelta:
    """How long an upload may wait with no run before it counts as cut short
    (`ROLLSYNC_UPLOAD_STALE_MINUTES`, 15 by default)."""
    return timedelta(minutes=float(getattr(settings, "ROLLSYNC_UPLOAD_STALE_MINUTES", 15)))


def uploads_stale(
    *, school: m.School | None = None, older_than: timedelta | None = None
) -> list[m.Upload]:
    """Uploads with no run and no task on the queue, received longer ago than the stale
    period, still "received" or still being imported: their processing was cut short
    (the command that had them was killed, or died between storing and queueing)."""
    cutoff = timezone.now() - (stale_after() if older_than is None else older_than)
    uploads = m.Upload.objects.select_related("school").filter(
        Q(outcome=RECEIVED)
        | Q(outcome=IMPORTING)
        | Q(outcome__startswith=IMPORTING + " ")
        | Q(outcome=PREVIEWING)
        | Q(outcome__startswith=PREVIEWING + " "),
        runs__isnull=True,
        received_at__lte=cutoff,
    )
    if school is not None:
        uploads = uploads.filter(school=school)
    queued = set(
        m.QueuedTask.objects.filter(
            kind=m.QueuedTask.Kind.SYNC, upload_id__in=[u.pk for u in uploads]
        ).values_list("upload_id", flat=True)
    )
    return [u for u in uploads.order_by("received_at", "pk") if u.pk not in queued]


@dataclass(frozen=True, slots=True)
class Resumed:
    """What `uploads_resume` did with one stale upload: a run, or why it was abandoned."""

    upload: m.Upload
    run: m.SyncRun | None
    abandoned: str | None


def _newer_upload(upload: m.Upload) -> m.Upload | None:
    """A later upload of the school that carries the same report: processing this one
    now would put older data over newer."""
    later = m.Upload.objects.filter(school_id=upload.school_id, pk__gt=upload.pk)
    if upload.report:
        later = later.filter(Q(report=upload.report) | Q(report=""))
    return later.order_by("-pk").first()


def uploads_resume(
    *, actor: str, school: m.School | None = None, older_than: timedelta | None = None
) -> list[Resumed]:
    """Process again every stale upload (see `uploads_stale`), as it was asked (a dry run
    stays a dry run, with the same as-of date), the way a clean run would. An upload
    overtaken by a later one of the same report, or with no record of what was asked,
    is marked `abandoned` instead, with a message the Upload History shows. Each is
    done under the LA's lock (`locks.la_lock`), so two resumers never run one upload twice."""
    from rollsync.directory.services.sync import sync_run_execute

    done: list[Resumed] = []
    for upload in uploads_stale(school=school, older_than=older_than):
        with transaction.atomic():
            locks.la_lock_for_school_id(upload.school_id)  # the lock every run takes first
            if (
                upload.runs.exists()
                or not m.Upload.objects.filter(pk=upload.pk, outcome=upload.outcome).exists()
            ):
                continue  # someone else finished it meanwhile
            newer = _newer_upload(upload)
            asked = _asked(upload)
            why: str | None = None
            if newer is not None:
                why = f"a later upload ({newer.pk}) of the same report arrived first"
            elif asked is None:
                why = "there is no record of whether it was to be a dry run"
            if why is not None:
                upload_mark_abandoned(upload=upload, actor=actor, why=why)
                done.append(Resumed(upload=upload, run=None, abandoned=upload_note(upload)))
                continue
            dry_run, as_of = asked if asked is not None else (False, None)  # (never None here)
            run = sync_run_execute(upload=upload, dry_run=dry_run, as_of=as_of, actor=actor)
        done.append(Resumed(upload=upload, run=run, abandoned=None))
    return done


def upload_note(upload: m.Upload) -> str:
    """What the Upload History says of an upload with no run: abandoned (and why), or
    waiting."""
    if upload.outcome == ABANDONED:
        event = (
            m.AuditEvent.objects.filter(action="upload_abandoned", school_id=upload.school_id)
            .filter(changes__upload=upload.pk)
            .order_by("-pk")
            .first()
        )
        return event.reason if event is not None else "Abandoned: it was never processed."
    if upload.outcome == RECEIVED:
        return "Received, not processed yet."
    if _asked(upload) is not None:
        return "Being imported, or its import was cut short (see `rollsync uploads resume`)."
    return ""


@transaction.atomic
def upload_mark_abandoned(*, upload: m.Upload, actor: str, why: str) -> bool:
    """Mark an upload that was never processed `abandoned`, with an audit event that
    says why. Returns False (and changes nothing) when it has a run by now or its outcome
    changed meanwhile."""
    changed = m.Upload.objects.filter(
        pk=upload.pk, outcome=upload.outcome, runs__isnull=True
    ).update(outcome=ABANDONED)
    if not changed:
        return False
    upload.outcome = ABANDONED
    audit = AuditLog(actor=actor, school=upload.school)
    audit.add(
        "upload_abandoned",
        f"Abandoned: upload {upload.pk} ({upload.filename or 'unnamed'}) was received but"
        f" its processing was cut short, and it was not processed again because {why}."
        " Nothing was changed by it; upload the file again if it is still wanted.",
        changes={"upload": upload.pk},
    )
    audit.flush()
    return True
