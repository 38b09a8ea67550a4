"""Issue 8, defects 5 to 8 as a school admin meets them, in a real browser: History
names real values; a restore the next run would undo asks first and can keep the
account as non-MIS; User Request Single shows the account the pupil already has before
making a second; the matching page never makes a taken account the default."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from django.urls import reverse

from rollsync.directory import models as m
from rollsync.directory.services.accounts import match_case_resolve
from tests.access.helpers import DAY3, World, build_world, class_list, make_user, pupil, sync
from tests.web.browser import BROWSER_TESTS, allow_live_browser, chromium, shows_message
from tests.web.test_browser import _clean, _sign_in

pytestmark = BROWSER_TESTS


@pytest.fixture
def live_world(transactional_db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    allow_live_browser(settings, monkeypatch)
    return build_world()


def _url(live_server: Any, name: str, **kwargs: Any) -> str:
    return live_server.url + reverse(f"web:{name}", kwargs={"urn": "100001", **kwargs})


def test_restore_asks_then_keeps_as_non_mis_and_history_names_values(
    live_world: World, live_server: Any
) -> None:
    world = live_world
    make_user("school_admin", world)
    gone = m.Allocation.objects.select_related("account").get(school=world.home.school, mis_id="P9")
    assert gone.status == "unallocated"
    username = gone.account.username
    with chromium() as browser:
        page = browser.new_page()
        _sign_in(page, live_server.url, "school_admin")
        page.wait_for_url(re.compile(r"/results/$"))
        page.goto(_url(live_server, "unallocated") + "?role=pupil")
        assert "Not in the latest export (run" in page.locator("main").inner_text()
        page.get_by_role("button", name=f"Restore {username}").click()
        # The second step: why a plain restore would not last, and the choice.
        page.get_by_role("heading", name=re.compile(r"^Restore ")).wait_for()
        _clean(page)
        assert (
            f"{username} (MIS ID P9) is not in the latest export of Hillside Primary"
            in page.locator("main").inner_text()
        )
        assert m.Allocation.objects.get(pk=gone.pk).status == "unallocated"
        keep = page.get_by_role("button", name="Keep as non-MIS at Hillside Primary")
        assert keep.get_attribute("class") is None  # the primary choice
        assert page.get_by_role("button", name="Restore anyway").get_attribute("class") == (
            "secondary"
        )
        keep.click()
        shows_message(page, f"{username} is restored at Hillside Primary and kept as non-MIS.")
        today = date.today().strftime("%-d %b %Y")
        # Review Non-MIS Accounts and the account both show the decision.
        page.goto(_url(live_server, "non_mis"))
        row = page.get_by_role("row", name=re.compile(username))
        assert f"Kept as non-MIS by school_admin on {today}" in row.inner_text()
        page.goto(_url(live_server, "account", uid=gone.account.uid))
        _clean(page)
        places = page.get_by_role("table", name="Places at schools").inner_text()
        assert f"kept as non-MIS by school_admin on {today}" in places
        history = page.get_by_role("table", name=re.compile("Every change")).inner_text()
        assert f"Username: none → {username}; MIS ID: none → P9" in history
        assert "Status: active → unallocated; School: Hillside Primary" in history
        assert "MIS ID: P9 → none" in history
        assert "Username: " + username[0] + " →" not in history
        # The next run, still without them, leaves the decision alone and says so.
        run = sync(
            world.home.school,
            [*class_list("P", "H")[:9], pupil("P99", "Jonathon", "HKhan", "2014-01-02")],
            DAY3,
        )
        assert (run.status, run.counts["unallocated"]) == ("applied", 0)
        page.goto(_url(live_server, "run_detail", run_id=run.pk))
        _clean(page)
        kept = page.get_by_role("region", name=re.compile("Kept as non-MIS")).inner_text()
        assert f"({username}, pupil): kept as non-MIS by school_admin on {today}" in kept
    gone.refresh_from_db()
    assert (gone.status, gone.mis_id) == ("active", "")


def test_request_single_shows_the_existing_account_before_a_second(
    live_world: World, live_server: Any
) -> None:
    world = live_world
    make_user("school_admin", world)
    existing = m.Allocation.objects.select_related("account").get(
        school=world.home.school, mis_id="P1"
    )
    a = existing.account
    accounts = m.Account.objects.count()
    with chromium() as browser:
        page = browser.new_page()
        _sign_in(page, live_server.url, "school_admin")
        page.wait_for_url(re.compile(r"/results/$"))
        page.goto(_url(live_server, "request_single"))
        page.get_by_label("Role").select_option("pupil")
        page.get_by_label("Legal forename").fill(a.legal_given_name)
        page.get_by_label("Legal surname").fill(a.legal_family_name)
        page.get_by_label("Date of birth").fill(a.date_of_birth.isoformat())
        page.get_by_role("button", name="Create the account").click()
        page.get_by_role("heading", name=re.compile("may already have an account")).wait_for()
        _clean(page)
        listed = page.get_by_role("table", name="Likely existing accounts").inner_text()
        assert a.username in listed
        assert "Hillside Primary (active, MIS ID P1)" in listed
        assert m.Account.objects.count() == accounts
        confirm = page.get_by_role("button", name="Create a second account anyway")
        assert confirm.get_attribute("class") == "secondary"
        confirm.click()
        page.wait_for_url(re.compile(r"/users/[0-9a-f-]+/$"))
        shows_message(page, "created")
    assert m.Account.objects.count() == accounts + 1


def test_matching_never_defaults_to_a_taken_account(live_world: World, live_server: Any) -> None:
    world = live_world
    make_user("school_admin", world)
    home = world.home.school
    m.MatchCase.objects.filter(school=home, status="open").update(status="excluded")
    # One upload, two records like the sibling school's Jonathan: a person matches the
    # first to him; his account is then taken for the second.
    rows = class_list("P", "H")
    sync(
        home,
        [
            *rows[:9],
            pupil("P97", "Jonathan", "HKhan", "2014-01-02"),
            pupil("P96", "Jonathon", "HKhan", "2014-01-02"),
        ],
        DAY3,
    )
    first = m.MatchCase.objects.get(school=home, mis_id="P97", status="open")
    match_case_resolve(
        case_id=first.pk, actor="test", link_account_id=first.candidates[0]["account_id"]
    )
    taken = m.Account.objects.get(pk=first.candidates[0]["account_id"])
    with chromium() as browser:
        page = browser.new_page()
        _sign_in(page, live_server.url, "school_admin")
        page.wait_for_url(re.compile(r"/results/$"))
        page.goto(_url(live_server, "unmatched") + "?role=pupil")
        _clean(page)
        case = page.get_by_role("article", name=re.compile("Jonathon HKhan"))
        assert (
            "Taken: already matched to MIS ID P97 (Jonathan HKhan) in this upload."
            in case.inner_text()
        )
        match = case.get_by_role("button", name=f"Match to {taken.username}")
        assert match.get_attribute("class") == "secondary"
        create = case.get_by_role("button", name=re.compile("^Create new account"))
        assert create.get_attribute("class") is None  # the default: nothing else is free
