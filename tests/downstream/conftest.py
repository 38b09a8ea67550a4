"""Fixtures for the downstream tests: the JSON API tests' schools (two in one LA, one
in another) and downstream clients of every scope."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus, urlencode

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import Client

from rollsync.directory import models as m
from rollsync.downstream.services import downstream_client_create
from tests.api.conftest import far_school, other_school, school

__all__ = ["far_school", "other_school", "school"]


FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def _fresh_oneroster_cache() -> None:
    """Each test starts with an empty provider cache: primary keys (part of its key)
    come round again once a test's transaction is rolled back."""
    caches[settings.ROLLSYNC_ONEROSTER_CACHE].clear()


def basic(client_id: str, secret: str) -> str:
    """`Authorization: Basic` as RFC 6749 section 2.3.1 builds it."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def token_post(data: dict[str, str], *, auth: str | None = None) -> Any:
    headers = {"Authorization": auth} if auth else {}
    return Client().post("/oauth/token", urlencode(data), content_type=FORM, headers=headers)


@pytest.fixture
def clients(school: m.School, other_school: m.School, far_school: m.School) -> dict[str, Any]:
    """(client, secret) by name: OneRoster clients of the school, its LA, another school
    of the LA and another LA; a SCIM client of the school."""
    return {
        "school": downstream_client_create(name="SDS", kind="oneroster", school=school),
        "la": downstream_client_create(name="Classroom", kind="oneroster", la=school.la),
        "other_school": downstream_client_create(
            name="Riverside SDS", kind="oneroster", school=other_school
        ),
        "other_la": downstream_client_create(name="South", kind="oneroster", la=far_school.la),
        "scim": downstream_client_create(name="Okta", kind="scim", school=school),
    }
