"""In a real browser (Debian's chromium through Playwright): a school admin connects the
school's MIS on AutoUpdate Settings (the secret typed once, never shown again), runs
Force run through the connection and watches the pull being processed, disconnects, and
connects Arbor by clicking Approve on Arbor's approval page. Every rollsync page is
checked with axe-core.

Nothing is replaced: the MIS is the project's iSAMS simulator and Arbor its Arbor
simulator, both on 127.0.0.1 beside the live server; the browser goes to Arbor's page
and Arbor sends it back to rollsync."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse

from rollsync.directory import models as m
from rollsync.directory.secrets import unseal
from rollsync.directory.services.schools import school_policy_set
from rollsync.missim.arbor import ArborSimulator, credentials_for
from rollsync.missim.isams import IsamsSimulator, client_id_for, client_secret_for
from tests.access.helpers import HOME_URN, World, build_world, make_user, run_worker
from tests.web.browser import (
    BROWSER_TESTS,
    allow_live_browser,
    axe_violations,
    chromium,
    shows_message,
)
from tests.web.connection_helpers import (
    current_pupils,
    mis_data,
    query_of,
    school_url,
    seen,
)
from tests.web.test_browser import _sign_in

pytestmark = BROWSER_TESTS

SECRET = client_secret_for(HOME_URN)  # the simulator's demo secret for the home school
ARBOR_USER, ARBOR_PASSWORD = credentials_for(HOME_URN)


@pytest.fixture
def live_world(transactional_db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    allow_live_browser(settings, monkeypatch)
    monkeypatch.setenv("ROLLSYNC_CONNECTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_WAIT", "0.01")
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_MAX_WAIT", "0.05")
    world = build_world()
    # The world's pupils are not in the simulated MIS: the first pull takes them all off
    # roll, which the school's guard would hold for a person. Let it through here.
    school_policy_set(school=world.home.school, actor="test", guard_unallocate_pct=100)
    return world


@pytest.fixture
def isams(live_world: World) -> Iterator[IsamsSimulator]:
    sim = IsamsSimulator(mis_data(live_world.home.school))
    with sim:
        yield sim


@pytest.fixture
def arbor(live_world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArborSimulator]:
    sim = ArborSimulator(mis_data(live_world.home.school))
    with sim:
        monkeypatch.setenv("ROLLSYNC_ARBOR_APPROVAL_URL", sim.url)
        yield sim


def _clean(page: Any) -> None:
    assert axe_violations(page) == [], page.url


def test_school_admin_connects_the_mis_and_force_runs_a_pull(
    live_world: World, live_server: Any, isams: IsamsSimulator, arbor: ArborSimulator
) -> None:
    world = live_world
    school = world.home.school
    mis_url = school_url(isams, school)
    make_user("school_admin", world)
    with chromium() as browser:
        page = browser.new_page()
        _sign_in(page, live_server.url, "school_admin")
        page.wait_for_url(re.compile(r"/schools/100001/results/$"))
        page.get_by_role("link", name="AutoUpdate Settings").click()
        page.wait_for_url(re.compile(r"/schools/100001/settings/$"))
        panel = page.locator("section", has=page.locator("#connection"))
        assert "No MIS connection." in panel.inner_text()
        _clean(page)

        # Choose the MIS, enter its settings and secret: checked at the MIS, then stored.
        page.get_by_label("MIS to connect", exact=True).select_option("isams")
        page.get_by_role("button", name="Show its settings").click()
        page.get_by_label("MIS URL").fill(mis_url)
        page.get_by_label("Client ID").fill(client_id_for(school.urn))
        page.get_by_label("Client secret").fill(SECRET)
        _clean(page)
        assert seen(isams) == []  # typing asks the MIS nothing
        page.get_by_role("button", name="Check and connect IRIS iSAMS / Ed:gen").click()
        shows_message(page, "IRIS iSAMS / Ed:gen is connected")
        assert seen(isams) == [
            ("POST", f"/schools/{school.urn}/auth/connect/token"),
            ("GET", f"/schools/{school.urn}/api/students"),
        ]
        assert isams.requests[0].form()["client_secret"] == SECRET
        panel = page.locator("section", has=page.locator("#connection"))
        assert panel.locator(".light").inner_text() == "Connected"
        assert "Stored (never shown)" in panel.inner_text()
        assert mis_url in panel.inner_text()
        assert page.get_by_label("Client secret").input_value() == ""
        assert SECRET not in page.content()
        _clean(page)
        conn = m.MisConnection.objects.get(school=school)
        assert unseal(conn.secrets) == {"client_secret": SECRET}

        # Force run through the connection: queued, then pulled and processed by the worker.
        page.get_by_label("Report to run").select_option("students")
        page.get_by_role("button", name="Force run", exact=True).click()
        page.wait_for_url(re.compile(r"/tasks/[^/]+/$"))
        assert page.get_by_role("heading", name="Force run: pulling from the MIS").count() == 1
        assert "Queued" in page.locator("#progress").inner_text()
        _clean(page)
        assert len(isams.requests) == 2  # queued only: nothing pulled yet
        run_worker()
        assert seen(isams)[2:] == [
            ("POST", f"/schools/{school.urn}/auth/connect/token"),
            ("GET", f"/schools/{school.urn}/api/students"),
        ]
        page.locator("#progress", has_text="Finished").wait_for(timeout=15000)
        assert "Applied" in page.locator("#progress").inner_text()
        _clean(page)
        upload = m.Upload.objects.filter(school=school).latest("pk")
        pupils = current_pupils(school)
        assert (upload.source, upload.fmt, upload.asked) == (
            "IRIS iSAMS",
            "isams-api",
            f"students (1 page, {pupils})",
        )
        run = m.SyncRun.objects.get(upload=upload)
        assert run.status == "applied"
        assert page.get_by_role("link", name=f"run {run.pk}", exact=True).count() == 1

        # Upload History lists the pull: source, what was asked for, size, checksum.
        page.get_by_role("link", name="Upload History").first.click()
        page.wait_for_url(re.compile(r"/schools/100001/uploads/$"))
        row = page.locator("tbody tr").first
        cells = row.locator("td").all_inner_texts()
        assert cells[1] == "IRIS iSAMS"
        assert cells[4] == f"students (1 page, {pupils})"
        assert cells[5] == str(upload.size)
        assert cells[6].startswith(upload.sha256[:12])
        _clean(page)
        conn.refresh_from_db()
        assert (conn.state, conn.last_outcome) == ("connected", "applied")

        # Disconnect: asked first, then the credentials are forgotten.
        # Each click navigates: wait for the new page, or content() may read it half-loaded.
        page.get_by_role("link", name="AutoUpdate Settings").first.click()
        page.wait_for_url(re.compile(r"/schools/100001/settings/$"))
        page.get_by_role("link", name="Disconnect IRIS iSAMS / Ed:gen").click()
        page.wait_for_url(re.compile(r"/settings/connection/disconnect/$"))
        assert "rollsync will forget the connection and its credentials" in page.content()
        _clean(page)
        page.get_by_role(
            "button", name="Disconnect IRIS iSAMS / Ed:gen and forget the credentials"
        ).click()
        shows_message(page, "credentials are forgotten")
        assert not m.MisConnection.objects.filter(school=school).exists()
        assert len(isams.requests) == 4  # disconnecting asks the MIS nothing

        # Arbor: the approval link, MISSING ENDPOINT URL until approved, then connected.
        page.get_by_label("MIS to connect", exact=True).select_option("arbor")
        page.get_by_role("button", name="Show its settings").click()
        page.get_by_role("button", name="Get the Arbor approval link").click()
        link = page.get_by_role("link", name="Sign in to Arbor and approve access")
        href = link.get_attribute("href")
        assert href is not None and href.startswith(f"{arbor.url}/approve?")
        state = m.MisConnection.objects.get(school=school).approval_state
        assert query_of(href) == {
            "school": school.urn,
            "redirect_uri": live_server.url + reverse("web:connection_return"),
            "state": state,
        }
        _clean(page)
        page.goto(live_server.url + reverse("web:settings", kwargs={"urn": school.urn}))
        panel = page.locator("section", has=page.locator("#connection"))
        assert panel.locator(".light").inner_text() == "Awaiting approval"
        assert "MISSING ENDPOINT URL" in panel.inner_text()
        _clean(page)
        assert seen(arbor) == []  # Arbor is asked nothing until the school approves

        # Re-authorise: a new link; follow it to Arbor and click Approve there.
        panel.get_by_role("button", name="Re-authorise Arbor").click()
        page.get_by_role("link", name="Sign in to Arbor and approve access").click()
        page.wait_for_url(re.compile(re.escape(arbor.url) + r"/approve\?"))
        assert (
            page.get_by_role(
                "heading", name="Approve rollsync's access to Hillside Primary?"
            ).count()
            == 1
        )
        page.get_by_role("button", name="Approve").click()
        # Arbor sends the browser back; rollsync exchanges the code and checks the access.
        page.wait_for_url(re.compile(r"/settings/#connection$"))
        assert page.url.startswith(live_server.url)
        shows_message(page, "Arbor access is approved")
        panel = page.locator("section", has=page.locator("#connection"))
        assert panel.locator(".light").inner_text() == "Connected"
        assert ARBOR_PASSWORD not in page.content()
        _clean(page)
    # What reached Arbor (the browser's own favicon request to Arbor's page aside).
    assert [r for r in seen(arbor) if r[1] != "/favicon.ico"] == [
        ("GET", "/approve"),
        ("POST", "/approve"),
        ("POST", "/approve/token"),
        ("GET", f"/schools/{school.urn}/rest-v2/students"),
    ]
    arbor_conn = m.MisConnection.objects.get(school=school)
    assert (arbor_conn.connector, arbor_conn.state, arbor_conn.approval_state) == (
        "arbor",
        "connected",
        "",
    )
    assert arbor_conn.settings == {"url": school_url(arbor, school), "username": ARBOR_USER}
    assert unseal(arbor_conn.secrets) == {"password": ARBOR_PASSWORD}
    # The first link's state was replaced by the re-authorisation: it is dead.
    assert state != "" and not m.MisConnection.objects.filter(approval_state=state).exists()
