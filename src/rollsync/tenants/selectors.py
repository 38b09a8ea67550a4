"""Reads for tenant provisioning: connections (never their credential) and run reports."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Q, QuerySet

from rollsync.access.selectors import restrict
from rollsync.directory import models as m
from rollsync.directory.secrets import SecretsUnreadable, unseal

from .models import ProvisionRun, TenantConnection


def connection_find(
    *, principal: Any, kind: str, urn: str | None = None, la_code: str | None = None
) -> TenantConnection | None:
    """The connection of a school or LA the principal may see, or None."""
    schools = restrict(m.School.objects.all(), principal)
    found = TenantConnection.objects.select_related("school", "la").filter(kind=kind)
    if urn is not None:
        return found.filter(school__in=schools, school__urn=urn).first()
    las = schools.values_list("la_id", flat=True)
    return found.filter(la__in=las, la__code=la_code).first()


def connections_list(*, principal: Any) -> QuerySet[TenantConnection]:
    schools = restrict(m.School.objects.all(), principal)
    las = schools.values_list("la_id", flat=True)
    return (
        TenantConnection.objects.select_related("school", "la")
        .filter(Q(school__in=schools) | Q(la__in=las))
        .order_by("kind", "la__code", "school__urn")
    )


def connection_view(connection: TenantConnection) -> dict[str, Any]:
    """What an operator may read: the settings, who the credential names (the service
    account's email, the app's client id), never the credential itself."""
    settings = dict(connection.settings)
    credential = ""
    if connection.enabled:
        try:
            sealed = unseal(connection.secrets)
        except SecretsUnreadable:
            credential = "unreadable with this install's keys: connect again"
        else:
            if "service_account" in sealed:
                credential = f"service account {json.loads(sealed['service_account']).get('client_email', '')}"
            elif "client_secret" in sealed:
                credential = (
                    f"client secret for app {settings.get('client_id', '')} (stored encrypted)"
                )
    last = connection.runs.order_by("-started_at", "-pk").first()
    return {
        "id": connection.pk,
        "kind": connection.kind,
        "school": connection.school.urn if connection.school else None,
        "la": connection.la.code if connection.la else None,
        "enabled": connection.enabled,
        "settings": settings,
        "credential": credential,
        "planned_at": connection.planned_at.isoformat() if connection.planned_at else None,
        "schedule": connection.schedule,
        "next_run_at": connection.next_run_at.isoformat() if connection.next_run_at else None,
        "created_at": connection.created_at.isoformat(),
        "secret_replaced_at": connection.secret_replaced_at.isoformat()
        if connection.secret_replaced_at
        else None,
        "disconnected_at": connection.disconnected_at.isoformat()
        if connection.disconnected_at
        else None,
        "last_run": run_view(last, with_actions=False) if last else None,
    }


def runs_list(*, connection: TenantConnection, limit: int = 20) -> list[ProvisionRun]:
    return list(connection.runs.order_by("-started_at", "-pk")[:limit])


def run_find(*, principal: Any, pk: int) -> ProvisionRun | None:
    run = (
        ProvisionRun.objects.select_related("connection", "connection__school", "connection__la")
        .filter(pk=pk)
        .first()
    )
    if run is None:
        return None
    c = run.connection
    visible = connection_find(
        principal=principal,
        kind=c.kind,
        urn=c.school.urn if c.school else None,
        la_code=c.la.code if c.la else None,
    )
    return run if visible is not None and visible.pk == c.pk else None


def run_view(run: ProvisionRun, *, with_actions: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": run.pk,
        "connection": run.connection_id,
        "kind": run.connection.kind,
        "dry_run": run.dry_run,
        "status": run.status,
        "actor": run.actor,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "counts": {k: v for k, v in run.counts.items() if v},
        "pushed": run.pushed,
        "failed": run.failed,
        "requests": run.requests,
        "throttled": run.throttled,
        "error": run.error,
    }
    if with_actions:
        out["actions"] = run.actions
    return out
