"""/metrics reads tallies the database keeps as runs and uploads are written
(docs/decisions/0091): a scrape costs the same queries with 3 runs or 300, and every
figure equals a plain count over the runs and uploads themselves, whatever wrote them
(the services, a bulk insert, a `QuerySet.update`, a delete)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollsync.directory import models as m
from rollsync.directory.services import tallies
from rollsync.directory.services.schools import school_add
from rollsync.directory.services.uploads import upload_store
from rollsync.domain.actions import COUNT_KEYS
from rollsync.ops import metrics
from tests.ops.test_metrics import scrape

pytestmark = pytest.mark.django_db
STATUSES = [s.value for s in m.SyncRun.Status]


def _schools() -> list[m.School]:
    return [
        school_add(urn="100001", la_code="202", estab="2001", name="A", la_name="N", mis="sims"),
        school_add(urn="100002", la_code="202", estab="2002", name="B", mis="arbor"),
        school_add(urn="200001", la_code="303", estab="3001", name="C", la_name="S"),
    ]


def _make_runs(schools: list[m.School], n: int, seed: int) -> None:
    """`n` runs (and their uploads) of every status, bulk-inserted as a migration or a
    restore might, with seconds around every bucket's bound and odd counts."""
    rnd = random.Random(seed)
    uploads = m.Upload.objects.bulk_create(
        [
            m.Upload(
                school=rnd.choice(schools),
                source="test",
                fmt="csv",
                size=rnd.randrange(0, 5000),
                sha256="0" * 64,
                data=b"",
            )
            for _ in range(n)
        ]
    )
    bounds = [*m.RUN_SECONDS_BUCKETS, 0.0, 0.05, 0.1000001, 601.0, 5000.0]
    now = timezone.now()
    runs = []
    for upload in uploads:
        status = rnd.choice(STATUSES)
        counts: dict[str, Any] = {k: rnd.randrange(0, 40) for k in rnd.sample(COUNT_KEYS, 4)}
        if rnd.random() < 0.1:
            counts["created"] = "not a number"  # never from a run, but counted as 0
        runs.append(
            m.SyncRun(
                upload=upload,
                school=upload.school,
                status=status,
                dry_run=status == "preview" or rnd.random() < 0.05,
                as_of=now.date(),
                counts=counts,
                seconds=rnd.choice(bounds),
                applied_at=now - timedelta(seconds=rnd.randrange(10, 10**6))
                if status == "applied"
                else None,
            )
        )
    m.SyncRun.objects.bulk_create(runs)


def _plain(now: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The figures by plain counts over every run and upload (the old scrape's queries)."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for row in m.SyncRun.objects.values("status", "school__mis", "school__la__code").annotate(
        n=Count("pk")
    ):
        mis, la = row["school__mis"] or "none", row["school__la__code"]
        out[("rollsync_runs_total", (("la", la), ("mis", mis), ("status", row["status"])))] = row[
            "n"
        ]
        if row["status"] == "failed":
            out[("rollsync_run_failures_total", (("la", la), ("mis", mis)))] = row["n"]
    done = list(m.SyncRun.objects.filter(dry_run=False).values_list("seconds", flat=True))
    for b in m.RUN_SECONDS_BUCKETS:
        out[("rollsync_run_duration_seconds_bucket", (("le", str(b)),))] = sum(
            1 for s in done if s <= b
        )
    out[("rollsync_run_duration_seconds_bucket", (("le", "+Inf"),))] = len(done)
    out[("rollsync_run_duration_seconds_count", ())] = len(done)
    out[("rollsync_run_duration_seconds_sum", ())] = pytest.approx(sum(done))
    applied = m.SyncRun.objects.filter(dry_run=False, status="applied")
    for key in COUNT_KEYS:
        out[("rollsync_rows_processed_total", (("action", key),))] = sum(
            v if isinstance(v := c.get(key, 0), int) else 0
            for c in applied.values_list("counts", flat=True)
        )
    last = max(applied.values_list("applied_at", flat=True), default=None)
    out[("rollsync_last_applied_run_age_seconds", ())] = (
        pytest.approx((now - last).total_seconds(), abs=120) if last else None
    )
    uploads = m.Upload.objects
    out[("rollsync_uploads", (("file", "kept"),))] = uploads.filter(purged_at=None).count()
    out[("rollsync_uploads", (("file", "purged"),))] = uploads.exclude(purged_at=None).count()
    out[("rollsync_upload_bytes_kept", ())] = sum(
        uploads.filter(purged_at=None).values_list("size", flat=True)
    )
    waiting = uploads.filter(runs__isnull=True, purged_at__isnull=True).exclude(
        outcome__in=["pull failed", "abandoned"]
    )
    out[("rollsync_uploads_without_run", (("age", "any"),))] = waiting.count()
    return out


def _assert_scrape_equals_plain(client: Any) -> None:
    scraped = scrape(client)
    expected = _plain(timezone.now())
    for key, value in expected.items():
        if value is None:  # no applied run: NaN
            assert scraped[key] != scraped[key], key
        else:
            assert scraped.get(key, 0) == value, key
    # no label set the plain counts lack (a status with no runs left shows nothing)
    for name in ("rollsync_runs_total", "rollsync_run_failures_total"):
        assert {k for k in scraped if k[0] == name} == {k for k in expected if k[0] == name}


def _tally_rows() -> list[tuple[Any, ...]]:
    fields = [f.attname for f in m.RunTally._meta.fields if f.attname != "id"]
    at = fields.index("seconds_sum")  # a float added and taken away: equal to 1e-6
    runs = sorted(
        (*r[:at], round(r[at], 6), *r[at + 1 :])
        for r in m.RunTally.objects.filter(runs__gt=0).values_list(*fields)
    )
    ups = sorted(
        tuple(r)
        for r in m.UploadTally.objects.filter(uploads__gt=0).values_list(
            "school_id", "uploads", "purged", "kept_bytes"
        )
    )
    has_run = sorted(m.Upload.objects.values_list("pk", "has_run"))
    return [runs, ups, has_run]


def _scrape_queries() -> int:
    with CaptureQueriesContext(connection) as ctx:
        metrics.exposition()
    # never the runs themselves (four million a year): their tallies only
    run_table = m.SyncRun._meta.db_table
    assert not [q["sql"] for q in ctx.captured_queries if run_table in q["sql"]]
    return len(ctx.captured_queries)


def test_a_scrape_costs_the_same_queries_with_3_runs_and_300(client: Any) -> None:
    schools = _schools()
    _make_runs(schools, 3, seed=1)
    few = _scrape_queries()
    _assert_scrape_equals_plain(client)
    _make_runs(schools, 297, seed=2)
    assert m.SyncRun.objects.count() == 300
    assert _scrape_queries() == few
    _assert_scrape_equals_plain(client)


def test_every_kind_of_write_keeps_the_tallies_equal_to_a_recount(client: Any) -> None:
    schools = _schools()
    _make_runs(schools, 120, seed=3)
    rnd = random.Random(4)
    runs = list(m.SyncRun.objects.order_by("pk"))
    now = timezone.now()
    for run in rnd.sample(runs, 40):  # saved whole, as the services save a run
        if run.status != "applied":  # an applied run never changes status
            run.status = rnd.choice(STATUSES)
        run.seconds = rnd.choice([0.0, 0.3, 7.0, 900.0])
        run.counts = {"created": rnd.randrange(0, 9), "rejected": 1}
        run.applied_at = now if run.status == "applied" else run.applied_at
        run.save()
    m.SyncRun.objects.filter(status="held").update(status="superseded")  # a bulk update
    m.SyncRun.objects.filter(pk__in=[r.pk for r in runs[:5]]).update(seconds=0.2)
    m.SyncRun.objects.filter(pk__in=[r.pk for r in runs[-7:]]).delete()
    m.SyncRun.objects.filter(pk=runs[10].pk).update(settled_mark=99)  # an unwatched column
    m.Upload.objects.filter(pk__in=[r.upload_id for r in runs[20:30]]).update(
        purged_at=now, data=b""
    )
    m.Upload.objects.filter(pk=runs[30].upload_id).update(size=123456)
    # an upload with no run, one abandoned, one that failed to pull
    for outcome in ("received", "abandoned", "pull failed"):
        up = upload_store(
            school=schools[0], payload=b"x,y\n", fmt="csv", report="students", source="test"
        )
        m.Upload.objects.filter(pk=up.pk).update(outcome=outcome)
    _assert_scrape_equals_plain(client)
    kept = _tally_rows()
    tallies.tallies_recount()  # everything counted afresh from the rows
    assert _tally_rows() == kept
    _assert_scrape_equals_plain(client)


def test_a_rolled_back_run_leaves_no_trace_in_the_tallies(client: Any) -> None:
    from django.db import transaction

    schools = _schools()
    _make_runs(schools, 10, seed=5)
    kept = _tally_rows()
    with pytest.raises(RuntimeError), transaction.atomic():
        _make_runs(schools, 10, seed=6)
        m.SyncRun.objects.update(status="failed")
        raise RuntimeError("rolled back")
    assert _tally_rows() == kept
    _assert_scrape_equals_plain(client)


def test_the_triggers_are_installed_after_migrate_and_reinstalled_when_lost() -> None:
    assert set(tallies.TRIGGERS) <= tallies._installed()
    assert tallies.tallies_ensure() is False  # nothing to do
    schools = _schools()
    _make_runs(schools, 20, seed=7)
    with connection.cursor() as cur:  # as a table SQLite remade would lose it
        if connection.vendor == "postgresql":
            cur.execute(f"DROP TRIGGER {tallies.TRIGGERS[0]} ON {tallies.RUN}")
        else:
            cur.execute(f"DROP TRIGGER {tallies.TRIGGERS[0]}")
    _make_runs(schools, 5, seed=8)  # not counted while the trigger is gone
    assert m.RunTally.objects.aggregate(n=Count("pk", filter=Q(runs__gt=0)))["n"] >= 1
    assert sum(m.RunTally.objects.values_list("runs", flat=True)) == 20
    assert tallies.tallies_ensure() is True
    assert sum(m.RunTally.objects.values_list("runs", flat=True)) == 25
    assert set(tallies.TRIGGERS) <= tallies._installed()


def test_the_services_runs_keep_the_tallies_equal_to_a_recount(world: Any, client: Any) -> None:
    """A world synced through the real services (applied, held, approved, failed runs, a
    queued task): the tallies the triggers kept are what a recount finds."""
    from rollsync.directory.services.sync import sync_run_execute

    school = world.home.school
    broken = upload_store(
        school=school, payload=b"not,a,students\nfile\n", fmt="csv", report="students"
    )
    assert sync_run_execute(upload=broken, actor="t").status == "failed"
    assert m.SyncRun.objects.filter(status__in=["applied", "failed"]).count() >= 2
    kept = _tally_rows()
    tallies.tallies_recount()
    assert _tally_rows() == kept
    _assert_scrape_equals_plain(client)
