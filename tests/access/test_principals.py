"""One tenancy rule for people and API tokens alike: a token is a principal at the same
chokepoint (`restrict`), with the grants of a person of the same scope; the command
line is `OPERATOR`, the region operator."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Model
from django.utils import timezone

from rollsync.access.roles import Action
from rollsync.access.selectors import OPERATOR, SCHOOL_PATH, allows, restrict, schools_for
from rollsync.api.models import ApiToken
from rollsync.api.services import api_token_create
from rollsync.directory import models as m
from tests.access.helpers import World, make_user

MODELS: list[type[Model]] = [*SCHOOL_PATH, m.Account, m.LocalAuthority, m.CrossSchoolCase]
WRITES = [Action.OPERATE, Action.CONFIGURE, Action.REPORTS, Action.FORCE_RUN]

# token (scope, read-only) -> the user of the same scope and role
PAIRS = {
    ("school", False): "school_admin",
    ("la", False): "la_admin",
    ("school", True): "read_only_school",
    ("la", True): "read_only_la",
}


def _token(world: World, scope: str, read_only: bool) -> ApiToken:
    token, _secret = api_token_create(
        name=f"{scope}{'-ro' if read_only else ''}",
        school=world.home.school if scope == "school" else None,
        la=world.la if scope == "la" else None,
        read_only=read_only,
    )
    return token


def _rows(model: type[Model], principal: Any, action: Action) -> set[int]:
    return set(
        restrict(model._default_manager.all(), principal, action).values_list("pk", flat=True)
    )


@pytest.mark.parametrize(("scope", "read_only"), list(PAIRS), ids=lambda v: str(v))
def test_a_token_sees_exactly_what_a_person_of_the_same_scope_sees(
    world: World, scope: str, read_only: bool
) -> None:
    token = _token(world, scope, read_only)
    user = make_user(PAIRS[(scope, read_only)], world)
    seen = 0
    for model in MODELS:
        for action in Action:
            rows = _rows(model, user, action)
            assert _rows(model, token, action) == rows, (model.__name__, action)
            seen += len(rows)
    assert seen > 0  # the comparison is not between two empty worlds
    assert _rows(m.Allocation, token, Action.VIEW) == set(
        m.Allocation.objects.filter(
            school__in=[world.home.school]
            if scope == "school"
            else [world.home.school, world.sibling]
        ).values_list("pk", flat=True)
    )


@pytest.mark.parametrize("scope", ["school", "la"])
def test_a_read_only_token_may_do_no_write_anywhere(world: World, scope: str) -> None:
    token = _token(world, scope, read_only=True)
    assert not allows(token, Action.OPERATE)
    for action in WRITES:
        assert not schools_for(token, action).exists(), action
        for model in MODELS:
            assert _rows(model, token, action) == set(), (model.__name__, action)
    assert schools_for(token, Action.VIEW).exists()


def test_a_revoked_token_sees_nothing(world: World) -> None:
    token = _token(world, "la", read_only=False)
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    token.refresh_from_db()
    for model in MODELS:
        assert _rows(model, token, Action.VIEW) == set(), model.__name__


def test_the_command_line_is_the_region_operator(world: World) -> None:
    operator = make_user("region_operator", world)
    for model in MODELS:
        for action in Action:
            assert _rows(model, OPERATOR, action) == _rows(model, operator, action)
    assert set(schools_for(OPERATOR).values_list("pk", flat=True)) == set(
        m.School.objects.values_list("pk", flat=True)
    )


def test_a_force_run_where_the_mis_does_not_allow_it_is_refused_to_a_token_as_to_a_person(
    world: World,
) -> None:
    """SIMS runs its own agent: a school admin may not Force run there, and neither may
    the school's read-and-write token (before, the API queued it)."""
    m.School.objects.filter(pk=world.home.school.pk).update(mis="SIMS")
    token = _token(world, "school", read_only=False)
    user = make_user("school_admin", world)
    assert (
        _rows(m.School, user, Action.FORCE_RUN) == _rows(m.School, token, Action.FORCE_RUN) == set()
    )
    assert _rows(m.School, token, Action.OPERATE) == {world.home.school.pk}
