"""Writes for the API app: API tokens (create, revoke, note their use). Uploads that
come through the API go to `directory.services.uploads.upload_receive`, like the web
app's."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from rollsync.access.scoped import scope_given
from rollsync.api.models import ApiToken
from rollsync.directory import models as m
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.errors import CONFLICT, NOT_FOUND, ServiceError

SECRET_PREFIX = "rsk_"  # makes a leaked rollsync token easy to recognise (secret scanners)
_LAST_USED_GRANULARITY = timedelta(minutes=1)  # at most one write a minute per token


class ApiTokenError(ServiceError, ValueError):
    """Bad token input; the message names the field (each door translates it once, as
    every `ServiceError`)."""


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _scope_label(token: ApiToken) -> str:
    if token.school is not None:
        return f"school {token.school.urn} {token.school.name}"
    assert token.la is not None
    return f"LA {token.la.code} {token.la.name}".rstrip()


@transaction.atomic
def api_token_create(
    *,
    name: str,
    school: m.School | None = None,
    la: m.LocalAuthority | None = None,
    read_only: bool = False,
    actor: str = "cli",
) -> tuple[ApiToken, str]:
    """Make a token scoped to one school or one LA. Returns the token and its secret:
    the secret is not stored (only its SHA-256) and cannot be shown again."""
    name = name.strip()
    if not name:
        raise ApiTokenError("name: a token needs a name (what uses it)")
    if len(name) > 100:
        raise ApiTokenError("name: at most 100 characters")
    if not scope_given(school=school, la=la):
        raise ApiTokenError("scope: give exactly one of a school or an LA")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name,
        prefix=secret[:12],
        token_hash=token_hash(secret),
        school=school,
        la=la,
        read_only=read_only,
        created_by=actor,
    )
    audit = AuditLog(actor=actor, school=school)
    audit.add(
        "api_token_created",
        f"API token {token.pk} '{name}' created for {_scope_label(token)}"
        f" ({'read-only' if read_only else 'read and write'})",
        changes={"token": token.pk, "read_only": read_only},
    )
    audit.flush()
    return token, secret


@transaction.atomic
def api_token_revoke(*, token_id: int, actor: str = "cli") -> ApiToken:
    """Stop a token working, at once and for good. The row stays, for the record."""
    token = (
        ApiToken.objects.select_for_update(of=("self",))
        .select_related("school", "la")
        .filter(pk=token_id)
        .first()
    )
    if token is None:
        raise ApiTokenError(f"token: no API token {token_id}", code=NOT_FOUND)
    if token.revoked_at is not None:
        raise ApiTokenError(f"token: API token {token_id} was already revoked", code=CONFLICT)
    token.revoked_at = timezone.now()
    token.revoked_by = actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    audit = AuditLog(actor=actor, school=token.school)
    audit.add(
        "api_token_revoked",
        f"API token {token.pk} '{token.name}' for {_scope_label(token)} revoked",
        changes={"token": token.pk},
    )
    audit.flush()
    return token


def api_token_authenticate(*, secret: str) -> ApiToken | None:
    """The live token with this secret, or None; notes when it was last used."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    token = (
        ApiToken.objects.select_related("school", "school__la", "la")
        .filter(token_hash=token_hash(secret), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= _LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
