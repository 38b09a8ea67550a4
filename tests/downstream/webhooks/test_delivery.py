"""Change events reach a real receiving server as Standard Webhooks, verified there with
the `standardwebhooks` package: what is sent for each change, in order per account, only
after the commit, only to endpoints whose scope holds the school."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from rollsync.directory import models as m
from rollsync.directory.services.accounts import account_restore
from rollsync.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from rollsync.webhooks.services import deliveries_dispatch, webhook_endpoint_add
from tests.downstream.webhooks.conftest import (
    DAY1,
    DAY2,
    DAY3,
    apply,
    contact_rows,
    group_rows,
    pupil,
)
from tests.downstream.webhooks.receiver import Receiver


def subscribe(receiver: Receiver, **scope: Any) -> WebhookEndpoint:
    endpoint, secret = webhook_endpoint_add(url=receiver.url, actor="test", **scope)
    receiver.secret = secret
    return endpoint


def test_every_kind_of_change_arrives_signed_in_order_per_account(
    school: m.School, receiver: Receiver
) -> None:
    endpoint = subscribe(receiver, school=school)
    apply(school, [pupil("P1", "Ada", "Lovelace"), pupil("P2", "Alan", "Turing")], DAY1)
    apply(school, group_rows([("G7A", "7A", "P1"), ("G7A", "7A", "P2")]), DAY1, report="groups")
    apply(school, contact_rows([("C1", "P1")]), DAY1, report="contacts")
    result = deliveries_dispatch()
    assert (result.sent, result.succeeded, result.failed) == (6, 6, 0)
    assert receiver.refused == []
    ada = m.Account.objects.get(allocations__mis_id="P1")
    parent = m.Account.objects.get(allocations__mis_id="C1")
    by_account = receiver.by_account()
    assert by_account == {
        ada.username: ["account.created", "membership.added"],
        m.Account.objects.get(allocations__mis_id="P2").username: [
            "account.created",
            "membership.added",
        ],
        parent.username: ["account.created", "contact.linked"],
    }
    created = receiver.payloads()[0]
    assert created["type"] == "account.created"
    assert created["data"]["school"] == {"urn": "100001", "la": "202"}
    assert created["data"]["account"] == {
        "id": str(ada.uid),
        "username": ada.username,
        "role": "pupil",
        "status": "active",
    }
    assert created["data"]["changes"]["username"] == {"old": None, "new": ada.username}
    membership = next(p for p in receiver.payloads() if p["type"] == "membership.added")
    group = m.Group.objects.get(mis_id="G7A")
    assert membership["data"]["group"] == {
        "id": group.pk,
        "mis_id": "G7A",
        "name": "7A",
        "kind": "class",
    }
    assert membership["data"]["role"] == "student"
    linked = next(p for p in receiver.payloads() if p["type"] == "contact.linked")
    assert linked["data"]["account"]["id"] == str(parent.uid)
    assert linked["data"]["pupil"]["id"] == str(ada.uid)
    assert linked["data"]["link"] == {"priority": 1, "parental_responsibility": True}
    # every webhook-id once; each delivery logged with its one attempt
    assert len({r.msg_id for r in receiver.received}) == 6
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
    assert WebhookAttempt.objects.filter(delivery__endpoint=endpoint).count() == 6
    # nothing more to send
    assert deliveries_dispatch().sent == 0
    assert receiver.requests == 6


def test_updates_unallocation_and_restore_say_what_changed_and_no_more(
    school: m.School, receiver: Receiver
) -> None:
    apply(school, [pupil("P1", "Ada", "Lovelace"), pupil("P2", "Alan", "Turing")], DAY1)
    subscribe(receiver, school=school)
    apply(
        school,
        [pupil("P1", "Ada", "Byron", dob="2016-01-03"), pupil("P2", "Alan", "Turing")],
        DAY2,
    )
    apply(school, [pupil("P1", "Ada", "Byron", dob="2016-01-03")], DAY3)
    ada = m.Account.objects.get(allocations__mis_id="P1")
    alan = m.Account.objects.get(allocations__mis_id="P2")
    school.refresh_from_db()
    deliveries_dispatch()
    assert receiver.refused == []
    updated = receiver.payloads()[0]
    assert updated["type"] == "account.updated"
    assert updated["data"]["changes"] == {"legal_family_name": {"old": "Lovelace", "new": "Byron"}}
    # the date of birth changed too: named, its value never sent
    assert updated["data"]["also_changed"] == ["date_of_birth"]
    assert "2016-01-03" not in receiver.received[0].body
    assert "2016-01-02" not in receiver.received[0].body
    types = receiver.by_account()
    assert alan.allocations.get().status == "unallocated"  # gone from a full export (approved)
    assert types[alan.username] == ["account.suspended"]
    suspended = next(p for p in receiver.payloads() if p["type"] == "account.suspended")
    assert suspended["data"]["changes"]["account_status"] == {"old": "active", "new": "suspended"}
    assert suspended["data"]["account"]["status"] == "suspended"
    account_restore(username=alan.username, school=school, actor="admin", keep_non_mis=True)
    deliveries_dispatch()
    assert receiver.by_account()[alan.username] == ["account.suspended", "account.restored"]
    restored = receiver.payloads()[-1]
    assert restored["data"]["changes"]["account_status"] == {"old": "suspended", "new": "active"}
    assert types[ada.username] == ["account.updated"]


def test_a_rolled_back_change_sends_nothing(school: m.School, receiver: Receiver) -> None:
    subscribe(receiver, school=school)
    with pytest.raises(RuntimeError), transaction.atomic():
        apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
        assert WebhookDelivery.objects.count() == 1  # written with the change...
        raise RuntimeError("the transaction fails after the change")
    assert WebhookDelivery.objects.count() == 0  # ...and gone with it
    assert deliveries_dispatch().sent == 0
    assert receiver.requests == 0


def test_with_no_endpoint_nothing_is_written(school: m.School, far_school: m.School) -> None:
    WebhookEndpoint.objects.create(url="https://far.example/h", la=far_school.la)
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    assert m.AuditEvent.objects.filter(action="account_created").count() == 1
    assert WebhookDelivery.objects.count() == 0


def test_another_schools_and_another_las_endpoints_receive_nothing_of_this_school(
    school: m.School, other_school: m.School, far_school: m.School
) -> None:
    mine, theirs, far, la = (
        Receiver().start(),
        Receiver().start(),
        Receiver().start(),
        Receiver().start(),
    )
    try:
        subscribe(mine, school=school)
        subscribe(theirs, school=other_school)
        subscribe(far, la=far_school.la)
        subscribe(la, la=school.la)
        apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
        apply(other_school, [pupil("Q1", "Grace", "Hopper")], DAY1)
        deliveries_dispatch()
        assert [p["data"]["school"]["urn"] for p in mine.payloads()] == ["100001"]
        assert [p["data"]["school"]["urn"] for p in theirs.payloads()] == ["100002"]
        assert far.requests == 0
        assert sorted(p["data"]["school"]["urn"] for p in la.payloads()) == ["100001", "100002"]
        assert "Lovelace" not in json.dumps(theirs.payloads())
        assert WebhookDelivery.objects.filter(endpoint__url=far.url).count() == 0
    finally:
        for r in (mine, theirs, far, la):
            r.stop()


def test_a_receiver_down_for_a_while_gets_everything_in_order_when_it_is_back(
    school: m.School, receiver: Receiver
) -> None:
    endpoint = subscribe(receiver, school=school)
    receiver.stop()  # down: the port refuses connections
    apply(school, [pupil("P1", "Ada", "Lovelace"), pupil("P2", "Alan", "Turing")], DAY1)
    apply(school, group_rows([("G7A", "7A", "P1"), ("G7B", "7B", "P2")]), DAY1, report="groups")
    apply(school, [pupil("P1", "Ada", "Byron"), pupil("P2", "Alan", "Turing")], DAY2)
    now = timezone.now()
    first = deliveries_dispatch(now=now)
    # one try per pass at a failing endpoint: the rest wait, untried
    assert (first.sent, first.retrying, first.succeeded) == (1, 1, 0)
    for minutes in (1, 5, 10):
        deliveries_dispatch(now=now + timedelta(minutes=minutes))
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    assert WebhookDelivery.objects.filter(status="pending").count() == 5
    assert receiver.received == []
    receiver.start()  # back, on the same port
    back = deliveries_dispatch(now=now + timedelta(minutes=11))
    assert back.failed == 0
    assert WebhookDelivery.objects.exclude(status="succeeded").count() == 0
    ada = m.Account.objects.get(allocations__mis_id="P1").username
    alan = m.Account.objects.get(allocations__mis_id="P2").username
    assert receiver.by_account() == {
        ada: ["account.created", "membership.added", "account.updated"],
        alan: ["account.created", "membership.added"],
    }
    assert receiver.refused == []
    assert len({r.msg_id for r in receiver.received}) == 5
    tried = WebhookAttempt.objects.filter(outcome="retry").count()
    assert tried >= 1
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_attempts_are_bounded_then_failed_and_a_failure_does_not_block_the_next(
    school: m.School, receiver: Receiver
) -> None:
    subscribe(receiver, school=school)
    receiver.answer = 500
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    now = timezone.now()
    for step in range(12):
        deliveries_dispatch(now=now + timedelta(hours=step))
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 5, 500)
    assert list(delivery.attempt_log.values_list("outcome", flat=True)) == ["retry"] * 4 + [
        "failed"
    ]
    receiver.answer = 204
    apply(school, [pupil("P1", "Ada", "Byron")], DAY2)
    deliveries_dispatch(now=now + timedelta(hours=13))
    assert receiver.types() == ["account.updated"]


def test_a_410_disables_the_endpoint_and_nothing_more_is_sent(
    school: m.School, receiver: Receiver
) -> None:
    endpoint = subscribe(receiver, school=school)
    receiver.answer = 410
    apply(school, [pupil("P1", "Ada", "Lovelace"), pupil("P2", "Alan", "Turing")], DAY1)
    result = deliveries_dispatch()
    assert (result.sent, result.disabled) == (1, [endpoint.pk])
    endpoint.refresh_from_db()
    assert (endpoint.state, endpoint.state_reason) == ("disabled", "answered 410 Gone")
    assert m.AuditEvent.objects.filter(action="webhook_disabled").count() == 1
    apply(school, [pupil("P1", "Ada", "Byron"), pupil("P2", "Alan", "Turing")], DAY2)
    later = timezone.now() + timedelta(days=3)
    assert deliveries_dispatch(now=later).sent == 0
    assert receiver.requests == 1
    # no new deliveries were even written for a disabled endpoint
    assert WebhookDelivery.objects.count() == 2


def test_a_receiver_with_the_wrong_secret_refuses_every_delivery(
    school: m.School, receiver: Receiver
) -> None:
    subscribe(receiver, school=school)
    good = receiver.secret
    receiver.secret = "whsec_" + "A" * 43 + "="
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    deliveries_dispatch()
    assert receiver.received == []
    assert receiver.refused == ["No matching signature found"]
    receiver.secret = good
    deliveries_dispatch(now=timezone.now() + timedelta(minutes=1))
    assert receiver.types() == ["account.created"]


def test_an_accounts_later_events_wait_behind_its_failed_one_while_others_go(
    school: m.School, receiver: Receiver
) -> None:
    subscribe(receiver, school=school)
    apply(school, [pupil("P1", "Ada", "Lovelace"), pupil("P2", "Alan", "Turing")], DAY1)
    apply(school, group_rows([("G7A", "7A", "P1")]), DAY1, report="groups")
    receiver.fail_first = 1  # Ada's account.created meets a 503
    now = timezone.now()
    assert deliveries_dispatch(now=now).retrying == 1
    # before Ada's retry is due: Alan's event goes, never Ada's membership ahead of her
    # creation; the endpoint answered again, so Ada's retry is brought forward, in order
    deliveries_dispatch(now=now + timedelta(seconds=1))
    ada = m.Account.objects.get(allocations__mis_id="P1").username
    alan = m.Account.objects.get(allocations__mis_id="P2").username
    assert [(p["data"]["account"]["username"], p["type"]) for p in receiver.payloads()] == [
        (alan, "account.created"),
        (ada, "account.created"),
        (ada, "membership.added"),
    ]
    assert WebhookDelivery.objects.exclude(status="succeeded").count() == 0
    first = WebhookDelivery.objects.filter(account__username=ada).order_by("pk").first()
    assert first is not None
    assert list(first.attempt_log.values_list("status_code", "outcome")) == [
        (503, "retry"),
        (204, "succeeded"),
    ]


def test_a_dry_run_and_a_held_run_send_nothing_until_approved(
    school: m.School, receiver: Receiver
) -> None:
    from rollsync.directory.services.sync import sync_run_approve, sync_run_execute
    from tests.tasks.helpers import store

    people = [pupil(f"P{i}", f"Given{i}", f"Family{i}") for i in range(10)]
    apply(school, people, DAY1)
    subscribe(receiver, school=school)
    preview = sync_run_execute(upload=store(school, people[:1]), as_of=DAY2, dry_run=True)
    assert preview.status == "preview"
    held = sync_run_execute(upload=store(school, people[:1]), as_of=DAY2)
    assert held.status == "held"  # nine of ten leaving: the guard holds it for a person
    assert WebhookDelivery.objects.count() == 0
    assert deliveries_dispatch().sent == 0
    sync_run_approve(run=held, actor="head")
    deliveries_dispatch()
    assert receiver.types() == ["account.suspended"] * 9
    assert {p["data"]["run"] for p in receiver.payloads()} == {held.pk}
