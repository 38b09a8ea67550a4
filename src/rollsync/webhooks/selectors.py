"""Webhook reads: the endpoints a principal may see, and an endpoint's delivery log.

A school-scoped endpoint is seen by whoever sees its school; an LA-scoped one by whoever
has the LA's view (an LA admin, the region operator), both through the tenancy
chokepoint (`access.selectors`). Secrets are never read here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from rollsync.access.roles import Action
from rollsync.access.selectors import las_for, schools_for
from rollsync.webhooks.models import WebhookDelivery, WebhookEndpoint


def endpoints_for(principal: Any, *, removed: bool = False) -> QuerySet[WebhookEndpoint]:
    seen = WebhookEndpoint.objects.filter(
        Q(school__in=schools_for(principal, Action.VIEW).values("pk"))
        | Q(la__in=las_for(principal, Action.DASHBOARD).values("pk"))
    ).select_related("school", "la")
    if not removed:
        seen = seen.exclude(state=WebhookEndpoint.State.REMOVED)
    return seen.order_by("pk")


def endpoint_for(principal: Any, endpoint_id: int) -> WebhookEndpoint | None:
    return endpoints_for(principal, removed=True).filter(pk=endpoint_id).first()


def endpoint_row(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.pk,
        "url": endpoint.url,
        "school": endpoint.school.urn if endpoint.school else None,
        "la": endpoint.la.code if endpoint.la else None,
        "state": endpoint.state,
        "state_reason": endpoint.state_reason,
        "failing_since": _iso(endpoint.failing_since),
        "previous_secret_until": _iso(endpoint.previous_expires_at),
        "created_at": _iso(endpoint.created_at),
        "created_by": endpoint.created_by,
        "pending": endpoint.deliveries.filter(status=WebhookDelivery.Status.PENDING).count(),
        "failed": endpoint.deliveries.filter(status=WebhookDelivery.Status.FAILED).count(),
    }


def deliveries_of(
    endpoint: WebhookEndpoint, *, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest deliveries first, each with its attempts (the delivery log)."""
    rows = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("account")
    if status:
        rows = rows.filter(status=status)
    out = []
    for d in rows.order_by("-pk").prefetch_related("attempt_log")[:limit]:
        out.append(
            {
                "id": d.pk,
                "webhook_id": d.msg_id,
                "type": d.type,
                "account": d.account.username if d.account else None,
                "status": d.status,
                "attempts": d.attempts,
                "next_attempt_at": _iso(d.next_attempt_at)
                if d.status == WebhookDelivery.Status.PENDING
                else None,
                "last_status_code": d.last_status_code,
                "last_error": d.last_error,
                "created_at": _iso(d.created_at),
                "delivered_at": _iso(d.delivered_at),
                "log": [
                    {
                        "at": _iso(a.at),
                        "status_code": a.status_code,
                        "outcome": a.outcome,
                        "error": a.error,
                    }
                    for a in sorted(d.attempt_log.all(), key=lambda a: a.pk)
                ],
            }
        )
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
