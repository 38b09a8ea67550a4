"""Writes for downstream clients: create, rotate, revoke, and the checks that note a
client's use (client credentials, SCIM bearer tokens, OAuth access tokens).

Secrets are random (256 bits) and kept only as their SHA-256; each is returned once
by the service that makes it. A rotation or revocation ends the client's access
tokens at once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rollsync.access.selectors import Grant
from rollsync.directory import models as m
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.errors import CONFLICT, NOT_FOUND, ServiceError
from rollsync.downstream.models import AccessToken, ClientKind, DownstreamClient
from rollsync.downstream.scopes import ALL_SCOPES

CLIENT_ID_PREFIX = "rsc_"
SECRET_PREFIX = {ClientKind.ONEROSTER: "rss_", ClientKind.SCIM: "rst_"}
ACCESS_TOKEN_PREFIX = "rsa_"
_LAST_USED_GRANULARITY = timedelta(minutes=1)  # at most one write a minute per client
_MAX_SECRET = 200  # longer input is never one of ours: refused before any hashing


class DownstreamClientError(ServiceError, ValueError):
    """Bad client input; the message names the field."""


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def token_lifetime() -> int:
    """Seconds an OAuth access token lives (`ROLLSYNC_OAUTH_TOKEN_SECONDS`, 3600)."""
    return int(getattr(settings, "ROLLSYNC_OAUTH_TOKEN_SECONDS", 3600))


def scope_label(client: DownstreamClient) -> str:
    if client.school is not None:
        return f"school {client.school.urn}"
    assert client.la is not None
    return f"LA {client.la.code}"


def _new_secret(kind: str) -> str:
    return SECRET_PREFIX[ClientKind(kind)] + secrets.token_urlsafe(32)


def _locked(client_pk: int) -> DownstreamClient:
    client = (
        DownstreamClient.objects.select_for_update(of=("self",))
        .select_related("school", "la")
        .filter(pk=client_pk)
        .first()
    )
    if client is None:
        raise DownstreamClientError(f"client: no downstream client {client_pk}", code=NOT_FOUND)
    if client.revoked_at is not None:
        raise DownstreamClientError(
            f"client: downstream client {client_pk} was revoked", code=CONFLICT
        )
    return client


def _audited(
    client: DownstreamClient, actor: str, what: str
) -> tuple[AuditLog, str, dict[str, Any]]:
    """The audit log of a change to `client`, the event's reason and its changes."""
    reason = (
        f"{client.kind} client {client.pk} '{client.name}' ({client.client_id}) for "
        f"{scope_label(client)} {what}"
    )
    return (
        AuditLog(actor=actor, school=client.school),
        reason,
        {"client": client.pk, "kind": client.kind},
    )


@transaction.atomic
def downstream_client_create(
    *,
    name: str,
    kind: str,
    school: m.School | None = None,
    la: m.LocalAuthority | None = None,
    actor: str = "cli",
) -> tuple[DownstreamClient, str]:
    """A read-only client for one school or one LA. Returns it and its secret (a
    OneRoster client's `client_secret`, a SCIM client's bearer token): shown now only."""
    name = name.strip()
    if not name:
        raise DownstreamClientError("name: a client needs a name (the service that uses it)")
    if len(name) > 100:
        raise DownstreamClientError("name: at most 100 characters")
    if kind not in ClientKind.values:
        raise DownstreamClientError(f"kind: {kind!r} is not one of {', '.join(ClientKind.values)}")
    if (school is None) == (la is None):
        raise DownstreamClientError("scope: give exactly one of a school or an LA")
    secret = _new_secret(kind)
    client = DownstreamClient.objects.create(
        name=name,
        kind=kind,
        client_id=CLIENT_ID_PREFIX + secrets.token_urlsafe(12),
        secret_prefix=secret[:12],
        secret_hash=secret_hash(secret),
        school=school,
        la=la,
        created_by=actor,
    )
    audit, reason, changes = _audited(client, actor, "created (read-only)")
    audit.add("downstream_client_created", reason, changes=changes)
    audit.flush()
    return client, secret


@transaction.atomic
def downstream_client_rotate(*, client_pk: int, actor: str = "cli") -> tuple[DownstreamClient, str]:
    """A new secret for the client; the old one and every access token issued under it
    stop working at once. Returns the client and the new secret (shown now only)."""
    client = _locked(client_pk)
    secret = _new_secret(client.kind)
    client.secret_prefix = secret[:12]
    client.secret_hash = secret_hash(secret)
    client.rotated_at = timezone.now()
    client.save(update_fields=["secret_prefix", "secret_hash", "rotated_at"])
    AccessToken.objects.filter(client=client).delete()
    audit, reason, changes = _audited(client, actor, "given a new secret")
    audit.add("downstream_client_rotated", reason, changes=changes)
    audit.flush()
    return client, secret


@transaction.atomic
def downstream_client_revoke(*, client_pk: int, actor: str = "cli") -> DownstreamClient:
    """Stop a client working, at once and for good (its tokens too). The row stays."""
    client = _locked(client_pk)
    client.revoked_at = timezone.now()
    client.revoked_by = actor
    client.save(update_fields=["revoked_at", "revoked_by"])
    AccessToken.objects.filter(client=client).delete()
    audit, reason, changes = _audited(client, actor, "revoked")
    audit.add("downstream_client_revoked", reason, changes=changes)
    audit.flush()
    return client


def _note_use(client: DownstreamClient) -> None:
    now = timezone.now()
    if client.last_used_at is None or now - client.last_used_at >= _LAST_USED_GRANULARITY:
        DownstreamClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now


def _live(**lookup: object) -> DownstreamClient | None:
    return (
        DownstreamClient.objects.select_related("school", "la")
        .filter(revoked_at__isnull=True, **lookup)
        .first()
    )


def oneroster_client_authenticate(*, client_id: str, client_secret: str) -> DownstreamClient | None:
    """The live OneRoster client with these credentials, or None (the secret compared
    in constant time)."""
    if not client_id or len(client_id) > 40 or len(client_secret) > _MAX_SECRET:
        return None
    client = _live(client_id=client_id, kind=ClientKind.ONEROSTER)
    if client is None or not hmac.compare_digest(client.secret_hash, secret_hash(client_secret)):
        return None
    _note_use(client)
    return client


def scim_client_verify(*, token: str) -> DownstreamClient | None:
    """The live SCIM client whose bearer token this is, or None. The SCIM door calls
    this with the `Authorization: Bearer` value; the client is its principal."""
    if not token.startswith(SECRET_PREFIX[ClientKind.SCIM]) or len(token) > _MAX_SECRET:
        return None
    client = _live(secret_hash=secret_hash(token), kind=ClientKind.SCIM)
    if client is not None:
        _note_use(client)
    return client


@dataclass(frozen=True, slots=True)
class OneRosterCaller:
    """A request's principal on the OneRoster door: the client and the scopes its
    token was granted. Its grants are the client's (none once revoked)."""

    client: DownstreamClient
    scopes: frozenset[str]

    def access_grants(self) -> Sequence[Grant]:
        return self.client.access_grants()


@transaction.atomic
def access_token_store(
    *, client: DownstreamClient, token: str, scopes: Iterable[str], expires_in: int
) -> AccessToken:
    """Keep an issued access token's hash (called by the token endpoint once the
    client authenticated). Under the client's row lock, the client must still be live
    and hold the secret it authenticated with: a token asked for with a secret that a
    rotation or revocation ended meanwhile is refused (`conflict`), never kept.
    Expired tokens of the client are cleared on the way."""
    granted = sorted(set(scopes))
    unknown = [s for s in granted if s not in ALL_SCOPES]
    if unknown:
        raise DownstreamClientError(f"scope: not a OneRoster rostering scope: {unknown[0]}")
    still = DownstreamClient.objects.select_for_update().filter(
        pk=client.pk, revoked_at__isnull=True, secret_hash=client.secret_hash
    )
    if not still.exists():
        raise DownstreamClientError(
            "client: the secret was replaced or revoked meanwhile", code=CONFLICT
        )
    now = timezone.now()
    AccessToken.objects.filter(client=client, expires_at__lte=now).delete()
    return AccessToken.objects.create(
        client=client,
        token_hash=secret_hash(token),
        scopes=" ".join(granted),
        issued_at=now,
        expires_at=now + timedelta(seconds=expires_in),
    )


def access_token_verify(*, token: str, now: datetime | None = None) -> OneRosterCaller | None:
    """The caller behind a live, unexpired access token of a live client, or None."""
    if not token.startswith(ACCESS_TOKEN_PREFIX) or len(token) > _MAX_SECRET:
        return None
    row = (
        AccessToken.objects.select_related("client", "client__school", "client__la")
        .filter(
            token_hash=secret_hash(token),
            expires_at__gt=now or timezone.now(),
            client__revoked_at__isnull=True,
        )
        .first()
    )
    if row is None:
        return None
    _note_use(row.client)
    return OneRosterCaller(row.client, frozenset(row.scopes.split()))


def new_access_token() -> str:
    return ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)
