"""End to end: upload through the API, the worker runs it, the API shows the run;
a held run approved through the API is applied by the worker."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from rollsync.api.present import INTERNAL_TASK_ERROR
from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.directory.services.sync import sync_run_execute
from rollsync.directory.tasks import run_queued
from tests.api.conftest import Api
from tests.directory.helpers import csv_bytes, pupil
from tests.tasks.helpers import shown_counts, store

pytestmark = pytest.mark.django_db(transaction=True)  # the worker commits as in production

TEN = [pupil(str(1000 + i), f"Given{i}", f"Family{i}", "2016-01-02") for i in range(10)]


def _upload(api: Api, rows: list[dict[str, str]], as_of: str) -> Any:
    response = api.post(
        "/schools/100001/uploads",
        {
            "file": SimpleUploadedFile("students.csv", csv_bytes("students", rows)),
            "format": "csv",
            "report": "students",
            "as_of": as_of,
        },
        form=True,
    )
    assert response.status_code == 202, response.content
    return response.json()["task"]


def _follow(api: Api, task: Any) -> Any:
    """GET the task's status URL."""
    return api.get(task["url"].removeprefix("/api/v1")).json()


def test_upload_then_worker_then_read_the_run(api: Api) -> None:
    task = _upload(api, TEN[:3], "2026-09-07")
    assert _follow(api, task)["status"] == "queued"
    assert m.Account.objects.count() == 0

    assert run_queued() == 1

    done = _follow(api, task)
    assert (done["status"], done["error"]) == ("succeeded", None)
    run = done["run"]
    assert (run["status"], run["as_of"], run["counts"], run["errors"]) == (
        "applied",
        "2026-09-07",
        shown_counts(created=3),
        [],
    )
    assert done["started_at"] is not None and done["finished_at"] is not None
    shown = api.get(f"/runs/{run['id']}").json()
    assert [(a["kind"], a["mis_id"]) for a in shown["actions"]] == [
        ("create", "1000"),
        ("create", "1001"),
        ("create", "1002"),
    ]
    accounts = api.get("/schools/100001/accounts").json()
    assert [a["username"] for a in accounts["items"]] == [
        "gfamily0.202",
        "gfamily1.202",
        "gfamily2.202",
    ]
    history = api.get("/schools/100001/uploads").json()["items"]
    assert [(u["source"], u["outcome"], [r["id"] for r in u["runs"]]) for u in history] == [
        ("api", "applied", [run["id"]])
    ]
    # The same file again through the API: a run that changes nothing.
    again = _upload(api, TEN[:3], "2026-09-07")
    run_queued()
    assert _follow(api, again)["run"]["counts"] == shown_counts(unchanged=3)
    assert m.Account.objects.count() == 3


def test_a_bad_file_through_the_api_is_a_failed_run(api: Api) -> None:
    response = api.post(
        "/schools/100001/uploads",
        {
            "file": SimpleUploadedFile("s.csv", b"name,age\nx,1\n"),
            "format": "csv",
            "report": "students",
        },
        form=True,
    )
    run_queued()
    done = _follow(api, response.json()["task"])
    run = done["run"]
    assert (done["status"], run["status"]) == ("succeeded", "failed")
    assert run["errors"][0]["row"] is None
    assert m.Account.objects.count() == 0


def test_approve_through_the_api_then_worker(api: Api) -> None:
    _upload(api, TEN, "2026-09-07")
    held_task = _upload(api, TEN[:8], "2026-09-08")
    assert run_queued() == 2
    held = _follow(api, held_task)["run"]
    assert held["status"] == "held"
    response = api.post(f"/runs/{held['id']}/approve")
    assert response.status_code == 202
    approval = response.json()["task"]
    assert run_queued() == 1
    done = _follow(api, approval)
    assert (done["kind"], done["status"]) == ("approve", "succeeded")
    run = done["run"]
    assert (run["id"], run["status"], run["counts"]) == (
        held["id"],
        "applied",
        shown_counts(unchanged=8, unallocated=2),
    )
    assert run["approved_by"].startswith("api token ")
    assert [h["acknowledged_by"] for h in run["holds"]] == [run["approved_by"]]
    gone = api.get("/schools/100001/accounts", status="unallocated").json()
    assert [a["mis_id"] for a in gone["items"]] == ["1008", "1009"]


def test_a_crashed_task_shows_no_internals(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(**kwargs: Any) -> Any:
        raise RuntimeError("could not open /srv/rollsync/secret.db")

    monkeypatch.setattr(tasks, "sync_run_execute", crash)
    task = _upload(api, TEN[:3], "2026-09-07")
    run_queued()
    done = _follow(api, task)
    assert (done["status"], done["run"], done["error"]) == ("failed", None, INTERNAL_TASK_ERROR)
    assert tasks.task_status(task["id"])["error"] == (
        "RuntimeError: could not open /srv/rollsync/secret.db"
    )
    assert m.SyncRun.objects.count() == 0 and m.Account.objects.count() == 0


def test_a_refused_approval_says_why(api: Api, school: m.School) -> None:
    _upload(api, TEN, "2026-09-07")
    held_task = _upload(api, TEN[:8], "2026-09-08")
    run_queued()
    held = _follow(api, held_task)["run"]
    approval = api.post(f"/runs/{held['id']}/approve").json()["task"]
    newer = sync_run_execute(upload=store(school, TEN), as_of=date(2026, 9, 8))  # e.g. the CLI
    assert newer.status == "applied"
    run_queued()
    done = _follow(api, approval)
    assert (done["status"], done["error"], done["run"]["status"]) == (
        "failed",
        f"run {held['id']} was overtaken by a newer applied run for this school;"
        " nothing was applied",
        "superseded",
    )
