"""Zips built by tests whose bytes depend on their members alone.

`zipfile.ZipFile.writestr(name, data)` stamps each member with the time it is
written, to two seconds: two builds of one bundle a moment apart then differ
whenever a two-second boundary falls between them, and a test that expects the
same bytes to be skipped (decision 0088) saw other bytes, read in part, about one
run in forty (`test_the_same_bundle_after_an_event_naming_a_pupil_builds_their_
family_alone`, 4 December 2026)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def zip_members(
    members: Mapping[str, str | bytes],
    *,
    folder: str = "",
    compression: int = zipfile.ZIP_STORED,
) -> bytes:
    """A zip holding `members` (name -> content, text as UTF-8) in the order given,
    optionally inside `folder`, every member stamped with one fixed time."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, content in members.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            info = zipfile.ZipInfo(folder + name, date_time=_FIXED_TIME)
            info.compress_type = compression
            archive.writestr(info, data)
    return out.getvalue()


def members_of(payload: bytes) -> dict[str, bytes]:
    """A zip's members, name -> bytes, in the zip's order."""
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
