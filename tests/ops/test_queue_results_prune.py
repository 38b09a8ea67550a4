"""django-q2's record of finished tasks is kept N days, then pruned by the daily job;
rollsync's own QueuedTask rows are never touched by it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_q.models import Task

from rollsync.directory import models as m
from rollsync.directory.tasks import purge_expired_uploads
from rollsync.ops.services import queue_results_prune


def _finished(name: str, days_ago: float, *, success: bool = True) -> None:
    stopped = timezone.now() - timedelta(days=days_ago)
    Task.objects.create(
        id=name.ljust(32, "0"),
        name=name,
        func="rollsync.directory.tasks.execute",
        started=stopped - timedelta(seconds=1),
        stopped=stopped,
        success=success,
    )


def test_old_records_go_and_recent_ones_stay(db: Any, settings: Any) -> None:
    settings.ROLLSYNC_QUEUE_RESULT_RETENTION_DAYS = 14
    _finished("old", 15)
    _finished("oldfailed", 30, success=False)
    _finished("recent", 13.9)
    tasks = m.QueuedTask.objects.count()
    assert purge_expired_uploads() == 0  # no upload purged: the queue's records are pruned
    assert sorted(Task.objects.values_list("name", flat=True)) == ["recent"]
    assert m.QueuedTask.objects.count() == tasks
    assert queue_results_prune(days=1) == 1
    assert not Task.objects.exists()


def test_a_retention_below_a_day_is_refused(db: Any) -> None:
    _finished("recent", 0.5)
    with pytest.raises(ValueError):
        queue_results_prune(days=0)
    assert Task.objects.count() == 1
