"""Receiving an upload (issue 7 item 11): one limit, checked while streaming, before
anything is stored; an accepted file is held in memory once."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory.services import sync as sync_services
from rollsync.directory.services import uploads
from rollsync.directory.services.uploads import (
    CHUNK_BYTES,
    SyncError,
    UploadTooLarge,
    too_large_message,
    upload_read,
    upload_store,
)
from rollsync.domain.limits import MAX_UPLOAD_BYTES
from tests.directory.helpers import csv_bytes, pupil

MIB = 1024 * 1024


class CountingStream(io.RawIOBase):
    """`size` bytes of a repeated pattern, made as they are read (never materialised);
    counts the bytes handed out, to prove the reader stopped early."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.handed_out = 0
        self.block = ("2159,Seán,O'Sullivan,2015-03-02\n".encode() * 4096)[:65536]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self.size - self.handed_out)
        if want <= 0:
            return 0
        view = memoryview(buffer)
        done = 0
        while done < want:
            piece = self.block[: want - done]
            view[done : done + len(piece)] = piece
            done += len(piece)
        self.handed_out += want
        return want


def nothing_stored() -> dict[str, int]:
    return {
        "uploads": m.Upload.objects.count(),
        "runs": m.SyncRun.objects.count(),
        "audit": m.AuditEvent.objects.count(),
        "tasks": m.QueuedTask.objects.count(),
    }


def test_the_limit_is_one_constant_of_100_mib() -> None:
    assert MAX_UPLOAD_BYTES == 100 * MIB
    assert uploads.MAX_UPLOAD_BYTES is MAX_UPLOAD_BYTES


def test_the_message_says_the_size_and_the_limit() -> None:
    assert too_large_message(300 * MIB) == (
        "the file is 300 MiB; rollsync accepts files up to 100 MiB"
    )
    assert too_large_message(None) == (
        "the file is more than 100 MiB; rollsync accepts files up to 100 MiB"
    )
    # 100 MiB and one byte would round to "100 MiB": say "more than" instead.
    assert too_large_message(MAX_UPLOAD_BYTES + 1).startswith("the file is more than 100 MiB")


def test_a_101_mib_stream_is_refused_after_reading_just_past_the_limit(school: m.School) -> None:
    before = nothing_stored()
    stream = CountingStream(101 * MIB)
    with pytest.raises(UploadTooLarge) as refused:
        upload_store(school=school, payload=stream, fmt="csv", report="students", source="test")
    assert str(refused.value) == (
        "the file is more than 100 MiB; rollsync accepts files up to 100 MiB"
    )
    assert MAX_UPLOAD_BYTES < stream.handed_out <= MAX_UPLOAD_BYTES + CHUNK_BYTES
    assert nothing_stored() == before


def test_a_declared_size_over_the_limit_is_refused_before_reading(school: m.School) -> None:
    before = nothing_stored()
    stream = CountingStream(300 * MIB)
    with pytest.raises(UploadTooLarge, match=r"^the file is 300 MiB; rollsync accepts"):
        upload_store(
            school=school,
            payload=stream,
            fmt="csv",
            report="students",
            declared_size=300 * MIB,
        )
    assert stream.handed_out == 0
    assert nothing_stored() == before


def test_chunks_from_a_generator_are_refused_the_same_way(school: m.School) -> None:
    handed: list[int] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(200):
            handed.append(MIB)
            yield b"x" * MIB

    with pytest.raises(UploadTooLarge):
        upload_store(school=school, payload=chunks(), fmt="csv", report="students")
    assert len(handed) == 101  # it stopped at the chunk that passed the limit
    assert m.Upload.objects.count() == 0


def test_a_file_exactly_at_the_limit_is_read() -> None:
    received = upload_read(CountingStream(4 * MIB), limit=4 * MIB)
    assert received.size == 4 * MIB
    with pytest.raises(UploadTooLarge):
        upload_read(CountingStream(4 * MIB + 1), limit=4 * MIB)


def test_a_file_longer_or_shorter_than_its_declared_size_is_read_whole() -> None:
    # A known size is read as one buffer; a file that grew since its size was taken
    # is read on to its end, and still within the limit.
    payload = bytes(range(256)) * 40
    for declared in (0, 1, len(payload) - 1, len(payload), len(payload) + 7):
        received = upload_read(io.BytesIO(payload), declared_size=declared, limit=len(payload) + 7)
        assert bytes(received.data) == payload
        assert received.sha256 == hashlib.sha256(payload).hexdigest()
    with pytest.raises(UploadTooLarge):
        upload_read(io.BytesIO(payload), declared_size=10, limit=len(payload) - 1)
    # Bytes already in memory are kept as they are, not copied.
    assert upload_read(payload).data is payload


def test_an_accepted_file_is_stored_as_it_came(school: m.School) -> None:
    payload = csv_bytes("students", [pupil("2159", "Seán", "O'Sullivan", "2015-03-02")])
    for source in (payload, io.BytesIO(payload), iter([payload[:10], payload[10:]])):
        upload = upload_store(
            school=school, payload=source, fmt="csv", report="students", filename="s.csv"
        )
        upload.refresh_from_db()
        assert bytes(upload.data) == payload
        assert (upload.size, upload.sha256, upload.outcome) == (
            len(payload),
            hashlib.sha256(payload).hexdigest(),
            "received",
        )


def test_an_uploads_bytes_read_back_as_stored(school: m.School) -> None:
    # Every byte value, NUL and the bytes hex would spell alike among them, read back
    # by the selector the runs use (binary on PostgreSQL); none for a purged upload or
    # one that does not exist.
    from django.utils import timezone

    from rollsync.directory.selectors import upload_bytes

    payload = bytes(range(256)) * 300 + b"\x00\\x00"
    upload = upload_store(school=school, payload=payload, fmt="ctf", filename="x.xml")
    found = upload_bytes(upload_id=upload.pk)
    assert type(found) is bytes and found == payload
    loaded = m.Upload.objects.defer("data").get(pk=upload.pk)
    assert sync_services._payload(loaded) == payload  # read when the instance lacks them
    assert bytes(loaded.data) == payload and "data" not in loaded.get_deferred_fields()
    assert upload_bytes(upload_id=upload.pk + 1000) is None
    m.Upload.objects.filter(pk=upload.pk).update(data=b"", purged_at=timezone.now())
    assert upload_bytes(upload_id=upload.pk) is None


def test_unknown_format_or_report_is_refused_before_reading(school: m.School) -> None:
    stream = CountingStream(MIB)
    with pytest.raises(SyncError, match="unknown format 'xls'"):
        upload_store(school=school, payload=stream, fmt="xls")
    with pytest.raises(SyncError, match="unknown report 'pets'"):
        upload_store(school=school, payload=stream, fmt="csv", report="pets")
    assert stream.handed_out == 0
    assert m.Upload.objects.count() == 0


def test_the_sync_module_still_offers_upload_store() -> None:
    assert sync_services.upload_store is upload_store
    assert sync_services.SyncError is SyncError


def test_a_20_mb_upload_is_held_in_memory_about_once(school: m.School) -> None:
    size = 20 * MIB
    stream = CountingStream(size)
    tracemalloc.start()
    try:
        upload = upload_store(school=school, payload=stream, fmt="csv", report="students")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert upload.size == size
    assert peak <= 2.5 * size, f"peak {peak / MIB:.1f} MiB for a {size / MIB:.0f} MiB upload"
