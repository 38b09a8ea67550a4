"""A pull from an MIS API, kept as it came: the bundle a connector stores as the upload.

A zip (deterministic: fixed member times, members in request order) holding
`pull.json`, the manifest, and one member per answer the pull used,
`answers/0001.json`, `answers/0002.json`, ... with the bytes exactly as the vendor sent
them. An incremental pull (only what changed since the cursor) also holds
`merged.json`: the vendor's records as they stand after the changes were merged into the
previous pull's, which is what the format reader reads then. The manifest:

    {"vendor": "isams", "report": "students", "asked": "students (3 pages)",
     "pulled_at": "2026-11-30T18:00:00+00:00", "incremental": false,
     "answers": [{"file": "answers/0001.json", "method": "GET",
                  "url": "/api/students?page=1&pageSize=100", "status": 200,
                  "content_type": "application/json"}, ...],
     "extra": {...}}

Pure Python: written by `rollsync.connectors`, read by each vendor's format reader.
"""

from __future__ import annotations

import io
import json
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from rollsync.domain.records import ImportBatch
from rollsync.domain.state import SchoolRef

from .bundles import open_bundle_members
from .errors import FileRejected, rejected_batch

MANIFEST = "pull.json"
MERGED = "merged.json"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer of the pull, in the order it was asked."""

    method: str
    url: str  # path and query under the connection's base URL
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise FileRejected(f"the answer to {self.method} {self.url} is not JSON") from None

    @property
    def path(self) -> str:
        return self.url.split("?", 1)[0]


@dataclass(frozen=True, slots=True)
class PulledBundle:
    vendor: str
    report: str
    asked: str
    pulled_at: str
    answers: tuple[Answer, ...]
    incremental: bool = False
    merged: Any = None  # the merged records of an incremental pull (vendor's shapes)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def answers_for(self, path_prefix: str) -> Iterator[Answer]:
        """The answers whose path starts with `path_prefix`, in order."""
        return (a for a in self.answers if a.path.startswith(path_prefix))


def pack_pull(
    *,
    vendor: str,
    report: str,
    asked: str,
    pulled_at: str,
    answers: Sequence[Answer],
    incremental: bool = False,
    merged: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """The bundle's bytes: the same pull always packs to the same bytes."""
    entries = []
    members: list[tuple[str, bytes]] = []
    for n, answer in enumerate(answers, start=1):
        name = f"answers/{n:04d}.json"
        entries.append(
            {
                "file": name,
                "method": answer.method,
                "url": answer.url,
                "status": answer.status,
                "content_type": answer.content_type,
            }
        )
        members.append((name, answer.body))
    manifest = {
        "vendor": vendor,
        "report": report,
        "asked": asked,
        "pulled_at": pulled_at,
        "incremental": incremental,
        "answers": entries,
        "extra": dict(extra or {}),
    }
    if merged is not None:
        members.append((MERGED, json.dumps(merged, sort_keys=True, separators=(",", ":")).encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in [(MANIFEST, json.dumps(manifest, indent=1).encode()), *members]:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, body)
    return buf.getvalue()


def read_pull(payload: bytes, *, vendor: str, label: str | None = None) -> PulledBundle:
    """The bundle back, or `FileRejected` saying what is wrong with it (`label`: the
    vendor as people name it, for messages)."""
    named = label or vendor
    members = open_bundle_members(payload, kind=f"pull from {named}")
    raw = members.get(MANIFEST)
    if raw is None:
        raise FileRejected(f"this is not a pull from {named}: it has no {MANIFEST}")
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise FileRejected(f"the pull's {MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("vendor") != vendor:
        raise FileRejected(f"this is not a pull from {named} (its manifest names another vendor)")
    answers = []
    for n, entry in enumerate(manifest.get("answers") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise FileRejected(f"the pull's manifest entry {n + 1} is damaged", field="answers")
        body = members.get(entry["file"])
        if body is None:
            raise FileRejected(f"the pull lacks {entry['file']}, which its manifest lists")
        try:
            status = int(entry.get("status", 200))
        except (TypeError, ValueError):
            raise FileRejected(
                f"the pull's manifest entry {n + 1} is damaged", field="status"
            ) from None
        answers.append(
            Answer(
                str(entry.get("method", "GET")),
                str(entry.get("url", "")),
                status,
                str(entry.get("content_type", "")),
                body,
            )
        )
    merged = None
    if MERGED in members:
        try:
            merged = json.loads(members[MERGED])
        except (ValueError, UnicodeDecodeError):
            raise FileRejected(f"the pull's {MERGED} is not JSON") from None
    return PulledBundle(
        vendor=vendor,
        report=str(manifest.get("report", "")),
        asked=str(manifest.get("asked", "")),
        pulled_at=str(manifest.get("pulled_at", "")),
        answers=tuple(answers),
        incremental=bool(manifest.get("incremental", False)),
        merged=merged,
        extra=extra if isinstance(extra := manifest.get("extra"), dict) else {},
    )


def pull_report(payload: bytes) -> str | None:
    """The report a pull bundle says it carries, or None when it is not one (for
    Upload History and Force run, which must not parse the whole pull)."""
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as zf, zf.open(MANIFEST) as f:
            manifest = json.loads(f.read(1024 * 1024))
    except Exception:
        return None
    report = manifest.get("report") if isinstance(manifest, dict) else None
    return report if isinstance(report, str) else None


class PulledReader(ABC):
    """The format reader of one vendor's pulls: reads the bundle (refusing, in the
    vendor's name, one that is not its pull) and never raises: a bundle nobody foresaw
    is refused whole. A vendor implements `read`."""

    vendor: ClassVar[str]  # the connector's name: "isams"
    vendor_label: ClassVar[str]  # "IRIS iSAMS"
    format: ClassVar[str]  # "isams-api"
    label: ClassVar[str]  # "IRIS iSAMS / Ed:gen (pulled)"
    needs_report: ClassVar[bool] = False

    def parse(
        self, payload: bytes, *, school: SchoolRef, report: str | None, today: date | None = None
    ) -> ImportBatch:
        try:
            bundle = read_pull(payload, vendor=self.vendor, label=self.vendor_label)
            return self.read(bundle, report=report, today=today)
        except FileRejected as problem:
            return rejected_batch(self.format, problem)
        except Exception as exc:  # never raise: see the class
            return rejected_batch(
                self.format,
                FileRejected(
                    f"the pull from {self.vendor_label} cannot be read ({type(exc).__name__})"
                ),
            )

    @abstractmethod
    def read(self, bundle: PulledBundle, *, report: str | None, today: date | None) -> ImportBatch:
        """The canonical records of a pull (FileRejected for a pull that cannot be used)."""


def json_kind(value: object) -> str:
    """What a JSON value is, in a message's words ("a number" where text belongs)."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "empty"
    return "not text"
