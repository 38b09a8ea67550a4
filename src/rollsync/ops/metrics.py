"""Prometheus metrics, read from the database at scrape time (docs/decisions/0074).

The web app and the workers are several processes on several hosts; a counter kept in
one process's memory would see only that process's work and restart at zero with it.
Everything here is therefore a read of what every process writes, so any one web
process answers for the whole deployment. Runs and uploads are read from the tallies
the database keeps as they are written (docs/decisions/0091), queued tasks and waiting
uploads through partial indexes: a scrape costs a handful of aggregate queries, the
same with a thousand runs or four million; `collect` never writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from rollsync.directory import models as m
from rollsync.domain.actions import COUNT_KEYS

BUCKETS = m.RUN_SECONDS_BUCKETS  # run durations, in seconds
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _runs(now: Any) -> Iterator[Metric]:
    # Read from the tallies the database keeps as runs are written (docs/decisions/0091):
    # a few rows a school, however many runs are stored.
    tallies = m.RunTally.objects.filter(runs__gt=0)
    by = (
        tallies.values("status", "school__mis", "school__la__code")
        .annotate(n=Sum("runs"))
        .order_by()
    )
    runs = CounterMetricFamily(
        "rollsync_runs",
        "Sync runs recorded, by status, the school's MIS and its LA",
        labels=["status", "mis", "la"],
    )
    failures = CounterMetricFamily(
        "rollsync_run_failures",
        "Failed sync runs, by the school's MIS and its LA",
        labels=["mis", "la"],
    )
    for row in by:
        labels = [row["status"], row["school__mis"] or "none", row["school__la__code"]]
        runs.add_metric(labels, row["n"])
        if row["status"] == m.SyncRun.Status.FAILED:
            failures.add_metric(labels[1:], row["n"])
    yield runs
    yield failures

    # durations of runs that did the work (applied, held, failed; not previews); rows
    # and the latest of the applied ones: one aggregate over the tallies
    applied = Q(status=m.SyncRun.Status.APPLIED)
    agg = tallies.filter(dry_run=False).aggregate(
        total=Coalesce(Sum("runs"), 0),
        seconds_sum=Coalesce(Sum("seconds_sum"), 0.0),
        last=Max("last_applied_at", filter=applied),
        **{f"le{i}": Coalesce(Sum(f"le_{i}"), 0) for i in range(len(BUCKETS))},
        **{key: Coalesce(Sum(f"rows_{key}", filter=applied), 0) for key in COUNT_KEYS},
    )
    buckets = [(str(b), agg[f"le{i}"]) for i, b in enumerate(BUCKETS)]
    buckets.append(("+Inf", agg["total"]))
    hist = HistogramMetricFamily(
        "rollsync_run_duration_seconds", "How long sync runs took (previews left out)"
    )
    hist.add_metric([], buckets, sum_value=float(agg["seconds_sum"]))
    yield hist

    rows = CounterMetricFamily(
        "rollsync_rows_processed",
        "Records of applied runs, by what the run did with them (created, unchanged, ...)",
        labels=["action"],
    )
    for key in COUNT_KEYS:
        rows.add_metric([key], agg[key] or 0)
    yield rows

    last = agg["last"]
    ago = GaugeMetricFamily(
        "rollsync_last_applied_run_age_seconds", "Seconds since the latest applied run"
    )
    ago.add_metric([], (now - last).total_seconds() if last else float("nan"))
    yield ago


def _queue(now: Any) -> Iterator[Metric]:
    live = m.QueuedTask.objects.filter(
        status__in=[m.QueuedTask.Status.QUEUED, m.QueuedTask.Status.RUNNING]
    )
    by = live.values("kind", "status").annotate(n=Count("pk"), oldest=Min("enqueued_at"))
    depth = GaugeMetricFamily(
        "rollsync_queue_depth",
        "Background tasks waiting or running, by kind and status",
        labels=["kind", "status"],
    )
    age = GaugeMetricFamily(
        "rollsync_queue_oldest_age_seconds",
        "Age of the oldest task waiting or running, by kind and status",
        labels=["kind", "status"],
    )
    for row in by.order_by():
        depth.add_metric([row["kind"], row["status"]], row["n"])
        age.add_metric([row["kind"], row["status"]], (now - row["oldest"]).total_seconds())
    yield depth
    yield age

    failed = m.QueuedTask.objects.filter(status=m.QueuedTask.Status.FAILED)
    tasks = CounterMetricFamily(
        "rollsync_tasks_failed", "Background tasks failed for good, by kind", labels=["kind"]
    )
    for row in failed.values("kind").annotate(n=Count("pk")).order_by():
        tasks.add_metric([row["kind"]], row["n"])
    yield tasks

    stale = timezone.now() - timedelta(minutes=15)
    # `has_run` is kept by the database (a partial index holds only the waiting uploads)
    waiting = m.Upload.objects.filter(has_run=False, purged_at__isnull=True).exclude(
        outcome__in=["pull failed", "abandoned"]
    )
    up = waiting.aggregate(n=Count("pk"), old=Count("pk", filter=Q(received_at__lt=stale)))
    uploads = GaugeMetricFamily(
        "rollsync_uploads_without_run", "Uploads stored with no run yet", labels=["age"]
    )
    uploads.add_metric(["any"], up["n"])
    uploads.add_metric(["over_15m"], up["old"])
    yield uploads


def _retention() -> Iterator[Metric]:
    agg = m.UploadTally.objects.aggregate(
        kept=Coalesce(Sum("kept_bytes"), 0),
        purged=Coalesce(Sum("purged"), 0),
        uploads=Coalesce(Sum("uploads"), 0),
    )
    kept = GaugeMetricFamily("rollsync_upload_bytes_kept", "Bytes of raw uploads still kept")
    kept.add_metric([], agg["kept"])
    yield kept
    count = GaugeMetricFamily(
        "rollsync_uploads",
        "Uploads recorded, by whether their file is kept",
        labels=["file"],
    )
    count.add_metric(["kept"], agg["uploads"] - agg["purged"])
    count.add_metric(["purged"], agg["purged"])
    yield count


class DatabaseCollector(Collector):
    """Reads every figure from the database when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from _runs(now)
        yield from _queue(now)
        yield from _retention()
        schools = GaugeMetricFamily("rollsync_schools", "Schools, by their LA", labels=["la"])
        for row in (
            m.School.objects.values(la_code=F("la__code")).annotate(n=Count("pk")).order_by()
        ):
            schools.add_metric([row["la_code"]], row["n"])
        yield schools


def exposition() -> bytes:
    """The metrics in Prometheus' text format (a fresh registry: nothing is kept between
    scrapes, in this process or any other)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
