"""The webhook dispatcher on the project's queue (django-q2, docs/decisions/0043): queued
after each commit that wrote deliveries, and every minute on a schedule (migration 0002),
so a delivery whose commit was followed by a crash, or whose retry has come due, is sent.
Several dispatchers at once are safe: each takes its deliveries under a lease."""

from __future__ import annotations

from typing import Any

DISPATCH_FUNC = "rollsync.webhooks.tasks.dispatch"
SCHEDULE_NAME = "send due webhooks"


def enqueue_dispatch() -> None:
    from django_q.tasks import async_task

    async_task(DISPATCH_FUNC, group="webhooks")


def dispatch() -> dict[str, Any]:
    """The task body: send what is due now."""
    from rollsync.webhooks.services import deliveries_dispatch

    result = deliveries_dispatch()
    return {
        "sent": result.sent,
        "succeeded": result.succeeded,
        "retrying": result.retrying,
        "failed": result.failed,
        "disabled": result.disabled,
    }
