"""A school's or an LA's connection to a Google Workspace or Microsoft 365 tenant, and
the report of each provisioning run. Settings are plain; the credential (Google: the
service account's key file; Microsoft: the app's client secret) is sealed with Fernet
(`directory.secrets`), never shown again, replaced by connecting again, and forgotten on
disconnect."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models
from django.db.models import Q

from rollsync.access.scoped import SchoolOrLaScoped, one_scope
from rollsync.access.selectors import Grant


class TenantKind(models.TextChoices):
    GOOGLE = "google", "Google Workspace"
    MICROSOFT = "microsoft", "Microsoft 365"


class TenantConnection(SchoolOrLaScoped):
    """Switched on by an operator (`rollsync provision connect`). It is a principal for
    `access.selectors.restrict` (read-only at its school or LA; nothing once
    disconnected), so a run reads only its own schools' people."""

    kind = models.CharField(max_length=10, choices=TenantKind.choices)
    settings = models.JSONField(default=dict)
    secrets = models.BinaryField(default=b"")  # Fernet token; b"" once disconnected
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, default="")
    secret_replaced_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    # A run holds the connection while it runs; a hold older than the lease is taken over.
    running_since = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    # Dry run first: the first push after a (re)connect waits for a dry run of it.
    planned_at = models.DateTimeField(null=True, blank=True)
    # Scheduled runs: cron fields in the LA's time ("" = only when asked); the worker's
    # every-minute schedule queues the runs whose time has come (tenants/tasks.py).
    schedule = models.CharField(max_length=60, blank=True, default="")
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [
            one_scope("tenant_connection_one_scope"),
            models.UniqueConstraint(
                fields=["kind", "school"],
                condition=Q(school__isnull=False),
                name="tenant_connection_one_per_school",
            ),
            models.UniqueConstraint(
                fields=["kind", "la"],
                condition=Q(la__isnull=False),
                name="tenant_connection_one_per_la",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} tenant of {self.scope_label}"

    def access_grants(self) -> Sequence[Grant]:
        if not self.enabled:
            return ()
        return self.read_only_grants()


class ProvisionRun(models.Model):
    """One run's report: what was planned, what was pushed, what failed and why."""

    class Status(models.TextChoices):
        RUNNING = "running"
        PLANNED = "planned"  # a dry run: nothing was sent to the tenant
        APPLIED = "applied"
        PARTIAL = "partial"  # applied, some records refused (see actions)
        STOPPED = "stopped"  # the tenant stopped answering; the next run resumes
        FAILED = "failed"  # nothing was changed (credentials refused, tenant unreadable)

    connection = models.ForeignKey(TenantConnection, on_delete=models.CASCADE, related_name="runs")
    actor = models.CharField(max_length=150)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict)  # planned actions per kind
    pushed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    actions = models.JSONField(default=list)  # [{kind, key, user, reason, changes, ok, error}]
    error = models.TextField(blank=True, default="")
    requests = models.PositiveIntegerField(default=0)  # HTTP tries, retries included
    throttled = models.PositiveIntegerField(default=0)  # answers that said "slow down"

    class Meta:
        indexes = [models.Index(fields=["connection", "started_at"], name="provision_run_conn_at")]

    def __str__(self) -> str:
        return f"provision run {self.pk} ({self.status})"
