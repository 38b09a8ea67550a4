"""AutoUpdate Settings and the MIS facts: a report the school's MIS cannot send shows the
help pages' red cross (a ✗ with words a screen reader reads) and cannot be accepted;
Change MIS says which accepted reports the new MIS cannot send."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from rollsync.directory import models as m
from tests.access.helpers import World, everything, make_user


def _url(name: str, world: World, **kwargs: Any) -> str:
    return reverse(f"web:{name}", kwargs={"urn": world.home.school.urn, **kwargs})


def _messages(response: Any) -> list[str]:
    return [str(msg) for msg in response.context["messages"]]


@pytest.fixture
def admin(world: World, client: Client) -> Client:
    client.force_login(make_user("school_admin", world))
    return client


def test_a_report_the_mis_cannot_send_is_marked_and_refused(world: World, admin: Client) -> None:
    m.School.objects.filter(pk=world.home.school.pk).update(mis="IRIS iSAMS")
    m.ReportAcceptance.objects.filter(school=world.home.school, report="groups").delete()
    page = admin.get(_url("settings", world))
    rows = {r.spec.code: r for r in page.context["reports"]}
    assert {c for c, r in rows.items() if not r.offered} == {
        "students_future",
        "staff_future",
        "contacts",
        "attendance",
        "groups",
    }
    body = page.content.decode()
    assert body.count('<span aria-hidden="true">✗ </span>') == 5
    assert body.count("Not available: IRIS iSAMS cannot send it") == 4
    assert "Accepted, but IRIS iSAMS cannot send it" in body  # contacts, accepted before
    # No Accept button for an unavailable report (only Remove, for the one accepted).
    assert 'action="{}"'.format(_url("report_set", world, report="attendance")) not in body

    before = everything()
    refused = admin.post(
        _url("report_set", world, report="attendance"), {"accepted": "1"}, follow=True
    )
    assert _messages(refused) == ["Attendance cannot be accepted: IRIS iSAMS cannot send it."]
    assert everything() == before


def test_change_mis_says_which_accepted_reports_were_withdrawn(world: World, admin: Client) -> None:
    school = world.home.school
    changed = admin.post(_url("mis_change", world), {"mis": "IRIS iSAMS"}, follow=True)
    assert _messages(changed) == [
        "The MIS is now IRIS iSAMS. Set it up: 3 steps below.",
        "IRIS iSAMS cannot send Contacts, Groups & Classes: those reports are no longer accepted.",
    ]
    # The page walks the school through the new MIS's set-up, in the help pages' order.
    assert changed.redirect_chain[-1][0].endswith("#setup")
    body = changed.content.decode()
    assert '<h3 id="setup">Setting up IRIS iSAMS</h3>' in body
    assert body.index("REST API for a Partner") < body.index("Accept the Students and Staff")
    assert sorted(school.accepted_reports.values_list("report", flat=True)) == [
        "staff",
        "students",
    ]
    removed = m.AuditEvent.objects.filter(school=school, action="report_removed")
    assert sorted(removed.values_list("reason", flat=True)) == [
        "Contacts report removed: IRIS iSAMS cannot send it",
        "Groups & Classes report removed: IRIS iSAMS cannot send it",
    ]
