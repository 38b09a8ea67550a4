"""In a real browser (Debian's chromium through Playwright): Whole School Bulk Results
shows a partly rejected run as amber "Applied with N rejected rows" and a run that waits
for the school's held people run as waiting, not as a hold to approve (issue 8)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from rollsync.directory import models as m
from tests.access.helpers import World, build_world, make_user
from tests.web.browser import BROWSER_TESTS, allow_live_browser, axe_violations, chromium
from tests.web.test_browser import _sign_in
from tests.web.test_run_status_pages import _store, marks, members

pytestmark = BROWSER_TESTS


@pytest.fixture
def live_world(transactional_db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    allow_live_browser(settings, monkeypatch)
    return build_world()


def test_bulk_results_show_partly_rejected_as_amber_and_waiting_as_waiting(
    live_world: World, live_server: Any
) -> None:
    world = live_world
    make_user("region_operator", world)
    partial = _store(world.sibling, "attendance", marks("S1", "X9"))
    waiting = _store(world.home.school, "groups", members("P0", "P1"))
    held = world.home.held
    assert waiting.waits_for_id == held.pk
    with chromium() as browser:
        page = browser.new_page()
        _sign_in(page, live_server.url, "region_operator")
        page.wait_for_url(re.compile(r"/$|/schools/|/la/"))

        page.goto(live_server.url + reverse("web:bulk_results", kwargs={"urn": world.sibling.urn}))
        row = page.locator("tr", has=page.get_by_role("rowheader", name="Attendance"))
        badge = row.locator(".status")
        assert badge.inner_text() == "Applied with 1 rejected row"
        assert "status-amber" in (badge.get_attribute("class") or "")
        # Amber, not the green of a clean run.
        colour = badge.evaluate("e => getComputedStyle(e).color")
        green = page.evaluate(
            "() => getComputedStyle(document.documentElement).getPropertyValue('--green').trim()"
        )
        assert colour == "rgb(107, 78, 0)", colour  # --yellow
        assert green and colour != green
        assert row.get_by_role("link", name=f"Run {partial.pk}").count() == 1
        assert axe_violations(page) == []

        page.goto(
            live_server.url + reverse("web:bulk_results", kwargs={"urn": world.home.school.urn})
        )
        waiting_section = page.locator("section", has=page.locator("#waiting-heading"))
        assert waiting_section.get_by_role("link", name=f"Run {waiting.pk}").count() == 1
        assert f"Waiting for run {held.pk}" in waiting_section.inner_text()
        held_section = page.locator("section", has=page.locator("#held-heading"))
        assert held_section.get_by_role("link", name=f"Run {waiting.pk}").count() == 0
        assert held_section.get_by_role("link", name=f"Run {held.pk}").count() == 1
        groups_row = page.locator("tr", has=page.get_by_role("rowheader", name="Groups & Classes"))
        assert groups_row.locator(".status").inner_text() == f"Waiting for run {held.pk}"
        assert axe_violations(page) == []

        # Its run page says why it waits and offers nothing to approve.
        waiting_section.get_by_role("link", name=f"Run {waiting.pk}").click()
        page.wait_for_url(re.compile(rf"/runs/{waiting.pk}/$"))
        assert page.get_by_role("heading", name="Why it waits").count() == 1
        assert page.get_by_role("button", name=re.compile("Approve")).count() == 0
        assert axe_violations(page) == []
    assert m.SyncRun.objects.get(pk=waiting.pk).status == "held"
