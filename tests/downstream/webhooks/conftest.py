from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from rollsync.directory.services.sync import sync_run_approve, sync_run_execute
from tests.directory.test_data_safety import _contacts as contact_rows
from tests.directory.test_data_safety import _group_rows as group_rows
from tests.downstream.webhooks.receiver import Receiver

__all__ = ["DAY1", "DAY2", "DAY3", "apply", "contact_rows", "group_rows", "pupil"]
from tests.tasks.helpers import store

DAY1 = date(2026, 9, 7)
DAY2 = date(2026, 9, 8)
DAY3 = date(2026, 9, 9)


@pytest.fixture
def school(db: Any) -> m.School:
    return school_add(
        urn="100001", la_code="202", estab="2001", name="Hillside Primary", la_name="Northshire"
    )


@pytest.fixture
def other_school(db: Any) -> m.School:
    return school_add(urn="100002", la_code="202", estab="2002", name="Riverside Academy")


@pytest.fixture
def far_school(db: Any) -> m.School:
    return school_add(
        urn="200001", la_code="303", estab="3001", name="Faraway High", la_name="Southshire"
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def quick_retries(settings: Any) -> None:
    settings.ROLLSYNC_WEBHOOK_RETRY_SCHEDULE = (0, 10, 60, 300, 600)
    settings.ROLLSYNC_WEBHOOK_TIMEOUT = 5


def apply(
    school: m.School, rows: list[dict[str, Any]], day: date, report: str = "students"
) -> m.SyncRun:
    run = sync_run_execute(upload=store(school, rows, report=report), as_of=day)
    if run.status == "held":  # a cut export is held by the guard: a person approves it
        run = sync_run_approve(run=run, actor="head")
    assert run.status == "applied", (run.status, run.errors, run.holds)
    return run


def pupil(
    mis_id: str, given: str, family: str, dob: str = "2016-01-02", **extra: Any
) -> dict[str, Any]:
    return {
        "mis_id": mis_id,
        "legal_given_name": given,
        "legal_family_name": family,
        "date_of_birth": dob,
        **extra,
    }
