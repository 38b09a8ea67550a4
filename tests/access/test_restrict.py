"""The tenancy chokepoint: what each role sees and may do, and nothing more."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from rollsync.access.roles import Action
from rollsync.access.selectors import SCHOOL_PATH, actions_at, las_for, restrict, schools_for
from rollsync.directory import models as m
from tests.access.helpers import (
    FOREIGN_SIBLING_URN,
    FOREIGN_URN,
    HOME_URN,
    ROLE_USERS,
    SIBLING_URN,
    World,
    make_user,
)

ALL = {HOME_URN, SIBLING_URN, FOREIGN_URN, FOREIGN_SIBLING_URN}
LA_202 = {HOME_URN, SIBLING_URN}

# role -> action -> the schools it may act at (the home school runs no MIS: files by hand)
EXPECTED: dict[str, dict[Action, set[str]]] = {
    "school_admin": {
        Action.VIEW: {HOME_URN},
        Action.OPERATE: {HOME_URN},
        Action.CONFIGURE: {HOME_URN},
        Action.REPORTS: {HOME_URN},
        Action.FORCE_RUN: {HOME_URN},
        Action.DASHBOARD: set(),
    },
    "headteacher": {
        Action.VIEW: {HOME_URN},
        Action.OPERATE: set(),
        Action.CONFIGURE: set(),
        Action.REPORTS: {HOME_URN},
        Action.FORCE_RUN: set(),
        Action.DASHBOARD: set(),
    },
    "la_admin": {
        Action.VIEW: LA_202,
        Action.OPERATE: LA_202,
        Action.CONFIGURE: LA_202,
        Action.REPORTS: LA_202,
        Action.FORCE_RUN: LA_202,
        Action.DASHBOARD: LA_202,
    },
    "region_operator": dict.fromkeys(Action, ALL),
    "read_only_school": {a: ({HOME_URN} if a is Action.VIEW else set()) for a in Action},
    "read_only_la": {
        a: (LA_202 if a in (Action.VIEW, Action.DASHBOARD) else set()) for a in Action
    },
}


def urns(qs: Any) -> set[str]:
    return set(qs.values_list("urn", flat=True))


@pytest.mark.parametrize("key", sorted(ROLE_USERS))
def test_each_role_reaches_exactly_its_schools(world: World, key: str) -> None:
    user = make_user(key, world)
    got = {action: urns(schools_for(user, action)) for action in Action}
    assert got == EXPECTED[key]


@pytest.mark.parametrize("key", sorted(ROLE_USERS))
def test_restrict_narrows_every_school_model(world: World, key: str) -> None:
    user = make_user(key, world)
    visible = EXPECTED[key][Action.VIEW]
    for model, path in SCHOOL_PATH.items():
        everything = model.objects.all()
        school_field = "urn" if path == "pk" else f"{path}__urn"
        expected = set(
            everything.filter(**{f"{school_field}__in": visible}).values_list("pk", flat=True)
        )
        got = set(restrict(everything, user, Action.VIEW).values_list("pk", flat=True))
        assert got == expected, model.__name__
    accounts = set(restrict(m.Account.objects.all(), user).values_list("pk", flat=True))
    assert accounts == set(
        m.Account.objects.filter(allocations__school__urn__in=visible).values_list("pk", flat=True)
    )


def test_foreign_school_rows_exist_but_never_pass_the_chokepoint(world: World) -> None:
    user = make_user("school_admin", world)
    foreign = world.foreign
    assert m.MatchCase.objects.filter(pk=foreign.case.pk).exists()
    for action in Action:
        assert not restrict(m.MatchCase.objects.filter(pk=foreign.case.pk), user, action).exists()
        assert not restrict(m.Account.objects.filter(pk=foreign.account.pk), user, action).exists()
        assert not restrict(m.SyncRun.objects.filter(pk=foreign.held.pk), user, action).exists()


def test_pupil_asset_reports_are_the_headteachers_alone(world: World) -> None:
    school = world.home.school
    m.School.objects.filter(pk=school.pk).update(mis="Pupil Asset")
    school.refresh_from_db()
    admin, head = make_user("school_admin", world), make_user("headteacher", world)
    la_admin, operator = make_user("la_admin", world), make_user("region_operator", world)
    assert Action.REPORTS not in actions_at(admin, school)
    assert Action.REPORTS not in actions_at(la_admin, school)
    assert Action.REPORTS not in actions_at(operator, school)
    assert Action.REPORTS in actions_at(head, school)
    assert Action.OPERATE in actions_at(admin, school)  # everything else stays


@pytest.mark.parametrize(
    ("mis", "school_may", "operator_may"),
    [("", True, True), ("Arbor", True, True), ("SIMS", False, True), ("Bromcom", False, True)],
)
def test_force_run_follows_the_source(
    world: World, mis: str, school_may: bool, operator_may: bool
) -> None:
    school = world.home.school
    m.School.objects.filter(pk=school.pk).update(mis=mis)
    admin, operator = make_user("school_admin", world), make_user("region_operator", world)
    assert (Action.FORCE_RUN in actions_at(admin, school)) is school_may
    assert (Action.FORCE_RUN in actions_at(operator, school)) is operator_may


def test_dashboards_are_for_la_and_region_scopes(world: World) -> None:
    def codes(key: str) -> set[str]:
        return set(las_for(make_user(key, world)).values_list("code", flat=True))

    assert codes("school_admin") == set()
    assert codes("headteacher") == set()
    assert codes("read_only_school") == set()
    assert codes("read_only_la") == {"202"}
    assert codes("la_admin") == {"202"}
    assert codes("region_operator") == {"202", "303"}


def test_nobody_without_a_grant_sees_anything(world: World) -> None:
    plain = get_user_model().objects.create_user("nobody", password="x-long-password-1")
    for user in (AnonymousUser(), plain, None):
        for action in Action:
            assert not schools_for(user, action).exists()
        assert not restrict(m.Account.objects.all(), user).exists()


def test_an_inactive_user_loses_everything(world: World) -> None:
    user = make_user("region_operator", world)
    user.is_active = False
    user.save()
    assert not schools_for(user).exists()


def test_a_model_without_a_school_path_is_refused(world: World) -> None:
    user = make_user("region_operator", world)
    with pytest.raises(TypeError, match="cannot restrict Region"):
        restrict(m.Region.objects.all(), user)
