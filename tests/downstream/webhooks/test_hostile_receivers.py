"""Receivers that misbehave: one that hangs, redirects, asks us to wait, answers with a
flood, and names no ASCII could hold. Each is a failure handled by the rules (retry,
never follow, obey within a cap, read a little), and nothing else is harmed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from rollsync.directory import models as m
from rollsync.webhooks.models import WebhookDelivery
from rollsync.webhooks.services import deliveries_dispatch, webhook_endpoint_add
from tests.downstream.webhooks.conftest import DAY1, DAY2, apply, pupil
from tests.downstream.webhooks.receiver import Receiver


@pytest.fixture
def other() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def subscribe(receiver: Receiver, school: m.School) -> None:
    _, receiver.secret = webhook_endpoint_add(url=receiver.url, actor="t", school=school)


def test_a_receiver_that_hangs_is_retried_with_the_same_webhook_id(
    school: m.School, receiver: Receiver, settings: Any
) -> None:
    settings.ROLLSYNC_WEBHOOK_TIMEOUT = 0.3
    subscribe(receiver, school)
    receiver.stall = threading.Event()
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    now = timezone.now()
    try:
        assert deliveries_dispatch(now=now).retrying == 1
    finally:
        receiver.stall.set()
    receiver.stall = None
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", None)
    assert delivery.last_error == "no answer in time (timeout)"
    deliveries_dispatch(now=now + timedelta(minutes=1))
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    # it got there twice (the first answer came too late); one id: the receiver can tell
    assert [r.msg_id for r in receiver.received] == [delivery.msg_id, delivery.msg_id]


def test_a_redirect_is_a_failure_and_never_followed(
    school: m.School, receiver: Receiver, other: Receiver
) -> None:
    subscribe(receiver, school)
    other.secret = receiver.secret
    receiver.answer = 307
    receiver.headers_out = {"location": other.url}
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    assert deliveries_dispatch().retrying == 1
    assert WebhookDelivery.objects.get().last_status_code == 307
    assert other.requests == 0


def test_retry_after_is_obeyed_within_a_cap(school: m.School, receiver: Receiver) -> None:
    subscribe(receiver, school)
    receiver.answer = 429
    receiver.headers_out = {"retry-after": "3600"}
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    now = timezone.now()
    deliveries_dispatch(now=now)
    delivery = WebhookDelivery.objects.get()
    assert delivery.next_attempt_at >= now + timedelta(seconds=3600)  # not the schedule's 10 s
    assert deliveries_dispatch(now=now + timedelta(minutes=59)).sent == 0
    receiver.headers_out = {"retry-after": str(10**9)}
    deliveries_dispatch(now=now + timedelta(hours=2))
    delivery.refresh_from_db()
    assert delivery.next_attempt_at <= now + timedelta(hours=2, days=1, seconds=1)


def test_a_flood_in_the_answer_is_not_read(school: m.School, receiver: Receiver) -> None:
    subscribe(receiver, school)
    receiver.answer = 500
    receiver.body_out = b"x" * 5_000_000
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    deliveries_dispatch()
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_error.startswith("answered 500: xxx")
    assert len(delivery.last_error) < 600


def test_names_in_any_script_arrive_intact_and_verified(
    school: m.School, receiver: Receiver
) -> None:
    apply(school, [pupil("P1", "Ada", "Lovelace"), pupil("P2", "Maria", "Ivanova")], DAY1)
    subscribe(receiver, school)
    apply(school, [pupil("P1", "Zoë", "Ñúñez-Øster"), pupil("P2", "Мария", "Іванова")], DAY2)
    deliveries_dispatch()
    assert receiver.refused == []
    changes = sorted(
        (c["legal_given_name"]["new"], c["legal_family_name"]["new"])
        for c in (p["data"]["changes"] for p in receiver.payloads())
    )
    assert changes == [("Zoë", "Ñúñez-Øster"), ("Мария", "Іванова")]
