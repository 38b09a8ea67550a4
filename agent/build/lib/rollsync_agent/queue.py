"""Filtered extracts waiting to be sent: `<stamp>-<report>.xml` beside a `.json` sidecar."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rollsync_agent.home import ensure_dir, read_json, write_atomic, write_json


@dataclass(frozen=True)
class Queued:
    xml: Path
    meta: dict[str, Any]

    @property
    def sidecar(self) -> Path:
        return self.xml.with_suffix(".json")


def put(folder: Path, report: str, data: bytes) -> Queued:
    """Write the extract, then its sidecar (each atomically): a sidecar names a whole file."""
    ensure_dir(folder)
    at = datetime.now(timezone.utc)
    stamp = at.strftime("%Y%m%dT%H%M%S%fZ")
    xml = folder / f"{stamp}-{report}.xml"
    n = 1
    while xml.exists():
        xml = folder / f"{stamp}-{n}-{report}.xml"
        n += 1
    meta = {
        "report": report,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "filename": xml.name,
        "extracted_at": at.isoformat(timespec="seconds"),
    }
    write_atomic(xml, data)
    write_json(xml.with_suffix(".json"), meta)
    return Queued(xml, meta)


def pending(folder: Path) -> list[Queued]:
    """Every whole queued extract, oldest first (the names start with the time)."""
    if not folder.is_dir():
        return []
    out = []
    for sidecar in sorted(folder.glob("*.json")):
        xml = sidecar.with_suffix(".xml")
        meta = read_json(sidecar, None)
        if isinstance(meta, dict) and xml.is_file():
            out.append(Queued(xml, meta))
    return out


def remove(item: Queued) -> None:
    item.xml.unlink(missing_ok=True)
    item.sidecar.unlink(missing_ok=True)


def move(item: Queued, folder: Path) -> Path:
    ensure_dir(folder)
    shutil.move(str(item.sidecar), str(folder / item.sidecar.name))
    target = folder / item.xml.name
    shutil.move(str(item.xml), str(target))
    return target
