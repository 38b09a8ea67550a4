"""Credentials of downstream services. Only hashes of secrets are stored: a client's
secret (or a SCIM client's bearer token) is shown once, at creation or rotation, and
an OAuth access token is handed out once by `POST /oauth/token`."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models
from django.db.models import Q

from rollsync.access.scoped import SchoolOrLaScoped, one_scope
from rollsync.access.selectors import Grant


class ClientKind(models.TextChoices):
    ONEROSTER = "oneroster", "OneRoster (OAuth 2.0 client credentials)"
    SCIM = "scim", "SCIM 2.0 (bearer token)"


class DownstreamClient(SchoolOrLaScoped):
    """A downstream service (Microsoft SDS, Google Classroom, an identity platform),
    scoped to one school or one LA's schools, read-only. It is a principal for
    `access.selectors.restrict` through `access_grants()`."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=ClientKind.choices)
    client_id = models.CharField(max_length=40, unique=True)  # public: names the client
    secret_prefix = models.CharField(max_length=12)  # the secret's first characters
    secret_hash = models.CharField(max_length=64, unique=True)  # hex SHA-256 of the secret
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, default="")
    rotated_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        constraints = [one_scope("downstream_client_one_scope")]

    def __str__(self) -> str:
        scope = f"school {self.school_id}" if self.school_id else f"LA {self.la_id}"
        return f"{self.kind} client {self.client_id} {self.name} ({scope})"

    def access_grants(self) -> Sequence[Grant]:
        """Read-only, at its school or LA; none once revoked."""
        if self.revoked_at is not None:
            return ()
        return self.read_only_grants()


class AccessToken(models.Model):
    """A short-lived OAuth 2.0 bearer token issued to a OneRoster client."""

    client = models.ForeignKey(DownstreamClient, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)  # hex SHA-256 of the token
    scopes = models.TextField()  # space-separated, as granted
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"access token {self.pk} of {self.client_id} until {self.expires_at}"


class ExportSchedule(SchoolOrLaScoped):
    """An export written on a schedule into a directory on the server: one school or one
    LA, OneRoster or SDS, bulk each time or delta (what changed since the previous
    successful run of this schedule; its first run is a bulk). Cron fields in the LA's
    time, as an MIS pull's. It is a read-only principal at its scope, so what it writes
    is read through `access.selectors.restrict` like any other reader's."""

    class Format(models.TextChoices):
        ONEROSTER = "oneroster", "OneRoster 1.2 CSV"
        SDS = "sds", "Microsoft SDS v2.1 CSV"

    class Kind(models.TextChoices):
        BULK = "bulk", "Bulk (everyone, every time)"
        DELTA = "delta", "Delta (what changed since the previous run)"

    fmt = models.CharField(max_length=10, choices=Format.choices)
    kind = models.CharField(max_length=5, choices=Kind.choices)
    schedule = models.CharField(max_length=100)  # five cron fields, in the LA's time
    destination = models.CharField(max_length=1000)  # a directory on the server
    keep = models.PositiveIntegerField()  # files of this schedule kept; older ones removed
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The moment the last successful run read the directory at: the next delta's `since`.
    covered_until = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=10, blank=True, default="")  # succeeded|failed
    last_error = models.TextField(blank=True, default="")  # why it failed, in a person's words
    last_file = models.CharField(max_length=1200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        constraints = [
            one_scope("export_schedule_one_scope"),
            models.CheckConstraint(condition=Q(keep__gte=1), name="export_schedule_keeps_one"),
        ]

    def __str__(self) -> str:
        return f"export schedule {self.pk}: {self.scope_label} {self.fmt} {self.kind}"

    def access_grants(self) -> Sequence[Grant]:
        """Read-only at its school or LA: what the tenancy chokepoint lets it export."""
        return self.read_only_grants()
