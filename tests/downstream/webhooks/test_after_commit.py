"""Deliveries leave only after the commit, through the project's queue: the commit queues
the dispatcher, and the every-minute schedule sends what a crash right after the commit
left behind (the outbox rows committed with the change)."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.webhooks import tasks as webhook_tasks
from rollsync.webhooks.models import WebhookDelivery
from rollsync.webhooks.services import webhook_endpoint_add
from tests.downstream.webhooks.conftest import DAY1, apply, pupil
from tests.downstream.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_commit_queues_the_dispatcher_and_the_queue_delivers(
    school: m.School, receiver: Receiver
) -> None:
    _, receiver.secret = webhook_endpoint_add(url=receiver.url, actor="t", school=school)
    queued = OrmQ.objects.count()
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    assert receiver.requests == 0  # nothing is sent inside the change
    assert OrmQ.objects.count() == queued + 1
    tasks.run_queued()
    assert receiver.types() == ["account.created"]
    assert WebhookDelivery.objects.get().status == "succeeded"


def test_a_crash_right_after_the_commit_still_sends(
    school: m.School, receiver: Receiver, monkeypatch: Any
) -> None:
    migration = importlib.import_module("rollsync.webhooks.migrations.0002_schedule_dispatch")
    migration.add(apps, None)  # this test's database was emptied: install the schedule again
    _, receiver.secret = webhook_endpoint_add(url=receiver.url, actor="t", school=school)
    # the process dies between the commit and queueing the dispatcher: no task is queued
    monkeypatch.setattr(webhook_tasks, "enqueue_dispatch", lambda: None)
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    assert OrmQ.objects.count() == 0
    assert WebhookDelivery.objects.get().status == "pending"
    schedule = Schedule.objects.get(name=webhook_tasks.SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        webhook_tasks.DISPATCH_FUNC,
        "I",
        1,
    )
    Schedule.objects.filter(pk=schedule.pk).update(next_run=timezone.now() - timedelta(seconds=1))
    tasks.run_schedules()
    assert tasks.run_queued() == 1
    assert receiver.types() == ["account.created"]
    assert WebhookDelivery.objects.get().status == "succeeded"


def test_a_failing_queue_never_undoes_the_change(
    school: m.School, receiver: Receiver, monkeypatch: Any
) -> None:
    _, receiver.secret = webhook_endpoint_add(url=receiver.url, actor="t", school=school)

    def broken() -> None:
        raise RuntimeError("the queue is unavailable")

    monkeypatch.setattr(webhook_tasks, "enqueue_dispatch", broken)
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    assert m.Account.objects.count() == 1
    assert WebhookDelivery.objects.get().status == "pending"
