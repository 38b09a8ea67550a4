"""Signing in: hashed passwords, session cookies, CSRF, lockout, two-step sign-in."""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.access.helpers import PASSWORD, World, everything, make_user

HOME = "/schools/100001/results/"


def sign_in(client: Client, username: str, password: str, next_url: str = "") -> Any:
    return client.post("/login/", {"username": username, "password": password, "next": next_url})


def test_sign_in_lands_on_the_school_and_the_cookie_is_http_only(
    world: World, client: Client
) -> None:
    make_user("school_admin", world)
    response = sign_in(client, "school_admin", PASSWORD)
    assert (response.status_code, response["Location"]) == (302, "/")
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert client.get("/")["Location"] == HOME
    assert client.get(HOME).status_code == 200


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(
    world: World, client: Client
) -> None:
    make_user("school_admin", world)
    assert sign_in(client, "school_admin", PASSWORD, "/schools/100001/users/")["Location"] == (
        "/schools/100001/users/"
    )
    client.logout()
    assert sign_in(client, "school_admin", PASSWORD, "https://evil.example/")["Location"] == "/"


def test_a_wrong_password_is_refused_with_a_form_error(world: World, client: Client) -> None:
    make_user("school_admin", world)
    response = sign_in(client, "school_admin", "not-the-password")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert client.get(HOME).status_code == 302


def test_repeated_failures_lock_the_account_even_for_the_right_password(
    world: World, client: Client
) -> None:
    make_user("school_admin", world)
    limit = settings.AXES_FAILURE_LIMIT
    statuses = [
        sign_in(client, "school_admin", "not-the-password").status_code for _ in range(limit)
    ]
    assert statuses == [200] * (limit - 1) + [429]
    locked = sign_in(client, "school_admin", PASSWORD)
    assert locked.status_code == 429
    assert client.get(HOME).status_code == 302  # not signed in
    assert AccessAttempt.objects.get(username="school_admin").failures_since_start == limit + 1


def test_the_lockout_page_when_the_setting_names_it(
    world: World, client: Client, settings: Any
) -> None:
    """With AXES_LOCKOUT_TEMPLATE = "web/locked_out.html" the lockout is our own page."""
    settings.AXES_LOCKOUT_TEMPLATE = "web/locked_out.html"
    make_user("school_admin", world)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = sign_in(client, "school_admin", "not-the-password")
    assert response.status_code == 429
    assert "Too many wrong passwords" in response.content.decode()


def test_a_form_posted_without_its_csrf_token_is_refused(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("school_admin", world))
    before = everything()
    response = client.post("/schools/100001/results/exclusions/add/", {"mis_id": "X1"})
    assert response.status_code == 403
    assert everything() == before


def test_sign_out_is_a_post(world: World, client: Client) -> None:
    client.force_login(make_user("school_admin", world))
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/")["Location"] == "/login/"
    assert client.get(HOME).status_code == 302


def _code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def _reset_throttle() -> None:
    """django-otp slows down guessing (throttling) and refuses a code used once already
    (last_t); the test needs the same 30-second code twice, so it resets both."""
    TOTPDevice.objects.update(
        throttling_failure_count=0, throttling_failure_timestamp=None, last_t=-1
    )


def test_two_step_sign_in_set_up_then_required(world: World, client: Client) -> None:
    make_user("school_admin", world)
    sign_in(client, "school_admin", PASSWORD)
    page = client.get("/account/two-step/")
    assert "Two-step sign-in is <strong>off</strong>" in page.content.decode()
    client.post("/account/two-step/", {"action": "start"})
    pending = client.get("/account/two-step/")
    assert "<svg" in pending.content.decode()
    device = TOTPDevice.objects.get(user__username="school_admin")
    assert device.confirmed is False
    wrong = client.post("/account/two-step/", {"action": "confirm", "token": "12345"})
    assert "That code is not right" in wrong.content.decode()
    _reset_throttle()
    client.post("/account/two-step/", {"action": "confirm", "token": _code(device)})
    device.refresh_from_db()
    assert device.confirmed is True

    # Next time: the password alone is not enough.
    client.post("/logout/")
    _reset_throttle()
    assert sign_in(client, "school_admin", PASSWORD)["Location"] == "/"
    asked = client.get(HOME)
    assert asked["Location"] == "/login/verify/?next=%2Fschools%2F100001%2Fresults%2F"
    refused = client.post("/login/verify/", {"token": "000000", "next": HOME})
    assert refused.status_code == 200
    assert client.get(HOME).status_code == 302
    _reset_throttle()
    device.refresh_from_db()
    verified = client.post("/login/verify/", {"token": _code(device), "next": HOME})
    assert verified["Location"] == HOME
    assert client.get(HOME).status_code == 200


@pytest.mark.parametrize("path", ["/", "/schools/", "/la/", "/account/two-step/"])
def test_every_page_needs_sign_in(world: World, client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
