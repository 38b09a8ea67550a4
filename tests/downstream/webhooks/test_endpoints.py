"""Endpoints from the command line: added with a secret shown once and sealed at rest,
URLs held to the https-or-loopback rule, rotation, removal, the delivery log and replay."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from rollsync.access.selectors import OPERATOR, Grant, schools_for
from rollsync.cli import main
from rollsync.directory import models as m
from rollsync.webhooks.models import WebhookDelivery, WebhookEndpoint
from rollsync.webhooks.selectors import endpoint_for, endpoints_for
from rollsync.webhooks.services import (
    WebhookError,
    deliveries_dispatch,
    webhook_endpoint_add,
    webhook_endpoint_rotate,
)
from tests.downstream.webhooks.conftest import DAY1, DAY2, apply, pupil
from tests.downstream.webhooks.receiver import Receiver


def run(*args: str, expect: int = 0) -> Any:
    result = CliRunner().invoke(main, ["webhook", *args], catch_exceptions=False)
    assert result.exit_code == expect, (result.exit_code, result.output)
    return result


def run_json(*args: str, expect: int = 0) -> Any:
    return json.loads(run(*args, "--json", expect=expect).stdout)


def endpoints_state() -> list[dict[str, Any]]:
    return list(WebhookEndpoint.objects.order_by("pk").values())


def test_add_shows_the_secret_once_and_keeps_it_sealed(
    school: m.School, receiver: Receiver
) -> None:
    added = run_json("add", "--url", receiver.url, "--school", "100001")
    assert set(added) == {"id", "secret"}
    assert added["secret"].startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get(pk=added["id"])
    assert (endpoint.school_id, endpoint.la_id, endpoint.url) == (school.pk, None, receiver.url)
    # sealed at rest: neither the secret nor its key bytes are in the row
    stored = bytes(endpoint.secrets)
    assert added["secret"].encode() not in stored
    assert added["secret"][6:].encode() not in stored
    listed = run_json("list")
    assert [(r["id"], r["school"], r["state"]) for r in listed] == [
        (endpoint.pk, "100001", "active")
    ]
    assert added["secret"] not in json.dumps(listed)
    assert added["secret"] not in run("list").output
    assert m.AuditEvent.objects.filter(action="webhook_added").count() == 1
    assert added["secret"] not in json.dumps(list(m.AuditEvent.objects.values("changes", "reason")))
    # the secret printed is the one that signs
    receiver.secret = added["secret"]
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    deliveries_dispatch()
    assert receiver.types() == ["account.created"]


def test_an_la_endpoint(school: m.School, receiver: Receiver) -> None:
    added = run_json("add", "--url", receiver.url, "--la", "202")
    assert WebhookEndpoint.objects.get(pk=added["id"]).la_id == school.la_id
    assert run_json("list")[0]["la"] == "202"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.org/in", "webhooks go over https (plain http only to a receiver"),
        ("ftp://127.0.0.1/in", "not an https:// URL"),
        ("https://user:pw@hooks.example.org/in", "user name or password"),
        ("https://hooks.example.org/in?token=1", "query or fragment"),
        ("not a url", "not an https:// URL"),
        ("", "not an https:// URL"),
        ("https://hooks.example.org/" + "a" * 2000, "longer than 2,000"),
    ],
)
def test_a_url_that_breaks_the_rule_is_refused_and_nothing_stored(
    school: m.School, url: str, why: str
) -> None:
    result = run("add", "--url", url, "--school", "100001", expect=2)
    assert why in result.output
    assert endpoints_state() == []
    assert m.AuditEvent.objects.filter(action="webhook_added").count() == 0


def test_scope_is_one_school_or_one_la_that_exists(school: m.School) -> None:
    run("add", "--url", "https://hooks.example.org/in", expect=2)
    run(
        "add",
        "--url",
        "https://hooks.example.org/in",
        "--school",
        "100001",
        "--la",
        "202",
        expect=2,
    )
    assert (
        "no school with URN 999999"
        in run(
            "add", "--url", "https://hooks.example.org/in", "--school", "999999", expect=1
        ).output
    )
    assert (
        "no LA with code 999"
        in run("add", "--url", "https://hooks.example.org/in", "--la", "999", expect=1).output
    )
    with pytest.raises(WebhookError):
        webhook_endpoint_add(
            url="https://hooks.example.org/in", actor="t", school=school, la=school.la
        )
    assert endpoints_state() == []


def test_rotate_signs_with_both_secrets_for_a_while_then_the_new_one_only(
    school: m.School, receiver: Receiver
) -> None:
    endpoint, old = webhook_endpoint_add(url=receiver.url, actor="t", school=school)
    rotated = run_json("rotate", str(endpoint.pk))
    new = rotated["secret"]
    assert new != old and new.startswith("whsec_")
    receiver.secret = old  # a receiver not yet switched still verifies
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    deliveries_dispatch()
    assert receiver.types() == ["account.created"]
    headers = receiver.received[0].headers
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(receiver.received[0].body, headers)  # and so does one switched
    # rotate with no overlap: the old secret no longer verifies anything
    _, newest = webhook_endpoint_rotate(
        endpoint_id=endpoint.pk, actor="t", keep_previous=timedelta(0)
    )
    receiver.secret = new
    apply(school, [pupil("P1", "Ada", "Byron")], DAY2)
    deliveries_dispatch()
    assert receiver.refused == ["No matching signature found"]
    assert receiver.types() == ["account.created"]
    delivery = WebhookDelivery.objects.get(type="account.updated")
    assert (delivery.status, delivery.last_status_code) == ("pending", 401)
    receiver.secret = newest
    deliveries_dispatch(now=timezone.now() + timedelta(minutes=5))
    assert receiver.types() == ["account.created", "account.updated"]
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(receiver.received[1].body, receiver.received[1].headers)


def test_remove_forgets_the_secret_cancels_what_waits_and_keeps_the_log(
    school: m.School, receiver: Receiver
) -> None:
    endpoint, _ = webhook_endpoint_add(url=receiver.url, actor="t", school=school)
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    run_json("remove", str(endpoint.pk))
    endpoint.refresh_from_db()
    assert (endpoint.state, bytes(endpoint.secrets)) == ("removed", b"")
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == ["cancelled"]
    assert deliveries_dispatch().sent == 0
    assert receiver.requests == 0
    apply(school, [pupil("P1", "Ada", "Byron")], DAY2)
    assert WebhookDelivery.objects.count() == 1  # nothing new for a removed endpoint
    assert run_json("list") == []
    assert [r["id"] for r in run_json("list", "--all")] == [endpoint.pk]
    assert len(run_json("deliveries", str(endpoint.pk))) == 1
    assert "there is no webhook" in run("remove", str(endpoint.pk), expect=1).output
    assert "there is no webhook 999" in run("rotate", "999", expect=1).output


def test_the_delivery_log_and_replay(school: m.School, receiver: Receiver) -> None:
    endpoint, secret = webhook_endpoint_add(url=receiver.url, actor="t", school=school)
    receiver.secret = secret
    receiver.answer = 500
    apply(school, [pupil("P1", "Ada", "Lovelace"), pupil("P2", "Alan", "Turing")], DAY1)
    now = timezone.now()
    for hours in range(12):  # one try per pass at a failing endpoint: each in turn
        deliveries_dispatch(now=now + timedelta(hours=hours))
    log = run_json("deliveries", str(endpoint.pk), "--status", "failed")
    assert len(log) == 2
    assert all(r["attempts"] == 5 and r["last_status_code"] == 500 for r in log)
    assert [a["outcome"] for a in log[0]["log"]] == ["retry"] * 4 + ["failed"]
    assert "answered 500" in run("deliveries", str(endpoint.pk)).output
    receiver.answer = 204
    queued = run_json("replay", str(endpoint.pk), "--failed")
    assert queued == {"id": endpoint.pk, "queued": 2}
    deliveries_dispatch()
    assert sorted(receiver.types()) == ["account.created", "account.created"]
    ids = {r.msg_id for r in receiver.received}
    assert ids == set(WebhookDelivery.objects.values_list("msg_id", flat=True))
    # a delivered one replayed: the same webhook-id again (a receiver can tell)
    one = WebhookDelivery.objects.order_by("pk").first()
    assert one is not None
    assert run_json("replay", str(endpoint.pk), "--delivery", str(one.pk))["queued"] == 1
    deliveries_dispatch()
    assert receiver.received[-1].msg_id == one.msg_id
    assert m.AuditEvent.objects.filter(action="webhook_replayed").count() == 2
    # asking for what is not there changes nothing
    before = list(WebhookDelivery.objects.order_by("pk").values())
    assert (
        "no delivery 999" in run("replay", str(endpoint.pk), "--delivery", "999", expect=1).output
    )
    run("replay", str(endpoint.pk), expect=2)
    run("replay", str(endpoint.pk), "--failed", "--since", "2026-01-01", expect=2)
    assert list(WebhookDelivery.objects.order_by("pk").values()) == before


def test_a_disabled_endpoint_is_replayed_only_once_enabled(
    school: m.School, receiver: Receiver
) -> None:
    endpoint, secret = webhook_endpoint_add(url=receiver.url, actor="t", school=school)
    receiver.secret = secret
    receiver.answer = 410
    apply(school, [pupil("P1", "Ada", "Lovelace"), pupil("P2", "Alan", "Turing")], DAY1)
    deliveries_dispatch()
    assert "enable it first" in run("replay", str(endpoint.pk), "--failed", expect=1).output
    receiver.answer = 204
    run_json("enable", str(endpoint.pk))
    deliveries_dispatch()  # what waited goes now
    run_json("replay", str(endpoint.pk), "--failed")  # and the one that met the 410
    deliveries_dispatch()
    assert sorted(receiver.types()) == ["account.created", "account.created"]
    assert "already active" in run("enable", str(endpoint.pk), expect=1).output


def test_secrets_follow_a_change_of_connection_keys(
    school: m.School, receiver: Receiver, monkeypatch: Any
) -> None:
    from cryptography.fernet import Fernet

    old_key = os.environ["ROLLSYNC_CONNECTION_KEYS"]
    _, receiver.secret = webhook_endpoint_add(url=receiver.url, actor="t", school=school)
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("ROLLSYNC_CONNECTION_KEYS", f"{new_key},{old_key}")
    assert run_json("rekey") == {"resealed": 1}
    monkeypatch.setenv("ROLLSYNC_CONNECTION_KEYS", new_key)  # the old key dropped
    apply(school, [pupil("P1", "Ada", "Lovelace")], DAY1)
    deliveries_dispatch()
    assert receiver.types() == ["account.created"]
    # a key lost: nothing is sent, the pass goes on, the log says what to do
    monkeypatch.setenv("ROLLSYNC_CONNECTION_KEYS", Fernet.generate_key().decode())
    apply(school, [pupil("P1", "Ada", "Byron")], DAY2)
    result = deliveries_dispatch()
    assert (result.sent, result.retrying) == (1, 1)
    assert receiver.requests == 1
    delivery = WebhookDelivery.objects.get(type="account.updated")
    assert "cannot be decrypted" in delivery.last_error
    assert delivery.status == "pending"
    assert m.AuditEvent.objects.filter(action="webhook_secrets_resealed").count() == 1


class _Person:
    """A principal at the tenancy chokepoint with one role grant."""

    def __init__(self, role: str, *, school_id: int | None = None, la_id: int | None = None):
        self.grant = Grant(role, school_id=school_id, la_id=la_id)

    def access_grants(self) -> list[Grant]:
        return [self.grant]


def test_who_sees_which_endpoint(
    school: m.School, other_school: m.School, far_school: m.School
) -> None:
    url = "https://hooks.example.org/in"
    mine, _ = webhook_endpoint_add(url=url, actor="t", school=school)
    theirs, _ = webhook_endpoint_add(url=url, actor="t", school=other_school)
    la, _ = webhook_endpoint_add(url=url, actor="t", la=school.la)
    far, _ = webhook_endpoint_add(url=url, actor="t", la=far_school.la)

    def seen(principal: Any) -> list[int]:
        return [e.pk for e in endpoints_for(principal)]

    assert seen(OPERATOR) == [mine.pk, theirs.pk, la.pk, far.pk]
    assert seen(_Person("school_admin", school_id=school.pk)) == [mine.pk]
    assert seen(_Person("la_admin", la_id=school.la_id)) == [mine.pk, theirs.pk, la.pk]
    assert seen(_Person("la_admin", la_id=far_school.la_id)) == [far.pk]
    assert endpoint_for(_Person("school_admin", school_id=school.pk), theirs.pk) is None
    # an endpoint, as a principal, reads its own scope's schools only
    assert list(schools_for(mine).values_list("urn", flat=True)) == ["100001"]
    assert sorted(schools_for(la).values_list("urn", flat=True)) == ["100001", "100002"]
    run_json("remove", str(la.pk))
    la.refresh_from_db()
    assert list(schools_for(la)) == []  # removed: no grants at all
