"""Credentials of downstream services. Only hashes of secrets are stored: a client's
secret (or a SCIM client's bearer token) is shown once, at creation or rotation, and
an OAuth access token is handed out once by `POST /oauth/token`."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models
from django.db.models import Q

from rollsync.access.roles import RoleName
from rollsync.access.selectors import Grant
from rollsync.directory.models import LocalAuthority, School


class ClientKind(models.TextChoices):
    ONEROSTER = "oneroster", "OneRoster (OAuth 2.0 client credentials)"
    SCIM = "scim", "SCIM 2.0 (bearer token)"


class DownstreamClient(models.Model):
    """A downstream service (Microsoft SDS, Google Classroom, an identity platform),
    scoped to one school or one LA's schools, read-only. It is a principal for
    `access.selectors.restrict` through `access_grants()`."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=ClientKind.choices)
    client_id = models.CharField(max_length=40, unique=True)  # public: names the client
    secret_prefix = models.CharField(max_length=12)  # the secret's first characters
    secret_hash = models.CharField(max_length=64, unique=True)  # hex SHA-256 of the secret
    school = models.ForeignKey(
        School, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    la = models.ForeignKey(
        LocalAuthority, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, default="")
    rotated_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(school__isnull=False) & Q(la__isnull=True))
                | (Q(school__isnull=True) & Q(la__isnull=False)),
                name="downstream_client_one_scope",
            )
        ]

    def __str__(self) -> str:
        scope = f"school {self.school_id}" if self.school_id else f"LA {self.la_id}"
        return f"{self.kind} client {self.client_id} {self.name} ({scope})"

    def access_grants(self) -> Sequence[Grant]:
        """Read-only, at its school or LA; none once revoked."""
        if self.revoked_at is not None:
            return ()
        return (Grant(RoleName.READ_ONLY.value, school_id=self.school_id, la_id=self.la_id),)


class AccessToken(models.Model):
    """A short-lived OAuth 2.0 bearer token issued to a OneRoster client."""

    client = models.ForeignKey(DownstreamClient, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)  # hex SHA-256 of the token
    scopes = models.TextField()  # space-separated, as granted
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"access token {self.pk} of {self.client_id} until {self.expires_at}"
