"""Screenshots of every page of the web app, for docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--keep DIR]

Builds a throw-away demo database (a simulated LA of three schools, three days of
exports, the demo users) in a temporary folder, serves the app on a free local port
with an in-process worker, and drives Debian's chromium (/usr/bin/chromium) through
Playwright as the demo school admin, LA admin and region operator. Nothing outside
the temporary folder and the output folder is touched. Takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT = 1280, 900
MAX_HEIGHT = 2600  # long lists are cut: the top of the page shows what it is


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare(home: Path) -> dict[str, Any]:
    """The demo database, and what the pages need to be addressed by."""
    os.environ["ROLLSYNC_HOME"] = str(home)
    os.environ["DATABASE_URL"] = f"sqlite:///{home / 'screenshots.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "rollsync.config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    from rollsync.access.roles import RoleName
    from rollsync.access.services import DEMO_PASSWORD, DEMO_USERNAMES, demo_users
    from rollsync.demo import demo_run
    from rollsync.directory import models as m

    call_command("migrate", verbosity=0)
    demo_run(out=home / "demo", schools=3, days=3, seed=7, echo=print)
    users = demo_users()
    if not m.SyncRun.objects.filter(status="held").exists():
        _add_held_run(m.School.objects.get(urn=users[0].school_urn).la.code)
    school = next(u for u in users if u.role is RoleName.SCHOOL_ADMIN).school_urn
    held = m.SyncRun.objects.filter(status="held").order_by("pk").first()
    account = (
        m.Allocation.objects.filter(school__urn=school, status="active", role="pupil")
        .order_by("pk")
        .values_list("account__uid", flat=True)
        .first()
    )
    return {
        "password": DEMO_PASSWORD,
        "users": {role.value: name for role, name in DEMO_USERNAMES.items()},
        "urn": school,
        "la": m.School.objects.get(urn=school).la.code,
        "held": (held.school.urn, held.pk) if held else None,
        "account": str(account),
    }


def _add_held_run(la_code: str) -> None:
    """A school whose second export drops most of its pupils: the guard holds the run (so
    the held-run page has something to show when the simulated days held nothing)."""
    from datetime import date

    from rollsync.directory.services.schools import school_add
    from rollsync.directory.services.sync import sync_run_execute, upload_store
    from tests.access.helpers import class_list, csv_bytes

    school = school_add(
        urn="199999", la_code=la_code, estab="9999", name="Bramble Lane Primary", mis="Arbor"
    )
    rows = class_list("B", "Bramble")
    for day, people in ((7, rows), (8, rows[:4])):
        upload = upload_store(
            school=school,
            payload=csv_bytes("students", people),
            fmt="csv",
            report="students",
            filename=f"students-{day}.csv",
            source="arbor",
        )
        sync_run_execute(upload=upload, as_of=date(2026, 9, day), actor="screenshots")


def _shoot(base: str, info: dict[str, Any], out: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    from tests.web.browser import CHROMIUM, CHROMIUM_ARGS

    written: list[str] = []
    urn = info["urn"]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)

        def session(username: str) -> Any:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.set_default_timeout(20000)
            page.goto(f"{base}/login/")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(info["password"])
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()
            return page

        def shot(page: Any, name: str, path: str | None = None) -> None:
            if path is not None:
                page.goto(base + path)
            page.wait_for_load_state()
            target = out / f"{name}.png"
            height = min(int(page.evaluate("document.documentElement.scrollHeight")), MAX_HEIGHT)
            page.screenshot(
                path=str(target),
                full_page=True,
                clip={"x": 0, "y": 0, "width": WIDTH, "height": height},
            )
            written.append(target.name)
            print(f"  {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")

        anonymous = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        shot(anonymous, "01-sign-in", "/login/")

        la = session(info["users"]["la_admin"])
        shot(la, "02-la-dashboard", f"/la/{info['la']}/")
        shot(la, "03-la-dashboard-needs-attention", f"/la/{info['la']}/?attention=on")

        admin = session(info["users"]["school_admin"])
        school = f"/schools/{urn}"
        shot(admin, "04-autoupdate-settings", f"{school}/settings/")
        shot(admin, "05-upload-history", f"{school}/uploads/")
        shot(admin, "06-whole-school-bulk-results", f"{school}/results/")
        shot(admin, "07-not-matched", f"{school}/results/unmatched/?role=pupil")
        shot(admin, "08-unallocated", f"{school}/results/unallocated/")
        shot(admin, "09-mis-names-not-in-uso", f"{school}/results/exclusions/")
        shot(admin, "10-runs", f"{school}/runs/")
        shot(admin, "11-user-list", f"{school}/users/?role=pupil")
        shot(admin, "12-user-list-latest-move-or-create", f"{school}/users/?latest=7")
        shot(admin, "13-account", f"{school}/users/{info['account']}/")
        shot(admin, "14-user-request-single", f"{school}/request-single/")
        admin.get_by_label("Legal forename").fill("Ada")
        admin.get_by_label("Legal surname").fill("Early")
        admin.get_by_label("Date of birth").fill("2019-03-04")
        admin.get_by_role("button", name="Create the account").click()
        admin.wait_for_load_state()
        shot(admin, "15-review-non-mis-accounts", f"{school}/non-mis/")
        shot(admin, "18-two-step-sign-in", "/account/two-step/")

        operator = session(info["users"]["region_operator"])
        shot(operator, "19-schools", "/schools/")
        # Force run the latest upload (the service desk may always): progress, then result.
        operator.goto(f"{base}{school}/settings/")
        operator.get_by_role("button", name=re.compile(r"^Force run")).first.click()
        operator.wait_for_url(re.compile(r"/tasks/[^/]+/$"))
        shot(operator, "16-upload-progress")
        operator.locator("#progress", has_text="Finished").wait_for(timeout=60000)
        shot(operator, "17-upload-processed")
        if info["held"]:
            held_urn, run_id = info["held"]
            shot(operator, "20-held-run", f"/schools/{held_urn}/runs/{run_id}/")
        browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--keep", type=Path, default=None, help="build the demo here and keep it")
    args = parser.parse_args()
    if not Path("/usr/bin/chromium").exists() and "ROLLSYNC_CHROMIUM" not in os.environ:
        print("Debian's chromium is missing: apt-get install chromium", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rollsync-shots-") as tmp:
        home = args.keep or Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        print(f"building the demo in {home} ...")
        info = _prepare(home)
        from rollsync.web.serve import make

        port = _free_port()
        server, stop = make("127.0.0.1", port, worker=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            print(f"screenshots of http://127.0.0.1:{port} into {args.out}:")
            written = _shoot(f"http://127.0.0.1:{port}", info, args.out)
        finally:
            stop.set()
            server.shutdown()
            server.server_close()
    print(f"{len(written)} screenshots written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
