"""Issue 14's "Done when", as a test of the demo itself: `./dev demo` (`rollsync migrate`,
then `rollsync demo --serve`) runs as its own process on a temporary SQLite file and a
free loopback port, and every downstream service works against it through the product's
public doors only (HTTP, and `rollsync` commands on the same database file):

1. a OneRoster client (OAuth, both versions' `users` paged by `Link`, a delta after a
   further day),
2. a webhook receiver (`rollsync webhook listen`, which verifies every signature with
   `standardwebhooks`), fed by the demo server's own worker after that further day,
3. scim2-tester against `/scim/v2/`,
4. the Google and Microsoft tenant simulators, each its own process.

The further day comes through the product as it would for a school: the demo is started
with `--ahead 1`, so its MIS simulators already serve a day it has not synced, and a
Force run (`rollsync mis run`) brings it in. docs/downstream.md "Try it against the demo"
is this module, step by step.

One demo start for the module, small (`--schools 2 --days 1 --scale 0.05`: an iSAMS primary and
the Arbor secondary, whose every report, classes included, is pulled). SQLite only, as
`./dev demo` is: skipped on the PostgreSQL pass."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from scim2_tester import Status, check_server

from rollsync.web.serve import PortInUse, port_check
from tests.concurrency.conftest import ROLLSYNC, ROOT, database_is_postgres, env_for, free_port
from tests.scim.test_scim2_tester import SKIPPED, ExistingResources

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        database_is_postgres(),
        reason="the demo runs on SQLite only (./dev demo); the SQLite pass runs this module",
    ),
]

V1P1 = "/ims/oneroster/v1p1"
V1P2 = "/ims/oneroster/rostering/v1p2"
WAIT = 90.0  # seconds, at most, for the demo to serve or the worker to deliver
# As docs/downstream.md "Try it against the demo" tells a person to start it.
DEMO_OPTIONS = (
    "--schools",
    "2",
    "--days",
    "1",
    "--scale",
    "0.05",
    "--no-mis-change",
    "--ahead",
    "1",
)


@dataclass
class Demo:
    base: str
    url: str
    home: Path
    urn: str  # the Arbor school: every report, classes included
    log: Path
    used: set[str] = field(default_factory=set)  # the commands run, without options

    def rollsync(self, *args: str, stdin: str | None = None) -> str:
        self.used.add(
            " ".join(a for a in args[:4] if re.fullmatch(r"(?!google|microsoft)[a-z][a-z-]*", a))
        )
        done = subprocess.run(
            [*ROLLSYNC, *args],
            env=env_for(self.url, self.home),
            capture_output=True,
            text=True,
            input=stdin,
            timeout=300,
            cwd=ROOT,
        )
        assert done.returncode == 0, (args, done.stdout[-3000:], done.stderr[-3000:])
        return done.stdout

    def json(self, *args: str, stdin: str | None = None) -> Any:
        return json.loads(self.rollsync(*args, "--json", stdin=stdin))


def _demo_port() -> int:
    """A port whose next four are free too (the demo's MIS simulators listen there)."""
    for _ in range(50):
        port = free_port()
        try:
            for taken in range(port, port + 5):
                port_check("127.0.0.1", taken)
        except PortInUse:
            continue
        return port
    raise AssertionError("no five free ports in a row")


def _wait_for(check: Callable[[], bool], what: str, proc: subprocess.Popen[Any] | None) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert proc is None or proc.poll() is None, f"{what}: the process ended"
        assert time.monotonic() < deadline, f"{what}: not within {WAIT:.0f} s"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("demo")
    url, home, log = f"sqlite:///{root / 'db.sqlite3'}", root / "home", root / "demo.log"
    home.mkdir()
    port = _demo_port()
    env = env_for(url, home)
    subprocess.run([*ROLLSYNC, "migrate"], env=env, check=True, capture_output=True, cwd=ROOT)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                *ROLLSYNC,
                *("demo", "--serve", "--port", str(port), "--out", str(root / "out")),
                *DEMO_OPTIONS,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/readyz", timeout=2, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait_for(ready, "the demo serving /readyz", proc)
        text = log.read_text()
        arbor = re.search(r"^(\d{6}) .*: Arbor, connected through the arbor simulator$", text, re.M)
        assert arbor, text
        # The one synced day: each report of both schools pulled and applied, none held.
        pulls = re.findall(r"^day (\d) (\d{6}) pulled (\S+) +(\S+)", text, re.M)
        assert {(day, status) for day, _, _, status in pulls} == {("1", "applied")}, text
        assert len({urn for _, urn, _, _ in pulls}) == 2 and len(pulls) == 7, text
        yield Demo(base=base, url=url, home=home, urn=arbor.group(1), log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


# --- OneRoster -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oneroster(demo: Demo) -> Iterator[httpx.Client]:
    made = demo.json(
        "downstream",
        "client",
        "create",
        "--name",
        "SDS",
        "--school",
        demo.urn,
        "--kind",
        "oneroster",
    )
    with httpx.Client(base_url=demo.base, trust_env=False, timeout=30) as http:
        answer = http.post(
            "/oauth/token",
            auth=(made["client_id"], made["client_secret"]),
            data={"grant_type": "client_credentials"},
        )
        assert answer.status_code == 200, answer.text
        token = answer.json()
        assert token["token_type"] == "Bearer"
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield http


def _all(http: httpx.Client, path: str, name: str, **params: str) -> list[dict[str, Any]]:
    """Every object of a collection, page by page by the `next` Link until there is none;
    each page's X-Total-Count the same, and the count of what was read."""
    got: list[dict[str, Any]] = []
    totals = set()
    url: str | None = str(http.build_request("GET", path, params={"limit": 50, **params}).url)
    while url:
        page = http.get(url)
        assert page.status_code == 200, page.text
        totals.add(int(page.headers["X-Total-Count"]))
        got += page.json()[name]
        url = page.links.get("next", {}).get("url")
    assert totals == {len(got)}
    assert len({o["sourcedId"] for o in got}) == len(got)  # no one twice across pages
    return got


def _accounts(demo: Demo) -> list[dict[str, Any]]:
    return list(demo.json("accounts", "--school", demo.urn))


@pytest.fixture(scope="module")
def accounts_now(demo: Demo) -> list[dict[str, Any]]:
    """The school's accounts as they are after the further day (read once: asked first by
    the tests that follow it)."""
    return _accounts(demo)


def test_a_oneroster_client_pages_every_account_of_the_school_by_link(
    demo: Demo, oneroster: httpx.Client
) -> None:
    accounts = {a["id"] for a in _accounts(demo)}
    assert len(accounts) > 40  # more than one page
    for version in (V1P1, V1P2):
        users = _all(oneroster, f"{version}/users", "users")
        assert {u["sourcedId"] for u in users} == accounts


# --- a further day: a OneRoster delta and webhooks ------------------------------------------


def _visible(users: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {u["sourcedId"]: {k: v for k, v in u.items() if k != "dateLastModified"} for u in users}


def test_a_further_day_is_a_oneroster_delta_and_webhooks_each_once_in_order(
    demo: Demo, oneroster: httpx.Client
) -> None:
    port = free_port()
    endpoint = demo.json(
        "webhook", "add", "--url", f"http://127.0.0.1:{port}/hook", "--school", demo.urn
    )
    listener = subprocess.Popen(
        [*ROLLSYNC, "webhook", "listen", "--port", str(port)],
        env={**env_for(demo.url, demo.home), "ROLLSYNC_WEBHOOK_SECRET": endpoint["secret"]},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(listener.stdout or ()), daemon=True)
    reader.start()
    try:
        assert listener.stderr is not None and "listening on" in listener.stderr.readline()
        before = {v: _all(oneroster, f"{v}/users", "users") for v in (V1P1, V1P2)}
        since = max(u["dateLastModified"] for u in before[V1P2])

        # The further day, as a school admin's Force run: pulled, synced, committed by
        # this command; the demo server's worker alone sends the webhooks.
        pulled = demo.json("mis", "run", "--school", demo.urn)
        assert pulled["status"] == "applied"
        assert all(run["status"] == "applied" for run in pulled["runs"])

        # The outbox was written with the change, so its rows are known now; the
        # listener prints each event it verified, one JSON line each.
        def log() -> list[dict[str, Any]]:
            got = demo.json("webhook", "deliveries", str(endpoint["id"]), "--limit", "10000")
            return list(reversed(got))  # oldest first

        written = log()
        assert written  # the further day changed people of the school
        _wait_for(lambda: len(lines) >= len(written), "the webhooks received", listener)
        deliveries = written

        def recorded() -> bool:  # the 204s recorded by the dispatcher
            nonlocal deliveries
            deliveries = log()
            return all(d["status"] == "succeeded" for d in deliveries)

        _wait_for(recorded, "the deliveries recorded", listener)
    finally:
        listener.terminate()
        listener.wait(timeout=30)
    reader.join(timeout=30)
    err = listener.stderr.read() if listener.stderr else ""
    out = "".join(lines)
    events = [json.loads(line) for line in out.splitlines()]
    assert err == ""  # no request refused: every signature and timestamp was valid

    # Each event once (by webhook-id), exactly the delivery log's, each at its first try.
    assert sorted(e["webhook_id"] for e in events) == sorted(d["webhook_id"] for d in deliveries)
    assert len({e["webhook_id"] for e in events}) == len(events) > 0
    assert {d["attempts"] for d in deliveries} == {1}
    # In order per account: the receiver saw each account's events in the order written.
    order = {d["webhook_id"]: n for n, d in enumerate(deliveries)}
    per_account: dict[str, list[int]] = {}
    for event in events:
        per_account.setdefault(event["data"]["account"]["id"], []).append(
            order[event["webhook_id"]]
        )
    assert all(seen == sorted(seen) for seen in per_account.values())
    assert {e["data"]["run"] for e in events} <= {r["run"] for r in pulled["runs"]}

    # The delta holds exactly the users that changed, in both versions; they are the
    # accounts the webhooks told of.
    changed_accounts = {
        e["data"]["account"]["id"] for e in events if e["type"].startswith("account.")
    }
    for version in (V1P1, V1P2):
        after = _visible(_all(oneroster, f"{version}/users", "users"))
        old = _visible(before[version])
        changed = {sid for sid, user in after.items() if old.get(sid) != user}
        delta = _all(oneroster, f"{version}/users", "users", filter=f"dateLastModified>'{since}'")
        assert {u["sourcedId"] for u in delta} == changed == changed_accounts
        assert changed


# --- SCIM ------------------------------------------------------------------------------


class EveryPage(ExistingResources):
    """tests/scim's client, which also reads every page of a search across resource types
    (`POST /.search`) as any client of a paged server must: scim2-tester asks once, and
    the server answers its default page of 100, Users first. At the demo's size (over 100
    accounts) the Group the tester looks for is on a later page, so with one page its
    `search_with_attributes` for Group fails though the server is right (RFC 7644 3.4.2.4
    lets the server choose the page). Each page is read with the tester's own request."""

    def search(self, target: Any = None, search_request: Any = None, **kwargs: Any) -> Any:
        if target is not None or search_request is None or search_request.count is not None:
            return super().search(target, search_request, **kwargs)
        got = super().search(search_request=search_request, **kwargs)
        resources = list(got.resources or [])
        while len(resources) < got.total_results:
            more = super().search(
                search_request=search_request.model_copy(
                    update={"start_index": len(resources) + 1}
                ),
                **kwargs,
            )
            assert more.resources, "a page past the first came back empty"
            resources += more.resources
        self.pages_read += 1
        got.resources, got.items_per_page = resources, len(resources)
        return got

    pages_read = 0


def test_scim2_tester_every_read_check_succeeds(
    demo: Demo, accounts_now: list[dict[str, Any]]
) -> None:
    token = demo.json(
        "downstream", "client", "create", "--name", "Okta", "--school", demo.urn, "--kind", "scim"
    )["token"]
    base = f"{demo.base}/scim/v2"
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(trust_env=False, timeout=30, headers=auth) as plain:
        ids = {
            kind: [
                r["id"]
                for r in plain.get(f"{base}/{kind}s", params={"count": 5}).json()["Resources"]
            ]
            for kind in ("User", "Group")
        }
        users_total = plain.get(f"{base}/Users", params={"count": 0}).json()["totalResults"]
    assert len(ids["User"]) == 5 and len(ids["Group"]) == 5
    assert users_total == len(accounts_now)
    with httpx2.Client(base_url=base, headers=auth, trust_env=False, timeout=30) as http:
        client = EveryPage(http, ids)
        client.discover()
        results = check_server(client, include_tags={"discovery", "misc", "read", "patch"})
    not_success = {
        (r.title, r.resource_type, r.status.name, r.reason)
        for r in results
        if r.status is not Status.SUCCESS
    }
    assert not_success == {
        (title, kind, "SKIPPED", reason)
        for title, reason in SKIPPED.items()
        for kind in ("User", "Group")
    }
    assert len([r for r in results if r.status is Status.SUCCESS]) >= 17
    assert client.handed
    assert client.pages_read  # the paged search was used (and needed: see EveryPage)


# --- Google and Microsoft --------------------------------------------------------------


def _start_sim(demo: Demo, kind: str, secret_file: Path) -> tuple[subprocess.Popen[str], str]:
    flag = "--key-out" if kind == "google" else "--secret-out"
    sim = subprocess.Popen(
        [*ROLLSYNC, "downstream-sim", kind, flag, str(secret_file)],
        env=env_for(demo.url, demo.home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert sim.stdout is not None
    lines = sim.stdout.readline() + sim.stdout.readline()
    assert "connect with" in lines, (lines, sim.poll())
    return sim, lines


@pytest.mark.parametrize("kind", ["google", "microsoft"])
def test_a_tenant_simulator_gets_the_school_then_a_second_run_pushes_nothing(
    demo: Demo,
    oneroster: httpx.Client,
    accounts_now: list[dict[str, Any]],
    kind: str,
    tmp_path: Path,
) -> None:
    secret = tmp_path / ("key.json" if kind == "google" else "secret.txt")
    sim, said = _start_sim(demo, kind, secret)
    try:
        scope = ("--school", demo.urn)
        if kind == "google":
            api = re.search(r"--api-url (\S+)", said)
            assert api
            connect = ["--admin-email", "admin@school.example", "--api-url", api.group(1)]
            connect += ["--key-file", str(secret)]
            stdin = None
        else:
            said_args = re.search(r"connect with (.*) --client-secret-stdin", said)
            assert said_args
            connect = [*said_args.group(1).split(), "--client-secret-stdin"]
            stdin = secret.read_text()
        made = demo.json(
            "provision",
            "connect",
            kind,
            *scope,
            "--domain",
            "school.example",
            *connect,
            stdin=stdin,
        )
        assert made["enabled"] is True
        planned = demo.json("provision", "plan", kind, *scope)
        first = demo.json("provision", "run", kind, *scope)
        second = demo.json("provision", "run", kind, *scope)
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    people = [
        a for a in accounts_now if a["role"] in ("pupil", "staff") and a["status"] == "active"
    ]
    classes = [
        c for c in _all(oneroster, f"{V1P2}/classes", "classes") if c["classType"] == "scheduled"
    ]
    assert planned["dry_run"] is True and planned["pushed"] == 0
    assert (first["status"], first["failed"]) == ("applied", 0)
    assert first["counts"] == planned["counts"]
    assert first["counts"]["create_user"] == len(people)
    assert first["counts"]["create_group"] == len(classes)
    created = {a["key"] for a in first["actions"] if a["kind"] == "create_user" and a["ok"]}
    assert created == {p["id"] for p in people}
    assert all(a["ok"] for a in first["actions"])
    # The second run reads the tenant back: it holds everything, so nothing is pushed.
    assert (second["status"], second["counts"], second["pushed"], second["actions"]) == (
        "applied",
        {},
        0,
        [],
    )


# --- the walk-through ------------------------------------------------------------------


def test_the_walk_through_in_the_docs_takes_these_steps(demo: Demo) -> None:
    """docs/downstream.md "Try it against the demo" starts the demo as this module does and
    names every command it ran (run last: the module's tests have run them)."""
    docs = (ROOT / "docs" / "downstream.md").read_text()
    section = docs.split("## Try it against the demo", 1)[1].split("\n## ", 1)[0]
    assert f"./dev demo {' '.join(DEMO_OPTIONS)}\n" in section
    assert f"URN={demo.urn}\n" in section
    assert demo.used == {
        "accounts",
        "downstream client create",
        "mis run",
        "provision connect",
        "provision plan",
        "provision run",
        "webhook add",
        "webhook deliveries",
    }
    for command in sorted(demo.used - {"accounts"}):
        assert f"rollsync {command} " in section, command
    for path in ("/oauth/token", V1P1 + "/users", V1P2 + "/users", "/scim/v2/"):
        assert f"http://127.0.0.1:8000{path}" in section, path
