"""Driving Debian's chromium with Playwright (no browser download: the system one)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = os.environ.get("ROLLSYNC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
            # ORM calls made while Playwright ran may have opened connections of their own
            # (its greenlets carry their own context): close them, or PostgreSQL cannot
            # drop the test database at the end.
            from django.db import connections

            connections.close_all()


def shows_message(page: Any, text: str) -> None:
    """The page's messages come to say `text` (Playwright's `expect` asks again until
    they do): a click does not wait for the page it posts to, and the page before it
    may hold messages of its own, which a plain read could take for the new ones."""
    from playwright.sync_api import expect

    expect(page.locator(".messages")).to_contain_text(text)


def axe_violations(page: Any) -> list[str]:
    """axe-core's violations on the page, one line each (empty when there are none)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']})"
        for v in results.response["violations"]
    ]


# Every browser test: marked, and skipped (saying why) where Debian's chromium is missing.
BROWSER_TESTS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)",
    ),
]


def browser_test(test: Any) -> Any:
    """`BROWSER_TESTS` for one test of a module whose other tests need no browser."""
    for mark in BROWSER_TESTS:
        test = mark(test)
    return test


def allow_live_browser(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a test that drives the browser against the live server needs: Playwright's
    sync API keeps an event loop in the test's thread (the test's own ORM calls are still
    plain synchronous code), and a fast password hasher for the users it signs in."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
