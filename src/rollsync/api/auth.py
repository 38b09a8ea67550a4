"""Bearer-token authentication and the token's scope.

Every API request carries `Authorization: Bearer <secret>`. The token is scoped to
one school or to the schools of one LA; anything outside that scope answers 404,
exactly as if it did not exist. A read-only token gets 403 on every write, before
anything is looked up (so the answer says nothing about what exists)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer

from rollsync.access.roles import Action
from rollsync.access.selectors import allows
from rollsync.api.models import ApiToken
from rollsync.api.services import api_token_authenticate


class ApiError(HttpError):
    """An error answer: status, message, and the request field at fault if there is one."""

    def __init__(self, status_code: int, message: str, *, field: str | None = None) -> None:
        super().__init__(status_code, message)
        self.field = field


class ApiTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        return api_token_authenticate(secret=token)


def reader(request: HttpRequest) -> ApiToken:
    token: Any = getattr(request, "auth", None)
    assert isinstance(token, ApiToken)
    return token


def writer(request: HttpRequest) -> ApiToken:
    """The token of a request that changes something: refused (403) when none of its
    grants allows changing anything (a read-only token), before anything is looked up."""
    token = reader(request)
    if not allows(token, Action.OPERATE):
        raise ApiError(403, "this API token is read-only: it cannot change anything")
    return token


def actor_of(token: ApiToken) -> str:
    """How the audit trail names a change made through the API."""
    return f"api token {token.pk} ({token.name})"
