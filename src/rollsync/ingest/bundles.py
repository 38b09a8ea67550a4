"""Zip bundles of CSV files (OneRoster, SDS): safe opening, and packing a folder.

A bundle is read into memory member by member, with one limit: the upload
itself is capped by `domain.limits.MAX_UPLOAD_BYTES` (checked by
`parse_upload`), and so is the members' uncompressed total, counted on the
bytes actually read while decompressing, in chunks, stopping as soon as the
total passes the limit: a zip bomb, or a zip whose directory lies about a
member's size, is refused without being inflated into memory. A zip that
cannot be read (a bad CRC, a cut-off file, a broken stream) is "damaged".
"""

from __future__ import annotations

import io
import lzma
import pathlib
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

from rollsync.domain.limits import MAX_UPLOAD_BYTES

from .errors import FileRejected

# One limit: the upload as it comes, and all members of a bundle as unpacked.
MAX_UNZIPPED_BYTES = MAX_UPLOAD_BYTES
MAX_MEMBERS = 200

# 1980-01-01 00:00:00 is the earliest time a zip can record; fixed so that the
# same folder always packs to the same bytes (and the same sha256).
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Bundle:
    """The CSV files of a bundle, by lower-cased file name (folders dropped)."""

    files: dict[str, bytes]
    kind: str  # "OneRoster", "SDS": for messages

    # Members already handed over by `take` (their bytes are no longer held).
    taken: set[str] = field(default_factory=set)

    def has(self, name: str) -> bool:
        return name in self.files or name in self.taken

    def take(self, name: str) -> bytes:
        """`get`, once: the bundle lets go of the member's bytes, so that a large file's
        bytes are not held while the later files are read."""
        if name in self.taken:
            raise RuntimeError(f"{name} was already read from the {self.kind} zip")
        data = self.get(name)
        del self.files[name]
        self.taken.add(name)
        return data

    def get(self, name: str) -> bytes:
        try:
            return self.files[name]
        except KeyError:
            raise FileRejected(
                f"the {self.kind} zip has no {name}, which rollsync needs", source=name
            ) from None


CHUNK_BYTES = 64 * 1024

# What zipfile and zlib raise for a damaged archive: bad CRC or header
# (BadZipFile), a broken deflate stream (zlib.error: "Error -3 while
# decompressing"), a cut-off file (EOFError), impossible offsets (ValueError:
# "negative seek value"; OSError), an unreadable method or encryption
# (NotImplementedError, RuntimeError), a corrupt bzip2/lzma stream (lzma.LZMAError
# is an Exception; OSError covers bz2).
_DAMAGE: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,
    OSError,
    NotImplementedError,
    RuntimeError,
    lzma.LZMAError,
    struct.error,
    OverflowError,
)


@dataclass(slots=True)
class ReadCount:
    """Bytes unpacked so far, for tests and benchmarks (work done, not time)."""

    bytes_unpacked: int = 0


LAST_READ = ReadCount()


def _damaged(exc: BaseException) -> FileRejected:
    return FileRejected(f"the zip is damaged: {exc or type(exc).__name__}")


def open_bundle(payload: bytes, *, kind: str) -> Bundle:
    LAST_READ.bytes_unpacked = 0
    if not zipfile.is_zipfile(io.BytesIO(payload)):
        if payload.startswith(b"PK\x03\x04"):
            # It starts as a zip does, but its directory at the end is missing.
            raise FileRejected(
                "the zip is damaged: it has no directory at its end, so it looks cut short; "
                "upload the whole file again"
            )
        raise FileRejected(f"This is not a zip file: a {kind} upload is a zip of CSV files")
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except _DAMAGE as exc:
        raise _damaged(exc) from None
    with archive:
        return Bundle(_read_members(archive, kind), kind)


# A pull from an MIS API keeps one member per answer (Arbor: one per record read).
MAX_PULL_MEMBERS = 200_000


def open_bundle_members(payload: bytes, *, kind: str) -> dict[str, bytes]:
    """Every member of a zip by its full name (a pull from an MIS API: `ingest.pulled`),
    within the same limits as a CSV bundle."""
    LAST_READ.bytes_unpacked = 0
    if not zipfile.is_zipfile(io.BytesIO(payload)):
        raise FileRejected(f"this is not a {kind}: it is not a zip, or it was cut short")
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except _DAMAGE as exc:
        raise _damaged(exc) from None
    with archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
        if len(entries) > MAX_PULL_MEMBERS:
            raise FileRejected(f"the {kind} holds {len(entries)} members, more than rollsync reads")
        if sum(info.file_size for info in entries) > MAX_UNZIPPED_BYTES:
            raise FileRejected(
                f"the {kind} unpacks to more than {MAX_UNZIPPED_BYTES // (1024 * 1024)} MiB: "
                "refused as a possible zip bomb"
            )
        files: dict[str, bytes] = {}
        budget = MAX_UNZIPPED_BYTES
        for info in entries:
            if info.filename in files:
                raise FileRejected(f"the {kind} holds {info.filename} twice", source=info.filename)
            data = _read_limited(archive, info, budget)
            budget -= len(data)
            files[info.filename] = data
        return files


def _read_members(archive: zipfile.ZipFile, kind: str) -> dict[str, bytes]:
    entries = [info for info in archive.infolist() if _is_csv(info)]
    if len(entries) > MAX_MEMBERS:
        raise FileRejected(f"the zip holds {len(entries)} CSV files: a {kind} bundle has a handful")
    claimed = sum(info.file_size for info in entries)
    if claimed > MAX_UNZIPPED_BYTES:
        # An honest zip bomb says so in its directory: refused before unpacking a
        # byte. A dishonest one is stopped by counting what is read (_read_limited).
        raise FileRejected(
            f"the zip unpacks to {claimed / (1024 * 1024):,.0f} MiB, more than the "
            f"{MAX_UNZIPPED_BYTES // (1024 * 1024)} MiB rollsync accepts: refused as a "
            "possible zip bomb"
        )
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
    if not info.filename:
        return False  # `ZipInfo.is_dir` raises on a nameless member (found by ./dev fuzz)
    path = pathlib.PurePosixPath(info.filename)
    hidden = any(part.startswith((".", "__MACOSX")) for part in path.parts)
    return not info.is_dir() and not hidden and path.suffix.casefold() == ".csv"


def _read_limited(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """The member's bytes, read in chunks and counted as they come: the size the
    zip's directory claims is never trusted (a lying header is stopped here)."""
    too_big = FileRejected(
        f"the zip unpacks to more than {MAX_UNZIPPED_BYTES // (1024 * 1024)} MiB: "
        "refused as a possible zip bomb",
        source=info.filename,
    )
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(min(CHUNK_BYTES, budget - size + 1)):
                size += len(chunk)
                LAST_READ.bytes_unpacked += len(chunk)
                if size > budget:
                    raise too_big
                chunks.append(chunk)
    except FileRejected:
        raise
    except _DAMAGE as exc:
        problem = _damaged(exc)
        problem.message = f"The zip is damaged: {info.filename} cannot be unpacked ({exc})"
        problem.source = info.filename
        raise problem from None
    return b"".join(chunks)


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
