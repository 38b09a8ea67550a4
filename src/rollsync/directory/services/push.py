"""Bromcom pushes to rollsync: the school's push credentials, and every push received.

rollsync issues each Bromcom school a licence key and a supplier ID (identifiers, shown on
AutoUpdate Settings) and a supplier password (random, shown once, stored only as an scrypt
hash inside the connection's sealed secrets: docs/decisions/0065-push-credentials.md).
Bromcom then sends each report to the push endpoint every evening after 18:00
(docs/push-api.md). A push is:

1. authenticated: licence key, supplier ID and password, compared in constant time (a
   refusal stores nothing, whichever of the three was wrong, and says not which);
2. checked: the report must be one Bromcom can send (`domain.mis`) and the school has
   accepted; the body within the upload limit, not empty, and readable by its format
   reader with no whole-file error (a malformed body stores nothing);
3. stored once: the same bytes for the same school, report and format as the school's
   latest push of that report, within `deliveries.REPLAY_WINDOW`, is a replay: no second upload,
   the first one's upload and task are answered (`replayed`);
4. stored (`uploads.upload_store`, source "Bromcom"), queued for the worker
   (`uploads.upload_queue`), audited, and recorded on the connection as its last push,
   all in one transaction under the connection's row lock (so two copies of one push
   arriving together are stored once).

The doors (the push endpoint, the command, the web page) call only these functions.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets as pysecrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from rollsync import ingest
from rollsync.directory import models as m
from rollsync.directory.secrets import SecretsUnreadable, seal, unseal
from rollsync.directory.services import locks
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.deliveries import (
    licence_groups,
    replay_of,
    whole_file_error,
)
from rollsync.directory.services.errors import INVALID, REFUSED, ServiceError
from rollsync.directory.services.uploads import (
    UploadSource,
    upload_queue,
    upload_read,
    upload_store,
)
from rollsync.domain.mis import can_send, mis_info
from rollsync.domain.reports import CATALOGUE

log = logging.getLogger("rollsync.push")

CONNECTOR = "bromcom"  # the push connector (`connectors.bromcom`)
MIS = "Bromcom"
SOURCE = "Bromcom"  # Upload.source of every push
ACTOR = "bromcom push"  # who queued a push's sync (the audit trail's actor)
BUNDLE = "bundle"  # the report path of a bundle (CTF, OneRoster, SDS): several reports
# The uploadable formats that carry their own reports (CTF, OneRoster, SDS), from the
# format registry: what a bundle push may be.
BUNDLE_FORMATS = tuple(f for f in ingest.FORMATS if not ingest.reader_for(f).needs_report)

# scrypt (RFC 7914) with a random salt: about 16 MiB and a few tens of milliseconds a
# check, so fifty schools pushing at once cost a second or two of CPU, not minutes.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
_MAX_CREDENTIAL = 200  # longer than any credential rollsync issues: refused unread


class PushError(ServiceError):
    """A push or a credentials request refused; nothing was stored."""


class PushUnauthorised(PushError):
    """The licence key, supplier ID or supplier password is wrong (HTTP 401)."""

    code = REFUSED

    def __init__(self) -> None:
        super().__init__(
            "the licence key, supplier ID or supplier password is wrong: enter the ones "
            "AutoUpdate Settings issued for the school in Bromcom",
            field="credentials",
        )


class PushNotAccepted(PushError):
    """A report Bromcom cannot send, or the school has not accepted (HTTP 403)."""

    code = REFUSED


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """What the school enters in Bromcom. `password` exists only here: it is stored as a
    hash, so this is the one time it can be shown."""

    school_urn: str
    licence_key: str
    supplier_id: str
    password: str
    issued_at: datetime
    replaced: bool  # earlier credentials existed and no longer work


class PushReceipt(NamedTuple):
    """A push received: its upload, the task that syncs it, and whether it repeated an
    earlier push (then `upload` and `task_id` are that push's)."""

    upload: m.Upload
    task_id: str
    replayed: bool


# --- the password hash ---------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def password_hash(password: str, *, salt: bytes | None = None) -> str:
    """ "scrypt$N$r$p$salt$hash" (base64): the parameters travel with the hash, so they
    can be raised later without breaking stored ones."""
    salt = salt if salt is not None else pysecrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def password_matches(password: str, stored: str) -> bool:
    """Whether `password` hashes to `stored`, compared in constant time."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(want),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


@functools.cache
def _dummy_hash() -> str:
    """Checked when the licence key names no school, so a wrong key takes as long to
    refuse as a wrong password."""
    return password_hash(pysecrets.token_urlsafe(24))


# --- credentials ---------------------------------------------------------------------------


def _licence_key() -> str:
    return licence_groups(5)


def push_credentials_issue(*, school: m.School, actor: str) -> IssuedCredentials:
    """Issue (or replace) the school's Bromcom push credentials: a new licence key,
    supplier ID and supplier password; the old ones stop working at once. The school's
    MIS becomes Bromcom (Change MIS: reports Bromcom cannot send, Groups & Classes, are
    no longer accepted). Audited; the password is never logged nor stored, only its hash."""
    from rollsync.directory.services.schools import school_mis_set

    password = pysecrets.token_urlsafe(24)
    hashed = password_hash(password)
    now = timezone.now()
    licence_key = _licence_key()
    supplier_id = f"RS{pysecrets.randbelow(10**8):08d}"
    with transaction.atomic():
        conn = m.MisConnection.objects.select_for_update().filter(school=school).first()
        replaced = conn is not None and conn.connector == CONNECTOR
        if conn is None:
            conn = m.MisConnection(school=school)
        if not replaced:
            # another MIS's connection (or none): its settings, secrets and cursors go
            conn.cursors = {}
            conn.last_pull_at = None
            conn.last_outcome = ""
        conn.connector = CONNECTOR
        conn.settings = {
            "licence_key": licence_key,
            "supplier_id": supplier_id,
            "credentials_issued_at": now.isoformat(),
        }
        conn.secrets = seal({"password_hash": hashed})
        conn.state = m.MisConnection.State.CONNECTED
        conn.schedule = ""  # Bromcom keeps the schedule: nothing is pulled
        conn.next_pull_at = None
        conn.failures = 0
        conn.credentials_refused = False
        conn.last_error = ""
        conn.approval_state = ""
        conn.connected_by = actor
        conn.save()
        audit = AuditLog(actor=actor, school=school)
        audit.add(
            "push_credentials_issued",
            f"Bromcom push credentials {'replaced' if replaced else 'issued'} by {actor}"
            + ("; the earlier ones no longer work" if replaced else ""),
            # identifiers only: the password is never written anywhere but the answer
            changes={"licence_key": licence_key, "supplier_id": supplier_id, "replaced": replaced},
        )
        audit.flush()
        school_mis_set(school=school, mis=MIS, actor=actor)
    log.info("push credentials %s for school %s", "replaced" if replaced else "issued", school.urn)
    return IssuedCredentials(
        school_urn=school.urn,
        licence_key=licence_key,
        supplier_id=supplier_id,
        password=password,
        issued_at=now,
        replaced=replaced,
    )


def _authenticate(licence_key: str, supplier_id: str, password: str) -> m.MisConnection:
    """The connection the three credentials belong to, or `PushUnauthorised`. The same
    work (one scrypt) whether or not the licence key names a school."""
    conn: m.MisConnection | None = None
    if licence_key and len(licence_key) <= _MAX_CREDENTIAL:
        conn = (
            m.MisConnection.objects.select_related("school", "school__la")
            .filter(connector=CONNECTOR, settings__licence_key=licence_key)
            .first()
        )
    stored_id = str(conn.settings.get("supplier_id", "")) if conn is not None else ""
    stored_hash = ""
    if conn is not None:
        try:
            stored_hash = unseal(conn.secrets).get("password_hash", "")
        except SecretsUnreadable:
            log.error("push credentials of school %s cannot be decrypted", conn.school.urn)
    id_ok = hmac.compare_digest(stored_id.encode("utf-8"), supplier_id[:_MAX_CREDENTIAL].encode())
    password_ok = password_matches(password[:_MAX_CREDENTIAL], stored_hash or _dummy_hash())
    if conn is None or not stored_hash or not stored_id or not (id_ok and password_ok):
        # for the service desk: which school (if any) was tried, never what was sent
        log.warning(
            "push refused: wrong credentials (%s)",
            f"school {conn.school.urn}" if conn is not None else "no school has that licence key",
        )
        raise PushUnauthorised()
    return conn


def _check_report(school: m.School, report: str, fmt: str) -> tuple[str, str]:
    """(report code for the upload, format) or a refusal saying why."""
    if school.mis != MIS:
        raise PushNotAccepted(
            f"{school.name} runs {school.mis or 'no MIS'} now, not Bromcom (Change MIS on "
            "AutoUpdate Settings): Bromcom's pushes are not taken",
            field="report",
        )
    if report == BUNDLE:
        fmt = fmt or ""
        if fmt not in BUNDLE_FORMATS:
            raise PushError(
                f"a bundle is {', '.join(BUNDLE_FORMATS)}: give ?format= one of them",
                field="format",
            )
    else:
        if report not in CATALOGUE:
            raise PushError(
                f"unknown report {report!r}; Bromcom pushes: "
                + ", ".join(sorted(_sendable()))
                + f", or {BUNDLE}",
                field="report",
            )
        fmt = fmt or "csv"
        if fmt != "csv":
            raise PushError(
                f"one report is pushed as a rollsync CSV (format csv); a {fmt} file is a "
                f"bundle: push it to {BUNDLE}",
                field="format",
            )
    accepted = set(school.accepted_reports.values_list("report", flat=True))
    if report == BUNDLE:
        if not any(can_send(MIS, r) for r in accepted):
            raise PushNotAccepted(
                f"{school.name} has accepted no report Bromcom can send: accept them on "
                "AutoUpdate Settings first",
                field="report",
            )
        return "", fmt
    label = CATALOGUE[report].label
    if not can_send(MIS, report):
        raise PushNotAccepted(
            f"{label} is unavailable for Bromcom: rollsync does not take it from Bromcom",
            field="report",
        )
    if report not in accepted:
        raise PushNotAccepted(
            f"{school.name} has not accepted the {label} report: a school admin accepts it "
            "on AutoUpdate Settings (nothing was stored)",
            field="report",
        )
    return report, fmt


def _sendable() -> frozenset[str]:
    info = mis_info(MIS)
    return info.reports if info is not None else frozenset()


def _check_readable(data: bytes, *, school: m.School, report: str, fmt: str) -> None:
    """A body its format reader cannot use as a whole (not CSV, a missing mandatory
    column, a damaged zip, another school's file) is refused before anything is stored."""
    problem = whole_file_error(data, school=school, report=report, fmt=fmt)
    if problem is not None:
        message, field = problem
        where = f" ({field})" if field else ""
        raise PushError(f"the body cannot be read as {fmt}{where}: {message}", field="file")


def push_receive(
    *,
    licence_key: str,
    supplier_id: str,
    password: str,
    report: str,
    payload: UploadSource | Callable[[], UploadSource],
    fmt: str = "",
    declared_size: int | None = None,
    filename: str = "",
    checksum: str = "",
) -> PushReceipt:
    """Receive one push (see the module's docstring). `payload` may be a function that
    gives the body: it is called only once the credentials and the report pass. A
    `checksum` (the SHA-256 the sender computed, hex) must match the body. Raises
    `PushUnauthorised` (401), `PushNotAccepted` (403), `UploadTooLarge` (413) or
    `PushError` (422, naming the field); each stores nothing."""
    conn = _authenticate(licence_key, supplier_id, password)
    school = conn.school
    try:
        code, fmt = _check_report(school, report, fmt)
    except PushError as exc:
        log.info("push refused for school %s: %s", school.urn, exc.message)
        raise
    source = payload() if callable(payload) else payload
    received = upload_read(source, declared_size=declared_size)
    if received.size == 0:
        raise PushError("the body is empty: push the report's file", field="file")
    given = checksum.strip().lower().encode("utf-8", "replace")
    if checksum and not hmac.compare_digest(given, received.sha256.encode("ascii")):
        raise PushError(
            f"the body's SHA-256 is {received.sha256}, not the {checksum.strip()[:64]!r} the "
            "sender gave: the file was changed or cut short on the way; push it again",
            field="checksum",
        )
    sha256, size = received.sha256, received.size
    data = bytes(received.data)
    del received  # one copy of the body in memory, not two, until it is stored
    _check_readable(data, school=school, report=code, fmt=fmt)
    now = timezone.now()
    what = CATALOGUE[code].label if code else f"{fmt} bundle"

    def store() -> PushReceipt:
        with transaction.atomic():
            # One push of a school at a time: a replay arriving with its original is stored once.
            fresh = m.MisConnection.objects.select_for_update().filter(pk=conn.pk).first()
            if fresh is None or fresh.settings.get("licence_key") != licence_key:
                raise PushUnauthorised()  # the credentials were replaced meanwhile
            first = replay_of(school, source=SOURCE, report=code, fmt=fmt, sha256=sha256, now=now)
            replayed = first is not None
            if first is not None:
                upload, task_id = first
            else:
                stamp = timezone.localtime(now).strftime("%Y%m%d-%H%M%S")
                upload = upload_store(
                    school=school,
                    payload=data,
                    fmt=fmt,
                    report=code,
                    filename=filename
                    or f"bromcom-{code or fmt}-{stamp}.{'csv' if code else 'zip'}",
                    source=SOURCE,
                )
                task_id = upload_queue(upload=upload, actor=ACTOR)
            fresh.last_pull_at = now
            fresh.last_outcome = "replayed" if replayed else "received"
            fresh.state = m.MisConnection.State.CONNECTED
            fresh.failures = 0
            fresh.last_error = ""
            fresh.save(
                update_fields=["last_pull_at", "last_outcome", "state", "failures", "last_error"]
            )
            audit = AuditLog(actor=ACTOR, school=school)
            audit.add(
                "mis_pushed",
                (
                    f"Bromcom pushed {what} again (same bytes as upload {upload.pk}): stored once"
                    if replayed
                    else f"Bromcom pushed {what}: upload {upload.pk}, sync queued"
                ),
                changes={
                    "upload": upload.pk,
                    "sha256": sha256,
                    "size": size,
                    "task": task_id,
                    "replayed": replayed,
                },
            )
            audit.flush()
        return PushReceipt(upload=upload, task_id=str(task_id), replayed=replayed)

    # a lost race (SQLite busy past its timeout, a serialization failure) is tried again
    return locks.retrying(store)


def push_refusal_kind(exc: BaseException) -> str:
    """How a door answers a refusal: "unauthorised", "not_accepted", "too_large",
    "invalid" (or the error's code)."""
    if isinstance(exc, PushUnauthorised):
        return "unauthorised"
    if isinstance(exc, PushNotAccepted):
        return "not_accepted"
    if isinstance(exc, ServiceError):
        return exc.code
    return INVALID
