"""Retention of the webhook outbox: deliveries finished (delivered, failed for good,
cancelled by their endpoint's removal) longer ago than ROLLSYNC_WEBHOOK_RETENTION_DAYS go
with their attempts; pending and retrying ones never, however old, nor recent ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.ops.services import webhook_deliveries_prune
from rollsync.webhooks.models import WebhookAttempt, WebhookDelivery
from rollsync.webhooks.services import (
    deliveries_dispatch,
    webhook_endpoint_add,
    webhook_endpoint_remove,
)
from tests.directory.helpers import Cli
from tests.downstream.webhooks.conftest import DAY1, apply, pupil
from tests.downstream.webhooks.receiver import Receiver

NAMES = [("Ada", "Lovelace"), ("Alan", "Turing"), ("Mary", "Somerville"), ("Charles", "Babbage")]
NAMES += [("Grace", "Hopper")]


def _pupils(n: int) -> list[dict[str, Any]]:
    return [pupil(f"P{i + 1}", *NAMES[i]) for i in range(n)]


def _by_pupil() -> dict[tuple[str, int], WebhookDelivery]:
    """Each delivery by (the pupil's MIS id, its endpoint)."""
    mis = dict(m.Allocation.objects.values_list("account_id", "mis_id"))
    return {(mis[d.account_id], d.endpoint_id): d for d in WebhookDelivery.objects.all()}


def _kept() -> dict[int, Any]:
    return {
        d.pk: (d.status, d.attempts, sorted(d.attempt_log.values_list("pk", flat=True)))
        for d in WebhookDelivery.objects.all()
    }


def test_finished_deliveries_go_with_their_attempts_pending_ones_never(
    school: m.School, receiver: Receiver, settings: Any
) -> None:
    settings.ROLLSYNC_WEBHOOK_RETENTION_DAYS = 30
    endpoint, receiver.secret = webhook_endpoint_add(url=receiver.url, actor="t", school=school)
    apply(school, _pupils(2), DAY1)
    assert deliveries_dispatch().succeeded == 2  # P1, P2 delivered

    receiver.answer = 500
    apply(school, _pupils(3), DAY1)
    now = timezone.now()
    for step in range(12):  # P3 tried until it fails for good
        deliveries_dispatch(now=now + timedelta(days=step))
        if WebhookDelivery.objects.filter(status="failed").exists():
            break
    apply(school, _pupils(4), DAY1)
    assert deliveries_dispatch(now=timezone.now() + timedelta(days=30)).retrying == 1  # P4
    removed, _ = webhook_endpoint_add(url=receiver.url, actor="t", school=school)
    apply(school, _pupils(5), DAY1)
    webhook_endpoint_remove(endpoint_id=removed.pk, actor="t")  # its P5 delivery cancelled

    old = timezone.now() - timedelta(days=40)
    WebhookDelivery.objects.update(created_at=old)
    WebhookDelivery.objects.filter(delivered_at__isnull=False).update(delivered_at=old)
    WebhookAttempt.objects.update(at=old)
    d = _by_pupil()
    assert {k: v.status for k, v in d.items()} == {
        ("P1", endpoint.pk): "succeeded",
        ("P2", endpoint.pk): "succeeded",
        ("P3", endpoint.pk): "failed",
        ("P4", endpoint.pk): "pending",
        ("P5", endpoint.pk): "pending",
        ("P5", removed.pk): "cancelled",
    }
    assert d["P3", endpoint.pk].attempts > 1 and d["P4", endpoint.pk].attempts == 1
    # within the period: P2 delivered 5 days ago, P3's last try 5 days ago: both kept
    recent = timezone.now() - timedelta(days=5)
    p3 = d["P3", endpoint.pk]
    WebhookDelivery.objects.filter(pk=d["P2", endpoint.pk].pk).update(delivered_at=recent)
    WebhookAttempt.objects.filter(pk=p3.attempt_log.latest("pk").pk).update(at=recent)
    to_go = {d[k].pk for k in [("P1", endpoint.pk), ("P5", removed.pk)]}
    assert WebhookAttempt.objects.filter(delivery_id__in=to_go).count() == 1  # P1's one try
    before = _kept()

    dry = Cli().json("retention", "run", "--dry-run")["webhook_deliveries"]
    assert (dry["days"], dry["deliveries"], dry["attempts"]) == (30, 2, 1)
    assert (
        _kept() == before
        and not m.AuditEvent.objects.filter(action="webhook_deliveries_pruned").exists()
    )

    tasks.purge_expired_uploads()  # the daily job
    assert _kept() == {pk: row for pk, row in before.items() if pk not in to_go}
    assert not WebhookAttempt.objects.filter(delivery_id__in=to_go).exists()
    event = m.AuditEvent.objects.get(action="webhook_deliveries_pruned")
    assert (event.changes["deliveries"], event.changes["attempts"]) == (2, 1)
    assert webhook_deliveries_prune(actor="t").deliveries == []  # nothing more yet

    # P3's last try ages past the period: it goes with every attempt; pending ones stay
    WebhookAttempt.objects.update(at=timezone.now() - timedelta(days=31))
    again = webhook_deliveries_prune(actor="t")
    assert (again.deliveries, again.attempts) == ([p3.pk], p3.attempts)
    assert not WebhookAttempt.objects.filter(delivery_id=p3.pk).exists()
    assert _kept() == {pk: row for pk, row in before.items() if pk not in to_go and pk != p3.pk}
    assert {s for s, _, _ in _kept().values()} == {"pending", "succeeded"}  # P4, P5 and P2
    assert m.AuditEvent.objects.filter(action="webhook_deliveries_pruned").count() == 2
