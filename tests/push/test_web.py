"""AutoUpdate Settings for a Bromcom school: "Run from the MIS" (no Force run, the help
pages' words on running it from Bromcom), "Issue push credentials" (configure only)
showing them once, the last push and the light; the password on no page afterwards."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rollsync.access.services import user_grant
from rollsync.directory import models as m
from rollsync.domain.connection_status import PUSH_HINT
from tests.push.conftest import bromcom_school, make_pusher

PASSWORD = "a-long-test-password-9"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def signed_in(school: m.School, role: str = "school_admin") -> Client:
    grant = user_grant(username=f"{role}-{school.urn}", password=PASSWORD, role=role, school=school)
    client = Client()
    client.force_login(grant.user)
    return client


def settings_page(client: Client, school: m.School) -> str:
    response = client.get(reverse("web:settings", kwargs={"urn": school.urn}))
    assert response.status_code == 200
    return response.content.decode()


def test_a_bromcom_school_runs_from_the_mis(db: Any) -> None:
    school = bromcom_school()
    page = settings_page(signed_in(school), school)
    assert "Run from the MIS" in page
    assert "press <strong>Save</strong> rather than Save &amp; Run" in page
    assert "every evening after 18:00" in page
    assert "Issue push credentials" in page
    assert "Bromcom push is not set up" in page
    assert "There is no Force run here" in page
    assert ">Force run</button>" not in page and "<h3>Force run</h3>" not in page
    assert reverse("web:connection_pull", kwargs={"urn": school.urn}) not in page
    assert reverse("web:force_run", kwargs={"urn": school.urn}) not in page


def test_issuing_shows_the_credentials_once(db: Any) -> None:
    school = bromcom_school()
    client = signed_in(school)
    url = reverse("web:connection_push_credentials", kwargs={"urn": school.urn})
    response = client.post(url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    conn = m.MisConnection.objects.get(school=school)
    shown = re.search(r"<dt>Supplier password</dt><dd><code>([^<]+)</code>", page)
    assert shown is not None
    password = shown.group(1)
    assert conn.settings["licence_key"] in page and conn.settings["supplier_id"] in page
    assert "Press <strong>Save</strong>, not Save &amp; Run" in page
    # never again: not on AutoUpdate Settings, Upload History, results, the LA dashboard
    after = settings_page(client, school)
    assert password not in after
    assert conn.settings["licence_key"] in after  # identifiers stay on the page
    assert "Replace the push credentials" in after and "Waiting for the first push" in after
    assert ">Force run</button>" not in after
    assert "<h3>Schedule</h3>" not in after
    for name in ("upload_history", "bulk_results", "runs"):
        other = client.get(reverse(f"web:{name}", kwargs={"urn": school.urn}))
        assert other.status_code == 200 and password not in other.content.decode()
    dashboard = client.get(reverse("web:home"), follow=True)
    assert password not in dashboard.content.decode()
    # a second issue replaces the first
    again = client.post(url).content.decode()
    assert "These replace the school's earlier credentials" in again
    assert password not in again


def test_only_a_school_admin_issues_credentials(db: Any) -> None:
    school = bromcom_school()
    reader = signed_in(school, "read_only")
    page = settings_page(reader, school)
    assert "Issue push credentials" not in page and "Run from the MIS" in page
    response = reader.post(reverse("web:connection_push_credentials", kwargs={"urn": school.urn}))
    assert response.status_code == 403
    assert not m.MisConnection.objects.filter(school=school).exists()


def test_the_page_shows_the_last_push_and_the_light(db: Any) -> None:
    pusher = make_pusher()
    pusher.push("students")
    client = signed_in(pusher.school)
    page = settings_page(client, pusher.school)
    assert "Last push" in page and "Received" in page
    assert 'class="light green"' in page
    assert pusher.creds.password not in page
    week_ago = timezone.now() - timedelta(days=7)
    conn = m.MisConnection.objects.get(school=pusher.school)
    m.MisConnection.objects.filter(pk=conn.pk).update(
        last_pull_at=week_ago,
        settings={**conn.settings, "credentials_issued_at": week_ago.isoformat()},
    )
    page = settings_page(client, pusher.school)
    assert 'class="light red"' in page
    assert PUSH_HINT in page.replace("&amp;", "&")
    assert "No push from Bromcom for 5 school days" in page


def test_the_la_dashboard_reads_the_same_light(db: Any) -> None:
    pusher = make_pusher()
    pusher.push("students")
    grant = user_grant(username="la-admin", password=PASSWORD, role="la_admin", la="202")
    client = Client()
    client.force_login(grant.user)
    week_ago = timezone.now() - timedelta(days=7)
    conn = m.MisConnection.objects.get(school=pusher.school)
    m.MisConnection.objects.filter(pk=conn.pk).update(
        last_pull_at=week_ago,
        settings={**conn.settings, "credentials_issued_at": week_ago.isoformat()},
    )
    page = client.get(reverse("web:la_dashboard", kwargs={"code": "202"})).content.decode()
    assert "Push overdue" in page
    assert "No push from Bromcom for 5 school days" in page
    assert pusher.creds.password not in page


def test_the_api_shows_a_push_connection_and_its_light(db: Any) -> None:
    from rollsync.api.services import api_token_create

    pusher = make_pusher()
    _, secret = api_token_create(name="t", school=pusher.school, actor="t", read_only=True)
    url = f"/api/v1/schools/{pusher.school.urn}/connection"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    body = Client().get(url, **auth).json()
    assert (body["connector"], body["push"], body["light"]) == ("bromcom", True, "green")
    assert body["settings"]["licence_key"] == pusher.creds.licence_key
    assert pusher.creds.password not in json.dumps(body)
    week_ago = timezone.now() - timedelta(days=7)
    conn = m.MisConnection.objects.get(school=pusher.school)
    m.MisConnection.objects.filter(pk=conn.pk).update(
        settings={**conn.settings, "credentials_issued_at": week_ago.isoformat()}
    )
    response = Client().get(url, **auth)
    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["light"]) == ("push overdue", "red")


def test_disconnecting_forgets_the_push_credentials(db: Any) -> None:
    from rollsync.directory.services.push import PushUnauthorised

    pusher = make_pusher()
    client = signed_in(pusher.school)
    url = reverse("web:connection_disconnect", kwargs={"urn": pusher.school.urn})
    ask = client.get(url).content.decode()
    assert "push credentials" in ask and "pushes are refused" in ask
    client.post(url)
    assert not m.MisConnection.objects.filter(school=pusher.school).exists()
    with pytest.raises(PushUnauthorised):
        pusher.push("students")
    page = settings_page(client, pusher.school)
    assert "Issue push credentials" in page and 'class="light red"' in page


def test_another_schools_admin_or_nobody_cannot_issue(db: Any) -> None:
    from rollsync.directory.services.schools import school_add

    school = bromcom_school()
    other = school_add(urn="300001", la_code="303", estab="3001", name="Elsewhere", actor="t")
    url = reverse("web:connection_push_credentials", kwargs={"urn": school.urn})
    assert signed_in(other).post(url).status_code == 404
    signed_out = Client().post(url)
    assert signed_out.status_code == 302 and signed_out["Location"].startswith("/login/")
    assert not m.MisConnection.objects.filter(school=school).exists()
    assert not m.AuditEvent.objects.filter(action="push_credentials_issued").exists()
