"""The main journeys in a real browser (Debian's chromium through Playwright), with
axe-core on every page they pass. Few and focused: they run in CI."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from rollsync.directory import models as m
from tests.access.helpers import (
    DAY2,
    PASSWORD,
    World,
    build_world,
    class_list,
    csv_bytes,
    make_user,
    pupil,
    run_worker,
    sync,
)
from tests.web.browser import (
    BROWSER_TESTS,
    allow_live_browser,
    axe_violations,
    chromium,
    shows_message,
)

pytestmark = BROWSER_TESTS


@pytest.fixture
def live_world(transactional_db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    allow_live_browser(settings, monkeypatch)
    world = build_world()
    home, sibling = world.home.school, world.sibling
    # A second doubtful pupil: the sibling school's Maria, and a Mariah arriving here.
    sync(
        sibling,
        [
            pupil("S1", "Jonathan", "HKhan", "2014-01-02"),
            pupil("S2", "Maria", "HLopez", "2015-06-07"),
        ],
        DAY2,
    )
    rows = class_list("P", "H")
    sync(
        home,
        [
            *rows[:9],
            pupil("P99", "Jonathon", "HKhan", "2014-01-02"),
            pupil("P98", "Mariah", "HLopez", "2015-06-07"),
        ],
        DAY2,
    )
    assert m.MatchCase.objects.filter(school=home, status="open").count() == 2
    return world


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _clean(page: Any) -> None:
    assert axe_violations(page) == [], page.url


def test_school_admin_uploads_watches_matches_restores_and_approves(
    live_world: World, live_server: Any, tmp_path: Any
) -> None:
    world = live_world
    make_user("school_admin", world)
    rows = class_list("P", "H")
    export = tmp_path / "students.csv"
    export.write_bytes(
        csv_bytes(
            "students",
            [
                *rows[:4],
                pupil("P99", "Jonathon", "HKhan", "2014-01-02"),
                pupil("P98", "Mariah", "HLopez", "2015-06-07"),
            ],
        )
    )
    with chromium() as browser:
        page = browser.new_page()
        _sign_in(page, live_server.url, "school_admin")
        page.wait_for_url(re.compile(r"/schools/100001/results/$"))
        _clean(page)

        # Upload a file by hand and watch it process.
        page.get_by_role("link", name="AutoUpdate Settings").click()
        # A click does not wait for the page it opens: axe on a page mid-navigation reads
        # a document that is gone (CI failed so once).
        page.wait_for_url(re.compile(r"/schools/100001/settings/$"))
        _clean(page)
        page.get_by_label("File", exact=True).set_input_files(str(export))
        page.get_by_label("Format").select_option("csv")
        page.get_by_label("Report (a file of one report)").select_option("students")
        page.get_by_role("button", name="Upload and process").click()
        page.wait_for_url(re.compile(r"/tasks/[^/]+/$"))
        assert "Queued" in page.locator("#progress").inner_text()
        _clean(page)
        run_worker()
        page.locator("#progress", has_text="Finished").wait_for(timeout=15000)
        assert "Held" in page.locator("#progress").inner_text()
        held = m.SyncRun.objects.filter(school=world.home.school).latest("pk")
        assert held.status == "held"

        # Work two matching cases: match one, create the other.
        page.goto(
            f"{live_server.url}{reverse('web:unmatched', kwargs={'urn': '100001'})}?role=pupil"
        )
        _clean(page)
        page.get_by_role("button", name=re.compile(r"^Match to jhkhan\.202")).click()
        shows_message(page, "Jonathon HKhan matched to jhkhan.202.")
        page.get_by_role("button", name="Create new account for Mariah HLopez").click()
        shows_message(page, "Mariah HLopez created as")
        assert not m.MatchCase.objects.filter(school=world.home.school, status="open").exists()

        # Approve the held run from its plan.
        page.goto(
            live_server.url + reverse("web:run_detail", kwargs={"urn": "100001", "run_id": held.pk})
        )
        _clean(page)
        assert "Would be unallocated (5)" in page.content()
        page.get_by_role("button", name=f"Approve run {held.pk}").click()
        page.wait_for_url(re.compile(r"/tasks/[^/]+/$"))
        _clean(page)
        run_worker()
        page.locator("#progress", has_text="Finished").wait_for(timeout=15000)
        assert "Applied" in page.locator("#progress").inner_text()

        # One of those it unallocated is still at the school after all: restore them.
        leaver = m.Allocation.objects.get(school=world.home.school, mis_id="P5")
        assert leaver.status == "unallocated"
        page.get_by_role("navigation", name="Hillside Primary").get_by_role(
            "link", name="Whole School Bulk Results"
        ).click()
        page.wait_for_url(re.compile(r"/schools/100001/results/$"))
        page.get_by_role("link", name="List pupils who were unallocated").click()
        page.wait_for_url(re.compile(r"/results/unallocated/\?role=pupil$"))
        _clean(page)
        username = leaver.account.username
        page.get_by_role("button", name=f"Restore {username}").click()
        # The approved run's export lacks them: the restore asks first.
        page.get_by_role("heading", name=re.compile(r"^Restore ")).wait_for()
        _clean(page)
        page.get_by_role("button", name="Restore anyway").click()
        shows_message(page, f"{username} is restored at Hillside Primary.")

    held.refresh_from_db()
    assert (held.status, held.approved_by) == ("applied", "school_admin")
    assert m.Allocation.objects.get(pk=leaver.pk).status == "active"
    assert m.Account.objects.get(pk=leaver.account_id).status == "active"


def test_la_admin_finds_the_school_that_needs_attention(
    live_world: World, live_server: Any
) -> None:
    make_user("la_admin", live_world)
    m.SyncRun.objects.filter(school=live_world.sibling).update(
        created_at=m.SyncRun.objects.latest("pk").created_at
    )
    with chromium() as browser:
        page = browser.new_page()
        _sign_in(page, live_server.url, "la_admin")
        page.wait_for_url(re.compile(r"/la/202/$"))
        _clean(page)
        page.get_by_label("Only schools that need attention").check()
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(re.compile(r"attention=on"))
        _clean(page)
        table = page.get_by_role("table").inner_text()
        assert "Hillside Primary" in table
        assert "Held" in table
        page.get_by_role("link", name="Hillside Primary", exact=True).click()
        page.wait_for_url(re.compile(r"/schools/100001/results/$"))
        assert "Held runs waiting for approval" in page.content()


def test_every_page_reads_without_javascript_and_passes_axe(
    live_world: World, live_server: Any
) -> None:
    world = live_world
    make_user("school_admin", world)
    urn = "100001"
    paths = [
        reverse(name, kwargs={"urn": urn, **extra})
        for name, extra in (
            ("web:settings", {}),
            ("web:upload_history", {}),
            ("web:bulk_results", {}),
            ("web:unmatched", {}),
            ("web:unallocated", {}),
            ("web:exclusions", {}),
            ("web:runs", {}),
            ("web:run_detail", {"run_id": world.home.held.pk}),
            ("web:users", {}),
            ("web:account", {"uid": world.home.account.uid}),
            ("web:non_mis", {}),
            ("web:request_single", {}),
        )
    ]
    paths.append(reverse("web:task_progress", kwargs={"urn": urn, "task_id": world.home.task_id}))
    paths += ["/schools/", "/la/", "/account/two-step/"]
    with chromium() as browser:
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        page.set_default_timeout(10000)
        _sign_in(page, live_server.url, "school_admin")
        page.wait_for_url(re.compile(r"/results/$"))
        for path in paths:
            response = page.goto(live_server.url + path)
            assert response is not None and response.status == 200, path
            assert page.locator("h1").count() == 1, path
        # axe-core needs JavaScript: the same pages again with it on.
        js = browser.new_page()
        js.set_default_timeout(10000)
        js.goto(f"{live_server.url}/login/")
        _clean(js)
        _sign_in(js, live_server.url, "school_admin")
        js.wait_for_url(re.compile(r"/results/$"))
        for path in paths:
            js.goto(live_server.url + path)
            _clean(js)
        # Keyboard: the first Tab reaches the skip link, which leads to the main content.
        js.goto(live_server.url + paths[0])
        js.keyboard.press("Tab")
        assert js.evaluate("document.activeElement.textContent") == "Skip to main content"
        js.keyboard.press("Enter")
        assert js.evaluate("document.activeElement.id") == "main"


def test_a_queued_upload_page_refreshes_itself_without_javascript(
    live_world: World, live_server: Any
) -> None:
    make_user("school_admin", live_world)
    from rollsync.directory.services.sync import run_force

    task_id = run_force(school=live_world.home.school, report=None, actor="test")
    url = live_server.url + reverse(
        "web:task_progress", kwargs={"urn": "100001", "task_id": task_id}
    )
    with chromium() as browser:
        page = browser.new_context(java_script_enabled=False).new_page()
        _sign_in(page, live_server.url, "school_admin")
        page.wait_for_url(re.compile(r"/results/$"))
        page.goto(url)
        assert "Queued" in page.locator("#progress").inner_text()
        run_worker()
        page.locator("#progress", has_text="Finished").wait_for(timeout=15000)
