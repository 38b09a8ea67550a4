"""Webhook endpoints, the outbox of deliveries, and each attempt (the delivery log).

Tables and constraints only: the rules are in `services` (writes) and `selectors`
(reads)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models

from rollsync.access.scoped import SchoolOrLaScoped, one_scope
from rollsync.access.selectors import Grant
from rollsync.directory.models import Account, School


class WebhookEndpoint(SchoolOrLaScoped):
    """A URL that receives the change events of one school, or of every school of one
    LA. Its signing secret (`whsec_...`) is sealed with Fernet (`directory.secrets`);
    after a rotation the previous secret also signs until `previous_expires_at`."""

    class State(models.TextChoices):
        ACTIVE = "active"
        DISABLED = "disabled"  # answered 410 Gone, or disabled by an operator: nothing sent
        REMOVED = "removed"  # removed: its secret forgotten, kept for its delivery log

    url = models.CharField(max_length=2000)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    state_reason = models.TextField(blank=True, default="")
    secrets = models.BinaryField(default=b"")  # sealed {"secret": ..., "previous": ...}
    previous_expires_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [one_scope("webhook_endpoint_one_scope")]

    def __str__(self) -> str:
        return f"webhook {self.pk} {self.url}"

    def access_grants(self) -> Sequence[Grant]:
        """The endpoint as a principal at the tenancy chokepoint: it reads what a
        read-only person of its school (or LA) reads; nothing once it is not active."""
        if self.state != self.State.ACTIVE:
            return ()
        return self.read_only_grants()


class WebhookDelivery(models.Model):
    """One event for one endpoint: the outbox row, written in the transaction of the
    change, and then the state of its delivery. `body` is the exact JSON sent (signed
    as it is); `msg_id` is the `webhook-id`, the same on every attempt and replay.
    `chain` orders deliveries: an endpoint gets an account's events one at a time, in
    the order they happened (ids ascend in commit order: an LA's changes are made under
    its lock)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # gave up (attempts spent, or 410 Gone): replay sends it again
        CANCELLED = "cancelled"  # its endpoint was removed

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries"
    )
    msg_id = models.CharField(max_length=40)
    type = models.CharField(max_length=40)
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    chain = models.CharField(max_length=64)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "chain", "status"], name="webhook_delivery_chain"),
            # retention: the finished ones made before the cutoff (ops.services)
            models.Index(fields=["status", "created_at"], name="webhook_delivery_age"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} {self.type} to endpoint {self.endpoint_id}: {self.status}"


class WebhookAttempt(models.Model):
    """One try at sending a delivery: when, what the endpoint answered, or why it could
    not be reached. The delivery log an operator reads."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    outcome = models.CharField(max_length=20)  # succeeded | retry | failed | disabled

    def __str__(self) -> str:
        return f"attempt at {self.at}: {self.outcome}"
