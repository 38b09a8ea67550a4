"""Zip bundles of CSV files (OneRoster, SDS): safe opening, and packing a folder.

A bundle is read whole into memory, member by member, with two guards: the
upload itself is capped by `MAX_UPLOAD_BYTES` (checked by `parse_upload`), and
the members' uncompressed total by `MAX_UNZIPPED_BYTES`, counted on the bytes
actually read, so a zip bomb that lies in its directory is still stopped.
"""

from __future__ import annotations

import io
import pathlib
import zipfile
from dataclasses import dataclass

from .errors import FileRejected

MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # 100 MiB: far beyond any school's export
MAX_UNZIPPED_BYTES = 400 * 1024 * 1024  # all members of a bundle, uncompressed
MAX_MEMBERS = 200

# 1980-01-01 00:00:00 is the earliest time a zip can record; fixed so that the
# same folder always packs to the same bytes (and the same sha256).
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Bundle:
    """The CSV files of a bundle, by lower-cased file name (folders dropped)."""

    files: dict[str, bytes]
    kind: str  # "OneRoster", "SDS": for messages

    def has(self, name: str) -> bool:
        return name in self.files

    def get(self, name: str) -> bytes:
        try:
            return self.files[name]
        except KeyError:
            raise FileRejected(
                f"the {self.kind} zip has no {name}, which rollsync needs", source=name
            ) from None


def open_bundle(payload: bytes, *, kind: str) -> Bundle:
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except (zipfile.BadZipFile, OSError):
        raise FileRejected(
            f"this is not a zip file: a {kind} upload is a zip of CSV files"
        ) from None
    with archive:
        return Bundle(_read_members(archive, kind), kind)


def _read_members(archive: zipfile.ZipFile, kind: str) -> dict[str, bytes]:
    entries = [info for info in archive.infolist() if _is_csv(info)]
    if len(entries) > MAX_MEMBERS:
        raise FileRejected(f"the zip holds {len(entries)} CSV files: a {kind} bundle has a handful")
    files: dict[str, bytes] = {}
    budget = MAX_UNZIPPED_BYTES
    for info in entries:
        name = pathlib.PurePosixPath(info.filename).name.casefold()
        if name in files:
            raise FileRejected(
                f"the zip holds {name} more than once (in different folders): "
                "rollsync cannot tell which to use",
                source=name,
            )
        data = _read_limited(archive, info, budget)
        budget -= len(data)
        files[name] = data
    return files


def _is_csv(info: zipfile.ZipInfo) -> bool:
    path = pathlib.PurePosixPath(info.filename)
    hidden = any(part.startswith((".", "__MACOSX")) for part in path.parts)
    return not info.is_dir() and not hidden and path.suffix.casefold() == ".csv"


def _read_limited(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    too_big = FileRejected(
        f"the zip unpacks to more than {MAX_UNZIPPED_BYTES // (1024 * 1024)} MiB: "
        "refused as a possible zip bomb",
        source=info.filename,
    )
    if info.file_size > budget:
        raise too_big
    try:
        with archive.open(info) as member:
            data = member.read(budget + 1)  # never read more than the budget allows
    except (zipfile.BadZipFile, RuntimeError, OSError, EOFError, NotImplementedError) as exc:
        raise FileRejected(
            f"{info.filename} cannot be unpacked from the zip ({exc})", source=info.filename
        ) from None
    if len(data) > budget:
        raise too_big
    return data


def bundle_folder(path: pathlib.Path) -> bytes:
    """A deterministic zip of the CSV files directly in `path`.

    Names sorted, timestamps and permissions fixed, members stored uncompressed
    (compressed output can differ between zlib builds), so the same folder always
    gives the same bytes: a folder named on the command line is stored as one
    immutable upload, and uploading it twice is recognisably the same upload.
    """
    if not path.is_dir():
        raise ValueError(f"{path} is not a folder")
    csv_files = sorted(
        (p for p in path.iterdir() if p.is_file() and p.suffix.casefold() == ".csv"),
        key=lambda p: p.name,
    )
    if not csv_files:
        raise ValueError(f"{path} holds no .csv files")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for file in csv_files:
            info = zipfile.ZipInfo(file.name, date_time=_FIXED_TIME)
            info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            info.create_system = 3  # Unix, whatever machine packs it
            archive.writestr(info, file.read_bytes())
    return buffer.getvalue()
