"""The tests' zips are a function of their members: two builds seconds apart are the
same bytes (`tests.zips`; a skip test saw other bytes one run in forty before)."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.zips import members_of, zip_members

MEMBERS = {"manifest.csv": b"propertyName,value\n", "users.csv": "sourcedId\nu-1\n"}


def _clock_at(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    monkeypatch.setattr(zipfile.time, "time", lambda: seconds)  # type: ignore[attr-defined]


def _stamped_by_the_clock() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("users.csv", b"sourcedId\n")
    return out.getvalue()


def test_two_builds_seconds_apart_are_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    _clock_at(monkeypatch, 1_780_000_000)
    before, stamped_before = zip_members(MEMBERS), _stamped_by_the_clock()
    _clock_at(monkeypatch, 1_780_000_004)
    after, stamped_after = zip_members(MEMBERS), _stamped_by_the_clock()
    assert before == after
    # What the helper replaced: a member named by a string takes the clock's time.
    assert stamped_before != stamped_after


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_members_come_back_in_order_inside_the_folder(compression: int) -> None:
    payload = zip_members(MEMBERS, folder="night/", compression=compression)
    assert members_of(payload) == {
        "night/manifest.csv": b"propertyName,value\n",
        "night/users.csv": b"sourcedId\nu-1\n",
    }
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        assert {info.compress_type for info in archive.infolist()} == {compression}
