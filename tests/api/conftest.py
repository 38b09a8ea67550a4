"""Fixtures for the JSON API tests: schools in two LAs, tokens of every kind, a client
that speaks to `/api/v1/` through the whole Django stack, and a populated school."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.test import Client

from rollsync.api.services import api_token_create, api_token_revoke
from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.directory.services.accounts import exclusion_add
from rollsync.directory.services.schools import school_add
from rollsync.directory.services.sync import sync_run_execute
from tests.directory.helpers import FAR_URN, OTHER_URN, SCHOOL_URN, pupil
from tests.tasks.helpers import store

DAY1 = date(2026, 9, 7)
DAY2 = date(2026, 9, 8)
TEN = [pupil(str(1000 + i), f"Given{i}", f"Family{i}", "2016-01-02") for i in range(10)]
JONATHON = pupil("B7", "Jonathon", "Khan", "2014-01-02")


@pytest.fixture
def school(db: Any) -> m.School:
    return school_add(
        urn=SCHOOL_URN, la_code="202", estab="2001", name="Hillside Primary", la_name="Northshire"
    )


@pytest.fixture
def other_school(db: Any) -> m.School:
    return school_add(urn=OTHER_URN, la_code="202", estab="2002", name="Riverside Academy")


@pytest.fixture
def far_school(db: Any) -> m.School:
    return school_add(
        urn=FAR_URN, la_code="303", estab="3001", name="Faraway High", la_name="Southshire"
    )


@pytest.fixture
def tokens(school: m.School, other_school: m.School, far_school: m.School) -> dict[str, str]:
    """Secrets by kind: the school's own (read-write and read-only), its LA's, a token of
    another school of the same LA, a token of another LA, and a revoked one."""
    made = {
        "school": api_token_create(name="hillside sync", school=school),
        "school_ro": api_token_create(name="hillside report", school=school, read_only=True),
        "la": api_token_create(name="northshire", la=school.la),
        "la_ro": api_token_create(name="northshire dashboards", la=school.la, read_only=True),
        "other_school": api_token_create(name="riverside", school=other_school),
        "other_la": api_token_create(name="southshire", la=far_school.la),
        "revoked": api_token_create(name="old laptop", school=school),
    }
    api_token_revoke(token_id=made["revoked"][0].pk)
    return {kind: secret for kind, (_, secret) in made.items()}


class Api:
    """`/api/v1/` through Django's test client, authenticated as one of `tokens`."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.client = Client()
        self.tokens = tokens

    def _headers(self, token: str | None) -> dict[str, str]:
        if token is None:
            return {}
        return {"Authorization": f"Bearer {self.tokens.get(token, token)}"}

    def get(self, path: str, *, token: str | None = "school", **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", params, headers=self._headers(token))

    def post(
        self, path: str, body: Any = None, *, token: str | None = "school", form: bool = False
    ) -> Any:
        if form:
            return self.client.post(f"/api/v1{path}", body, headers=self._headers(token))
        return self.client.post(
            f"/api/v1{path}",
            json.dumps(body if body is not None else {}),
            content_type="application/json",
            headers=self._headers(token),
        )

    def delete(self, path: str, *, token: str | None = "school") -> Any:
        return self.client.delete(f"/api/v1{path}", headers=self._headers(token))


@pytest.fixture
def api(tokens: dict[str, str]) -> Api:
    return Api(tokens)


@dataclass
class World:
    first: m.SyncRun  # applied: 10 pupils created, Jonathon Khan queued for matching
    held: m.SyncRun  # 2 of 10 gone: held by the guard
    case: m.MatchCase  # Jonathon Khan (B7) here vs Jonathan Khan (A1) at Riverside
    jonathan: m.Account  # the candidate, at Riverside
    exclusion: m.Exclusion
    task_id: str  # a queued dry run of the first upload
    username: str  # an account at the school


@pytest.fixture
def world(school: m.School, other_school: m.School, tokens: dict[str, str]) -> World:
    sync_run_execute(
        upload=store(other_school, [pupil("A1", "Jonathan", "Khan", "2014-01-02")]), as_of=DAY1
    )
    first = sync_run_execute(upload=store(school, [*TEN, JONATHON]), as_of=DAY1)
    held = sync_run_execute(upload=store(school, [*TEN[:8], JONATHON]), as_of=DAY2)
    assert (first.status, held.status) == ("applied", "held")
    exclusion = exclusion_add(school=school, actor="setup", mis_id="X9", note="left in 2020")
    return World(
        first=first,
        held=held,
        case=m.MatchCase.objects.get(school=school),
        jonathan=m.Account.objects.get(username="jkhan.202"),
        exclusion=exclusion,
        task_id=tasks.enqueue_sync(first.upload_id, as_of=DAY1, actor="setup", dry_run=True),
        username="gfamily0.202",
    )
