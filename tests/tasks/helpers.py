"""Helpers for tests that queue work: uploads, counts, the state to compare."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django_q.models import OrmQ

from rollsync.directory import models as m
from rollsync.domain.actions import COUNT_KEYS, RELATION_COUNT_KEYS
from tests.directory.helpers import csv_upload, snapshot


def counts(**kw: int) -> dict[str, int]:
    return {key: kw.get(key, 0) for key in COUNT_KEYS}


def shown_counts(**kw: int) -> dict[str, int]:
    """A run's counts as the API and the command show them: the relations' too, as 0."""
    return {key: kw.get(key, 0) for key in (*COUNT_KEYS, *RELATION_COUNT_KEYS)}


def store(
    school: m.School, rows: Iterable[Mapping[str, Any]], *, report: str = "students"
) -> m.Upload:
    return csv_upload(school, rows, report=report)


def state() -> dict[str, Any]:
    """The directory plus runs, uploads, exclusions and the queue: to show nothing changed."""
    return {
        **snapshot(),
        "runs": list(m.SyncRun.objects.order_by("pk").values("pk", "status", "approved_by")),
        "uploads": list(m.Upload.objects.order_by("pk").values("pk", "outcome")),
        "exclusions": list(m.Exclusion.objects.order_by("pk").values()),
        "tasks": m.QueuedTask.objects.count(),
        "queue": OrmQ.objects.count(),
    }
