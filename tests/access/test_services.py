"""Creating users with roles, the demo users, and two-step sign-in."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from rollsync.access.models import RoleGrant
from rollsync.access.roles import RoleName
from rollsync.access.services import (
    DEMO_PASSWORD,
    DEMO_USERNAMES,
    AccessError,
    demo_users,
    grant_revoke,
    totp_confirm,
    totp_remove,
    totp_start,
    user_grant,
)
from rollsync.directory.services.schools import school_add
from tests.access.helpers import PASSWORD

User = get_user_model()


@pytest.fixture
def school(db: Any) -> Any:
    return school_add(urn="100001", la_code="202", estab="2001", name="Hillside Primary")


def test_user_grant_creates_the_user_with_a_hashed_password(school: Any, settings: Any) -> None:
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    grant = user_grant(username="amira", password=PASSWORD, role="school_admin", school="100001")
    user = User.objects.get(username="amira")
    assert (grant.user, grant.role, grant.school, grant.la) == (user, "school_admin", school, None)
    assert user.password.startswith("pbkdf2_sha256$")
    assert PASSWORD not in user.password
    assert user.check_password(PASSWORD)


def test_user_grant_is_idempotent_and_adds_roles(school: Any) -> None:
    first = user_grant(username="amira", password=PASSWORD, role="school_admin", school=school)
    again = user_grant(username="amira", password=None, role="school_admin", school=school)
    assert first.pk == again.pk
    user_grant(username="amira", password=None, role="la_admin", la="202")
    assert sorted(RoleGrant.objects.values_list("role", flat=True)) == ["la_admin", "school_admin"]
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role": "school_admin"}, "a school_admin grant needs --school URN"),
        ({"role": "headteacher", "la": "202"}, "a headteacher grant needs --school URN"),
        ({"role": "la_admin", "school": "100001"}, "a la_admin grant needs --la CODE"),
        ({"role": "region_operator", "la": "202"}, "a region_operator grant needs neither"),
        (
            {"role": "read_only", "school": "100001", "la": "202"},
            "give a school or an LA, not both",
        ),
        ({"role": "janitor"}, "unknown role 'janitor'"),
        ({"role": "school_admin", "school": "999999"}, "no school with URN 999999"),
        ({"role": "la_admin", "la": "999"}, "no local authority with code 999"),
    ],
)
def test_user_grant_refuses_a_grant_that_does_not_fit(
    school: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(AccessError) as exc:
        user_grant(username="amira", password=PASSWORD, **kwargs)
    assert str(exc.value).startswith(message)
    assert User.objects.count() == 0
    assert RoleGrant.objects.count() == 0


def test_user_grant_refuses_weak_passwords_and_new_users_without_one(school: Any) -> None:
    with pytest.raises(AccessError, match="too short"):
        user_grant(username="amira", password="short", role="region_operator")
    with pytest.raises(AccessError, match="a password is required"):
        user_grant(username="amira", password=None, role="region_operator")
    assert User.objects.count() == 0


def test_the_database_refuses_a_grant_with_the_wrong_scope(school: Any) -> None:
    user = User.objects.create_user("amira", password=PASSWORD)
    with pytest.raises(IntegrityError), transaction.atomic():
        RoleGrant.objects.create(user=user, role="la_admin", school=school)
    with pytest.raises(IntegrityError), transaction.atomic():
        RoleGrant.objects.create(user=user, role="school_admin")
    assert RoleGrant.objects.count() == 0


def test_grant_revoke_removes_the_role(school: Any) -> None:
    grant = user_grant(username="amira", password=PASSWORD, role="region_operator")
    grant_revoke(grant=grant)
    assert RoleGrant.objects.count() == 0
    assert User.objects.filter(username="amira").exists()


def test_demo_users_one_per_role_with_the_documented_password(school: Any) -> None:
    school_add(urn="200001", la_code="303", estab="3001", name="Faraway High")
    made = demo_users()
    assert [(u.username, u.role) for u in made] == list(
        zip(DEMO_USERNAMES.values(), DEMO_USERNAMES.keys(), strict=True)
    )
    grants = {
        g.user.username: (g.role, g.school.urn if g.school else None, g.la.code if g.la else None)
        for g in RoleGrant.objects.select_related("user", "school", "la")
    }
    assert grants == {
        "demo-school-admin": ("school_admin", "100001", None),
        "demo-headteacher": ("headteacher", "100001", None),
        "demo-la-admin": ("la_admin", None, "202"),
        "demo-operator": ("region_operator", None, None),
        "demo-read-only": ("read_only", None, "202"),
    }
    for user in User.objects.all():
        assert user.check_password(DEMO_PASSWORD)
    demo_users()  # again: nothing new
    assert (User.objects.count(), RoleGrant.objects.count()) == (5, 5)
    assert RoleName.SCHOOL_ADMIN in DEMO_USERNAMES


def test_demo_users_need_a_school(db: Any) -> None:
    with pytest.raises(AccessError, match="no school yet"):
        demo_users()


def _code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def test_totp_is_confirmed_only_with_a_right_code(db: Any) -> None:
    user = User.objects.create_user("amira", password=PASSWORD)
    device = totp_start(user=user)
    assert (
        totp_confirm(user=user, token="000000" if _code(device) != "000000" else "111111") is None
    )
    assert not TOTPDevice.objects.filter(confirmed=True).exists()
    # A wrong code throttles the device: even the right code waits (django-otp's throttling).
    assert totp_confirm(user=user, token=_code(device)) is None
    TOTPDevice.objects.update(throttling_failure_count=0, throttling_failure_timestamp=None)
    confirmed = totp_confirm(user=user, token=_code(device))
    assert confirmed is not None and confirmed.pk == device.pk
    assert list(TOTPDevice.objects.values_list("user__username", "confirmed")) == [("amira", True)]
    assert totp_remove(user=user) == 1
    assert not TOTPDevice.objects.exists()
