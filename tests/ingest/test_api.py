"""The public API: parse_upload, the registry, the size guards, bundle_folder."""

from __future__ import annotations

import hashlib
import os
import zipfile
from io import BytesIO

import pytest

from rollsync.domain.records import ImportBatch, PersonRecord, Role
from rollsync.domain.state import SchoolRef
from rollsync.ingest import (
    FORMATS,
    MAX_UNZIPPED_BYTES,
    MAX_UPLOAD_BYTES,
    bundle_folder,
    format_label,
    parse_upload,
    reader_for,
    register,
    registered_formats,
)

from .helpers import FIXTURES, SCHOOL, assert_refused, folder_files, zip_of


def test_formats():
    assert FORMATS == ("ctf", "oneroster", "sds", "csv", "sims-superstar")
    assert set(FORMATS) <= set(registered_formats())


def test_unknown_format():
    with pytest.raises(
        ValueError, match=r"unknown upload format 'xlsx'; known formats: ctf, oneroster"
    ):
        parse_upload(b"", fmt="xlsx", school=SCHOOL)


def test_unknown_report():
    with pytest.raises(ValueError, match="unknown report 'pupils'"):
        parse_upload(b"", fmt="csv", school=SCHOOL, report="pupils")


def test_report_is_optional_for_self_describing_formats():
    batch = parse_upload(b"", fmt="ctf", school=SCHOOL, report="students")
    assert batch.fatal


@pytest.mark.parametrize("fmt", FORMATS)
def test_upload_over_the_size_limit_is_refused_unread(fmt):
    payload = b"\x00" * (MAX_UPLOAD_BYTES + 1)
    batch = parse_upload(payload, fmt=fmt, school=SCHOOL, report="students")
    assert_refused(batch, "up to 100 MiB")


def _zip_of_zeros(sizes: list[int]) -> bytes:
    """A highly compressible zip: members full of zeros, as in a zip bomb."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("manifest.csv", "propertyName,value\noneroster.version,1.1\n")
        for number, size in enumerate(sizes):
            archive.writestr(f"file{number}.csv", b"0" * size)
    return buffer.getvalue()


def test_one_limit_for_uploads_and_what_a_zip_unpacks_to():
    from rollsync.domain import limits

    assert MAX_UPLOAD_BYTES == limits.MAX_UPLOAD_BYTES == 100 * 1024 * 1024
    assert MAX_UNZIPPED_BYTES == limits.MAX_UPLOAD_BYTES


def test_zip_bomb_is_refused(monkeypatch):
    monkeypatch.setattr("rollsync.ingest.bundles.MAX_UNZIPPED_BYTES", 8 * 1024 * 1024)
    payload = _zip_of_zeros([64 * 1024 * 1024])
    assert len(payload) < 256 * 1024  # a small upload that would unpack to 64 MiB
    assert_refused(parse_upload(payload, fmt="oneroster", school=SCHOOL), "zip bomb")


def test_members_adding_up_past_the_limit_are_refused(monkeypatch):
    monkeypatch.setattr("rollsync.ingest.bundles.MAX_UNZIPPED_BYTES", 8 * 1024 * 1024)
    payload = _zip_of_zeros([3 * 1024 * 1024] * 3)  # each fits, together they do not
    assert_refused(parse_upload(payload, fmt="sds", school=SCHOOL), "zip bomb")


def test_zip_that_understates_its_sizes_is_refused():
    payload = bytearray(zip_of(folder_files("oneroster11")))
    # Claim every member unpacks to 1 byte, in the central directory.
    central = payload.find(b"PK\x01\x02")
    while central != -1:
        payload[central + 24 : central + 28] = (1).to_bytes(4, "little")
        central = payload.find(b"PK\x01\x02", central + 4)
    batch = parse_upload(bytes(payload), fmt="oneroster", school=SCHOOL)
    assert_refused(batch, "The zip is damaged: ", "cannot be unpacked")


class _EchoReader:
    """A stand-in format reader: one pupil per line of the payload."""

    format = "echo-mis"
    label = "Echo (one pupil per line)"
    needs_report = False

    def parse(
        self, payload: bytes, *, school: SchoolRef, report: str | None, today: object = None
    ) -> ImportBatch:
        people = [
            PersonRecord(Role.PUPIL, line, line, line, row=n)
            for n, line in enumerate(payload.decode().split(), start=1)
        ]
        return ImportBatch("echo-mis", frozenset({"students"}), frozenset(), people=people)


def test_a_format_reader_can_be_registered(monkeypatch):
    import rollsync.ingest.registry as registry

    monkeypatch.setattr(registry, "_READERS", dict(registry._READERS))  # undone after
    reader = _EchoReader()
    register(reader)
    assert reader_for("echo-mis") is reader
    assert registered_formats()[-1] == "echo-mis"
    assert format_label("echo-mis") == "Echo (one pupil per line)"
    batch = parse_upload(b"a b", fmt="echo-mis", school=SCHOOL)
    assert [p.mis_id for p in batch.people] == ["a", "b"]
    with pytest.raises(ValueError, match="already registered"):
        register(reader)


class TestBundleFolder:
    def test_same_folder_same_bytes(self, tmp_path):
        for name in ("users.csv", "orgs.csv", "manifest.csv"):
            (tmp_path / name).write_text(f"{name}\n1,2\n")
        (tmp_path / "notes.txt").write_text("not a csv")
        first = bundle_folder(tmp_path)
        # touching the files (new timestamps) does not change the bundle
        for path in tmp_path.iterdir():
            os.utime(path, (1_700_000_000, 1_700_000_000))
        assert (
            hashlib.sha256(bundle_folder(tmp_path)).hexdigest() == hashlib.sha256(first).hexdigest()
        )
        archive = zipfile.ZipFile(BytesIO(first))
        assert archive.namelist() == ["manifest.csv", "orgs.csv", "users.csv"]
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}

    def test_content_change_changes_the_bundle(self, tmp_path):
        (tmp_path / "users.csv").write_text("a\n")
        first = bundle_folder(tmp_path)
        (tmp_path / "users.csv").write_text("b\n")
        assert bundle_folder(tmp_path) != first

    def test_fixture_folder_round_trips(self):
        batch = parse_upload(bundle_folder(FIXTURES / "sds"), fmt="sds", school=SCHOOL)
        assert not batch.fatal

    def test_not_a_folder(self, tmp_path):
        with pytest.raises(ValueError, match="is not a folder"):
            bundle_folder(tmp_path / "missing")

    def test_no_csv_files(self, tmp_path):
        (tmp_path / "readme.txt").write_text("hi")
        with pytest.raises(ValueError, match=r"holds no \.csv files"):
            bundle_folder(tmp_path)
