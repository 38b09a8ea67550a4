"""Issue 7, item 3: one rule for every door. A needs-matching case links only to an
account the case offered. The JSON API, the web app and the command each refuse
any other account (even one at the school itself) and change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from rollsync.access.services import user_grant
from rollsync.directory import models as m
from rollsync.directory.services.accounts import MatchLinkRefused, match_case_resolve
from tests.api.conftest import Api, World
from tests.directory.helpers import Cli
from tests.tasks.helpers import state


def refusal(account_id: int, case_id: int) -> str:
    return (
        f"Account {account_id} is not one of the accounts offered for match case {case_id}:"
        " link only to a candidate shown with the case, or create a new account"
    )


def everything() -> dict[str, Any]:
    """Accounts, allocations, the queue, audit rows: all must be as they were."""
    return {
        **state(),
        "audit_rows": list(m.AuditEvent.objects.order_by("pk").values()),
        "cross": list(m.CrossSchoolCase.objects.order_by("pk").values()),
    }


@pytest.fixture
def classmate(world: World) -> m.Account:
    """An account at the case's own school that the case did not offer."""
    account = m.Account.objects.get(username=world.username)
    assert account.pk not in {c["account_id"] for c in world.case.candidates}
    return account


def test_the_api_refuses_a_link_to_an_account_the_case_did_not_offer(
    api: Api, world: World, classmate: m.Account
) -> None:
    before = everything()
    for token in ("school", "la"):
        response = api.post(
            f"/match-cases/{world.case.pk}/resolve",
            {"decision": "link", "account_id": classmate.pk},
            token=token,
        )
        assert response.status_code == 422
        assert response.json() == {
            "detail": f"account_id: {refusal(classmate.pk, world.case.pk)}",
            "errors": [{"field": "account_id", "message": refusal(classmate.pk, world.case.pk)}],
        }
    assert everything() == before


def test_the_command_refuses_it_with_exit_1(world: World, classmate: m.Account) -> None:
    before = everything()
    result = Cli()("matches", "resolve", str(world.case.pk), "--link", str(classmate.pk), expect=1)
    assert result.stderr.strip() == f"error: {refusal(classmate.pk, world.case.pk)}"
    assert everything() == before


def test_the_web_app_refuses_it_with_a_message(world: World, classmate: m.Account) -> None:
    grant = user_grant(
        username="admin",
        password="a-long-test-password",
        role="school_admin",
        school=world.case.school,
    )
    client = Client()
    client.force_login(grant.user)
    before = everything()
    response = client.post(
        reverse("web:case_decide", kwargs={"urn": world.case.school.urn, "case_id": world.case.pk}),
        {"decision": "link", "account": str(classmate.pk)},
        follow=True,
    )
    assert [str(msg) for msg in response.context["messages"]] == [
        refusal(classmate.pk, world.case.pk)
    ]
    assert everything() == before


def test_the_service_is_the_one_place_the_rule_lives(world: World, classmate: m.Account) -> None:
    before = everything()
    with pytest.raises(MatchLinkRefused) as refused:
        match_case_resolve(case_id=world.case.pk, actor="anyone", link_account_id=classmate.pk)
    assert str(refused.value) == refusal(classmate.pk, world.case.pk)
    assert everything() == before


def test_an_offered_candidate_is_still_linked_through_every_door(api: Api, world: World) -> None:
    response = api.post(
        f"/match-cases/{world.case.pk}/resolve",
        {"decision": "link", "account_id": world.jonathan.pk},
    )
    assert (response.status_code, response.json()["status"]) == (200, "linked")
