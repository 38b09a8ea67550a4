"""Reads for downstream clients (never their secrets: only hashes are kept)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django.db.models import Max, QuerySet

from rollsync.access.selectors import restrict
from rollsync.directory import models as m
from rollsync.directory.exports import roster_read
from rollsync.downstream.models import DownstreamClient
from rollsync.downstream.oneroster.objects import Bundles
from rollsync.export.common import iso_time
from rollsync.export.oneroster import oneroster_files

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def oneroster_bundles(*, caller: Any, today: date) -> Bundles:
    """What a OneRoster client may read, as the CSV export writes it: the bulk bundle
    of its school or LA, everyone placed there or who lost a place there (a delta from
    the beginning of time: `active` or `tobedeleted`), and each school's last applied
    sync. Read through the tenancy chokepoint with the caller as the principal."""
    client = caller.client
    scope = {"urn": client.school.urn} if client.school_id else {"la_code": client.la.code}
    bulk = roster_read(principal=caller, today=today, **scope)
    people = roster_read(principal=caller, today=today, since=_EPOCH, **scope)
    runs = (
        restrict(m.SyncRun.objects.all(), caller)
        .filter(status=m.SyncRun.Status.APPLIED, dry_run=False, applied_at__isnull=False)
        .values("school__urn")
        .annotate(last=Max("applied_at"))
    )
    return Bundles(
        bulk=oneroster_files(bulk),
        people=oneroster_files(people),
        org_modified={r["school__urn"]: iso_time(r["last"]) for r in runs},
    )
