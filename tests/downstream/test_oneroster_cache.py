"""The provider's cache: a client's collection is built once per version of its part
of the directory. The next page reads the cache; an applied run rebuilds it; a client
that sees other schools never reads another's."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from rollsync.downstream import selectors
from rollsync.downstream.services import downstream_client_create
from tests.downstream.oneroster import OneRoster, token_for
from tests.safety.directory import load_baseline, run_upload
from tests.safety.exports import Upload, school_exports


def _page(api: OneRoster, **params: Any) -> tuple[Any, int, list[str]]:
    """The page, how many builds it took, and the tables its queries read."""
    before = selectors.BUILDS["count"]
    with CaptureQueriesContext(connection) as ctx:
        r = api.get("classes", **params)
    return r, selectors.BUILDS["count"] - before, [q["sql"] for q in ctx.captured_queries]


@pytest.mark.django_db
def test_pages_read_the_cache_until_a_run_applies_and_scopes_never_share() -> None:
    ex = school_exports("csv")
    school = load_baseline(ex)
    client, secret = downstream_client_create(name="SDS", kind="oneroster", school=school)
    api = OneRoster(token_for(client, secret, "roster.readonly"))

    first, built, _ = _page(api, limit=3, offset=0)
    assert built == 1 and len(first.body["classes"]) == 3
    second, built, sql = _page(api, limit=3, offset=3)
    assert built == 0
    assert not any("directory_group" in q for q in sql), sql  # no roster read at all
    assert len(sql) <= 8, sql  # the token, the client, and the cache key's three reads
    total = int(first["X-Total-Count"])
    assert int(second["X-Total-Count"]) == total
    assert {c["sourcedId"] for c in second.body["classes"]}.isdisjoint(
        c["sourcedId"] for c in first.body["classes"]
    )

    # Another school of the LA, with nothing synced: its client's key differs, so it
    # builds its own (empty) collection and never reads the first school's.
    other = school_add(urn="199999", la_code=ex.la_code, estab="9999", name="Other", actor="test")
    theirs, secret2 = downstream_client_create(name="SDS", kind="oneroster", school=other)
    other_api = OneRoster(token_for(theirs, secret2, "roster.readonly"))
    page, built, _ = _page(other_api, limit=3, offset=0)
    assert built == 1 and page.body["classes"] == [] and page["X-Total-Count"] == "0"
    again, built, _ = _page(api, limit=3, offset=3)  # the first client's is still there
    assert built == 0 and again.body == second.body

    # An applied run (one class renamed) rebuilds, and the new title shows.
    groups = next(u for u in ex.uploads(1) if u.report == "groups")
    mis_id, title = groups.payload.decode("utf-8").splitlines()[1].split(",")[:2]
    renamed = groups.payload.replace(f"{mis_id},{title},".encode(), f"{mis_id},New,".encode())
    run = run_upload(school, Upload(groups.name, renamed, groups.fmt, groups.report), ex.dates[1])
    assert run.status == m.SyncRun.Status.APPLIED, (run.status, run.errors, run.holds)
    group = m.Group.objects.get(school=school, mis_id=mis_id)
    after, built, _ = _page(api, limit=total, offset=0)
    assert built == 1
    assert {c["sourcedId"]: c["title"] for c in after.body["classes"]}[str(group.pk)] == "New"
    _, built, _ = _page(api, limit=total, offset=0)
    assert built == 0
