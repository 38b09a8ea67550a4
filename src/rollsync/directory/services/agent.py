"""The rollsync agent (SIMS): the school's licence key, and everything the agent sends
(docs/agent.md, "The agent protocol").

rollsync issues each SIMS school a licence key (shown once, stored only as its SHA-256:
150 random bits need no slow hash). The agent on the school's server sends it as a
Bearer token with every request. A request with a valid key records the agent's last
contact; a wrong or replaced key is refused and records nothing.

An extract (one report's SuperStarReport XML) arrives as one upload in chunks:

1. begun (`agent_upload_begin`): the report must be one SIMS sends and the school
   accepted, the size within the upload limit. The same bytes already stored within the
   replay window are answered `stored` (replayed) and nothing is sent again; an
   unfinished upload of the same bytes is resumed from its offset;
2. a chunk (`agent_upload_chunk`) is kept only whole (its body as long as declared) and
   only at the upload's offset;
3. when the last byte arrives the file's SHA-256 is checked and the file read as a whole
   (a whole-file error discards the upload, as a push's does), then it is stored
   (source "SIMS agent"), its sync queued for the next free worker, and audited, in one
   transaction under the connection's row lock (the key checked again there: a key
   replaced meanwhile refuses it); its chunks are deleted.

The doors (the agent endpoints, the command, the web page) call only these functions.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets as pysecrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from rollsync.connectors.sims import SOURCE
from rollsync.directory import models as m
from rollsync.directory.services import locks
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.deliveries import licence_groups, replay_of, whole_file_error
from rollsync.directory.services.errors import CONFLICT, INVALID, NOT_FOUND, REFUSED, ServiceError
from rollsync.directory.services.uploads import (
    UploadTooLarge,
    upload_limit,
    upload_queue,
    upload_store,
)
from rollsync.domain.connection_status import AGENT_LIGHTS
from rollsync.domain.mis import can_send
from rollsync.domain.reports import CATALOGUE

log = logging.getLogger("rollsync.agent")

CONNECTOR = "sims"  # the agent's connector (`connectors.sims`)
MIS = "SIMS"
FORMAT = "sims-superstar"
ACTOR = "sims agent"  # who queued an extract's sync (the audit trail's actor)
KEY_PREFIX = "RSA-"
CHUNK_SIZE = 256 * 1024
UNFINISHED_FOR = timedelta(days=7)  # an unfinished upload is forgotten after this
# Unfinished uploads a school may hold at once: the agent sends one extract at a time, a
# few reports a day, so more is a runaway (or a stolen key filling the database): the
# oldest beyond this are forgotten when another begins.
MAX_UNFINISHED = 16
_MAX_KEY = 200  # longer than any key rollsync issues: refused unread
_NO_KEY = "0" * 64  # compared against when no school has the key, so both take as long

# The agent's status report: what each value may be (docs/agent.md).
LIGHT_COLOURS = ("green", "yellow", "red", "grey")
MAX_LOG_LINES = 50
_TEXT_LIMITS = {"agent_version": 40, "hostname": 255, "platform": 100, "python": 40}
_MESSAGE_LIMIT = 500
_LOG_LINE_LIMIT = 1000
_MAX_QUEUED = 100_000


class AgentError(ServiceError):
    """A request of the agent refused; nothing was stored."""


class AgentUnauthorised(AgentError):
    """No licence key, a wrong one, or one replaced since (HTTP 401)."""

    code = REFUSED

    def __init__(self) -> None:
        super().__init__(
            "the licence key is wrong or was replaced: enter the one AutoUpdate Settings "
            "issued for the school (rollsync-agent configure)",
            field="licence_key",
        )


class AgentNotAccepted(AgentError):
    """The school's MIS is not SIMS, or the report is not one it sends (HTTP 403)."""

    code = REFUSED


class AgentOffsetMismatch(AgentError):
    """A chunk sent at another offset than the upload's (HTTP 409)."""

    code = CONFLICT

    def __init__(self, offset: int) -> None:
        self.offset = offset
        super().__init__(
            f"the upload has {offset} bytes: send from offset {offset}", field="Upload-Offset"
        )


@dataclass(frozen=True, slots=True)
class IssuedLicence:
    """What the school enters in the agent. `licence_key` exists only here: rollsync
    keeps its hash, so this is the one time it can be shown."""

    school_urn: str
    licence_key: str
    hint: str  # its last 4 characters, shown afterwards
    issued_at: datetime
    replaced: bool  # an earlier key existed and no longer works


@dataclass(frozen=True, slots=True)
class UploadAnswer:
    """Where one upload stands, as the agent is answered."""

    id: str
    offset: int
    size: int
    state: str  # "receiving" or "stored"
    created: bool = False  # begun now (HTTP 201)
    upload: int | None = None  # the stored Upload
    task: str = ""
    replayed: bool = False

    def as_json(self) -> dict[str, Any]:
        if self.state == m.AgentUpload.State.STORED:
            return {
                "id": self.id,
                "state": self.state,
                "offset": self.offset,
                "size": self.size,
                "upload": self.upload,
                "task": self.task,
                "replayed": self.replayed,
            }
        return {
            "id": self.id,
            "offset": self.offset,
            "size": self.size,
            "state": self.state,
            "chunk_size": CHUNK_SIZE,
        }


def _answer(up: m.AgentUpload, *, created: bool = False) -> UploadAnswer:
    return UploadAnswer(
        id=up.uid,
        offset=up.offset,
        size=up.size,
        state=up.state,
        created=created,
        upload=up.upload_id,
        task=up.task_id,
        replayed=up.replayed,
    )


def agent_refusal_kind(exc: BaseException) -> str:
    """How a door answers a refusal: "unauthorised", "not_accepted", "not_found",
    "offset_mismatch", "too_large", "invalid"."""
    if isinstance(exc, AgentUnauthorised):
        return "unauthorised"
    if isinstance(exc, AgentNotAccepted):
        return "not_accepted"
    if isinstance(exc, AgentOffsetMismatch):
        return "offset_mismatch"
    if isinstance(exc, ServiceError):
        return exc.code if exc.code in (NOT_FOUND, "too_large") else INVALID
    return INVALID


def _digest(licence_key: str) -> str:
    return hashlib.sha256(licence_key.strip().encode("utf-8")).hexdigest()


# --- the licence key ------------------------------------------------------------------------


def agent_licence_issue(*, school: m.School, actor: str) -> IssuedLicence:
    """Issue (or replace) the school's licence key; the old one stops working at once,
    and an upload under way with it is forgotten. The school's MIS becomes SIMS (Change
    MIS). Audited with the key's last 4 characters only; the key itself is stored only
    as its hash."""
    from rollsync.directory.services.schools import school_mis_set

    licence_key = KEY_PREFIX + licence_groups(6)
    hint = licence_key[-4:]
    now = timezone.now()
    with transaction.atomic():
        conn = m.MisConnection.objects.select_for_update().filter(school=school).first()
        replaced = conn is not None and conn.connector == CONNECTOR
        if conn is None:
            conn = m.MisConnection(school=school)
        conn.cursors = {}
        conn.last_pull_at = conn.last_pull_at if replaced else None
        conn.last_outcome = conn.last_outcome if replaced else ""
        conn.connector = CONNECTOR
        conn.settings = {
            "licence_key_sha256": _digest(licence_key),
            "licence_hint": hint,
            "credentials_issued_at": now.isoformat(),
        }
        conn.secrets = b""
        conn.state = m.MisConnection.State.CONNECTED
        conn.schedule = ""  # the agent keeps the schedule, on the school's server
        conn.next_pull_at = None
        conn.failures = 0
        conn.credentials_refused = False
        conn.last_error = ""
        conn.approval_state = ""
        conn.connected_by = actor
        conn.last_contact_at = None  # the light waits for the agent with the new key
        conn.agent_status = {}
        conn.save()
        abandoned = (
            m.AgentUpload.objects.filter(school=school, state=m.AgentUpload.State.RECEIVING)
            .delete()[1]
            .get(m.AgentUpload._meta.label, 0)
        )
        audit = AuditLog(actor=actor, school=school)
        audit.add(
            "agent_licence_issued",
            f"rollsync agent licence key …{hint} {'replaced' if replaced else 'issued'} by "
            f"{actor}" + ("; the earlier key no longer works" if replaced else ""),
            # the key is never written anywhere but the answer: its last 4 characters only
            changes={"licence_hint": hint, "replaced": replaced, "uploads_forgotten": abandoned},
        )
        audit.flush()
        school_mis_set(school=school, mis=MIS, actor=actor)
    log.info("agent licence key %s for school %s", "replaced" if replaced else "issued", school.urn)
    return IssuedLicence(
        school_urn=school.urn, licence_key=licence_key, hint=hint, issued_at=now, replaced=replaced
    )


def agent_contact(*, licence_key: str) -> m.MisConnection:
    """The connection the licence key belongs to, its last contact recorded now; or
    `AgentUnauthorised` (nothing recorded). Compared in constant time."""
    digest = _digest(licence_key[:_MAX_KEY]) if licence_key else ""
    conn: m.MisConnection | None = None
    if licence_key and len(licence_key) <= _MAX_KEY:
        conn = (
            m.MisConnection.objects.select_related("school", "school__la")
            .filter(connector=CONNECTOR, settings__licence_key_sha256=digest)
            .first()
        )
    stored = str(conn.settings.get("licence_key_sha256") or "") if conn is not None else ""
    same = hmac.compare_digest((stored or _NO_KEY).encode(), (digest or _NO_KEY).encode())
    if conn is None or not stored or not digest or not same:
        log.warning("agent refused: no school has that licence key")
        raise AgentUnauthorised()
    now = timezone.now()
    m.MisConnection.objects.filter(pk=conn.pk).update(last_contact_at=now)
    conn.last_contact_at = now
    return conn


# --- uploads --------------------------------------------------------------------------------


def _check_report(school: m.School, report: Any) -> str:
    if not isinstance(report, str) or report not in CATALOGUE:
        raise AgentError(
            f"unknown report {str(report)[:40]!r}; known: {', '.join(CATALOGUE)}", field="report"
        )
    if school.mis != MIS:
        raise AgentNotAccepted(
            f"{school.name} runs {school.mis or 'no MIS'} now, not SIMS (Change MIS on "
            "AutoUpdate Settings): the agent's uploads are not taken",
            field="report",
        )
    label = CATALOGUE[report].label
    if not can_send(MIS, report, attendance_service=school.attendance_service):
        raise AgentNotAccepted(
            f"{label} is not available for {school.name}: rollsync does not take it from "
            "this school's SIMS",
            field="report",
        )
    if not school.accepted_reports.filter(report=report).exists():
        raise AgentNotAccepted(
            f"{school.name} has not accepted the {label} report: a school admin accepts it "
            "on AutoUpdate Settings (nothing was stored)",
            field="report",
        )
    return report


def _check_begin(
    sha256: Any, size: Any, filename: Any, extracted_at: Any
) -> tuple[str, int, str, datetime | None]:
    if not isinstance(sha256, str) or len(sha256) != 64:
        raise AgentError("sha256 must be the file's SHA-256, 64 hex digits", field="sha256")
    sha256 = sha256.lower()
    if any(c not in "0123456789abcdef" for c in sha256):
        raise AgentError("sha256 must be the file's SHA-256, 64 hex digits", field="sha256")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise AgentError("size must be the file's length in bytes, above 0", field="size")
    if size > upload_limit():
        raise UploadTooLarge(size=size)
    if filename is None:
        filename = ""
    if not isinstance(filename, str) or len(filename) > 255:
        raise AgentError("filename must be text of at most 255 characters", field="filename")
    filename = filename.replace("\\", "/").rsplit("/", 1)[-1]
    when: datetime | None = None
    if extracted_at not in (None, ""):
        try:
            when = datetime.fromisoformat(str(extracted_at)[:40])
        except ValueError:
            when = None
        if when is None or not isinstance(extracted_at, str) or timezone.is_naive(when):
            raise AgentError(
                "extracted_at must be a date and time with its offset (ISO 8601)",
                field="extracted_at",
            )
    return sha256, size, filename, when


def _forget_expired(now: datetime) -> None:
    m.AgentUpload.objects.filter(
        state=m.AgentUpload.State.RECEIVING, created_at__lt=now - UNFINISHED_FOR
    ).delete()


def agent_upload_begin(
    *,
    licence_key: str,
    report: Any,
    sha256: Any,
    size: Any,
    filename: Any = "",
    extracted_at: Any = None,
) -> UploadAnswer:
    """Begin (or resume) an upload of one extract (see the module's docstring). Raises
    `AgentUnauthorised`, `AgentNotAccepted`, `UploadTooLarge` or `AgentError`."""
    conn = agent_contact(licence_key=licence_key)
    school = conn.school
    code = _check_report(school, report)
    sha256, size, filename, when = _check_begin(sha256, size, filename, extracted_at)
    now = timezone.now()
    _forget_expired(now)
    first = replay_of(school, source=SOURCE, report=code, fmt=FORMAT, sha256=sha256, now=now)
    if first is not None:
        upload, task_id = first

        def replay() -> m.AgentUpload:
            with transaction.atomic():
                up = m.AgentUpload.objects.create(
                    uid=_new_uid(),
                    school=school,
                    report=code,
                    sha256=sha256,
                    size=size,
                    offset=size,
                    filename=filename,
                    extracted_at=when,
                    state=m.AgentUpload.State.STORED,
                    upload=upload,
                    task_id=task_id,
                    replayed=True,
                )
                _audit_stored(school, up, replayed=True)
            return up

        return _answer(locks.retrying(replay))
    unfinished = (
        m.AgentUpload.objects.filter(
            school=school,
            report=code,
            sha256=sha256,
            size=size,
            state=m.AgentUpload.State.RECEIVING,
            created_at__gte=now - UNFINISHED_FOR,
        )
        .order_by("-offset", "-pk")
        .first()
    )
    if unfinished is not None:
        return _answer(unfinished)
    up = m.AgentUpload.objects.create(
        uid=_new_uid(),
        school=school,
        report=code,
        sha256=sha256,
        size=size,
        filename=filename,
        extracted_at=when,
    )
    _forget_beyond_limit(school)
    return _answer(up, created=True)


def _forget_beyond_limit(school: m.School) -> None:
    unfinished = m.AgentUpload.objects.filter(school=school, state=m.AgentUpload.State.RECEIVING)
    keep = list(
        unfinished.order_by("-updated_at", "-pk").values_list("pk", flat=True)[:MAX_UNFINISHED]
    )
    unfinished.exclude(pk__in=keep).delete()


def _new_uid() -> str:
    return "u_" + pysecrets.token_urlsafe(18)


def _find(school: m.School, upload_id: str, now: datetime) -> m.AgentUpload:
    up = m.AgentUpload.objects.filter(uid=str(upload_id)[:40], school=school).first()
    if up is None or (
        up.state == m.AgentUpload.State.RECEIVING and up.created_at < now - UNFINISHED_FOR
    ):
        raise AgentError(
            "no such upload for this school (an unfinished upload is forgotten after 7 days): "
            "begin it again",
            code=NOT_FOUND,
            field="id",
        )
    return up


def agent_upload_state(*, licence_key: str, upload_id: str) -> UploadAnswer:
    """Where the school's upload stands (after a broken connection)."""
    conn = agent_contact(licence_key=licence_key)
    return _answer(_find(conn.school, upload_id, timezone.now()))


def agent_upload_chunk(
    *,
    licence_key: str,
    upload_id: str,
    offset: int | None,
    data: bytes,
    declared_length: int | None,
) -> UploadAnswer:
    """Append one chunk (kept only whole and at the upload's offset); the last one
    stores the extract. Raises `AgentUnauthorised`, `AgentOffsetMismatch` (nothing
    appended), or `AgentError` (not found; a short or oversized chunk: nothing appended;
    a checksum or whole-file error: the upload is discarded)."""
    conn = agent_contact(licence_key=licence_key)
    now = timezone.now()
    up = _find(conn.school, upload_id, now)
    if up.state == m.AgentUpload.State.STORED:
        return _answer(up)
    if offset is None:
        raise AgentError(
            "Upload-Offset must be the offset of the chunk's first byte", field="Upload-Offset"
        )
    if declared_length is None or declared_length != len(data):
        raise AgentError(
            f"the chunk was cut short: {len(data)} of {declared_length} bytes arrived; nothing "
            f"of it was kept: send it again from offset {up.offset}",
            field="body",
        )
    if offset != up.offset:
        raise AgentOffsetMismatch(up.offset)
    if len(data) > CHUNK_SIZE:
        raise AgentError(f"a chunk is at most {CHUNK_SIZE} bytes", field="body")
    if up.offset + len(data) > up.size:
        raise AgentError(f"the chunk goes past the upload's size ({up.size} bytes)", field="body")
    if not data and up.offset < up.size:
        raise AgentError("the chunk is empty", field="body")
    if data:
        up = _append(up, offset, data)
    if up.offset < up.size:
        return _answer(up)
    return _finish(conn, up)


def _append(up: m.AgentUpload, offset: int, data: bytes) -> m.AgentUpload:
    def write() -> m.AgentUpload:
        with transaction.atomic():
            locked = m.AgentUpload.objects.select_for_update().get(pk=up.pk)
            if locked.state != m.AgentUpload.State.RECEIVING or locked.offset != offset:
                raise AgentOffsetMismatch(locked.offset)
            m.AgentUploadChunk.objects.create(agent_upload=locked, offset=offset, data=data)
            locked.offset = offset + len(data)
            locked.save(update_fields=["offset", "updated_at"])
            return locked

    try:
        return locks.retrying(write)
    except IntegrityError:
        # the same chunk arrived twice at once (SQLite takes no row lock): one is kept
        raise AgentOffsetMismatch(m.AgentUpload.objects.get(pk=up.pk).offset) from None


def _discard(up: m.AgentUpload) -> None:
    m.AgentUpload.objects.filter(pk=up.pk, state=m.AgentUpload.State.RECEIVING).delete()


def _finish(conn: m.MisConnection, up: m.AgentUpload) -> UploadAnswer:
    school = conn.school
    data = b"".join(bytes(c) for c in up.chunks.order_by("offset").values_list("data", flat=True))
    sha256 = hashlib.sha256(data).hexdigest()
    if len(data) != up.size or not hmac.compare_digest(sha256, up.sha256):
        _discard(up)
        raise AgentError(
            f"the file's SHA-256 is {sha256}, not the {up.sha256} the upload began with: it "
            "was changed or damaged on the way; the upload is discarded: begin it again",
            field="sha256",
        )
    problem = whole_file_error(data, school=school, report=up.report, fmt=FORMAT)
    if problem is not None:
        _discard(up)
        message, field = problem
        where = f" ({field})" if field else ""
        words = f"the extract cannot be read as a SIMS CommandReporter report{where}: {message}"
        m.MisConnection.objects.filter(pk=conn.pk).update(last_error=words[:2000])
        log.info("agent upload refused for school %s: %s", school.urn, message)
        raise AgentError(words, field="file")
    digest = conn.settings.get("licence_key_sha256")
    now = timezone.now()

    def store() -> m.AgentUpload:
        with transaction.atomic():
            # One upload of a school at a time: the same bytes arriving twice are stored once.
            fresh = m.MisConnection.objects.select_for_update().filter(pk=conn.pk).first()
            if fresh is None or fresh.settings.get("licence_key_sha256") != digest:
                raise AgentUnauthorised()  # the key was replaced meanwhile
            locked = m.AgentUpload.objects.select_for_update().filter(pk=up.pk).first()
            if locked is None:
                raise AgentUnauthorised()  # forgotten with a replaced key
            if locked.state == m.AgentUpload.State.STORED:
                return locked  # the last chunk's answer was lost and it came again
            first = replay_of(
                school, source=SOURCE, report=up.report, fmt=FORMAT, sha256=up.sha256, now=now
            )
            if first is not None:
                upload, task_id = first
                locked.replayed = True
            else:
                stamp = timezone.localtime(now).strftime("%Y%m%d-%H%M%S")
                upload = upload_store(
                    school=school,
                    payload=data,
                    fmt=FORMAT,
                    report=up.report,
                    filename=up.filename or f"sims-{up.report}-{stamp}.xml",
                    source=SOURCE,
                )
                task_id = upload_queue(upload=upload, actor=ACTOR)
            locked.state = m.AgentUpload.State.STORED
            locked.upload = upload
            locked.task_id = str(task_id)
            locked.offset = locked.size
            locked.save()
            locked.chunks.all().delete()
            fresh.last_pull_at = now
            fresh.last_outcome = "replayed" if locked.replayed else "received"
            fresh.state = m.MisConnection.State.CONNECTED
            fresh.failures = 0
            fresh.last_error = ""
            fresh.save(
                update_fields=["last_pull_at", "last_outcome", "state", "failures", "last_error"]
            )
            _audit_stored(school, locked, replayed=locked.replayed)
            return locked

    # a lost race (SQLite busy past its timeout, a serialization failure) is tried again
    return _answer(locks.retrying(store))


def _audit_stored(school: m.School, up: m.AgentUpload, *, replayed: bool) -> None:
    what = CATALOGUE[up.report].label
    audit = AuditLog(actor=ACTOR, school=school)
    audit.add(
        "agent_uploaded",
        (
            f"the rollsync agent uploaded {what} again (same bytes as upload {up.upload_id}): "
            "stored once"
            if replayed
            else f"the rollsync agent uploaded {what}: upload {up.upload_id}, sync queued"
        ),
        changes={
            "upload": up.upload_id,
            "sha256": up.sha256,
            "size": up.size,
            "task": up.task_id,
            "replayed": replayed,
        },
    )
    audit.flush()


# --- the agent's status ---------------------------------------------------------------------


def _text(report: Mapping[str, Any], name: str, limit: int, *, required: bool = False) -> str:
    value = report.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise AgentError(f"{name} must be text of at most {limit} characters", field=name)
    return value


def _lights(value: Any) -> dict[str, dict[str, str]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AgentError(f"lights must be an object of {', '.join(AGENT_LIGHTS)}", field="lights")
    out: dict[str, dict[str, str]] = {}
    for name, light in value.items():
        where = f"lights.{str(name)[:40]}"
        if name not in AGENT_LIGHTS:
            raise AgentError(f"{where} is not one of {', '.join(AGENT_LIGHTS)}", field=where)
        if not isinstance(light, dict) or light.get("light") not in LIGHT_COLOURS:
            raise AgentError(
                f"{where}.light must be one of {', '.join(LIGHT_COLOURS)}", field=f"{where}.light"
            )
        message = light.get("message", "")
        if not isinstance(message, str) or len(message) > _MESSAGE_LIMIT:
            raise AgentError(
                f"{where}.message must be text of at most {_MESSAGE_LIMIT} characters",
                field=f"{where}.message",
            )
        out[name] = {"light": light["light"], "message": message}
    return out


def _last_run(value: Any) -> dict[str, str | None] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise AgentError("last_run must be an object", field="last_run")
    out: dict[str, str | None] = {}
    for name in ("started_at", "finished_at"):
        when = value.get(name)
        if when is None:
            out[name] = None
            continue
        try:
            datetime.fromisoformat(when if isinstance(when, str) and len(when) <= 40 else "")
        except ValueError:
            raise AgentError(
                f"last_run.{name} must be a date and time (ISO 8601)", field=f"last_run.{name}"
            ) from None
        out[name] = when
    outcome = value.get("outcome", "")
    if not isinstance(outcome, str) or len(outcome) > 40:
        raise AgentError(
            "last_run.outcome must be text of at most 40 characters", field="last_run.outcome"
        )
    out["outcome"] = outcome
    return out


def _log(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_LOG_LINES:
        raise AgentError(f"log must be a list of at most {MAX_LOG_LINES} lines", field="log")
    for n, line in enumerate(value):
        if not isinstance(line, str) or len(line) > _LOG_LINE_LIMIT:
            raise AgentError(
                f"log line {n + 1} must be text of at most {_LOG_LINE_LIMIT} characters",
                field=f"log[{n}]",
            )
    return list(value)


def agent_status_record(*, licence_key: str, report: Any) -> None:
    """Store the agent's report of itself on the school's connection (the last one
    wins). Every value's shape and length is checked: junk is refused naming the field
    (`AgentError`) and nothing is stored."""
    conn = agent_contact(licence_key=licence_key)
    if not isinstance(report, dict):
        raise AgentError("the status is a JSON object", field="body")
    status: dict[str, Any] = {
        name: _text(report, name, limit, required=name == "agent_version")
        for name, limit in _TEXT_LIMITS.items()
    }
    status["lights"] = _lights(report.get("lights"))
    status["last_run"] = _last_run(report.get("last_run"))
    queued = report.get("queued", 0)
    if isinstance(queued, bool) or not isinstance(queued, int) or not 0 <= queued <= _MAX_QUEUED:
        raise AgentError(f"queued must be a whole number from 0 to {_MAX_QUEUED}", field="queued")
    status["queued"] = queued
    status["log"] = _log(report.get("log"))
    status["reported_at"] = timezone.now().isoformat()
    m.MisConnection.objects.filter(pk=conn.pk).update(agent_status=status)
