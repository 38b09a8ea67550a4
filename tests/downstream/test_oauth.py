"""`POST /oauth/token`: OAuth 2.0 client credentials (RFC 6749 section 4.4) with
client_secret_basic or client_secret_post, the 1EdTech OneRoster scopes, short-lived
bearer tokens kept as hashes, RFC 6749 error bodies."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from rollsync.downstream.models import AccessToken
from rollsync.downstream.services import access_token_verify, downstream_client_revoke
from tests.downstream.conftest import FORM, basic, token_post

V1P1 = "https://purl.imsglobal.org/spec/or/v1p1/scope/"
V1P2 = "https://purl.imsglobal.org/spec/or/v1p2/scope/"
GRANT = {"grant_type": "client_credentials"}


def _error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = json.loads(response.content)
    assert body["error"] == error
    assert response["Cache-Control"] == "no-store"
    assert not AccessToken.objects.exists()
    return body


def test_basic_gives_a_short_lived_bearer_token_kept_hashed(clients: dict[str, Any]) -> None:
    client, secret = clients["school"]
    scope = f"{V1P2}roster-core.readonly {V1P2}roster-demographics.readonly"
    r = token_post({**GRANT, "scope": scope}, auth=basic(client.client_id, secret))
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    assert r["Cache-Control"] == "no-store"
    body = json.loads(r.content)
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600, scope)
    row = AccessToken.objects.get()
    assert row.token_hash == hashlib.sha256(body["access_token"].encode()).hexdigest()
    assert body["access_token"] not in (row.scopes, row.token_hash)
    assert timedelta(seconds=3599) <= row.expires_at - row.issued_at <= timedelta(seconds=3601)
    caller = access_token_verify(token=body["access_token"])
    assert caller is not None and caller.client == client
    assert caller.scopes == frozenset(scope.split())
    assert access_token_verify(token=body["access_token"], now=row.expires_at) is None
    assert access_token_verify(token=body["access_token"] + "x") is None


def test_post_credentials_and_the_default_scopes(clients: dict[str, Any]) -> None:
    client, secret = clients["la"]
    r = token_post({**GRANT, "client_id": client.client_id, "client_secret": secret})
    assert r.status_code == 200, r.content
    body = json.loads(r.content)
    assert body["scope"].split() == [f"{V1P1}roster.readonly", f"{V1P2}roster.readonly"]


def test_v1p1_scopes(clients: dict[str, Any]) -> None:
    client, secret = clients["school"]
    r = token_post(
        {**GRANT, "scope": f"{V1P1}roster-core.readonly"}, auth=basic(client.client_id, secret)
    )
    assert r.status_code == 200 and json.loads(r.content)["scope"] == f"{V1P1}roster-core.readonly"


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        ({**GRANT}, "wrong", 401, "invalid_client"),
        ({**GRANT}, None, 401, "invalid_client"),
        (
            {"grant_type": "password", "username": "a", "password": "b"},
            "good",
            400,
            "unsupported_grant_type",
        ),
        ({}, "good", 400, "invalid_request"),
        ({**GRANT, "scope": f"{V1P2}gradebook.createput"}, "good", 400, "invalid_scope"),
        ({**GRANT, "scope": "roster.readonly"}, "good", 400, "invalid_scope"),
        ({**GRANT, "client_secret": "x"}, "good", 400, "invalid_request"),
    ],
)
def test_refusals_are_rfc6749_errors_and_issue_nothing(
    clients: dict[str, Any], data: dict[str, str], auth: str | None, status: int, error: str
) -> None:
    client, secret = clients["school"]
    header = {
        "good": basic(client.client_id, secret),
        "wrong": basic(client.client_id, secret + "x"),
    }
    _error(token_post(data, auth=header.get(auth or "")), status, error)


def test_wrong_basic_secret_is_challenged_with_basic(clients: dict[str, Any]) -> None:
    client, _secret = clients["school"]
    r = token_post(GRANT, auth=basic(client.client_id, "nope"))
    _error(r, 401, "invalid_client")
    assert r["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize("auth", ["Basic !!!notbase64", "Basic " + "YWJj", "Bearer x", "Basic"])
def test_malformed_authorization(clients: dict[str, Any], auth: str) -> None:
    _error(token_post(GRANT, auth=auth), 401, "invalid_client")


def test_scim_revoked_and_foreign_credentials_get_no_token(clients: dict[str, Any]) -> None:
    scim, token = clients["scim"]
    _error(token_post(GRANT, auth=basic(scim.client_id, token)), 401, "invalid_client")
    other, other_secret = clients["other_school"]
    school, _ = clients["school"]
    _error(token_post(GRANT, auth=basic(school.client_id, other_secret)), 401, "invalid_client")
    downstream_client_revoke(client_pk=other.pk)
    _error(token_post(GRANT, auth=basic(other.client_id, other_secret)), 401, "invalid_client")


def test_a_token_dies_with_its_client(clients: dict[str, Any]) -> None:
    client, secret = clients["school"]
    body = json.loads(token_post(GRANT, auth=basic(client.client_id, secret)).content)
    assert access_token_verify(token=body["access_token"]) is not None
    downstream_client_revoke(client_pk=client.pk)
    assert access_token_verify(token=body["access_token"]) is None


def test_only_post_and_no_query(clients: dict[str, Any]) -> None:
    client, secret = clients["school"]
    assert Client().get("/oauth/token").status_code == 405
    r = Client().post(
        "/oauth/token?grant_type=client_credentials",
        GRANT,
        headers={"Authorization": basic(client.client_id, secret)},
    )
    _error(r, 400, "invalid_request")
    r = Client().post(
        "/oauth/token",
        json.dumps(GRANT),
        content_type="application/json",
        headers={"Authorization": basic(client.client_id, secret)},
    )
    _error(r, 400, "invalid_request")
    big = Client().post("/oauth/token", urlencode({**GRANT, "pad": "x" * 10000}), content_type=FORM)
    _error(big, 400, "invalid_request")


def test_expired_tokens_are_cleared_when_the_client_asks_again(clients: dict[str, Any]) -> None:
    client, secret = clients["school"]
    token_post(GRANT, auth=basic(client.client_id, secret))
    AccessToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    token_post(GRANT, auth=basic(client.client_id, secret))
    assert AccessToken.objects.count() == 1


def test_a_secret_rotated_between_check_and_issue_gets_no_token(clients: dict[str, Any]) -> None:
    """The race of a token request with a rotation: the client authenticated with the
    old secret, the rotation commits, then the token would be stored: refused."""
    from rollsync.downstream.services import (
        DownstreamClientError,
        access_token_store,
        downstream_client_rotate,
        oneroster_client_authenticate,
    )

    client, secret = clients["school"]
    checked = oneroster_client_authenticate(client_id=client.client_id, client_secret=secret)
    assert checked is not None
    downstream_client_rotate(client_pk=client.pk)
    with pytest.raises(DownstreamClientError):
        access_token_store(client=checked, token="rsa_late", scopes=[], expires_in=60)
    revoked, revoked_secret = clients["la"]
    checked = oneroster_client_authenticate(
        client_id=revoked.client_id, client_secret=revoked_secret
    )
    assert checked is not None
    downstream_client_revoke(client_pk=revoked.pk)
    with pytest.raises(DownstreamClientError):
        access_token_store(client=checked, token="rsa_late2", scopes=[], expires_in=60)
    assert not AccessToken.objects.exists()


def test_the_token_endpoint_answers_invalid_client_when_the_store_refuses(
    clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same race seen from the door: the rotation lands inside the request."""
    from rollsync.downstream import services

    client, secret = clients["school"]
    real = services.access_token_store

    def rotate_first(**kw: Any) -> Any:
        services.downstream_client_rotate(client_pk=client.pk)
        return real(**kw)

    monkeypatch.setattr(services, "access_token_store", rotate_first)
    _error(token_post(GRANT, auth=basic(client.client_id, secret)), 401, "invalid_client")
