"""OAuth 2.0 client credentials (RFC 6749 section 4.4) for OneRoster clients, on
oauthlib's token endpoint (docs/decisions/0070): oauthlib checks the grant, the
parameters and the scopes and writes RFC 6749 error bodies; this module tells it
who a client is (`client_secret_basic` or `client_secret_post`, never both) and
keeps each issued token's hash through `services.access_token_store`."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_plus

from oauthlib.common import Request
from oauthlib.oauth2 import BackendApplicationServer, RequestValidator
from oauthlib.oauth2.rfc6749 import errors

from rollsync.downstream import services
from rollsync.downstream.scopes import ALL_SCOPES, DEFAULT_SCOPES


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """client_id and client_secret from `Authorization: Basic`, each form-decoded as
    RFC 6749 section 2.3.1 asks; None when the header is not Basic."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise errors.InvalidClientError(
            description="the Basic credentials are not base64"
        ) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise errors.InvalidClientError(description="the Basic credentials hold no ':'")
    return unquote_plus(client_id), unquote_plus(secret)


class _Validator(RequestValidator):  # type: ignore[misc]
    def authenticate_client(self, request: Request, *args: Any, **kwargs: Any) -> bool:
        basic = _basic_credentials(request.headers.get("Authorization", ""))
        posted = request.client_secret is not None
        if basic is not None:
            client_id, secret = basic
            if posted or request.client_id not in (None, client_id):
                raise errors.InvalidRequestError(
                    description="authenticate one way only: Basic or client_id/client_secret",
                    request=request,
                )
        elif request.client_id is not None and request.client_secret is not None:
            client_id, secret = request.client_id, request.client_secret
        else:
            return False
        client = services.oneroster_client_authenticate(client_id=client_id, client_secret=secret)
        if client is None:
            return False
        request.client = client
        request.client_id = client.client_id
        return True

    def validate_grant_type(
        self, client_id: str, grant_type: str, client: Any, request: Request, *a: Any, **k: Any
    ) -> bool:
        return grant_type == "client_credentials"

    def get_default_scopes(self, client_id: str, request: Request, *a: Any, **k: Any) -> list[str]:
        return list(DEFAULT_SCOPES)

    def validate_scopes(
        self, client_id: str, scopes: list[str], client: Any, request: Request, *a: Any, **k: Any
    ) -> bool:
        return bool(scopes) and all(s in ALL_SCOPES for s in scopes)

    def save_bearer_token(self, token: dict[str, Any], request: Request, *a: Any, **k: Any) -> None:
        try:
            services.access_token_store(
                client=request.client,
                token=token["access_token"],
                scopes=request.scopes,
                expires_in=int(token["expires_in"]),
            )
        except services.DownstreamClientError:  # rotated or revoked meanwhile
            raise errors.InvalidClientError(request=request) from None


def _server() -> BackendApplicationServer:
    return BackendApplicationServer(
        _Validator(),
        token_generator=lambda request: services.new_access_token(),
        token_expires_in=lambda request: services.token_lifetime(),
    )


def token_response(
    *, uri: str, method: str, body: str, headers: dict[str, str]
) -> tuple[dict[str, str], str, int]:
    """The token endpoint's answer (headers, JSON body, status) to one request."""
    try:
        out_headers, out_body, status = _server().create_token_response(
            uri, http_method=method, body=body, headers=headers
        )
    except errors.OAuth2Error as e:
        out_headers, out_body, status = {**e.headers}, e.json, e.status_code
        out_headers.setdefault("Cache-Control", "no-store")
    if status == 401 and headers.get("Authorization", "").lower().startswith("basic"):
        out_headers["WWW-Authenticate"] = 'Basic realm="rollsync", charset="UTF-8"'
    out_headers["Content-Type"] = "application/json"
    return dict(out_headers), out_body, status
