"""OneRoster provider cache (on demand: `python -m bench.oneroster_cache --pupils 2000`):
one simulated school synced, then, over the real views, the first page of each
collection (built: the roster read and every object made) against the next page (read
from the cache), with seconds, this process's CPU seconds and queries; then the first
page again after an applied run (built again). `--database-url` for PostgreSQL (that
database is flushed)."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.sync_bench import _configure_django, _files_for, _fresh_school, _import

COLLECTIONS = ("users", "classes", "enrollments")


def _get(client: Any, token: str, url: str) -> tuple[float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    start, cpu = time.perf_counter(), time.process_time()
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(url, headers={"Authorization": f"Bearer {token}"}, HTTP_HOST="localhost")
    assert r.status_code == 200, r.content[:300]
    secs, cpu = time.perf_counter() - start, time.process_time() - cpu
    return secs, cpu, len(ctx.captured_queries), int(r["X-Total-Count"])


def run(pupils: int, console: Console) -> None:
    import base64

    from django.core.cache import caches
    from django.core.management import call_command
    from django.test import Client

    from rollsync.downstream.services import downstream_client_create
    from rollsync.simulate import make_school_truth

    call_command("migrate", interactive=False, verbosity=0)
    day1 = make_school_truth(pupils=pupils, seed=11)
    with tempfile.TemporaryDirectory(prefix="rollsync-bench-") as tmp:
        files = _files_for("csv", day1, Path(tmp), 1)
        school = _fresh_school(day1)
        _import(files, school, day1.date)
        client, secret = downstream_client_create(name="bench", kind="oneroster", school=school)
        web = Client()
        basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
        r = web.post(
            "/oauth/token",
            "grant_type=client_credentials",
            content_type="application/x-www-form-urlencoded",
            headers={"Authorization": f"Basic {basic}"},
            HTTP_HOST="localhost",
        )
        token = json.loads(r.content)["access_token"]
        caches["oneroster"].clear()
        table = Table(
            title=f"OneRoster 1.2, a {pupils}-pupil school, pages of 100 ({os.environ['DATABASE_URL'].split(':')[0]})"
        )
        for col in ("collection", "objects", "page", "seconds", "cpu", "queries", "vs built"):
            table.add_column(col)
        root = "/ims/oneroster/rostering/v1p2"
        for name in COLLECTIONS:
            built = _get(web, token, f"{root}/{name}?limit=100&offset=0")
            cached = _get(web, token, f"{root}/{name}?limit=100&offset=100")
            for label, m in (("first (built)", built), ("next (cache)", cached)):
                table.add_row(
                    name, str(m[3]), label, f"{m[0]:.3f}", f"{m[1]:.3f}", str(m[2]),
                    f"{m[0] / built[0]:.3f}",
                )  # fmt: skip
        _import(files[:1], school, day1.date)  # an applied run (no change): built again
        again = _get(web, token, f"{root}/enrollments?limit=100&offset=100")
        table.add_row("enrollments", str(again[3]), "after a run (built)", f"{again[0]:.3f}",
                      f"{again[1]:.3f}", str(again[2]), "")  # fmt: skip
        console.print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pupils", type=int, default=2000)
    parser.add_argument("--database-url", default=os.environ.get("ROLLSYNC_BENCH_DATABASE_URL"))
    args = parser.parse_args(argv)
    if args.database_url:
        os.environ["ROLLSYNC_BENCH_DATABASE_URL"] = args.database_url
    with tempfile.TemporaryDirectory(prefix="rollsync-bench-db-") as tmp:
        _configure_django(Path(tmp) / "bench.sqlite3")
        run(args.pupils, Console())


if __name__ == "__main__":
    main()
