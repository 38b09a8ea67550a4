"""A /metrics scrape with many stored runs (on demand, PostgreSQL:
`python -m bench.metrics_scrape --database-url postgres://…/scratch --runs 1000000`;
that database is flushed). Loads `--schools` schools and `--runs` runs with their
uploads by `generate_series` (the tally triggers off, then the tallies counted in one
pass, as `migrate` does for a database that already holds runs), then times the scrape
(docs/decisions/0091) against the plain per-scrape counts over every run and upload it
replaced, alternately, and the cost the triggers add to writing runs."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import timedelta
from typing import Any


def _plain_scrape() -> None:
    """The figures as the scrape read them before the tallies: aggregates over every run
    and upload (the same queries, for the yardstick)."""
    from django.db.models import Count, F, IntegerField, Max, Min, Q, Sum
    from django.db.models.fields.json import KT
    from django.db.models.functions import Cast, Coalesce
    from django.utils import timezone

    from rollsync.directory import models as m
    from rollsync.domain.actions import COUNT_KEYS

    list(
        m.SyncRun.objects.values("status", "school__mis", "school__la__code")
        .annotate(n=Count("pk"))
        .order_by()
    )
    m.SyncRun.objects.filter(dry_run=False).aggregate(
        total=Count("pk"),
        s=Coalesce(Sum("seconds"), 0.0),
        **{
            f"le{i}": Count("pk", filter=Q(seconds__lte=b))
            for i, b in enumerate(m.RUN_SECONDS_BUCKETS)
        },
    )
    applied = m.SyncRun.objects.filter(dry_run=False, status="applied")
    applied.aggregate(
        **{k: Coalesce(Sum(Cast(KT(f"counts__{k}"), IntegerField())), 0) for k in COUNT_KEYS}
    )
    applied.aggregate(at=Max("applied_at"))
    live = m.QueuedTask.objects.filter(status__in=["queued", "running"])
    list(live.values("kind", "status").annotate(n=Count("pk"), o=Min("enqueued_at")).order_by())
    list(
        m.QueuedTask.objects.filter(status="failed")
        .values("kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    stale = timezone.now() - timedelta(minutes=15)
    m.Upload.objects.filter(runs__isnull=True, purged_at__isnull=True).exclude(
        outcome__in=["pull failed", "abandoned"]
    ).aggregate(n=Count("pk"), old=Count("pk", filter=Q(received_at__lt=stale)))
    m.Upload.objects.aggregate(
        kept=Coalesce(Sum("size", filter=Q(purged_at__isnull=True)), 0),
        purged=Count("pk", filter=Q(purged_at__isnull=False)),
        n=Count("pk"),
    )
    list(m.School.objects.values(la_code=F("la__code")).annotate(n=Count("pk")).order_by())


def _load(schools: int, runs: int) -> float:
    from django.core.management import call_command
    from django.db import connection

    from rollsync.directory.services import tallies

    call_command("flush", interactive=False, verbosity=0)
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO directory_region (name, username_pattern) VALUES ('R', '{family}')"
        )
        cur.execute(
            "INSERT INTO directory_localauthority (region_id, code, name, events_listened) "
            "SELECT (SELECT id FROM directory_region), lpad(g::text, 3, '0'), 'LA ' || g, false "
            "FROM generate_series(100, 249) g"
        )
        cur.execute(
            "INSERT INTO directory_school (la_id, urn, estab, name, phase, status, mis, "
            "attendance_service, guard_unallocate_pct, guard_rekey_pct, leaver_grace_days) "
            "SELECT (SELECT id FROM directory_localauthority ORDER BY id OFFSET g % 150 LIMIT 1), "
            "(100000 + g)::text, lpad((1000 + g / 150)::text, 4, '0'), 'School ' || g, '', 'Open', "
            "(ARRAY['sims','arbor','isams','bromcom',''])[1 + g % 5], false, 10, 50, 0 "
            f"FROM generate_series(1, {schools}) g"
        )
        cur.execute("ALTER TABLE directory_syncrun DISABLE TRIGGER USER")
        cur.execute("ALTER TABLE directory_upload DISABLE TRIGGER USER")
        cur.execute(
            "INSERT INTO directory_upload (school_id, source, fmt, report, filename, asked, size, "
            "sha256, data, received_at, outcome, has_run) "
            "SELECT (SELECT min(id) FROM directory_school) + g % "
            f"{schools}, 'bench', 'csv', 'students', '', '', 1000 + g % 7919, "
            "md5(g::text) || md5(g::text), ''::bytea, now() - (g || ' seconds')::interval, "
            "'applied', false "
            f"FROM generate_series(1, {runs}) g"
        )
        cur.execute(
            "INSERT INTO directory_syncrun (upload_id, school_id, status, dry_run, as_of, counts, "
            "errors, holds, actions, seconds, detail, created_at, applied_at, approved_by, "
            "settled_digest, settled_la_wide) "
            "SELECT u.id, u.school_id, (ARRAY['applied','applied','applied','held','failed',"
            "'preview'])[1 + u.id % 6], u.id % 6 = 5, current_date, "
            "jsonb_build_object('created', u.id % 13, 'unchanged', u.id % 977, 'rejected', u.id % 3),"
            " '[]', '[]', '[]', (u.id % 2000) / 100.0, '', u.received_at, "
            "CASE WHEN u.id % 6 < 3 THEN u.received_at END, '', '', false "
            "FROM directory_upload u"
        )
        cur.execute("ALTER TABLE directory_syncrun ENABLE TRIGGER USER")
        cur.execute("ALTER TABLE directory_upload ENABLE TRIGGER USER")
        cur.execute("ANALYZE")
    start = time.perf_counter()
    tallies.tallies_recount()
    return time.perf_counter() - start


def _time(fn: Any) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    start = time.perf_counter()
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return time.perf_counter() - start, len(ctx.captured_queries)


def _write_cost(n: int, rounds: int) -> tuple[float, float]:
    """Median seconds to insert then update `n` runs one by one, with the triggers and
    without, alternately, each round rolled back."""
    from django.db import connection, transaction

    from rollsync.directory import models as m

    upload_ids = list(m.Upload.objects.values_list("pk", "school_id")[:n])
    out: dict[bool, list[float]] = {True: [], False: []}
    for enabled in [True, False] * rounds:
        with transaction.atomic(), connection.cursor() as cur:
            if not enabled:
                cur.execute("ALTER TABLE directory_syncrun DISABLE TRIGGER USER")
            start = time.perf_counter()
            for upload_id, school_id in upload_ids:
                run = m.SyncRun.objects.create(
                    upload_id=upload_id,
                    school_id=school_id,
                    status="held",
                    as_of="2026-09-07",
                    counts={"created": 3},
                    seconds=0.4,
                )
                run.status, run.seconds = "applied", 1.2
                run.save()
            out[enabled].append(time.perf_counter() - start)
            transaction.set_rollback(True)
    return statistics.median(out[True]), statistics.median(out[False])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--schools", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--no-load", action="store_true", help="measure the database as a previous run left it"
    )
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from rollsync.ops import metrics

    if connection.vendor != "postgresql":
        raise SystemExit("PostgreSQL only (--database-url postgres://…)")
    call_command("migrate", interactive=False, verbosity=0)
    if not args.no_load:
        start = time.perf_counter()
        recount = _load(args.schools, args.runs)
        print(
            f"loaded {args.runs:,} runs and uploads at {args.schools:,} schools in "
            f"{time.perf_counter() - start:.1f} s; tallies counted in one pass in {recount:.2f} s",
            flush=True,
        )
    from rollsync.directory import models as m

    print(f"{m.SyncRun.objects.count():,} runs stored", flush=True)
    tallies, plain = [], []
    for _ in range(args.repeat):  # alternately, so both see the same load
        tallies.append(_time(metrics.exposition))
        plain.append(_time(_plain_scrape))
    t = statistics.median(s for s, _ in tallies)
    p = statistics.median(s for s, _ in plain)
    print(f"scrape from tallies: median {t * 1000:.1f} ms, {tallies[0][1]} queries")
    print(f"plain counts over every run: median {p * 1000:.1f} ms, {plain[0][1]} queries")
    print(f"ratio plain / tallies: {p / t:.0f}x", flush=True)
    with_t, without = _write_cost(1000, rounds=3)
    print(
        f"1,000 runs inserted and saved again one by one (median of 3, alternately): "
        f"{with_t:.2f} s with the triggers, {without:.2f} s without "
        f"({(with_t - without) / 2000 * 1e6:.0f} µs more a run write)"
    )


if __name__ == "__main__":
    main()
