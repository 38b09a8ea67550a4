"""API tokens: the secret is shown once and only its SHA-256 is kept; scopes; revoking;
and how requests without a working token are answered."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from rollsync.api.models import ApiToken
from rollsync.api.selectors import api_tokens
from rollsync.api.services import (
    ApiTokenError,
    api_token_authenticate,
    api_token_create,
    api_token_revoke,
)
from rollsync.directory import models as m
from tests.api.conftest import Api


def test_create_keeps_only_the_hash_of_the_secret(school: m.School) -> None:
    token, secret = api_token_create(name=" hillside sync ", school=school, actor="operator")
    assert secret.startswith("rsk_") and len(secret) > 40
    stored = ApiToken.objects.get()
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {str(v) for v in ApiToken.objects.values().get().values()} - {
        stored.prefix
    }
    assert (stored.name, stored.school, stored.la, stored.read_only, stored.created_by) == (
        "hillside sync",
        school,
        None,
        False,
        "operator",
    )
    assert stored.prefix == secret[:12]
    assert (stored.last_used_at, stored.revoked_at) == (None, None)
    event = m.AuditEvent.objects.get(action="api_token_created")
    assert (event.actor, event.school, event.reason) == (
        "operator",
        school,
        f"API token {token.pk} 'hillside sync' created for school 100001 Hillside Primary"
        " (read and write)",
    )


def test_two_tokens_never_share_a_secret(school: m.School) -> None:
    secrets = {api_token_create(name=f"t{i}", school=school)[1] for i in range(20)}
    assert len(secrets) == 20


def test_an_la_token_and_a_read_only_token(school: m.School) -> None:
    token, _ = api_token_create(name="dashboards", la=school.la, read_only=True)
    assert (token.school, token.la, token.read_only) == (None, school.la, True)
    assert m.AuditEvent.objects.get(action="api_token_created").reason == (
        f"API token {token.pk} 'dashboards' created for LA 202 Northshire (read-only)"
    )
    assert list(api_tokens(la=school.la)) == [token]
    assert list(api_tokens(school=school)) == []


@pytest.mark.parametrize(
    ("name", "scope", "message"),
    [
        ("x", "none", "scope: give exactly one of a school or an LA"),
        ("x", "both", "scope: give exactly one of a school or an LA"),
        ("  ", "school", "name: a token needs a name"),
        ("x" * 101, "school", "name: at most 100 characters"),
    ],
)
def test_create_refuses_bad_input(school: m.School, name: str, scope: str, message: str) -> None:
    kwargs: dict[str, Any] = {
        "none": {},
        "both": {"school": school, "la": school.la},
        "school": {"school": school},
    }[scope]
    with pytest.raises(ApiTokenError, match=message):
        api_token_create(name=name, **kwargs)
    assert ApiToken.objects.count() == 0


def test_revoke_stops_the_token_for_good(school: m.School) -> None:
    token, secret = api_token_create(name="old laptop", school=school)
    assert api_token_authenticate(secret=secret) == token
    revoked = api_token_revoke(token_id=token.pk, actor="operator")
    assert revoked.revoked_by == "operator" and revoked.revoked_at is not None
    assert api_token_authenticate(secret=secret) is None
    assert m.AuditEvent.objects.get(action="api_token_revoked").reason == (
        f"API token {token.pk} 'old laptop' for school 100001 Hillside Primary revoked"
    )
    with pytest.raises(ApiTokenError, match=f"token: API token {token.pk} was already revoked"):
        api_token_revoke(token_id=token.pk)
    with pytest.raises(ApiTokenError, match="token: no API token 999"):
        api_token_revoke(token_id=999)


def test_authenticate_notes_the_last_use_at_most_once_a_minute(school: m.School) -> None:
    token, secret = api_token_create(name="sync", school=school)
    assert api_token_authenticate(secret=secret) == token
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    assert api_token_authenticate(secret=secret) == token
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    api_token_authenticate(secret=secret)
    assert ApiToken.objects.get().last_used_at > first


def test_authenticate_refuses_wrong_secrets(school: m.School) -> None:
    _, secret = api_token_create(name="sync", school=school)
    for wrong in ("", "rsk_", secret[:-1], secret + "x", secret.upper(), "x" * 300):
        assert api_token_authenticate(secret=wrong) is None


UNAUTHORISED = {
    "detail": "a valid API token is required: send 'Authorization: Bearer <token>'"
    " (the token may be unknown or revoked)",
    "errors": [],
}


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer rsk_nope", "Token {secret}", "Basic {secret}", "{secret}"],
)
def test_requests_without_a_working_token_get_401(api: Api, header: str | None) -> None:
    headers = (
        {} if header is None else {"Authorization": header.format(secret=api.tokens["school"])}
    )
    response = api.client.get("/api/v1/schools", headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORISED
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_revoked_token_gets_401(api: Api) -> None:
    response = api.get("/schools", token="revoked")
    assert (response.status_code, response.json()) == (401, UNAUTHORISED)


def test_every_use_is_noted_on_the_token(api: Api) -> None:
    assert api.get("/schools").status_code == 200
    used = ApiToken.objects.get(name="hillside sync")
    assert used.last_used_at is not None
    assert ApiToken.objects.get(name="riverside").last_used_at is None


def test_unknown_api_paths_answer_json_404(api: Api) -> None:
    for response in (api.get("/nothing"), api.post("/nothing"), api.client.get("/api/")):
        assert response.status_code == 404
        assert response.json()["detail"].startswith("no API operation at /api/")
