"""Reads for downstream clients (never their secrets: only hashes are kept)."""

from __future__ import annotations

from django.db.models import QuerySet

from rollsync.directory import models as m
from rollsync.downstream.models import DownstreamClient


def downstream_clients(
    *, school: m.School | None = None, la: m.LocalAuthority | None = None
) -> QuerySet[DownstreamClient]:
    """Every client (revoked ones too), oldest first, optionally of one school or LA."""
    qs = DownstreamClient.objects.select_related("school", "la").order_by("pk")
    if school is not None:
        qs = qs.filter(school=school)
    if la is not None:
        qs = qs.filter(la=la)
    return qs
