"""In a real browser (Debian's chromium through Playwright): a school admin connects the
school's MIS on AutoUpdate Settings (the secret typed once, never shown again), runs
Force run through the connection and watches the pull being processed, disconnects, and
connects Arbor through its approval link. Every page is checked with axe-core."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse

from rollsync.connectors import Approved, CheckResult, Pulled, SettingField
from rollsync.connectors.arbor import ArborConnector
from rollsync.connectors.isams import IsamsConnector
from rollsync.directory import models as m
from rollsync.directory.secrets import unseal
from rollsync.ingest import reader_for
from rollsync.ingest.isams_api import IsamsApiReader
from tests.access.helpers import World, build_world, class_list, csv_bytes, make_user, run_worker
from tests.web.browser import BROWSER_TESTS, allow_live_browser, axe_violations, chromium
from tests.web.test_browser import _sign_in

pytestmark = BROWSER_TESTS

SECRET = "s3cret-Browser-Value-4d1e"
TOKEN = "arbor-Browser-Token-77c0"


@pytest.fixture
def live_world(transactional_db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    allow_live_browser(settings, monkeypatch)
    monkeypatch.setenv("ROLLSYNC_CONNECTION_KEYS", Fernet.generate_key().decode())
    # The iSAMS connector as the real one will be: its fields, a check that passes, and a
    # pull that answers with the school's pupils (read as a rollsync CSV here).
    monkeypatch.setattr(
        IsamsConnector,
        "fields",
        (
            SettingField("url", "MIS URL"),
            SettingField("client_id", "Client ID"),
            SettingField("client_secret", "Client secret", secret=True),
        ),
    )
    monkeypatch.setattr(
        IsamsConnector, "check", lambda self, connection: CheckResult("Token issued")
    )
    payload = csv_bytes("students", class_list("P", "H"))

    def pull(self: Any, connection: Any, request: Any) -> list[Pulled]:
        assert connection.secrets == {"client_secret": SECRET}
        return [Pulled(r, "isams-api", payload, f"{r} (1 page)") for r in sorted(request.reports)]

    def parse(self: Any, data: bytes, *, school: Any, report: Any, today: Any = None) -> Any:
        return reader_for("csv").parse(data, school=school, report="students", today=today)

    monkeypatch.setattr(IsamsConnector, "pull", pull)
    monkeypatch.setattr(IsamsApiReader, "parse", parse)
    # Arbor's approval hand-off: the "Arbor sign-in" is a page that sends the browser
    # straight back to rollsync's return URL with the state and a code.
    monkeypatch.setattr(ArborConnector, "needs_approval", True)
    monkeypatch.setattr(
        ArborConnector,
        "approval_url",
        lambda self, connection, *, return_url, state: (
            f"{return_url}?{urlencode({'state': state, 'code': 'approved-code'})}"
        ),
    )
    monkeypatch.setattr(
        ArborConnector,
        "complete_approval",
        lambda self, connection, *, code: Approved(
            {"url": "https://hillside.uk.arbor.sc"}, {"token": TOKEN}
        ),
    )
    monkeypatch.setattr(ArborConnector, "check", lambda self, connection: CheckResult("ok"))
    return build_world()


def _clean(page: Any) -> None:
    assert axe_violations(page) == [], page.url


def test_school_admin_connects_the_mis_and_force_runs_a_pull(
    live_world: World, live_server: Any
) -> None:
    world = live_world
    school = world.home.school
    make_user("school_admin", world)
    with chromium() as browser:
        page = browser.new_page()
        _sign_in(page, live_server.url, "school_admin")
        page.wait_for_url(re.compile(r"/schools/100001/results/$"))
        page.get_by_role("link", name="AutoUpdate Settings").click()
        panel = page.locator("section", has=page.locator("#connection"))
        assert "No MIS connection." in panel.inner_text()
        _clean(page)

        # Choose the MIS, enter its settings and secret: checked, then stored.
        page.get_by_label("MIS to connect", exact=True).select_option("isams")
        page.get_by_role("button", name="Show its settings").click()
        page.get_by_label("MIS URL").fill("https://hillside.isams.cloud")
        page.get_by_label("Client ID").fill("hillside-client")
        page.get_by_label("Client secret").fill(SECRET)
        _clean(page)
        page.get_by_role("button", name="Check and connect IRIS iSAMS / Ed:gen").click()
        assert "IRIS iSAMS / Ed:gen is connected" in page.locator(".messages").inner_text()
        panel = page.locator("section", has=page.locator("#connection"))
        assert panel.locator(".light").inner_text() == "Connected"
        assert "Stored (never shown)" in panel.inner_text()
        assert page.get_by_label("Client secret").input_value() == ""
        assert SECRET not in page.content()
        _clean(page)
        conn = m.MisConnection.objects.get(school=school)
        assert unseal(conn.secrets) == {"client_secret": SECRET}

        # Force run through the connection: queued, then processed by the worker.
        page.get_by_label("Report to run").select_option("students")
        page.get_by_role("button", name="Force run", exact=True).click()
        page.wait_for_url(re.compile(r"/tasks/[^/]+/$"))
        assert page.get_by_role("heading", name="Force run: pulling from the MIS").count() == 1
        assert "Queued" in page.locator("#progress").inner_text()
        _clean(page)
        run_worker()
        page.locator("#progress", has_text="Finished").wait_for(timeout=15000)
        _clean(page)
        upload = m.Upload.objects.filter(school=school).latest("pk")
        assert (upload.source, upload.asked) == ("IRIS iSAMS", "students (1 page)")
        run = m.SyncRun.objects.get(upload=upload)
        assert page.get_by_role("link", name=f"Open run {run.pk}").count() == 1

        # Upload History lists the pull: source, what was asked for, size, checksum.
        page.get_by_role("link", name="Upload History").first.click()
        row = page.locator("tbody tr").first
        cells = row.locator("td").all_inner_texts()
        assert cells[1] == "IRIS iSAMS"
        assert cells[4] == "students (1 page)"
        assert cells[5] == str(upload.size)
        assert cells[6].startswith(upload.sha256[:12])
        _clean(page)
        conn.refresh_from_db()
        assert conn.last_outcome in ("applied", "held")

        # Disconnect: asked first, then the credentials are forgotten.
        page.get_by_role("link", name="AutoUpdate Settings").first.click()
        page.get_by_role("link", name="Disconnect IRIS iSAMS / Ed:gen").click()
        assert "rollsync will forget the connection and its credentials" in page.content()
        _clean(page)
        page.get_by_role(
            "button", name="Disconnect IRIS iSAMS / Ed:gen and forget the credentials"
        ).click()
        assert "credentials are forgotten" in page.locator(".messages").inner_text()
        assert not m.MisConnection.objects.filter(school=school).exists()

        # Arbor: the approval link, MISSING ENDPOINT URL until approved, then connected.
        page.get_by_label("MIS to connect", exact=True).select_option("arbor")
        page.get_by_role("button", name="Show its settings").click()
        page.get_by_role("button", name="Get the Arbor approval link").click()
        href = page.get_by_role("link", name="Sign in to Arbor and approve access").get_attribute(
            "href"
        )
        assert href and "state=" in href
        _clean(page)
        page.goto(live_server.url + reverse("web:settings", kwargs={"urn": school.urn}))
        panel = page.locator("section", has=page.locator("#connection"))
        assert panel.locator(".light").inner_text() == "Awaiting approval"
        assert "MISSING ENDPOINT URL" in panel.inner_text()
        assert panel.get_by_role("button", name="Re-authorise Arbor").count() == 1
        _clean(page)
        page.goto(href)  # "Arbor" sends the browser straight back
        page.wait_for_url(re.compile(r"/settings/#connection$"))
        assert "Arbor access is approved" in page.locator(".messages").inner_text()
        panel = page.locator("section", has=page.locator("#connection"))
        assert panel.locator(".light").inner_text() == "Connected"
        assert TOKEN not in page.content()
        _clean(page)
    arbor = m.MisConnection.objects.get(school=school)
    assert (arbor.connector, arbor.state) == ("arbor", "connected")
    assert unseal(arbor.secrets) == {"token": TOKEN}
