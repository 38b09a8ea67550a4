"""Every API operation's happy path (and its own refusals), with exact values."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from rollsync.api.models import ApiToken
from rollsync.directory import models as m
from rollsync.directory.services.sync import sync_run_approve, sync_run_execute
from tests.api.conftest import DAY1, DAY2, Api, World
from tests.directory.helpers import csv_bytes, pupil
from tests.tasks.helpers import shown_counts, state, store

HILLSIDE = {
    "urn": "100001",
    "name": "Hillside Primary",
    "la_code": "202",
    "la_name": "Northshire",
    "dfe_number": "2022001",
    "phase": "",
    "status": "Open",
    "mis": "",
    "accepted_reports": ["contacts", "groups", "staff", "students"],
    "guard_unallocate_pct": 10.0,
    "leaver_grace_days": 0,
}
HELD_COUNTS = shown_counts(unchanged=8, unallocated=2, needs_matching=1)
HOLD = {
    "code": "unallocate_share",
    "message": "This run would unallocate 2 of the 10 active pupil accounts of the Students "
    "(current) report (20.0%), above the school's 10% limit.",
    "acknowledged_by": None,
}


def actor(name: str = "hillside sync") -> str:
    return f"api token {ApiToken.objects.get(name=name).pk} ({name})"


def without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


# --- schools and results ----------------------------------------------------------------


def test_list_schools_shows_only_the_token_scope(api: Api) -> None:
    assert api.get("/schools").json() == [HILLSIDE]
    assert [s["urn"] for s in api.get("/schools", token="la").json()] == ["100001", "100002"]
    assert [s["urn"] for s in api.get("/schools", token="other_school").json()] == ["100002"]
    assert [s["urn"] for s in api.get("/schools", token="other_la").json()] == ["200001"]


def test_get_school(api: Api) -> None:
    assert api.get("/schools/100001").json() == HILLSIDE
    other = api.get("/schools/100002", token="la").json()
    assert (other["name"], other["dfe_number"]) == ("Riverside Academy", "2022002")
    response = api.get("/schools/100002")
    assert (response.status_code, response.json()) == (
        404,
        {"detail": "no school with URN 100002", "errors": []},
    )


def test_results_show_the_latest_run_of_each_report(
    api: Api, world: World, school: m.School
) -> None:
    staff = [{"mis_id": "S1", "legal_given_name": "Tara", "legal_family_name": "Ng"}]
    staff_run = sync_run_execute(
        upload=store(school, staff, report="staff"), as_of=DAY1, dry_run=False
    )
    sync_run_execute(upload=store(school, staff[:0], report="staff"), as_of=DAY2, dry_run=True)
    results = api.get("/schools/100001/results").json()
    assert [(r["report"], r["label"], r["format"], r["run"]["id"]) for r in results] == [
        ("staff", "Staff (current)", "csv", staff_run.pk),
        ("students", "Students (current)", "csv", world.held.pk),
    ]
    held = results[1]["run"]
    assert without(held, "created_at", "seconds") == {
        "id": world.held.pk,
        "school": "100001",
        "upload": world.held.upload_id,
        "report": "students",
        "format": "csv",
        "status": "held",
        "dry_run": False,
        "as_of": "2026-09-08",
        "counts": HELD_COUNTS,
        "errors": [],
        "holds": [HOLD],
        "applied_at": None,
        "approved_by": None,
        "status_detail": "Held",
        "clean": False,
        "rejected_rows": 0,
        "waits_for": None,
    }
    assert results[0]["run"]["counts"] == shown_counts(created=1)
    assert (results[0]["run"]["status_detail"], results[0]["run"]["clean"]) == ("Applied", True)


# --- uploads ----------------------------------------------------------------------------


def test_upload_history(api: Api, world: World) -> None:
    page = api.get("/schools/100001/uploads").json()
    first, held = world.first.upload, world.held.upload
    assert (page["count"], page["limit"], page["offset"]) == (2, 100, 0)
    assert [without(u, "received_at") for u in page["items"]] == [
        {
            "id": upload.pk,
            "school": "100001",
            "source": "test",
            "format": "csv",
            "report": "students",
            "filename": "students.csv",
            "asked": "",
            "size": len(bytes(upload.data)),
            "sha256": hashlib.sha256(bytes(upload.data)).hexdigest(),
            "outcome": run.status,
            "status_detail": run.status.capitalize(),
            "rejected_rows": 0,
            "runs": [
                {
                    "id": run.pk,
                    "status": run.status,
                    "dry_run": False,
                    "created_at": run.created_at.isoformat(timespec="milliseconds").replace(
                        "+00:00", "Z"
                    ),
                    "status_detail": run.status.capitalize(),
                    "clean": run.status == "applied",
                    "rejected_rows": 0,
                    "waits_for": None,
                }
            ],
        }
        for upload, run in ((held, world.held), (first, world.first))
    ]
    one = api.get(f"/uploads/{first.pk}").json()
    assert one == page["items"][1]
    assert api.get("/schools/100001/uploads", limit=1, offset=1).json()["items"] == [one]


def _file(rows: list[dict[str, Any]] | None = None, name: str = "students.csv") -> Any:
    rows = rows if rows is not None else [pupil("1001", "Amir", "Khan", "2016-01-02")]
    return SimpleUploadedFile(name, csv_bytes("students", rows), content_type="text/csv")


def test_upload_is_stored_and_queued(api: Api, school: m.School) -> None:
    payload = csv_bytes("students", [pupil("1001", "Amir", "Khan", "2016-01-02")])
    response = api.post(
        "/schools/100001/uploads",
        {"file": _file(), "format": "csv", "report": "students", "as_of": "2026-09-07"},
        form=True,
    )
    assert response.status_code == 202
    body = response.json()
    upload = m.Upload.objects.get()
    task = m.QueuedTask.objects.get()
    url = f"/api/v1/tasks/{task.id}"
    assert response["Location"] == url
    assert without(body["task"], "enqueued_at") == {
        "id": str(task.id),
        "kind": "sync",
        "status": "queued",
        "url": url,
        "upload": upload.pk,
        "school": "100001",
        "dry_run": False,
        "started_at": None,
        "finished_at": None,
        "run": None,
        "error": None,
    }
    assert without(body["upload"], "received_at") == {
        "id": upload.pk,
        "school": "100001",
        "source": "api",
        "format": "csv",
        "report": "students",
        "filename": "students.csv",
        "asked": "",
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "outcome": "queued",  # one rule for every door: the worker has it
        "status_detail": "Queued",
        "rejected_rows": 0,
        "runs": [],
    }
    assert bytes(upload.data) == payload
    assert (task.kind, task.upload_id, task.as_of, task.actor, task.dry_run) == (
        "sync",
        upload.pk,
        date(2026, 9, 7),
        actor(),
        False,
    )
    assert m.SyncRun.objects.count() == 0  # the request ran nothing
    event = m.AuditEvent.objects.get(action="upload_received")
    assert (event.actor, event.school.urn, event.reason, event.changes) == (
        actor(),
        "100001",
        f"Upload {upload.pk} (students.csv, csv, students) received through the API; sync queued",
        {
            "upload": upload.pk,
            "sha256": hashlib.sha256(payload).hexdigest(),
            "size": len(payload),
            "task": str(task.id),
        },
    )
    assert api.get(url.removeprefix("/api/v1")).json() == body["task"]


def test_upload_as_a_dry_run_through_the_la_token(api: Api, school: m.School) -> None:
    response = api.post(
        "/schools/100001/uploads",
        {"file": _file(), "format": "csv", "report": "students", "dry_run": "true"},
        form=True,
        token="la",
    )
    assert response.status_code == 202
    assert response.json()["task"]["dry_run"] is True
    assert m.QueuedTask.objects.get().actor == actor("northshire")


@pytest.mark.parametrize(
    ("form", "status", "detail", "field"),
    [
        ({"format": "csv", "report": "students"}, 422, "file: required", "file"),
        (
            {"file": True, "format": "xls", "report": "students"},
            422,
            "format: Input should be 'ctf', 'oneroster', 'sds', 'csv' or 'sims-superstar'",
            "format",
        ),
        (
            {"file": True, "format": "csv"},
            422,
            "report: required with format csv (one report per file)",
            "report",
        ),
        (
            {"file": True, "format": "csv", "report": "pupils"},
            422,
            "report: Input should be 'students', 'students_future', 'staff', 'staff_future',"
            " 'contacts', 'groups' or 'attendance'",
            "report",
        ),
        (
            {"file": True, "format": "csv", "report": "students", "as_of": "07/09/2026"},
            422,
            "as_of: must be a date as YYYY-MM-DD",
            "as_of",
        ),
    ],
)
def test_upload_refuses_bad_input_naming_the_field(
    api: Api, school: m.School, form: dict[str, Any], status: int, detail: str, field: str
) -> None:
    if form.get("file"):
        form = {**form, "file": _file()}
    response = api.post("/schools/100001/uploads", form, form=True)
    assert response.status_code == status
    body = response.json()
    assert body["detail"] == detail
    assert [e["field"] for e in body["errors"]] == [field]
    assert m.Upload.objects.count() == 0 and m.QueuedTask.objects.count() == 0


def test_force_run_queues_the_latest_upload(api: Api, world: World) -> None:
    response = api.post("/schools/100001/force-run", {"report": "students", "as_of": "2026-09-09"})
    assert response.status_code == 202
    task = response.json()["task"]
    assert (task["kind"], task["status"], task["upload"], task["school"]) == (
        "sync",
        "queued",
        world.held.upload_id,
        "100001",
    )
    assert response["Location"] == task["url"]
    queued = m.QueuedTask.objects.get(id=task["id"])
    assert (queued.as_of, queued.dry_run) == (date(2026, 9, 9), False)
    event = m.AuditEvent.objects.get(action="force_run_queued")
    assert (event.actor, event.reason) == (
        actor(),
        f"Force run of upload {world.held.upload_id} (Students (current)) requested by {actor()}",
    )
    nothing = api.post("/schools/100001/force-run", {"report": "staff"})
    assert nothing.status_code == 409
    assert nothing.json() == {
        "detail": "report: 100001 Hillside Primary has no Staff (current) upload to run again",
        "errors": [
            {
                "field": "report",
                "message": "100001 Hillside Primary has no Staff (current) upload to run again",
            }
        ],
    }


def test_task_status(api: Api, world: World) -> None:
    task = api.get(f"/tasks/{world.task_id}").json()
    assert (task["id"], task["status"], task["upload"], task["dry_run"], task["run"]) == (
        world.task_id,
        "queued",
        world.first.upload_id,
        True,
        None,
    )
    for missing in ("6f1c1a52-2b0e-4c59-8f7e-1d1f1b1d1e1f", "nope"):
        response = api.get(f"/tasks/{missing}")
        assert (response.status_code, response.json()) == (
            404,
            {"detail": f"no task {missing}", "errors": []},
        )


# --- runs -------------------------------------------------------------------------------


def test_list_runs(api: Api, world: World) -> None:
    page = api.get("/schools/100001/runs").json()
    assert page["count"] == 2
    assert [(r["id"], r["status"], r["counts"]) for r in page["items"]] == [
        (world.held.pk, "held", HELD_COUNTS),
        (world.first.pk, "applied", shown_counts(created=10, needs_matching=1)),
    ]
    held_only = api.get("/schools/100001/runs", status="held").json()
    assert [r["id"] for r in held_only["items"]] == [world.held.pk]
    assert api.get("/schools/100001/runs", status="preview").json()["items"] == []
    bad = api.get("/schools/100001/runs", status="done")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "status"


def test_get_run_with_its_plan(api: Api, world: World) -> None:
    run = api.get(f"/runs/{world.held.pk}").json()
    assert without(run, "actions", "kept_non_mis", "created_at", "seconds") == without(
        api.get("/schools/100001/runs", status="held").json()["items"][0], "created_at", "seconds"
    )
    assert run["kept_non_mis"] == []  # nobody here was kept as non-MIS
    # The day's Students file was read in part (decision 0104): the eight pupils it left
    # out unchanged are counted, not listed one by one.
    assert sorted(
        (a["kind"], a["mis_id"]) for a in run["actions"] if a["kind"] != "unchanged"
    ) == sorted([("unallocate", "1008"), ("unallocate", "1009"), ("needs_matching", "B7")])
    assert run["counts"]["unchanged"] == 8
    assert all(a["reason"] for a in run["actions"])


def test_a_run_names_the_accounts_kept_as_non_mis_it_left_alone(api: Api, world: World) -> None:
    """Pupil 1009 was kept as non-MIS (Review Non-MIS Accounts) before the held run, which
    does not list them: the run says it left them alone, and who decided, when."""
    from datetime import datetime, timedelta

    from rollsync.directory.services.accounts import account_non_mis_keep

    place = m.Allocation.objects.select_related("school").get(
        school=world.held.school, mis_id="1009"
    )
    m.Allocation.objects.filter(pk=place.pk).update(mis_id="")
    place.refresh_from_db()
    account_non_mis_keep(allocation=place, actor="ms.head")
    kept = m.AuditEvent.objects.get(action="non_mis_kept", account_id=place.account_id)
    at = world.held.created_at - timedelta(minutes=1)  # the decision came before the run
    m.AuditEvent.objects.filter(pk=kept.pk).update(at=at)
    run = api.get(f"/runs/{world.held.pk}").json()
    [shown] = run["kept_non_mis"]
    when = datetime.fromisoformat(shown.pop("kept_at").replace("Z", "+00:00"))
    assert shown == {"username": place.account.username, "kept_by": "ms.head"}
    assert abs(when - at) < timedelta(milliseconds=1)  # the API writes milliseconds


def test_approve_queues_the_approval(api: Api, world: World) -> None:
    response = api.post(f"/runs/{world.held.pk}/approve")
    assert response.status_code == 202
    task = response.json()["task"]
    assert (task["kind"], task["status"], task["upload"]) == (
        "approve",
        "queued",
        world.held.upload_id,
    )
    assert (task["run"]["id"], task["run"]["status"]) == (world.held.pk, "held")
    queued = m.QueuedTask.objects.get(id=task["id"])
    assert (queued.kind, queued.run_id, queued.actor) == ("approve", world.held.pk, actor())
    refused = api.post(f"/runs/{world.first.pk}/approve")
    assert (refused.status_code, refused.json()["detail"]) == (
        409,
        f"run {world.first.pk} is applied, not held: only a held run can be approved",
    )


def test_reject_a_held_run(api: Api, world: World) -> None:
    before = state()
    response = api.post(f"/runs/{world.held.pk}/reject")
    assert response.status_code == 200
    run = response.json()
    assert (run["id"], run["status"], run["approved_by"]) == (world.held.pk, "rejected", actor())
    after = state()
    assert after["allocations"] == before["allocations"]
    again = api.post(f"/runs/{world.held.pk}/reject")
    assert (again.status_code, again.json()["detail"]) == (
        409,
        f"run {world.held.pk} is rejected, not held",
    )


# --- match cases ------------------------------------------------------------------------


def test_list_open_match_cases(api: Api, world: World) -> None:
    cases = api.get("/schools/100001/match-cases").json()
    assert [without(c, "created_at", "candidates") for c in cases] == [
        {
            "id": world.case.pk,
            "school": "100001",
            "run": world.first.pk,
            "role": "pupil",
            "mis_id": "B7",
            "record": world.case.record,
            "reason": world.case.reason,
            "status": "open",
            "resolved_account": None,
            "resolved_at": None,
            "resolved_by": None,
        }
    ]
    assert world.case.record["legal_given_name"] == "Jonathon"
    [candidate] = cases[0]["candidates"]
    assert (candidate["account_id"], candidate["username"]) == (world.jonathan.pk, "jkhan.202")
    assert candidate["score"] == world.case.candidates[0]["score"]
    assert "local school 100002" in candidate["explanation"]
    assert api.get(f"/match-cases/{world.case.pk}").json() == cases[0]


def test_resolve_by_link(api: Api, world: World, school: m.School) -> None:
    response = api.post(
        f"/match-cases/{world.case.pk}/resolve",
        {"decision": "link", "account_id": world.jonathan.pk},
    )
    assert response.status_code == 200
    case = response.json()
    assert (case["status"], case["resolved_account"], case["resolved_by"]) == (
        "linked",
        "jkhan.202",
        actor(),
    )
    placed = m.Allocation.objects.get(school=school, account=world.jonathan)
    assert (placed.mis_id, placed.status) == ("B7", "active")
    assert api.get("/schools/100001/match-cases").json() == []
    assert m.AuditEvent.objects.get(action="match_linked").actor == actor()
    again = api.post(f"/match-cases/{world.case.pk}/resolve", {"decision": "create"})
    assert (again.status_code, again.json()["detail"]) == (
        409,
        f"Match case {world.case.pk} was already resolved (linked)",
    )


def test_resolve_by_create_and_by_exclude(api: Api, world: World, school: m.School) -> None:
    accounts = m.Account.objects.count()
    created = api.post(f"/match-cases/{world.case.pk}/resolve", {"decision": "create"}).json()
    assert created["status"] == "created"
    assert created["resolved_account"] not in (None, "jkhan.202")
    assert m.Account.objects.count() == accounts + 1
    # A second case, excluded this time.
    sync_run_execute(
        upload=store(
            school,
            [
                *[pupil(str(1000 + i), f"Given{i}", f"Family{i}", "2016-01-02") for i in range(10)],
                pupil("B8", "Jonathen", "Khan", "2014-01-02"),
            ],
        ),
        as_of=DAY2,
    )
    case = m.MatchCase.objects.get(status="open")
    excluded = api.post(f"/match-cases/{case.pk}/resolve", {"decision": "exclude"}).json()
    assert (excluded["status"], excluded["resolved_account"]) == ("excluded", None)
    assert m.Exclusion.objects.filter(school=school, mis_id="B8").count() == 1


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"decision": "link"}, "account_id: required with decision link"),
        (
            {"decision": "create", "account_id": 1},
            "account_id: only with decision link, not create",
        ),
        ({"decision": "maybe"}, "decision: Input should be 'link', 'create' or 'exclude'"),
        ({}, "decision: required"),
    ],
)
def test_resolve_refuses_bad_input(
    api: Api, world: World, body: dict[str, Any], detail: str
) -> None:
    before = state()
    response = api.post(f"/match-cases/{world.case.pk}/resolve", body)
    assert (response.status_code, response.json()["detail"]) == (422, detail)
    assert state() == before


def test_resolve_cannot_link_an_account_the_token_does_not_see(
    api: Api, world: World, far_school: m.School
) -> None:
    far = sync_run_execute(
        upload=store(far_school, [pupil("F1", "Fay", "Far", "2015-05-05")]), as_of=DAY1
    )
    assert far.status == "applied"
    far_account = m.Account.objects.get(username="ffar.303")
    before = state()
    for account_id in (far_account.pk, 999999):
        response = api.post(
            f"/match-cases/{world.case.pk}/resolve", {"decision": "link", "account_id": account_id}
        )
        assert response.status_code == 422
        refusal = (
            f"Account {account_id} is not one of the accounts offered for match case"
            f" {world.case.pk}: link only to a candidate shown with the case, or create a new account"
        )
        assert response.json() == {
            "detail": f"account_id: {refusal}",
            "errors": [{"field": "account_id", "message": refusal}],
        }
    assert state() == before


# --- accounts ---------------------------------------------------------------------------


def test_list_accounts_with_filters_and_pages(api: Api, world: World) -> None:
    page = api.get("/schools/100001/accounts").json()
    assert page["count"] == 10
    assert [a["username"] for a in page["items"]] == [f"gfamily{i}.202" for i in range(10)]
    account = m.Account.objects.get(username="gfamily0.202")
    assert page["items"][0] == {
        "username": "gfamily0.202",
        "id": str(account.uid),
        "account_id": account.pk,
        "role": "pupil",
        "status": "active",
        "account_status": "active",
        "legal_given_name": "Given0",
        "legal_family_name": "Family0",
        "preferred_given_name": None,
        "preferred_family_name": None,
        "date_of_birth": "2016-01-02",
        "mis_id": "1000",
        "upn": None,
        "year_group": None,
        "registration_group": None,
        "start_date": None,
        "leaving_date": None,
        "last_move_or_create": "created",
    }
    three = api.get("/schools/100001/accounts", limit=3, offset=3).json()
    assert (three["count"], three["limit"], three["offset"]) == (10, 3, 3)
    assert [a["mis_id"] for a in three["items"]] == ["1003", "1004", "1005"]
    assert api.get("/schools/100001/accounts", role="staff").json()["count"] == 0
    assert api.get("/schools/100001/accounts", role="pupil", status="active").json()["count"] == 10
    assert api.get("/schools/100001/accounts", status="unallocated").json()["count"] == 0
    sync_run_approve(run=world.held, actor="head")
    gone = api.get("/schools/100001/accounts", status="unallocated").json()
    assert [(a["mis_id"], a["status"], a["account_status"]) for a in gone["items"]] == [
        ("1008", "unallocated", "suspended"),
        ("1009", "unallocated", "suspended"),
    ]
    for params, field in (({"role": "teacher"}, "role"), ({"limit": 5000}, "limit")):
        bad = api.get("/schools/100001/accounts", **params)
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == field


def test_account_with_allocations_and_history(api: Api, world: World) -> None:
    account = m.Account.objects.get(username="gfamily0.202")
    event = m.AuditEvent.objects.get(account=account)
    detail = api.get("/schools/100001/accounts/gfamily0.202").json()
    allocation = detail["allocations"][0]
    assert without(detail, "allocations", "audit") == {
        "username": "gfamily0.202",
        "id": str(account.uid),
        "account_id": account.pk,
        "role": "pupil",
        "status": "active",
        "legal_given_name": "Given0",
        "legal_family_name": "Family0",
        "preferred_given_name": None,
        "preferred_family_name": None,
        "middle_names": None,
        "date_of_birth": "2016-01-02",
        "gender": None,
        "upn": None,
    }
    assert len(detail["allocations"]) == 1
    assert without(allocation, "last_move_or_create_at") == {
        "school": "100001",
        "school_name": "Hillside Primary",
        "role": "pupil",
        "status": "active",
        "mis_id": "1000",
        "upn": None,
        "start_date": None,
        "leaving_date": None,
        "year_group": None,
        "registration_group": None,
        "requested_single": False,
        "leaver_pending_since": None,
        "unallocated_at": None,
        "last_move_or_create": "created",
    }
    assert [without(e, "at") for e in detail["audit"]] == [
        {
            "action": "account_created",
            "reason": event.reason,
            "actor": f"run {world.first.pk}",
            "school": "100001",
            "run": world.first.pk,
            "changes": {"username": [None, "gfamily0.202"], "mis_id": [None, "1000"]},
            "changes_text": ["Username: none → gfamily0.202", "MIS ID: none → 1000"],
        }
    ]
    missing = api.get("/schools/100001/accounts/nobody.202")
    assert (missing.status_code, missing.json()["detail"]) == (
        404,
        "no account nobody.202 at 100001",
    )


def test_account_detail_shows_only_the_schools_the_token_sees(api: Api, world: World) -> None:
    # Jonathan Khan, at Riverside, is not at Hillside: Hillside's token cannot see him.
    assert api.get("/schools/100001/accounts/jkhan.202").status_code == 404
    api.post(
        f"/match-cases/{world.case.pk}/resolve",
        {"decision": "link", "account_id": world.jonathan.pk},
    )
    views = {
        token: api.get(f"/schools/{urn}/accounts/jkhan.202", token=token).json()
        for token, urn in (("school", "100001"), ("other_school", "100002"), ("la", "100001"))
    }
    assert {t: [a["school"] for a in v["allocations"]] for t, v in views.items()} == {
        "school": ["100001"],
        "other_school": ["100002"],
        "la": ["100001", "100002"],
    }
    assert {t: sorted({e["school"] for e in v["audit"]}) for t, v in views.items()} == {
        "school": ["100001"],
        "other_school": ["100002"],
        "la": ["100001", "100002"],
    }
    # Jonathan is active at Riverside: his name waits for Riverside (a cross-school case).
    assert [e["action"] for e in views["school"]["audit"]] == [
        "cross_school_case_opened",
        "match_linked",
    ]
    limited = api.get("/schools/100001/accounts/jkhan.202", token="la", audit_limit=1).json()
    assert [e["action"] for e in limited["audit"]] == ["cross_school_case_opened"]


def test_restore_an_unallocated_account(api: Api, world: World) -> None:
    sync_run_approve(run=world.held, actor="head")
    # The latest export lacks them: 409 says so, and nothing changes until a decision.
    asked = api.post("/schools/100001/accounts/gfamily8.202/restore")
    assert asked.status_code == 409
    assert asked.json()["detail"].startswith(
        "gfamily8.202 (MIS ID 1008) is not in the latest export of"
    )
    response = api.post("/schools/100001/accounts/gfamily8.202/restore?keep_non_mis=true")
    assert response.status_code == 200
    detail = response.json()
    assert (detail["status"], detail["allocations"][0]["status"]) == ("active", "active")
    assert detail["allocations"][0]["mis_id"] in ("", None)
    assert [e["action"] for e in detail["audit"][:2]] == ["non_mis_kept", "account_restored"]
    assert detail["audit"][1]["actor"] == actor()
    assert "MIS ID: 1008 → none" in detail["audit"][1]["changes_text"]
    again = api.post("/schools/100001/accounts/gfamily8.202/restore")
    assert (again.status_code, again.json()["detail"]) == (
        409,
        "gfamily8.202 is active at 100001, not unallocated: nothing to restore",
    )
    assert api.post("/schools/100001/accounts/nobody.202/restore").status_code == 404


# --- exclusions -------------------------------------------------------------------------


def test_exclusions_list_add_remove(api: Api, world: World) -> None:
    listed = api.get("/schools/100001/exclusions").json()
    assert [without(e, "created_at") for e in listed] == [
        {
            "id": world.exclusion.pk,
            "role": None,
            "mis_id": "X9",
            "given_name": None,
            "family_name": None,
            "date_of_birth": None,
            "note": "left in 2020",
            "created_by": "setup",
        }
    ]
    response = api.post(
        "/schools/100001/exclusions",
        {
            "given_name": "Pat",
            "family_name": "Doe",
            "date_of_birth": "2015-04-03",
            "role": "pupil",
            "note": "court order",
        },
    )
    assert response.status_code == 201
    added = response.json()
    new = m.Exclusion.objects.get(given_name="Pat")
    assert without(added, "created_at") == {
        "id": new.pk,
        "role": "pupil",
        "mis_id": None,
        "given_name": "Pat",
        "family_name": "Doe",
        "date_of_birth": "2015-04-03",
        "note": "court order",
        "created_by": actor(),
    }
    assert m.AuditEvent.objects.filter(action="exclusion_added", actor=actor()).count() == 1
    removed = api.delete(f"/schools/100001/exclusions/{world.exclusion.pk}")
    assert (removed.status_code, removed.content) == (204, b"")
    assert [e["id"] for e in api.get("/schools/100001/exclusions").json()] == [new.pk]
    gone = api.delete(f"/schools/100001/exclusions/{world.exclusion.pk}")
    assert (gone.status_code, gone.json()["detail"]) == (
        404,
        f"no exclusion {world.exclusion.pk} at 100001",
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"given_name": "Pat"},
            "mis_id: An exclusion needs an MIS ID, or a forename and a surname",
        ),
        ({"mis_id": "X1", "role": "parent"}, "role: Input should be 'pupil', 'staff' or 'contact'"),
        ({"mis_id": "X1", "note": "n" * 301}, "note: String should have at most 300 characters"),
    ],
)
def test_add_exclusion_refuses_bad_input(
    api: Api, school: m.School, body: dict[str, Any], detail: str
) -> None:
    response = api.post("/schools/100001/exclusions", body)
    assert (response.status_code, response.json()["detail"]) == (422, detail)
    assert m.Exclusion.objects.count() == 0
