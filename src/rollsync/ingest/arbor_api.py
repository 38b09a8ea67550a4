"""Reads a pull from Arbor's API (a bundle from `ingest.pulled`) (to be built: issue 9)."""

from __future__ import annotations

from datetime import date

from rollsync.domain.records import ImportBatch
from rollsync.domain.state import SchoolRef

from .errors import FileRejected, rejected_batch


class ArborApiReader:
    format = "arbor-api"
    label = "Arbor (pulled)"
    needs_report = False

    def parse(
        self, payload: bytes, *, school: SchoolRef, report: str | None, today: date | None = None
    ) -> ImportBatch:
        return rejected_batch(self.format, FileRejected("not built yet"))
