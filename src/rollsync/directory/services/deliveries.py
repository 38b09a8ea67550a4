"""What the MIS senders that deliver to rollsync by themselves share (Bromcom's push,
`services.push`; the rollsync agent's uploads, `services.agent`): the licence key's
alphabet, the whole-file read before anything is stored, and the replay rule."""

from __future__ import annotations

import secrets as pysecrets
from datetime import datetime, timedelta

from django.utils import timezone

from rollsync import ingest
from rollsync.directory import models as m
from rollsync.directory.services.uploads import PULL_FAILED

LICENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed

# The same bytes again within this time, with no other delivery of the report between,
# is the sender retrying (its answer was lost): stored once. Later, the same bytes are a
# new evening's export and are processed again (start and leaving dates move with the day).
REPLAY_WINDOW = timedelta(hours=12)


def licence_groups(groups: int) -> str:
    """`groups` groups of 5 characters of `LICENCE_ALPHABET`, joined by "-"."""
    return "-".join(
        "".join(pysecrets.choice(LICENCE_ALPHABET) for _ in range(5)) for _ in range(groups)
    )


def whole_file_error(
    data: bytes, *, school: m.School, report: str, fmt: str
) -> tuple[str, str | None] | None:
    """(message, field) of the first whole-file error the format's reader finds in
    `data` (not the format, a missing mandatory column, a damaged file, another school's
    file, an error the MIS wrote instead of the report), or None when it can be read."""
    from rollsync.directory.selectors import school_ref

    batch = ingest.parse_upload(
        data, fmt=fmt, school=school_ref(school), report=report or None, today=timezone.localdate()
    )
    whole = [e for e in batch.errors if e.row is None]
    if not whole:
        return None
    return whole[0].message, whole[0].field


def replay_of(
    school: m.School, *, source: str, report: str, fmt: str, sha256: str, now: datetime
) -> tuple[m.Upload, str] | None:
    """The school's latest delivery of the report from `source` and its sync task, when
    it holds the same bytes and came within `REPLAY_WINDOW`: then these bytes are a replay."""
    latest = (
        m.Upload.objects.filter(school=school, source=source, report=report, fmt=fmt)
        .exclude(outcome=PULL_FAILED)
        .defer("data")
        .order_by("-received_at", "-pk")
        .first()
    )
    if latest is None or latest.sha256 != sha256 or latest.received_at < now - REPLAY_WINDOW:
        return None
    task_id = (
        m.QueuedTask.objects.filter(kind=m.QueuedTask.Kind.SYNC, upload_id=latest.pk)
        .order_by("enqueued_at")
        .values_list("pk", flat=True)
        .first()
    )
    if task_id is None:
        return None
    return latest, str(task_id)
