"""Webhook writes: endpoints (add, rotate, disable and enable, remove), the outbox (one
delivery row per event and endpoint, in the transaction of the change) and the
dispatcher that sends them after the commit (docs/downstream.md#webhooks).

Delivery rules (Standard Webhooks): success is a 2xx answer only; a 410 Gone disables
the endpoint (nothing more is sent to it until an operator enables it again); anything
else (another status, a redirect, a timeout, no connection) is tried again after the
next delay of `ROLLSYNC_WEBHOOK_RETRY_SCHEDULE` (seconds; each delay varied by up to a
fifth either way so retries do not arrive together; a longer Retry-After on 429/503 is
obeyed), and after the last the delivery is `failed` (an operator replays it). An
endpoint gets the events of one account one at a time, in the order they happened; a
failing endpoint is tried once per pass (the rest of its deliveries wait), and its
first success brings its waiting deliveries forward.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from rollsync.access.roles import Action
from rollsync.access.scoped import scope_given
from rollsync.access.selectors import schools_for
from rollsync.directory import models as m
from rollsync.directory import secrets as sealed
from rollsync.directory.services import locks
from rollsync.directory.services.audit import AuditLog, audit_listeners_set
from rollsync.directory.services.errors import CONFLICT, INVALID, NOT_FOUND, ServiceError
from rollsync.webhooks import events as ev
from rollsync.webhooks import sending
from rollsync.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:  # imported where a delivery is sent: every process loads this module
    import httpx

_log = logging.getLogger("rollsync.webhooks")

DEFAULT_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
JITTER = 0.2  # each delay varied by up to this share either way
RETRY_AFTER_CAP = 86400.0  # the longest Retry-After obeyed, in seconds


class WebhookError(ServiceError):
    """A refused webhook change: nothing was changed."""


# --- endpoints -----------------------------------------------------------------------


def _check_url(url: str) -> str:
    """The connectors' URL rule (https, plain http only to this machine; no user name,
    password, query or fragment), keeping the URL as given."""
    from rollsync.connectors.errors import UnsafeUrl
    from rollsync.connectors.http import check_base_url

    text = (url or "").strip()
    if len(text) > 2000:
        raise WebhookError("the URL is longer than 2,000 characters", code=INVALID, field="url")
    try:
        check_base_url(text, field="url")
    except UnsafeUrl as exc:
        said = exc.message.replace(
            "rollsync calls an MIS over https only", "webhooks go over https"
        ).replace("is for a simulator on this machine", "only to a receiver on this machine")
        raise WebhookError(said, code=INVALID, field="url") from None
    return text


def _audited(endpoint: WebhookEndpoint, actor: str, kind: str, reason: str) -> None:
    """Write the endpoint's audit event (never its secret)."""
    audit = AuditLog(actor=actor, school=endpoint.school)
    about = {"webhook": endpoint.pk, "url": endpoint.url}
    if kind == "added":
        audit.add("webhook_added", reason, changes=about)
    elif kind == "rotated":
        audit.add("webhook_rotated", reason, changes=about)
    elif kind == "removed":
        audit.add("webhook_removed", reason, changes=about)
    elif kind == "enabled":
        audit.add("webhook_enabled", reason, changes=about)
    elif kind == "replayed":
        audit.add("webhook_replayed", reason, changes=about)
    else:
        audit.add("webhook_disabled", reason, changes=about)
    audit.flush()


@transaction.atomic
def webhook_endpoint_add(
    *,
    url: str,
    actor: str,
    school: m.School | None = None,
    la: m.LocalAuthority | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint for one school or one LA. Returns it and its signing secret, which
    is shown this once (it is stored sealed and never printed again)."""
    if not scope_given(school=school, la=la):
        raise WebhookError("give exactly one of a school or an LA", code=INVALID, field="scope")
    text = _check_url(url)
    # Under the LA's lock, taken first: a write of the LA either committed before the
    # endpoint exists or sees that something now listens (locks.none_listened).
    if la is not None:
        audit_listeners_set(la_id=la.pk, listening=True)
    else:
        assert school is not None
        audit_listeners_set(la_id=school.la_id, listening=True)
    secret = sending.new_secret()
    endpoint = WebhookEndpoint.objects.create(
        url=text,
        school=school,
        la=la,
        secrets=sealed.seal({"secret": secret}),
        created_by=actor,
    )
    _audited(endpoint, actor, "added", f"Webhook {endpoint.pk} added for {endpoint.scope_label}")
    return endpoint, secret


def _scope_la_id(endpoint_id: int) -> int | None:
    """The LA an endpoint's events come from (read unlocked: its scope never changes)."""
    row = (
        WebhookEndpoint.objects.filter(pk=endpoint_id).values_list("la_id", "school__la_id").first()
    )
    return None if row is None else row[0] or row[1]


def _listeners_recount(la_id: int) -> None:
    """After an endpoint stops listening: whether any of the LA's still does."""
    listening = WebhookEndpoint.objects.filter(
        Q(la_id=la_id) | Q(school__la_id=la_id), state=WebhookEndpoint.State.ACTIVE
    ).exists()
    audit_listeners_set(la_id=la_id, listening=listening)


def _locked(endpoint_id: int) -> WebhookEndpoint:
    endpoint = (
        WebhookEndpoint.objects.select_for_update()
        .filter(pk=endpoint_id)
        .exclude(state=WebhookEndpoint.State.REMOVED)
        .first()
    )
    if endpoint is None:
        raise WebhookError(f"there is no webhook {endpoint_id}", code=NOT_FOUND)
    return endpoint


@transaction.atomic
def webhook_endpoint_rotate(
    *, endpoint_id: int, actor: str, keep_previous: timedelta = timedelta(hours=24)
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret, shown once. The previous one also signs for `keep_previous`
    (both signatures in `webhook-signature`), so a receiver can switch without losing
    an event; zero drops it at once."""
    endpoint = _locked(endpoint_id)
    if keep_previous < timedelta(0):
        raise WebhookError("the old secret cannot be kept for less than nothing", field="keep")
    old = sealed.unseal(endpoint.secrets).get("secret", "")
    secret = sending.new_secret()
    values = {"secret": secret}
    if keep_previous > timedelta(0) and old:
        values["previous"] = old
        endpoint.previous_expires_at = timezone.now() + keep_previous
    else:
        endpoint.previous_expires_at = None
    endpoint.secrets = sealed.seal(values)
    endpoint.save(update_fields=["secrets", "previous_expires_at", "updated_at"])
    _audited(endpoint, actor, "rotated", f"Webhook {endpoint.pk}'s secret replaced")
    return endpoint, secret


@transaction.atomic
def webhook_secrets_reseal(*, actor: str) -> int:
    """Every endpoint's secrets sealed again under the first (newest) connection key, so
    an old key can be dropped from ROLLSYNC_CONNECTION_KEYS. Returns how many."""
    count = 0
    for endpoint in WebhookEndpoint.objects.select_for_update().exclude(secrets=b""):
        endpoint.secrets = sealed.reseal(endpoint.secrets)
        endpoint.save(update_fields=["secrets", "updated_at"])
        count += 1
    audit = AuditLog(actor=actor)
    audit.add("webhook_secrets_resealed", f"{count} webhook secrets sealed under the newest key")
    audit.flush()
    return count


@transaction.atomic
def webhook_endpoint_remove(*, endpoint_id: int, actor: str) -> WebhookEndpoint:
    """Stop sending: the secret is forgotten, undelivered events are cancelled; the
    endpoint and its delivery log are kept for the record."""
    la_id = _scope_la_id(endpoint_id)
    if la_id is not None:
        locks.la_lock(la_id=la_id)  # the LA's lock first, as every writer takes it
    endpoint = _locked(endpoint_id)
    endpoint.state = WebhookEndpoint.State.REMOVED
    endpoint.state_reason = f"removed by {actor}"
    endpoint.secrets = b""
    endpoint.previous_expires_at = None
    endpoint.save()
    WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.PENDING).update(
        status=WebhookDelivery.Status.CANCELLED, lease_until=None
    )
    _audited(endpoint, actor, "removed", f"Webhook {endpoint.pk} removed")
    if la_id is not None:
        _listeners_recount(la_id)
    return endpoint


@transaction.atomic
def webhook_endpoint_enable(*, endpoint_id: int, actor: str) -> WebhookEndpoint:
    """Send again to a disabled endpoint (after a 410 the receiver was fixed): what waited
    is sent, and events from now on are delivered."""
    la_id = _scope_la_id(endpoint_id)
    if la_id is not None:  # before the endpoint's lock: the LA's lock comes first
        audit_listeners_set(la_id=la_id, listening=True)
    endpoint = _locked(endpoint_id)
    if endpoint.state == WebhookEndpoint.State.ACTIVE:
        raise WebhookError(f"webhook {endpoint_id} is already active", code=CONFLICT)
    endpoint.state = WebhookEndpoint.State.ACTIVE
    endpoint.state_reason = ""
    endpoint.failing_since = None
    endpoint.save()
    _audited(endpoint, actor, "enabled", f"Webhook {endpoint.pk} enabled again")
    transaction.on_commit(_kick)
    return endpoint


@transaction.atomic
def webhook_deliveries_replay(
    *,
    endpoint_id: int,
    actor: str,
    delivery_ids: Sequence[int] = (),
    failed: bool = False,
    since: datetime | None = None,
) -> int:
    """Send deliveries again (their `webhook-id` unchanged, so a receiver that already
    has one can tell): the ones named, every failed one, or every one since a time.
    Returns how many were queued."""
    endpoint = _locked(endpoint_id)
    if endpoint.state != WebhookEndpoint.State.ACTIVE:
        raise WebhookError(
            f"webhook {endpoint_id} is {endpoint.state} ({endpoint.state_reason}): enable it first",
            code=CONFLICT,
        )
    if sum((bool(delivery_ids), failed, since is not None)) != 1:
        raise WebhookError(
            "choose exactly one of --delivery ID, --failed or --since TIME", field="which"
        )
    chosen = WebhookDelivery.objects.filter(endpoint=endpoint)
    if delivery_ids:
        wanted = set(delivery_ids)
        found = set(chosen.filter(pk__in=wanted).values_list("pk", flat=True))
        if wanted - found:
            missing = ", ".join(str(i) for i in sorted(wanted - found))
            raise WebhookError(
                f"webhook {endpoint_id} has no delivery {missing}", code=NOT_FOUND, field="delivery"
            )
        chosen = chosen.filter(pk__in=wanted)
    elif failed:
        chosen = chosen.filter(status=WebhookDelivery.Status.FAILED)
    else:
        chosen = chosen.filter(created_at__gte=since)
    chosen = chosen.exclude(status=WebhookDelivery.Status.CANCELLED)
    now = timezone.now()
    count = chosen.update(
        status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=now, lease_until=None
    )
    _audited(
        endpoint, actor, "replayed", f"{count} deliveries of webhook {endpoint.pk} queued again"
    )
    if count:
        transaction.on_commit(_kick)
    return count


# --- the outbox ----------------------------------------------------------------------


def outbox_record(events: list[m.AuditEvent]) -> None:
    """Called by `AuditLog.flush` with the events it wrote, in the same transaction: one
    delivery row per event subscribers hear of and endpoint whose scope (through the
    tenancy chokepoint) holds the event's school. Nothing is written, and only one query
    made, when no endpoint listens; none when the LA's row, read under its lock in this
    transaction, says nothing listens (`locks.none_listened`)."""
    typed = [(e, kind) for e in events if (kind := ev.event_type(e)) is not None]
    if not typed:
        return
    school_ids = {e.school_id for e, _ in typed}
    la_ids = {e.school.la_id for e, _ in typed if e.school is not None}
    if locks.none_listened(la_ids):
        return  # read under the LA's lock in this transaction: nothing listens
    endpoints = list(
        WebhookEndpoint.objects.filter(state=WebhookEndpoint.State.ACTIVE).filter(
            Q(school_id__in=school_ids) | Q(la_id__in=la_ids)
        )
    )
    if not endpoints:
        return
    sees = {
        ep.pk: set(
            schools_for(ep, Action.VIEW).filter(pk__in=school_ids).values_list("pk", flat=True)
        )
        for ep in endpoints
    }
    found = [e for e, _ in typed]
    schools = {
        pk: {"urn": urn, "la": la}
        for pk, urn, la in m.School.objects.filter(pk__in=school_ids).values_list(
            "pk", "urn", "la__code"
        )
    }
    accounts = {
        row["pk"]: {
            "id": str(row["uid"]),
            "username": row["username"],
            "role": row["role"],
            "status": row["status"],
        }
        for row in m.Account.objects.filter(pk__in=ev.needed_accounts(found)).values(
            "pk", "uid", "username", "role", "status"
        )
    }
    wanted_groups = ev.needed_groups(found)
    groups: dict[tuple[int, str], dict[str, Any]] = {}
    if wanted_groups:
        for pk, school_id, mis_id, name, kind in m.Group.objects.filter(
            school_id__in={s for s, _ in wanted_groups}, mis_id__in={g for _, g in wanted_groups}
        ).values_list("pk", "school_id", "mis_id", "name", "kind"):
            groups[(school_id, mis_id)] = {"id": pk, "mis_id": mis_id, "name": name, "kind": kind}
    now = timezone.now()
    rows: list[WebhookDelivery] = []
    for event, kind in typed:
        assert event.school_id is not None
        data = ev.event_data(
            event, kind, school=schools[event.school_id], accounts=accounts, groups=groups
        )
        at = event.at or now
        body = json.dumps(
            {"type": kind, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data},
            ensure_ascii=False,
            separators=(",", ":"),
            default=str,
        )
        msg_id = f"msg_{uuid.uuid4().hex}"
        chain = f"account:{event.account_id}" if event.account_id else f"school:{event.school_id}"
        rows.extend(
            WebhookDelivery(
                endpoint=ep,
                msg_id=msg_id,
                type=kind,
                school_id=event.school_id,
                account_id=event.account_id,
                chain=chain,
                body=body,
                next_attempt_at=now,
            )
            for ep in endpoints
            if event.school_id in sees[ep.pk]
        )
    if rows:
        WebhookDelivery.objects.bulk_create(rows, batch_size=500)
        transaction.on_commit(_kick)


def _kick() -> None:
    """After the commit: ask the queue to send now (the schedule sends them anyway)."""
    try:
        from rollsync.webhooks.tasks import enqueue_dispatch

        enqueue_dispatch()
    except Exception:  # the change is committed; the schedule delivers within a minute
        _log.exception("could not queue the webhook dispatcher")


# --- the dispatcher ------------------------------------------------------------------


def retry_schedule() -> tuple[float, ...]:
    """The delay before each attempt, in seconds (the first is the first attempt's)."""
    value = getattr(settings, "ROLLSYNC_WEBHOOK_RETRY_SCHEDULE", DEFAULT_SCHEDULE)
    return tuple(float(v) for v in value) or DEFAULT_SCHEDULE


def next_delay(attempts: int, *, retry_after: float | None = None) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones, or None: give up."""
    schedule = retry_schedule()
    if attempts >= len(schedule):
        return None
    delay = schedule[attempts] * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay


@dataclass
class DispatchResult:
    sent: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    disabled: list[int] = field(default_factory=list)


def _due(now: datetime, skip: set[int]) -> Any:
    earlier = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        chain=OuterRef("chain"),
        status=WebhookDelivery.Status.PENDING,
        pk__lt=OuterRef("pk"),
    )
    return (
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
            endpoint__state=WebhookEndpoint.State.ACTIVE,
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .exclude(endpoint_id__in=skip)
        .exclude(Exists(earlier))
        .order_by("next_attempt_at", "pk")  # the longest waiting first: a failing endpoint's
    )  # one try per pass goes to each of its deliveries in turn


def _claim(now: datetime, skip: set[int], batch: int, lease: float) -> list[int]:
    """Take up to `batch` due deliveries, each the first undelivered one of its chain,
    under a lease (another dispatcher skips them meanwhile)."""
    with transaction.atomic():
        ids = list(
            _due(now, skip)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:batch]
        )
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(
                lease_until=now + timedelta(seconds=lease)
            )
    return ids


def deliveries_dispatch(
    *,
    now: datetime | None = None,
    limit: int = 1000,
    client: httpx.Client | None = None,
) -> DispatchResult:
    """Send what is due, until nothing is or `limit` were sent. `now` decides what is due
    and when retries fall (tests move it on); signatures carry the real time."""
    now = now or timezone.now()
    timeout = float(getattr(settings, "ROLLSYNC_WEBHOOK_TIMEOUT", 15))
    result = DispatchResult()
    skip: set[int] = set()  # endpoints that failed in this pass: tried again next pass
    scopes: dict[int, set[int]] = {}
    own = client is None
    if client is None:
        import httpx

        client = httpx.Client(timeout=timeout, follow_redirects=False)
    try:
        while result.sent < limit:
            ids = _claim(now, skip, min(100, limit - result.sent), lease=timeout * 2 + 30)
            if not ids:
                break
            claimed = WebhookDelivery.objects.filter(pk__in=ids).select_related("endpoint")
            for delivery in sorted(claimed, key=lambda d: ids.index(d.pk)):
                endpoint = delivery.endpoint
                if endpoint.pk in skip:
                    WebhookDelivery.objects.filter(pk=delivery.pk).update(lease_until=None)
                    continue
                if endpoint.pk not in scopes:
                    scopes[endpoint.pk] = set(
                        schools_for(endpoint, Action.VIEW).values_list("pk", flat=True)
                    )
                if delivery.school_id not in scopes[endpoint.pk]:
                    _record(delivery, None, now, result, out_of_scope=True)
                    continue
                try:
                    keys = _keys(endpoint, timezone.now())
                except sealed.SecretsUnreadable:
                    answer = sending.Answer(
                        None,
                        "not sent: the endpoint's secret cannot be decrypted with this"
                        " install's keys (ROLLSYNC_CONNECTION_KEYS): rotate it",
                    )
                else:
                    headers = sending.signed_headers(
                        keys=keys, msg_id=delivery.msg_id, body=delivery.body, at=timezone.now()
                    )
                    answer = sending.post(client, endpoint.url, headers=headers, body=delivery.body)
                result.sent += 1
                if not _record(delivery, answer, now, result):
                    skip.add(endpoint.pk)
    finally:
        if own:
            client.close()
    return result


def _keys(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    values = sealed.unseal(endpoint.secrets)
    keys = [values["secret"]]
    if (
        values.get("previous")
        and endpoint.previous_expires_at
        and endpoint.previous_expires_at > now
    ):
        keys.append(values["previous"])
    return keys


@transaction.atomic
def _record(
    delivery: WebhookDelivery,
    answer: sending.Answer | None,
    now: datetime,
    result: DispatchResult,
    *,
    out_of_scope: bool = False,
) -> bool:
    """Log the attempt and move the delivery on. Returns False when the endpoint failed
    (the rest of its deliveries wait for the next pass)."""
    row = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=row.endpoint_id)
    row.lease_until = None
    if out_of_scope:
        row.status = WebhookDelivery.Status.CANCELLED
        row.last_error = "the event's school is outside the endpoint's scope: not sent"
        row.save()
        return True
    assert answer is not None
    row.attempts += 1
    row.last_status_code = answer.status
    row.last_error = answer.error
    if answer.ok:
        outcome = "succeeded"
        row.status = WebhookDelivery.Status.SUCCEEDED
        row.delivered_at = now
        result.succeeded += 1
        if endpoint.failing_since is not None:  # back: what waited goes now, in order
            endpoint.failing_since = None
            endpoint.save(update_fields=["failing_since", "updated_at"])
            WebhookDelivery.objects.filter(
                endpoint=endpoint, status=WebhookDelivery.Status.PENDING, next_attempt_at__gt=now
            ).update(next_attempt_at=now)
    elif answer.gone:
        outcome = "disabled"
        row.status = WebhookDelivery.Status.FAILED
        result.failed += 1
        result.disabled.append(endpoint.pk)
        endpoint.state = WebhookEndpoint.State.DISABLED
        endpoint.state_reason = "answered 410 Gone"
        endpoint.save(update_fields=["state", "state_reason", "updated_at"])
        _audited(
            endpoint,
            "webhooks",
            "disabled",
            f"Webhook {endpoint.pk} answered 410 Gone: nothing more is sent to it",
        )
    else:
        delay = next_delay(row.attempts, retry_after=answer.retry_after)
        if delay is None:
            outcome = "failed"
            row.status = WebhookDelivery.Status.FAILED
            result.failed += 1
        else:
            outcome = "retry"
            row.next_attempt_at = now + timedelta(seconds=delay)
            result.retrying += 1
        if endpoint.failing_since is None:
            endpoint.failing_since = now
            endpoint.save(update_fields=["failing_since", "updated_at"])
    row.save()
    WebhookAttempt.objects.create(
        delivery=row, at=now, status_code=answer.status, error=answer.error, outcome=outcome
    )
    return answer.ok
