"""The outbox looks for endpoints only when something may listen: a write under its
LA's lock reads `LocalAuthority.events_listened` with the lock (no extra query), and an
endpoint is added or enabled only under that lock, so no write made after it misses it."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from rollsync.directory import models as m
from rollsync.directory.services import locks
from rollsync.directory.services.audit import AuditLog
from rollsync.webhooks.models import WebhookDelivery, WebhookEndpoint
from rollsync.webhooks.services import (
    webhook_endpoint_add,
    webhook_endpoint_enable,
    webhook_endpoint_remove,
)
from tests.downstream.webhooks.conftest import DAY1, DAY2, DAY3, apply, pupil

URL = "http://127.0.0.1:9/hook"  # a receiver on this machine
ENDPOINTS = WebhookEndpoint._meta.db_table


def _apply_counting(school: m.School, rows: list[dict[str, Any]], day: Any) -> tuple[int, int]:
    """Applies a run; returns (queries on the endpoints table, deliveries it made)."""
    before = WebhookDelivery.objects.count()
    with CaptureQueriesContext(connection) as ctx:
        apply(school, rows, day)
    looked = sum(1 for q in ctx.captured_queries if ENDPOINTS in q["sql"])
    return looked, WebhookDelivery.objects.count() - before


def _listened(la: m.LocalAuthority) -> bool:
    return m.LocalAuthority.objects.get(pk=la.pk).events_listened


def test_runs_with_no_endpoint_never_look_for_one(school: m.School) -> None:
    for day, rows in (
        (DAY1, [pupil("P1", "Ann", "Lee")]),
        (DAY2, [pupil("P1", "Ann", "Leigh"), pupil("P2", "Bo", "Ray")]),
        (DAY3, [pupil("P2", "Bo", "Ray")]),
    ):
        assert _apply_counting(school, rows, day) == (0, 0)
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("scope", ["school", "la"])
def test_an_endpoint_added_between_two_writes_hears_the_second(
    school: m.School, scope: str
) -> None:
    assert _apply_counting(school, [pupil("P1", "Ann", "Lee")], DAY1) == (0, 0)
    assert not _listened(school.la)
    where = {"school": school} if scope == "school" else {"la": school.la}
    endpoint, _ = webhook_endpoint_add(url=URL, actor="t", **where)
    assert _listened(school.la)
    looked, made = _apply_counting(school, [pupil("P1", "Ann", "Leigh")], DAY2)
    assert looked >= 1
    assert made >= 1
    assert set(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == {endpoint.pk}
    assert WebhookDelivery.objects.filter(type="account.updated").count() == 1


def test_another_las_endpoint_does_not_make_this_la_look(
    school: m.School, far_school: m.School
) -> None:
    webhook_endpoint_add(url=URL, actor="t", school=far_school)
    assert _listened(far_school.la) and not _listened(school.la)
    assert _apply_counting(school, [pupil("P1", "Ann", "Lee")], DAY1) == (0, 0)
    looked, made = _apply_counting(far_school, [pupil("F1", "Cy", "Fox")], DAY1)
    assert looked >= 1 and made >= 1


def test_removed_last_endpoint_stops_the_looking_and_enable_restarts_it(
    school: m.School, other_school: m.School
) -> None:
    first, _ = webhook_endpoint_add(url=URL, actor="t", school=school)
    second, _ = webhook_endpoint_add(url=URL, actor="t", school=other_school)
    webhook_endpoint_remove(endpoint_id=first.pk, actor="t")
    assert _listened(school.la)  # the other school's endpoint still listens
    webhook_endpoint_remove(endpoint_id=second.pk, actor="t")
    assert not _listened(school.la)
    assert _apply_counting(school, [pupil("P1", "Ann", "Lee")], DAY1) == (0, 0)

    # disabled (a 410 Gone) then enabled again: listened from the enabling on
    third, _ = webhook_endpoint_add(url=URL, actor="t", school=school)
    WebhookEndpoint.objects.filter(pk=third.pk).update(state=WebhookEndpoint.State.DISABLED)
    looked, made = _apply_counting(school, [pupil("P1", "Ann", "Leigh")], DAY2)
    assert looked >= 1 and made == 0  # still marked listened: it looks, finds none active
    webhook_endpoint_enable(endpoint_id=third.pk, actor="t")
    looked, made = _apply_counting(school, [pupil("P1", "Ann", "Lea")], DAY3)
    assert looked >= 1 and made == 1
    assert WebhookDelivery.objects.get().endpoint_id == third.pk


def test_a_write_without_the_las_lock_always_looks(school: m.School) -> None:
    webhook_endpoint_add(url=URL, actor="t", school=school)
    apply(school, [pupil("P1", "Ann", "Lee")], DAY1)
    account = m.Account.objects.get()
    WebhookDelivery.objects.all().delete()
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        audit = AuditLog(actor="t", school=school)
        audit.add("account_updated", "by hand", account_id=account.pk, changes={"x": [1, 2]})
        audit.flush()
    assert any(ENDPOINTS in q["sql"] for q in ctx.captured_queries)


def test_what_a_rolled_back_lock_read_is_never_trusted(school: m.School) -> None:
    la_ids = {school.la_id}
    with transaction.atomic():
        assert not locks.none_listened(la_ids)  # not locked yet: look
        with transaction.atomic():
            locks.la_lock(school=school)
            assert locks.none_listened(la_ids)
            transaction.set_rollback(True)
        assert not locks.none_listened(la_ids)  # the savepoint that read it is gone
        locks.la_lock(school=school)
        assert locks.none_listened(la_ids)
        assert not locks.none_listened({school.la_id, school.la_id + 1000})
        assert not locks.none_listened(set())
    assert not locks.none_listened(la_ids)  # outside any transaction: look


def test_the_migration_marks_the_las_that_have_an_endpoint(
    school: m.School, far_school: m.School, other_school: m.School
) -> None:
    import importlib

    from django.apps import apps

    migration = importlib.import_module("rollsync.webhooks.migrations.0004_la_events_listened")
    WebhookEndpoint.objects.create(url=URL, school=school, state="disabled")
    WebhookEndpoint.objects.create(url=URL, la=far_school.la, state="removed")
    m.LocalAuthority.objects.update(events_listened=False)
    migration.mark_listened(apps, None)
    assert _listened(school.la)  # a disabled endpoint may be enabled again
    assert not _listened(far_school.la)  # a removed one never
    before = WebhookEndpoint.objects.count()
    # and with it set, a flush under the lock looks again
    assert _apply_counting(other_school, [pupil("R1", "Rae", "Ng")], DAY1)[0] >= 1
    assert WebhookEndpoint.objects.count() == before
