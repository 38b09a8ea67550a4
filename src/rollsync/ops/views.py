"""/healthz, /readyz and /metrics: for the load balancer, the orchestrator and Prometheus.
None of them needs a session; none writes."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from rollsync.ops import health, metrics

log = logging.getLogger("rollsync.ops")
LOOPBACK = frozenset({"127.0.0.1", "::1"})
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up and answering (touches nothing else)."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Ready for traffic: the database answers, every migration is applied, and the
    queue's tables are readable. 503 with what failed otherwise."""
    checks = health.readiness()
    ok = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )


def metrics_allowed(request: HttpRequest) -> bool:
    """With ROLLSYNC_METRICS_TOKEN set, only a request bearing it; without, only a direct
    loopback request (one that came through a proxy carries a forwarding header, and a
    proxy on the same host would otherwise make every visitor look local)."""
    token: str = getattr(settings, "ROLLSYNC_METRICS_TOKEN", "")
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    meta: dict[str, Any] = request.META
    return meta.get("REMOTE_ADDR") in LOOPBACK and not any(h in meta for h in PROXY_HEADERS)


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)
