"""Two dispatchers at once (two workers): each delivery is sent once, and an account's
events still arrive in order. PostgreSQL (row locks, SKIP LOCKED); an in-memory SQLite
database is not shared between threads."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection, connections

from rollsync.directory import models as m
from rollsync.webhooks.models import WebhookDelivery
from rollsync.webhooks.services import DispatchResult, deliveries_dispatch, webhook_endpoint_add
from tests.downstream.webhooks.conftest import DAY1, DAY2, apply, group_rows, pupil
from tests.downstream.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_dispatchers_at_once_send_each_delivery_once_in_order(
    school: m.School, receiver: Receiver, monkeypatch: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs a database shared between threads (PostgreSQL)")
    from rollsync.webhooks import tasks as webhook_tasks

    monkeypatch.setattr(webhook_tasks, "enqueue_dispatch", lambda: None)
    _, receiver.secret = webhook_endpoint_add(url=receiver.url, actor="t", school=school)
    people = [pupil(f"P{i}", f"Given{i}", f"Family{i}") for i in range(40)]
    apply(school, people, DAY1)
    apply(school, group_rows([("G1", "One", f"P{i}") for i in range(40)]), DAY1, report="groups")
    apply(school, [{**p, "legal_family_name": p["legal_family_name"] + "x"} for p in people], DAY2)
    total = WebhookDelivery.objects.count()
    assert total == 120
    start = threading.Barrier(2)
    results: list[DispatchResult] = []

    def worker() -> None:
        try:
            start.wait()
            mine = DispatchResult()
            while WebhookDelivery.objects.filter(status="pending").exists():
                mine.sent += deliveries_dispatch(limit=5).sent  # small passes: interleaved
            results.append(mine)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.sent > 0 for r in results) == [True, True]  # both took part
    assert sum(r.sent for r in results) == 120
    assert Counter(r.msg_id for r in receiver.received) == Counter(
        set(WebhookDelivery.objects.values_list("msg_id", flat=True))
    )
    assert len(receiver.received) == total
    orders = receiver.by_account()
    assert len(orders) == 40
    assert all(
        v == ["account.created", "membership.added", "account.updated"] for v in orders.values()
    )
