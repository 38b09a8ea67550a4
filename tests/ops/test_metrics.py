"""/metrics: Prometheus' text format, every figure read from the database at scrape time
(so it holds for every web and worker process at once), and only for who may read it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Count
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from rollsync.directory import models as m
from rollsync.directory.services.uploads import upload_queue, upload_store
from rollsync.ops import metrics
from tests.access.helpers import DAY3, World, class_list, csv_bytes, sync

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}


def scrape(client: Client, **extra: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", **{**LOCAL, **extra})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def values(scraped: dict[Any, float], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in scraped.items() if n == name}


def test_runs_by_status_mis_and_la_equal_the_database(world: World, client: Client) -> None:
    scraped = scrape(client)
    expected = {
        (
            ("la", r["school__la__code"]),
            ("mis", r["school__mis"] or "none"),
            ("status", r["status"]),
        ): r["n"]
        for r in m.SyncRun.objects.values("status", "school__mis", "school__la__code").annotate(
            n=Count("pk")
        )
    }
    assert values(scraped, "rollsync_runs_total") == expected
    assert sum(expected.values()) == m.SyncRun.objects.count() > 0
    assert {k for (_, _, (_, s)) in expected for k in [s]} >= {"applied", "held"}


def test_a_new_run_and_a_failure_show_at_the_next_scrape(world: World, client: Client) -> None:
    school = world.home.school
    before = scrape(client)
    failing = upload_store(
        school=school,
        payload=b"not,a,students\nfile\n",
        fmt="csv",
        report="students",
        filename="broken.csv",
        source="cli",
    )
    from rollsync.directory.services.sync import sync_run_execute

    run = sync_run_execute(upload=failing, as_of=DAY3, actor="test")
    assert run.status == "failed"
    after = scrape(client)
    key = ("rollsync_run_failures_total", (("la", "202"), ("mis", school.mis or "none")))
    assert after[key] - before.get(key, 0) == 1
    runs_key = (
        "rollsync_runs_total",
        (("la", "202"), ("mis", school.mis or "none"), ("status", "failed")),
    )
    assert after[runs_key] - before.get(runs_key, 0) == 1
    # nothing else moved: the other LA's counters are the same
    foreign = {k: v for k, v in after.items() if ("la", "303") in k[1]}
    assert foreign == {k: v for k, v in before.items() if ("la", "303") in k[1]}


def test_durations_and_rows_processed(world: World, client: Client) -> None:
    scraped = scrape(client)
    done = m.SyncRun.objects.filter(dry_run=False)
    assert scraped[("rollsync_run_duration_seconds_count", ())] == done.count()
    assert scraped[("rollsync_run_duration_seconds_sum", ())] == pytest.approx(
        sum(done.values_list("seconds", flat=True))
    )
    inf = scraped[("rollsync_run_duration_seconds_bucket", (("le", "+Inf"),))]
    assert inf == done.count()
    small = scraped[("rollsync_run_duration_seconds_bucket", (("le", "0.1"),))]
    assert small == done.filter(seconds__lte=0.1).count()
    applied = m.SyncRun.objects.filter(dry_run=False, status="applied")
    for key in ("created", "unchanged", "unallocated", "updated"):
        total = sum(int(c.get(key, 0)) for c in applied.values_list("counts", flat=True))
        assert scraped[("rollsync_rows_processed_total", (("action", key),))] == total
    assert scraped[("rollsync_rows_processed_total", (("action", "created"),))] > 0


def test_queue_depth_and_oldest_age(world: World, client: Client) -> None:
    assert values(scrape(client), "rollsync_queue_depth") == {}
    school = world.home.school
    ids = []
    for i in range(3):
        up = upload_store(
            school=school,
            payload=csv_bytes("students", class_list(f"Q{i}", "H")),
            fmt="csv",
            report="students",
            filename=f"q{i}.csv",
            source="web",
        )
        ids.append(upload_queue(upload=up, actor="test", as_of=DAY3))
    m.QueuedTask.objects.filter(pk=ids[0]).update(enqueued_at=timezone.now() - timedelta(hours=2))
    scraped = scrape(client)
    labels = (("kind", "sync"), ("status", "queued"))
    assert scraped[("rollsync_queue_depth", labels)] == 3
    assert 7200 <= scraped[("rollsync_queue_oldest_age_seconds", labels)] < 7200 + 600


def test_metrics_read_the_database_with_a_bounded_number_of_queries(
    world: World, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(12):
        metrics.exposition()
    sync(world.sibling, class_list("Z", "S"), DAY3)
    with django_assert_max_num_queries(12):
        metrics.exposition()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "meta",
    [
        {"REMOTE_ADDR": "10.0.0.5"},
        {"REMOTE_ADDR": "192.168.1.1"},
        # loopback, but through a proxy on the same host: the visitor is not local
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_REAL_IP": "203.0.113.9"},
        {"REMOTE_ADDR": "::1", "HTTP_FORWARDED": "for=203.0.113.9"},
    ],
)
def test_metrics_refused_to_all_but_a_direct_loopback_request(client: Client, meta: Any) -> None:
    response = client.get("/metrics", **meta)
    assert response.status_code == 403
    assert b"rollsync_" not in response.content


@pytest.mark.django_db
def test_metrics_with_a_token_need_the_token(client: Client, settings: Any) -> None:
    settings.ROLLSYNC_METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics", **LOCAL).status_code == 403  # loopback is not enough now
    for wrong in ("Bearer wrong", "s3cret-scrape-token", "Bearer s3cret-scrape-toke", ""):
        assert client.get("/metrics", HTTP_AUTHORIZATION=wrong, **LOCAL).status_code == 403
    ok = client.get(
        "/metrics",
        HTTP_AUTHORIZATION="Bearer s3cret-scrape-token",
        REMOTE_ADDR="10.0.0.5",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    assert ok.status_code == 200
    assert b"rollsync_runs_total" in ok.content or b"# HELP rollsync_runs" in ok.content
