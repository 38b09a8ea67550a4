"""Issue 7, item 2: identity changes one school asks for on an account active at
another school wait for that school's agreement. Both schools (and the people above
them) see the case in Whole School Bulk Results, the API and the command; only the
school that holds the account agrees or declines; no other school sees anything."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from rollsync.access.services import user_grant
from rollsync.api.services import api_token_create
from rollsync.directory import models as m
from rollsync.directory.services.accounts import match_case_resolve
from tests.access.helpers import PASSWORD, World, everything
from tests.directory.helpers import Cli


@pytest.fixture
def asked(world: World) -> m.CrossSchoolCase:
    """Hillside links its needs-matching case (Jonathon) to Riverside's Jonathan, who is
    still active at Riverside: his name is not changed, Riverside is asked."""
    [candidate] = world.home.case.candidates
    match_case_resolve(
        case_id=world.home.case.pk, actor="setup", link_account_id=candidate["account_id"]
    )
    case = m.CrossSchoolCase.objects.get()
    assert (case.school, case.holding_school) == (world.home.school, world.sibling)
    assert case.changes == {"legal_given_name": ["Jonathan", "Jonathon"]}
    assert case.account.legal_given_name == "Jonathan"
    return case


def client_for(username: str, **grant: Any) -> Client:
    made = user_grant(username=username, password=PASSWORD, **grant)
    client = Client()
    client.force_login(made.user)
    return client


def results(client: Client, urn: str) -> Any:
    return client.get(reverse("web:bulk_results", kwargs={"urn": urn}))


def decide_url(urn: str, case: m.CrossSchoolCase) -> str:
    return reverse("web:cross_school_decide", kwargs={"urn": urn, "case_id": case.pk})


def cross_state() -> dict[str, Any]:
    return {
        **everything(),
        "cross": list(m.CrossSchoolCase.objects.order_by("pk").values()),
        "audit_rows": list(m.AuditEvent.objects.order_by("pk").values("pk", "action")),
    }


HEADING = "Identity changes waiting for agreement"


def test_both_schools_and_their_la_see_it_and_no_one_else(
    world: World, asked: m.CrossSchoolCase
) -> None:
    home = client_for("home_admin", role="school_admin", school=world.home.school)
    sibling = client_for("sibling_admin", role="school_admin", school=world.sibling)
    la = client_for("la_admin", role="la_admin", la=world.la)
    foreign = client_for("foreign_admin", role="school_admin", school=world.foreign.school)
    for client, urn in (
        (home, world.home.school.urn),
        (sibling, world.sibling.urn),
        (la, world.home.school.urn),
        (la, world.sibling.urn),
    ):
        page = results(client, urn)
        assert page.status_code == 200
        assert list(page.context["cross_school"]) == [asked]
        body = page.content.decode()
        assert HEADING in body
        assert "legal given name: Jonathan -&gt; Jonathon" in body
        assert "Hillside Primary (100001)" in body  # who asked
    # Buttons only where the account is held.
    assert (
        decide_url(world.sibling.urn, asked) in results(sibling, world.sibling.urn).content.decode()
    )
    assert (
        decide_url(world.home.school.urn, asked)
        not in results(home, world.home.school.urn).content.decode()
    )
    foreign_page = results(foreign, world.foreign.school.urn)
    assert list(foreign_page.context["cross_school"]) == []
    assert HEADING not in foreign_page.content.decode()


def test_the_asking_school_and_a_foreign_school_cannot_decide(
    world: World, asked: m.CrossSchoolCase
) -> None:
    home = client_for("home_admin", role="school_admin", school=world.home.school)
    foreign = client_for("foreign_admin", role="school_admin", school=world.foreign.school)
    read_only = client_for("sibling_reader", role="read_only", school=world.sibling)
    before = cross_state()
    for client, urn in (
        (home, world.home.school.urn),  # not the holding school
        (home, world.sibling.urn),  # not its school
        (foreign, world.foreign.school.urn),
        (foreign, world.sibling.urn),
    ):
        response = client.post(decide_url(urn, asked), {"decision": "agree"})
        assert response.status_code == 404, (urn, response.status_code)
    response = read_only.post(decide_url(world.sibling.urn, asked), {"decision": "agree"})
    assert response.status_code in (403, 404)
    assert cross_state() == before


def test_the_holding_school_agrees_and_the_change_is_applied_and_audited(
    world: World, asked: m.CrossSchoolCase
) -> None:
    sibling = client_for("sibling_admin", role="school_admin", school=world.sibling)
    response = sibling.post(
        decide_url(world.sibling.urn, asked), {"decision": "agree"}, follow=True
    )
    assert [str(x) for x in response.context["messages"]] == [
        f"The changes to {asked.account.username} are applied."
    ]
    asked.refresh_from_db()
    asked.account.refresh_from_db()
    assert (asked.status, asked.decided_by) == ("agreed", "sibling_admin")
    assert asked.account.legal_given_name == "Jonathon"
    events = m.AuditEvent.objects.filter(action="cross_school_agreed")
    assert sorted(events.values_list("school__urn", "actor", "account")) == [
        (world.home.school.urn, "sibling_admin", asked.account_id),
        (world.sibling.urn, "sibling_admin", asked.account_id),
    ]
    assert HEADING not in results(sibling, world.sibling.urn).content.decode()


def test_the_holding_school_declines_and_nothing_changes(
    world: World, asked: m.CrossSchoolCase
) -> None:
    la = client_for("la_admin", role="la_admin", la=world.la)
    before = (list(m.Account.objects.order_by("pk").values()), m.Allocation.objects.count())
    la.post(decide_url(world.sibling.urn, asked), {"decision": "decline"})
    asked.refresh_from_db()
    assert (asked.status, asked.decided_by) == ("declined", "la_admin")
    after = (list(m.Account.objects.order_by("pk").values()), m.Allocation.objects.count())
    assert after == before
    assert m.AuditEvent.objects.filter(action="cross_school_declined").count() == 2


def test_the_api_and_the_command_list_it_for_both_schools(
    world: World, asked: m.CrossSchoolCase
) -> None:
    _, home_secret = api_token_create(name="home", school=world.home.school)
    _, sibling_secret = api_token_create(name="sibling", school=world.sibling)
    _, foreign_secret = api_token_create(name="far", school=world.foreign.school)
    client = Client()

    def get(secret: str, urn: str) -> Any:
        return client.get(
            f"/api/v1/schools/{urn}/cross-school-cases",
            headers={"Authorization": f"Bearer {secret}"},
        )

    for secret, urn in ((home_secret, world.home.school.urn), (sibling_secret, world.sibling.urn)):
        [row] = get(secret, urn).json()
        assert (row["id"], row["school"], row["holding_school"], row["changes"]) == (
            asked.pk,
            world.home.school.urn,
            world.sibling.urn,
            {"legal_given_name": ["Jonathan", "Jonathon"]},
        )
    assert get(foreign_secret, world.sibling.urn).status_code == 404
    assert get(foreign_secret, world.foreign.school.urn).json() == []

    def decide(secret: str, decision: str) -> Any:
        return client.post(
            f"/api/v1/cross-school-cases/{asked.pk}/decide",
            {"decision": decision},
            content_type="application/json",
            headers={"Authorization": f"Bearer {secret}"},
        )

    before = cross_state()
    refused = decide(home_secret, "agree")
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "only Riverside Academy, where the account is active, can agree or decline"
    )
    assert decide(foreign_secret, "agree").status_code == 404
    assert cross_state() == before

    cli = Cli()
    rows = cli.json("matches", "cross-school", "--school", world.home.school.urn)
    assert [(r["cross_school_case"], r["holding_school"]) for r in rows] == [
        (asked.pk, world.sibling.urn)
    ]
    assert cli.json("matches", "cross-school", "--school", world.foreign.school.urn) == []
    out = cli("matches", "--school", world.sibling.urn)
    assert f"cross-school case {asked.pk}:" in out.stdout
    cli("matches", "agree", str(asked.pk), "--school", world.home.school.urn, expect=1)
    assert cross_state() == before
    agreed = decide(sibling_secret, "agree")
    assert (agreed.status_code, agreed.json()["status"]) == (200, "agreed")


def test_the_command_declines_for_the_holding_school(
    world: World, asked: m.CrossSchoolCase
) -> None:
    cli = Cli()
    result = cli("matches", "decline", str(asked.pk), "--school", world.sibling.urn, "--by", "head")
    assert result.stdout.strip() == f"cross-school case {asked.pk}: declined"
    asked.refresh_from_db()
    assert (asked.status, asked.decided_by) == ("declined", "head")
