"""API tokens. Only the SHA-256 of a token's secret is stored; the secret is shown once."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models

from rollsync.access.roles import RoleName
from rollsync.access.scoped import SchoolOrLaScoped, one_scope
from rollsync.access.selectors import Grant


class ApiToken(SchoolOrLaScoped):
    """A bearer token for the JSON API, scoped to one school or to one LA's schools."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)  # the secret's first characters, to tell tokens apart
    token_hash = models.CharField(max_length=64, unique=True)  # hex SHA-256 of the secret
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, default="")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        constraints = [one_scope("api_token_one_scope")]

    def __str__(self) -> str:
        scope = f"school {self.school_id}" if self.school_id else f"LA {self.la_id}"
        return f"API token {self.pk} {self.name} ({scope})"

    def access_grants(self) -> Sequence[Grant]:
        """The token's grants at the tenancy chokepoint (`access.selectors.restrict`):
        the roles of a person with the same scope. A read-only token reads (read-only
        role); a read-and-write token acts as the school's admin, or the LA's admin. A
        revoked token has none."""
        if self.revoked_at is not None:
            return ()
        if self.read_only:
            role = RoleName.READ_ONLY
        else:
            role = RoleName.SCHOOL_ADMIN if self.school_id is not None else RoleName.LA_ADMIN
        return (Grant(role.value, school_id=self.school_id, la_id=self.la_id),)
