"""An endpoint added while a write of its LA is under way (PostgreSQL, two connections):
the write that held the LA's lock first commits without it; one that waited for the
adding to commit reads the LA's row as it then is, listened, and fills the outbox."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, connections, transaction

from rollsync.directory import models as m
from rollsync.directory.services import locks
from rollsync.directory.services.audit import AuditLog, audit_listeners_set
from rollsync.webhooks.models import WebhookDelivery, WebhookEndpoint
from rollsync.webhooks.services import webhook_endpoint_add
from tests.downstream.webhooks.conftest import DAY1, DAY2, apply, pupil

pytestmark = pytest.mark.django_db(transaction=True)
URL = "http://127.0.0.1:9/hook"  # a receiver on this machine


def _waiting_on_a_lock(out: list[Any] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connections["default"].cursor() as cur:
            cur.execute("select pg_stat_clear_snapshot()")  # fresh within a transaction too
            cur.execute(
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
                " and datname = current_database()"
            )
            if cur.fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError(f"the other connection never waited for the LA's lock: {out}")


def _in_thread(fn: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def body() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # handed to the test
            out.append(exc)
        finally:
            connections.close_all()

    t = threading.Thread(target=body)
    t.start()
    return t, out


@pytest.fixture(autouse=True)
def _postgres_only(db: Any, monkeypatch: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs a database shared between threads (PostgreSQL)")
    from rollsync.webhooks import tasks as webhook_tasks

    monkeypatch.setattr(webhook_tasks, "enqueue_dispatch", lambda: None)


def test_a_run_waiting_for_the_adding_sees_the_new_endpoint(school: m.School) -> None:
    apply(school, [pupil("P1", "Ann", "Lee")], DAY1)
    locked, release = threading.Event(), threading.Event()

    def add() -> int:
        with transaction.atomic():
            audit_listeners_set(la_id=school.la_id, listening=True)  # the LA's lock
            endpoint = WebhookEndpoint.objects.create(url=URL, school=school, created_by="t")
            locked.set()
            assert release.wait(30)
        return endpoint.pk

    adder, added = _in_thread(add)
    assert locked.wait(30)
    runner, ran = _in_thread(lambda: apply(school, [pupil("P1", "Ann", "Leigh")], DAY2).pk)
    _waiting_on_a_lock()  # the run waits for the LA's lock
    release.set()
    adder.join(60)
    runner.join(120)
    assert not isinstance(added[0], BaseException), added
    assert not isinstance(ran[0], BaseException), ran
    deliveries = WebhookDelivery.objects.filter(type="account.updated")
    assert list(deliveries.values_list("endpoint_id", flat=True)) == [added[0]]


def test_an_endpoint_added_while_a_run_holds_the_lock_waits_for_it(school: m.School) -> None:
    apply(school, [pupil("P1", "Ann", "Lee")], DAY1)
    account = m.Account.objects.get()
    with transaction.atomic():
        locks.la_lock(school=school)
        adder, added = _in_thread(
            lambda: webhook_endpoint_add(url=URL, actor="t", school=school)[0].pk
        )
        _waiting_on_a_lock(added)  # the adding waits for the LA's lock this write holds
        assert locks.none_listened({school.la_id})
        audit = AuditLog(actor="t", school=school)
        audit.add("account_updated", "by hand", account_id=account.pk, changes={"x": [1, 2]})
        audit.flush()
    adder.join(60)
    assert not isinstance(added[0], BaseException), added
    assert not WebhookDelivery.objects.exists()  # committed before the endpoint existed
    apply(school, [pupil("P1", "Ann", "Leigh")], DAY2)
    assert list(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == [added[0]]
