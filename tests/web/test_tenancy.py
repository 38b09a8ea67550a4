"""Every view x every role x a foreign school: a foreign school's pages are 404 and its
data unchanged; at the home school each role does exactly what the matrix allows and
a refused action is a 403 with nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from rollsync.access.roles import Action
from rollsync.directory import models as m
from tests.access.helpers import ROLE_USERS, World, everything, make_user
from tests.access.test_restrict import EXPECTED
from tests.web.endpoints import ENDPOINTS, Endpoint

NOT_OPERATOR = sorted(k for k in ROLE_USERS if k != "region_operator")


@pytest.fixture(autouse=True)
def connected(world: World) -> None:
    """Every school has an MIS connection, so its pages and actions have something to act
    on (nothing here reaches an MIS: a pull is only queued)."""
    for data in (world.home, world.foreign):
        m.MisConnection.objects.create(
            school=data.school,
            connector="isams",
            settings={"url": "https://tenancy.isams.cloud", "client_id": "c"},
            state=m.MisConnection.State.CONNECTED,
            schedule="0 2 * * *",
        )


OBJECT_ENDPOINTS = [e for e in ENDPOINTS if e.addresses_object]


def call(client: Client, endpoint: Endpoint, data: Any) -> Any:
    url = endpoint.url(data)
    if endpoint.method == "get":
        return client.get(url)
    return client.post(url, endpoint.data(data))


@pytest.mark.parametrize("key", NOT_OPERATOR)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_a_foreign_school_is_not_found_and_unchanged(
    world: World, client: Client, key: str, endpoint: Endpoint
) -> None:
    client.force_login(make_user(key, world))
    before = everything()
    response = call(client, endpoint, world.foreign)
    assert response.status_code == 404
    assert everything() == before


@pytest.mark.parametrize("key", sorted(ROLE_USERS))
@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=lambda e: e.name)
def test_a_foreign_object_is_not_reachable_through_the_home_school(
    world: World, client: Client, key: str, endpoint: Endpoint
) -> None:
    """The foreign school's objects addressed under the home school's URL: 404 (403 when
    the role may not do that at home at all), even for the region operator."""
    client.force_login(make_user(key, world))
    mixed = _mixed(world)
    before = everything()
    response = call(client, endpoint, mixed)
    allowed_at_home = world.home.school.urn in EXPECTED[key][endpoint.action]
    assert response.status_code == (404 if allowed_at_home else 403)
    assert everything() == before


def _mixed(world: World) -> Any:
    """The foreign school's objects, under the home school's URN."""
    from dataclasses import replace

    return replace(world.foreign, school=world.home.school)


@pytest.mark.parametrize("key", sorted(ROLE_USERS))
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_each_role_does_exactly_what_the_matrix_allows_at_home(
    world: World, client: Client, key: str, endpoint: Endpoint
) -> None:
    client.force_login(make_user(key, world))
    allowed = world.home.school.urn in EXPECTED[key][endpoint.action]
    before = everything()
    response = call(client, endpoint, world.home)
    if not allowed:
        assert response.status_code == 403
        assert everything() == before
    elif endpoint.method == "get":
        assert response.status_code == 200
    else:
        assert response.status_code == 302, response.content[:500]
        assert everything() != before


def test_the_operator_reaches_the_foreign_school(world: World, client: Client) -> None:
    client.force_login(make_user("region_operator", world))
    for endpoint in ENDPOINTS:
        if endpoint.method == "get":
            assert call(client, endpoint, world.foreign).status_code == 200, endpoint.name


@pytest.mark.parametrize("key", sorted(ROLE_USERS))
def test_dashboards_only_for_their_la(world: World, client: Client, key: str) -> None:
    client.force_login(make_user(key, world))
    home = client.get(reverse("web:la_dashboard", kwargs={"code": "202"}))
    foreign = client.get(reverse("web:la_dashboard", kwargs={"code": "303"}))
    may_home = bool(EXPECTED[key][Action.DASHBOARD])
    assert home.status_code == (200 if may_home else 404)
    assert foreign.status_code == (200 if key == "region_operator" else 404)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_signed_out_is_sent_to_sign_in_and_nothing_changes(
    world: World, client: Client, endpoint: Endpoint
) -> None:
    before = everything()
    response = call(client, endpoint, world.home)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login") + "?next=")
    assert everything() == before
