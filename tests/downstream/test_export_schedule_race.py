"""A change stamped before a scheduled delta reads the directory but committed after it
is in that delta, not lost between two (no gap), and not repeated in the next (no
overlap): the run waits for the LA's lock the change holds. PostgreSQL: two connections
at once (an in-memory SQLite database is not shared between threads)."""

from __future__ import annotations

import threading
import time
import zipfile
from pathlib import Path

import pytest
from django.db import connection, connections, transaction

from rollsync.directory import models as m
from rollsync.directory.services.locks import la_lock
from rollsync.directory.services.schools import school_add
from rollsync.downstream.services import (
    ScheduledExport,
    export_schedule_create,
    export_schedule_run,
)
from tests.downstream.webhooks.conftest import DAY1, apply, pupil

pytestmark = pytest.mark.django_db(transaction=True)


def _users(path: str) -> str:
    with zipfile.ZipFile(path) as bundle:
        return bundle.read("users.csv").decode("utf-8")


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one view a transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])


def test_a_change_committed_during_the_read_is_in_one_delta(tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs a database shared between threads (PostgreSQL)")
    school = school_add(urn="100001", la_code="202", estab="2001", name="Hillside", la_name="N")
    apply(school, [pupil("P1", "Ada", "Lovelace"), pupil("P2", "Alan", "Turing")], DAY1)
    made = export_schedule_create(
        school=school,
        fmt="oneroster",
        kind="delta",
        schedule="0 2 * * *",
        destination=str(tmp_path),
        keep=5,
        actor="test",
    )
    assert export_schedule_run(schedule_pk=made.pk, actor="test").kind == "bulk"
    ada = m.Account.objects.get(allocations__mis_id="P1")

    stamped, go = threading.Event(), threading.Event()
    waited: list[bool] = []
    result: list[ScheduledExport] = []

    def change() -> None:  # a correction of the LA's directory, as a run makes one
        try:
            with transaction.atomic():
                la_lock(school=school)
                ada.preferred_given_name = "Countess"
                ada.save(update_fields=["preferred_given_name", "updated_at"])  # stamped now
                stamped.set()
                go.wait(10)
                deadline = time.monotonic() + 5
                while not _waiting_on_a_lock() and time.monotonic() < deadline:
                    time.sleep(0.02)
                waited.append(_waiting_on_a_lock())
        finally:
            connections.close_all()

    def export() -> None:
        try:
            go.set()
            result.append(export_schedule_run(schedule_pk=made.pk, actor="test"))
        finally:
            connections.close_all()

    writer = threading.Thread(target=change)
    writer.start()
    assert stamped.wait(10)
    reader = threading.Thread(target=export)
    reader.start()
    writer.join()
    reader.join()
    [during] = result
    assert (during.status, during.kind, during.counts["people"]) == ("succeeded", "delta", 1)
    assert str(ada.uid) in _users(during.file) and "Countess" in _users(during.file)
    after = export_schedule_run(schedule_pk=made.pk, actor="test")
    assert (after.since, after.counts["people"]) == (during.until, 0)
    assert str(ada.uid) not in _users(after.file)
    assert waited == [True]  # because the export waited for the change's lock
