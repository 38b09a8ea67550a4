"""The red cross of AutoUpdate Settings (tests/web/test_mis_reports_page.py) in a real
browser. A module of its own: that module's world is built once in a transaction held
open for the module, and a live server's test run beside it saw that world (run alone,
the module failed: the second world's accounts were likely the first's)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from rollsync.directory import models as m
from tests.access.helpers import PASSWORD, World, build_world, make_user
from tests.web.browser import allow_live_browser, axe_violations, browser_test, chromium


def _url(name: str, world: World) -> str:
    return reverse(f"web:{name}", kwargs={"urn": world.home.school.urn})


@browser_test
def test_the_red_cross_in_a_browser(
    transactional_db: Any,
    live_server: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    allow_live_browser(settings, monkeypatch)
    world = build_world()
    make_user("school_admin", world)
    m.School.objects.filter(pk=world.home.school.pk).update(mis="Pupil Asset")
    m.ReportAcceptance.objects.filter(school=world.home.school, report="groups").delete()
    base = live_server.url
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{base}/login/")
        page.get_by_label("Username").fill("school_admin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        # Signed in once the school's page has come (a goto at once could cut the POST).
        page.wait_for_url(f"{base}{_url('bulk_results', world)}")
        page.goto(f"{base}{_url('settings', world)}")
        row = page.locator("#report-groups")
        cell = row.locator("td").first
        # Seen: a red ✗ and the words; heard: the words only (the ✗ is hidden from them).
        assert cell.inner_text().strip() == "✗ Not available: Pupil Asset cannot send it"
        cross = cell.locator('[aria-hidden="true"]')
        assert cross.inner_text().strip() == "✗"
        color = cell.locator(".unavailable").evaluate("e => getComputedStyle(e).color")
        assert color == "rgb(164, 22, 26)"  # --red
        assert row.get_by_role("button", name="Accept Groups & Classes").count() == 0
        # A report the MIS sends has no cross.
        assert page.locator("#report-students td").first.inner_text().strip() == "Accepted"
        assert axe_violations(page) == []
