"""A OneRoster client against a real `rollsync serve` (waitress, a real socket, its own
process): client credentials at /oauth/token (Basic), then every page of users and
classes by following the `Link` header, each answer validated against the OpenAPI
document; a foreign object 404s; a wrong secret gets no token."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.concurrency.conftest import ROLLSYNC, call, database_is_postgres, rollsync_serving
from tests.downstream.oneroster import ROOTS, SCOPE, validate
from tests.scratch_pg import MigratedTemplate, ScratchDatabases

pytestmark = pytest.mark.slow

SETUP = """
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
import django; django.setup()
from rollsync.directory import models as m
from rollsync.downstream.services import downstream_client_create
from tests.safety.directory import load_baseline
from tests.safety.exports import school_exports
ours = load_baseline(school_exports("csv"))
theirs = load_baseline(school_exports("ctf"))
client, secret = downstream_client_create(name="SDS", kind="oneroster", school=ours)
uids = lambda s: sorted({str(u) for u in m.Allocation.objects.filter(school=s).values_list("account__uid", flat=True)})
print(json.dumps({"client_id": client.client_id, "secret": secret, "ours": uids(ours),
    "theirs": uids(theirs), "classes": m.Group.objects.filter(school=ours, ended_at__isnull=True).count()}))
"""


@pytest.fixture
def served(tmp_path: Path, migrated: MigratedTemplate) -> Iterator[tuple[int, dict[str, Any]]]:
    scratch = ScratchDatabases(os.environ["DATABASE_URL"]) if database_is_postgres() else None
    url = (
        scratch.create("rs_h1_srv", template_url=migrated.postgres())
        if scratch
        else migrated.sqlite(tmp_path / "db.sqlite3")
    )
    home = tmp_path / "home"
    home.mkdir()
    try:
        call([*ROLLSYNC, "migrate"], url, home)
        setup = json.loads(call([sys.executable, "-c", SETUP], url, home))
        with rollsync_serving(url, home) as port:
            yield port, setup
    finally:
        if scratch:
            scratch.drop_all()


def _walk(http: httpx.Client, version: str, collection: str, limit: int) -> list[dict[str, Any]]:
    """Every object of a collection, page by page as the Link header leads."""
    url: str | None = f"{ROOTS[version]}/{collection}?limit={limit}"
    out: list[dict[str, Any]] = []
    while url:
        r = http.get(url)
        body = r.json()
        validate(version, httpx.URL(url).path, r.status_code, r.headers, body)
        assert r.status_code == 200 and int(r.headers["X-Total-Count"]) >= len(out)
        out += body[next(iter(body))]
        links = dict(
            (part.split(";")[1].strip(), part.split(";")[0].strip()[1:-1])
            for part in r.headers["Link"].split(", ")
        )
        url = links.get('rel="next"')
    return out


def test_a_oneroster_client_over_a_real_socket(served: tuple[int, dict[str, Any]]) -> None:
    port, setup = served
    base = f"http://127.0.0.1:{port}"
    scope = " ".join(SCOPE.format(v=v, n="roster.readonly") for v in ("v1p1", "v1p2"))
    with httpx.Client(base_url=base, trust_env=False, timeout=60) as http:
        refused = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(setup["client_id"], setup["secret"] + "x"),
        )
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
        got = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(setup["client_id"], setup["secret"]),
        )
        assert got.status_code == 200, got.text
        token = got.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, trust_env=False, timeout=60, headers=headers) as http:
        for version in ("v1p2", "v1p1"):
            users = _walk(http, version, "users", 4)
            assert sorted(u["sourcedId"] for u in users) == setup["ours"]
            assert len(_walk(http, version, "classes", 3)) == setup["classes"]
        foreign = http.get(f"{ROOTS['v1p2']}/users/{setup['theirs'][0]}")
        assert foreign.status_code == 404
        validate("v1p2", foreign.url.path, 404, foreign.headers, foreign.json())
