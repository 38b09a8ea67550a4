"""Fifty Bromcom schools push at the same moment to a real `rollsync serve` (waitress, a
real socket, its own process) on the suite's database (a scratch PostgreSQL database, or
a SQLite file): every push is answered 202 and stored once, and a real `rollsync worker`
then processes every one. The senders are the shipped simulator (`push_school`), one
thread per school, released together; plus one school sending the same push twice at
once, stored once."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rollsync.missim.bromcom_push import PushCredentials, PushResult, push_school
from rollsync.simulate import SchoolSnapshot
from tests.concurrency.conftest import (
    ROLLSYNC,
    call,
    database_is_postgres,
    rollsync_serving,
    scratch_pg,  # noqa: F401  (the fixture)
)
from tests.push.conftest import _truth
from tests.scratch_pg import MigratedTemplate

pytestmark = pytest.mark.slow

SCHOOLS = 50

SETUP = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
import django; django.setup()
from rollsync.directory.services.push import push_credentials_issue
from rollsync.directory.services.schools import school_add
out = []
for n in range(1, int(sys.argv[1]) + 1):
    school = school_add(urn=str(100000 + n), la_code="202", estab=str(2000 + n),
        name=f"Bromcom School {n}", mis="Bromcom",
        accept_reports=("students", "staff", "contacts", "attendance"), actor="setup")
    c = push_credentials_issue(school=school, actor="setup")
    out.append({"urn": school.urn, "estab": school.estab, "name": school.name,
                "licence_key": c.licence_key, "supplier_id": c.supplier_id,
                "password": c.password})
print(json.dumps(out))
"""

DUMP = """
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
import django; django.setup()
from rollsync.directory import models as m
print(json.dumps({
    "uploads": list(m.Upload.objects.filter(source="Bromcom").values_list("school__urn", "report")),
    "runs": list(m.SyncRun.objects.values_list("upload__school__urn", "status")),
    "tasks": list(m.QueuedTask.objects.values_list("status", flat=True)),
    "pupils": dict(
        (urn, n) for urn, n in (
            (s.urn, m.Allocation.objects.filter(school=s, role="pupil").count())
            for s in m.School.objects.all()
        )
    ),
    "pushed": m.MisConnection.objects.exclude(last_pull_at=None).count(),
}))
"""


@pytest.fixture
def server(
    tmp_path: Path,
    migrated: MigratedTemplate,
    scratch_pg: Callable[[str], str],  # noqa: F811
) -> Iterator[tuple[str, str, Path, list[dict[str, str]]]]:
    """(database URL, rollsync's address, home, the schools and their credentials)."""
    url = scratch_pg("") if database_is_postgres() else migrated.sqlite(tmp_path / "db.sqlite3")
    home = tmp_path / "home"
    home.mkdir()
    call([*ROLLSYNC, "migrate"], url, home)
    schools = json.loads(call([sys.executable, "-c", SETUP, str(SCHOOLS)], url, home))
    with rollsync_serving(url, home) as port:
        yield url, f"http://127.0.0.1:{port}", home, schools


def _snapshot(school: dict[str, str]) -> SchoolSnapshot:
    import dataclasses

    return dataclasses.replace(
        _truth(),
        urn=school["urn"],
        la_code="202",
        estab=school["estab"],
        school_name=school["name"],
    )


def _creds(school: dict[str, str]) -> PushCredentials:
    return PushCredentials(school["licence_key"], school["supplier_id"], school["password"])


def test_fifty_schools_push_at_once_and_all_are_stored_and_processed(server: Any) -> None:
    url, base, home, schools = server
    assert len(schools) == SCHOOLS
    go = threading.Barrier(SCHOOLS + 1)
    results: dict[str, list[PushResult]] = {}
    failures: list[BaseException] = []

    def send(school: dict[str, str]) -> None:
        snap = _snapshot(school)
        with httpx.Client(trust_env=False, timeout=300) as client:
            go.wait(timeout=60)
            try:
                results[school["urn"]] = push_school(
                    snap, base, _creds(school), ["students"], client=client
                )
            except BaseException as exc:  # reported below, with the school
                failures.append(exc)

    threads = [threading.Thread(target=send, args=(s,)) for s in schools]
    for t in threads:
        t.start()
    go.wait(timeout=60)
    for t in threads:
        t.join(timeout=300)
    assert not failures, failures
    assert len(results) == SCHOOLS
    answers = [r for rs in results.values() for r in rs]
    assert [r.status for r in answers] == [202] * SCHOOLS, [r.line() for r in answers]
    assert not any(r.answer["replayed"] for r in answers)
    assert len({r.answer["upload"] for r in answers}) == SCHOOLS
    assert len({r.answer["task"] for r in answers}) == SCHOOLS

    call([*ROLLSYNC, "worker", "--batch"], url, home)
    state = json.loads(call([sys.executable, "-c", DUMP], url, home))
    assert sorted(state["uploads"]) == sorted([s["urn"], "students"] for s in schools)
    assert sorted(state["runs"]) == sorted([s["urn"], "applied"] for s in schools)
    assert state["tasks"] == ["succeeded"] * SCHOOLS
    current = sum(1 for p in _truth().pupils if not p.future)
    assert state["pupils"] == {s["urn"]: current for s in schools}
    assert state["pushed"] == SCHOOLS


def test_the_same_push_twice_at_once_is_stored_once(server: Any) -> None:
    url, base, home, schools = server
    school = schools[0]
    snap = _snapshot(school)
    go = threading.Barrier(2)
    answers: list[PushResult] = []

    def send() -> None:
        with httpx.Client(trust_env=False, timeout=120) as client:
            go.wait(timeout=30)
            answers.extend(push_school(snap, base, _creds(school), ["staff"], client=client))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [a.status for a in answers] == [202, 202]
    assert sorted(a.answer["replayed"] for a in answers) == [False, True]
    assert len({a.answer["upload"] for a in answers}) == 1
    assert len({a.answer["task"] for a in answers}) == 1
    state = json.loads(call([sys.executable, "-c", DUMP], url, home))
    assert state["uploads"] == [[school["urn"], "staff"]]
