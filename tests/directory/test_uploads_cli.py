"""`rollsync import` applies the one upload limit (issue 7 item 11): a file over it is
refused by its size before it is read, with a message and exit code 2, storing nothing
(no upload, no run); a folder is zipped, then checked the same way."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from rollsync.directory import models as m
from rollsync.directory.services import uploads
from rollsync.directory.services.uploads import upload_file_open, upload_store
from tests.directory.helpers import Cli, csv_bytes, pupil

MIB = 1024 * 1024


def sparse(path: Path, size: int) -> Path:
    """A file of `size` bytes that takes no space or time to make (never materialised)."""
    with path.open("wb") as f:
        f.truncate(size)
    return path


def nothing() -> tuple[int, int, int]:
    return (m.Upload.objects.count(), m.SyncRun.objects.count(), m.AuditEvent.objects.count())


@pytest.mark.parametrize(
    ("size", "said"), [(101 * MIB, "101 MiB"), (300 * MIB, "300 MiB"), (3 * 1024 * MIB, "3072 MiB")]
)
def test_import_refuses_a_file_over_the_limit_and_stores_nothing(
    cli: Cli, school: m.School, tmp_path: Path, size: int, said: str
) -> None:
    path = sparse(tmp_path / "huge.csv", size)
    before = nothing()
    result = cli(
        "import", str(path), "--school", school.urn, "--format", "csv", "--report", "students",
        "--json", expect=2,
    )  # fmt: skip
    assert json.loads(result.stdout) == {
        "error": f"the file is {said}; rollsync accepts files up to 100 MiB"
    }
    assert nothing() == before


def test_import_refuses_a_folder_that_zips_to_more_than_the_limit(
    cli: Cli, school: m.School, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 1000)
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "users.csv").write_bytes(bytes(range(256)) * 20)  # does not compress
    before = nothing()
    result = cli(
        "import", str(folder), "--school", school.urn, "--format", "oneroster", "--json", expect=2
    )
    assert json.loads(result.stdout)["error"].endswith("rollsync accepts files up to 1000 bytes")
    assert nothing() == before


def test_import_within_the_limit_stores_the_file_as_it_came(
    cli: Cli, school: m.School, tmp_path: Path
) -> None:
    payload = csv_bytes("students", [pupil("1", "Ann", "Able", "2016-01-02")])
    path = tmp_path / "students.csv"
    path.write_bytes(payload)
    out = cli.json(
        "import", str(path), "--school", school.urn, "--format", "csv", "--report", "students"
    )
    assert out["status"] == "applied"
    upload = m.Upload.objects.get()
    assert (bytes(upload.data), upload.size, upload.source, upload.filename) == (
        payload,
        len(payload),
        "cli",
        "students.csv",
    )
    assert upload.outcome == "applied"
    assert not m.AuditEvent.objects.filter(action="upload_received").exists()


def test_a_20_mib_file_from_disk_is_held_in_memory_about_once(
    school: m.School, tmp_path: Path
) -> None:
    size = 20 * MIB
    path = tmp_path / "big.csv"
    line = b"1001,Given,Family,2016-01-02\n"
    path.write_bytes(line * (size // len(line)) + b"x" * (size % len(line)))
    handle, declared = upload_file_open(path)
    tracemalloc.start()
    try:
        with handle:
            upload = upload_store(
                school=school,
                payload=handle,
                fmt="csv",
                report="students",
                declared_size=declared,
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert upload.size == size == declared
    assert peak <= 2.5 * size, f"peak {peak / MIB:.1f} MiB for a {size / MIB:.0f} MiB file"
