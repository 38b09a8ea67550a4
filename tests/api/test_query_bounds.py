"""Every JSON API read costs the same queries for a small LA and one ten times larger
(issue 13 point 6: no query per row): 3 schools, pupils, runs, uploads, exclusions and
match cases against 30 of each, read with the LA's token. Each answer is asked for twice
and the second counted (the first warms Django's caches)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rollsync.api.services import api_token_create
from rollsync.directory import models as m
from rollsync.directory.services.accounts import exclusion_add
from rollsync.directory.services.schools import school_add
from rollsync.directory.services.sync import sync_run_execute
from tests.directory.helpers import pupil
from tests.tasks.helpers import store

DAY1 = date(2026, 9, 7)


@dataclass
class World:
    urn: str
    token: str
    run_id: int
    upload_id: int
    case_id: int
    username: str
    n: int


def _build(la_code: str, n: int) -> World:
    school = school_add(
        urn=f"{la_code}001", la_code=la_code, estab="2001", name="Main", la_name=f"LA {la_code}"
    )
    feeder = school_add(urn=f"{la_code}002", la_code=la_code, estab="2002", name="Feeder")
    for k in range(n - 2):
        school_add(urn=f"{la_code}{100 + k}", la_code=la_code, estab=f"{3000 + k}", name=f"S{k}")
    # n pupils at the feeder; n near-twins at the school: n needs-matching cases
    sync_run_execute(
        upload=store(
            feeder,
            [pupil(f"F{i}", "Jonathan", f"Khan{i}", f"2014-01-{i % 28 + 1:02d}") for i in range(n)],
        ),
        as_of=DAY1,
    )
    pupils = [pupil(f"P{i}", f"Given{i}", f"Family{i}", "2016-01-02") for i in range(n)]
    near = [pupil(f"N{i}", "Jonathon", f"Khan{i}", f"2014-01-{i % 28 + 1:02d}") for i in range(n)]
    run = sync_run_execute(upload=store(school, [*pupils, *near]), as_of=DAY1)
    assert run.status == "applied", (run.status, run.errors)
    for d in range(1, n):  # n runs and uploads in all
        pupils[0] = {**pupils[0], "legal_family_name": f"Renamed{d}"}
        run = sync_run_execute(upload=store(school, [*pupils, *near]), as_of=DAY1 + timedelta(d))
        assert run.status == "applied", (run.status, run.errors)
    for e in range(n):
        exclusion_add(school=school, actor="t", mis_id=f"X{e}", note="left")
    _, secret = api_token_create(name=f"la {la_code}", la=school.la)
    case = m.MatchCase.objects.filter(school=school).first()
    assert case is not None
    assert m.MatchCase.objects.filter(school=school).count() == n
    return World(
        urn=school.urn,
        token=secret,
        run_id=run.pk,
        upload_id=run.upload_id,
        case_id=case.pk,
        username=m.Allocation.objects.filter(school=school, mis_id="P0").get().account.username,
        n=n,
    )


@pytest.fixture(scope="module")
def worlds(django_db_setup: Any, django_db_blocker: Any) -> Iterator[tuple[World, World]]:
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build("501", 3), _build("502", 30)
        transaction.set_rollback(True)


READS = [
    "/schools",
    "/schools/{urn}",
    "/schools/{urn}/results",
    "/schools/{urn}/accounts?limit=200",
    "/schools/{urn}/accounts/{username}",
    "/schools/{urn}/runs?limit=200",
    "/runs/{run_id}",
    "/schools/{urn}/uploads?limit=200",
    "/uploads/{upload_id}",
    "/schools/{urn}/exclusions",
    "/schools/{urn}/match-cases",
    "/match-cases/{case_id}",
    "/schools/{urn}/cross-school-cases",
    "/schools/{urn}/connection",
]


def _count(world: World, path: str) -> tuple[int, int, Any]:
    client = Client()
    url = "/api/v1" + path.format(**world.__dict__)
    headers = {"Authorization": f"Bearer {world.token}"}
    first = client.get(url, headers=headers)
    with CaptureQueriesContext(connection) as ctx:
        again = client.get(url, headers=headers)
    assert again.status_code == first.status_code
    return again.status_code, len(ctx.captured_queries), again.json()


def _rows(body: Any) -> int:
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        for key in ("items", "results", "actions"):
            if isinstance(body.get(key), list):
                return len(body[key])
    return 1


@pytest.mark.parametrize("path", READS)
def test_an_api_read_costs_the_same_queries_for_3_rows_and_30(
    db: Any, worlds: tuple[World, World], path: str
) -> None:
    (small_status, small, small_body), (large_status, large, large_body) = (
        _count(w, path) for w in worlds
    )
    assert small_status == large_status, (small_body, large_body)
    assert small_status in (200, 404), small_body  # 404: no MIS connection (the same in both)
    assert small == large, f"{path}: {small} queries for 3, {large} for 30"
    assert large <= 20


def test_the_large_world_lists_are_ten_times_longer(db: Any, worlds: tuple[World, World]) -> None:
    small, large = worlds
    for path in ("/schools", "/schools/{urn}/accounts?limit=200", "/schools/{urn}/runs?limit=200"):
        rows = [_rows(_count(w, path)[2]) for w in (small, large)]
        assert rows[1] >= 8 * rows[0] > 0, (path, rows)
    for path in ("/schools/{urn}/uploads?limit=200", "/schools/{urn}/match-cases"):
        rows = [_rows(_count(w, path)[2]) for w in (small, large)]
        assert rows[1] >= 8 * rows[0] > 0, (path, rows)
