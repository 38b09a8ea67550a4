"""Writes for access: people who sign in, and the roles they hold."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from rollsync.access.models import RoleGrant
from rollsync.access.roles import ROLE_SCOPES, RoleName, Scope
from rollsync.directory import models as m
from rollsync.directory.services.errors import CONFLICT, ServiceError


class AccessError(ServiceError, ValueError):
    """Bad input to an access service; the message says what to change (each door
    translates it once, as every `ServiceError`)."""


def _school(school: m.School | str | None) -> m.School | None:
    if school is None or isinstance(school, m.School):
        return school
    found = m.School.objects.filter(urn=school.strip()).first()
    if found is None:
        raise AccessError(f"no school with URN {school}")
    return found


def _la(la: m.LocalAuthority | str | None) -> m.LocalAuthority | None:
    if la is None or isinstance(la, m.LocalAuthority):
        return la
    found = m.LocalAuthority.objects.filter(code=la.strip()).first()
    if found is None:
        raise AccessError(f"no local authority with code {la}")
    return found


@transaction.atomic
def user_grant(
    *,
    username: str,
    password: str | None,
    role: RoleName | str,
    school: m.School | str | None = None,
    la: m.LocalAuthority | str | None = None,
) -> RoleGrant:
    """Give `username` a role at a school (school admin, headteacher), an LA (LA admin),
    or region-wide (region operator); read-only at any of the three. The user is created
    when new (a password is then required); a password given for an existing user
    replaces theirs. Granting a role the user already holds changes nothing."""
    try:
        role = RoleName(role)
    except ValueError:
        raise AccessError(
            f"unknown role {role!r}; roles are {', '.join(r.value for r in RoleName)}"
        ) from None
    school_obj, la_obj = _school(school), _la(la)
    if school_obj is not None and la_obj is not None:
        raise AccessError("give a school or an LA, not both")
    scope = Scope.SCHOOL if school_obj else Scope.LA if la_obj else Scope.REGION
    if scope not in ROLE_SCOPES[role]:
        wanted = " or ".join(
            {"school": "--school URN", "la": "--la CODE", "region": "neither"}[s.value]
            for s in sorted(ROLE_SCOPES[role])
        )
        raise AccessError(f"a {role.value} grant needs {wanted}")
    username = username.strip()
    if not username:
        raise AccessError("a username is required")
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        if not password:
            raise AccessError(f"{username} is a new user: a password is required")
        user = user_model(username=username)
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise AccessError(" ".join(exc.messages)) from None
        user.set_password(password)
        user.save()
    grant, _ = RoleGrant.objects.get_or_create(
        user=user, role=role.value, school=school_obj, la=la_obj
    )
    return grant


@transaction.atomic
def grant_revoke(*, grant: RoleGrant) -> None:
    grant.delete()


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    password: str
    role: RoleName
    where: str  # in words
    school_urn: str | None = None
    la_code: str | None = None


# Documented in docs/web.md; for the demo database only.
DEMO_PASSWORD = "rollsync-demo-2026"
DEMO_USERNAMES: dict[RoleName, str] = {
    RoleName.SCHOOL_ADMIN: "demo-school-admin",
    RoleName.HEADTEACHER: "demo-headteacher",
    RoleName.LA_ADMIN: "demo-la-admin",
    RoleName.REGION_OPERATOR: "demo-operator",
    RoleName.READ_ONLY: "demo-read-only",
}


def demo_users() -> list[DemoUser]:
    """One user per role for the demo LA: the school admin and headteacher at the demo
    school (the first, by LA code and URN, with people waiting to be matched, else with a
    held run, else with any upload), the LA admin and the read-only user at its LA.
    Idempotent: running it again resets the demo passwords."""
    school = _demo_school()
    if school is None:
        raise AccessError(
            "the database has no school yet: run `rollsync demo` first", code=CONFLICT
        )
    la = school.la
    scopes: dict[RoleName, tuple[m.School | None, m.LocalAuthority | None, str]] = {
        RoleName.SCHOOL_ADMIN: (school, None, f"{school.urn} {school.name}"),
        RoleName.HEADTEACHER: (school, None, f"{school.urn} {school.name}"),
        RoleName.LA_ADMIN: (None, la, f"LA {la}"),
        RoleName.REGION_OPERATOR: (None, None, "the whole region"),
        RoleName.READ_ONLY: (None, la, f"LA {la}"),
    }
    out = []
    for role, username in DEMO_USERNAMES.items():
        where_school, where_la, where = scopes[role]
        user_grant(
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            school=where_school,
            la=where_la,
        )
        out.append(
            DemoUser(
                username,
                DEMO_PASSWORD,
                role,
                where,
                school_urn=where_school.urn if where_school else None,
                la_code=where_la.code if where_la else None,
            )
        )
    return out


def _demo_school() -> m.School | None:
    earlier = RoleGrant.objects.filter(
        user__username=DEMO_USERNAMES[RoleName.SCHOOL_ADMIN], role=RoleName.SCHOOL_ADMIN.value
    ).first()
    if earlier is not None and earlier.school is not None:
        return earlier.school  # the demo school stays the same on a second run
    ordered = m.School.objects.order_by("la__code", "urn")
    for narrowed in (
        ordered.filter(match_cases__status="open"),
        ordered.filter(runs__status="held"),
        ordered.filter(uploads__isnull=False),
        ordered,
    ):
        school = narrowed.first()
        if school is not None:
            return school
    return None


# --- two-step sign-in (TOTP) ---------------------------------------------------------------


def totp_start(*, user: object) -> TOTPDevice:
    """A new, unconfirmed authenticator for `user` (any earlier unconfirmed one goes)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


@transaction.atomic
def totp_confirm(*, user: object, token: str) -> TOTPDevice | None:
    """Confirm the pending authenticator with a code it shows; None when the code is wrong."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None or not device.verify_token(token.strip()):
        return None
    device.confirmed = True
    device.save()
    TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
    return device


@transaction.atomic
def totp_remove(*, user: object) -> int:
    deleted, _ = TOTPDevice.objects.filter(user=user).delete()
    return deleted
