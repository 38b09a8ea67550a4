"""The three doors share one service per write: the same request through the web app,
the JSON API and the command does the same thing, by the same rule."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from django.test import Client
from django.urls import reverse

from rollsync.api.services import api_token_create
from rollsync.cli import main
from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.directory.services.uploads import upload_store
from tests.access.helpers import World, make_user


def _bundle_after_the_csv(world: World) -> m.Upload:
    """A OneRoster bundle (no single report: it counts for every report) that arrived
    after the school's latest students CSV. Force run of students must take it."""
    return upload_store(
        school=world.home.school,
        payload=b"PK\x05\x06" + b"\x00" * 18,  # bytes only: nothing parses them here
        fmt="oneroster",
        filename="bundle.zip",
        source="web",
    )


def _queued_upload(task_id: str) -> int | None:
    return tasks.task_status(task_id)["upload"]


def test_force_run_takes_the_same_upload_through_every_door(world: World) -> None:
    bundle = _bundle_after_the_csv(world)
    school = world.home.school
    assert world.home.upload.report == "students" and world.home.upload.pk < bundle.pk

    web = Client()
    web.force_login(make_user("school_admin", world))
    response = web.post(
        reverse("web:force_run", kwargs={"urn": school.urn}), {"feed": "students:csv"}
    )
    assert response.status_code == 302, response.status_code
    web_task = response["Location"].rstrip("/").rsplit("/", 1)[-1]

    _token, secret = api_token_create(name="sis", school=school)
    answer = Client().post(
        f"/api/v1/schools/{school.urn}/force-run",
        json.dumps({"report": "students"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 202, answer.content
    api_task = answer.json()["task"]["id"]

    result = CliRunner().invoke(
        main,
        ["runs", "force", "--school", school.urn, "--report", "students", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    cli_task = json.loads(result.stdout)["task"]

    assert [_queued_upload(t) for t in (web_task, api_task, cli_task)] == [bundle.pk] * 3
    events = m.AuditEvent.objects.filter(action="force_run_queued").order_by("pk")
    assert [(e.actor, e.changes["upload"]) for e in events] == [
        ("school_admin", bundle.pk),
        (f"api token {_token.pk} (sis)", bundle.pk),
        ("operator", bundle.pk),
    ]


def test_a_refused_force_run_is_refused_alike_by_every_door(world: World) -> None:
    """No attendance upload: each door says so in its own way, from the one refusal,
    and nothing is queued or audited."""
    school = world.home.school
    before = (m.AuditEvent.objects.count(), _task_count())
    why = f"{school.urn} {school.name} has no Attendance upload to run again"

    web = Client()
    web.force_login(make_user("school_admin", world))
    page = web.post(
        reverse("web:force_run", kwargs={"urn": school.urn}),
        {"feed": "attendance:csv"},
        follow=True,
    )
    assert [str(x) for x in page.context["messages"]] == [why]

    _token, secret = api_token_create(name="sis", school=school)
    after_token = (m.AuditEvent.objects.count(), _task_count())
    answer = Client().post(
        f"/api/v1/schools/{school.urn}/force-run",
        json.dumps({"report": "attendance"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert (answer.status_code, answer.json()) == (
        409,
        {"detail": f"report: {why}", "errors": [{"field": "report", "message": why}]},
    )

    result: Any = CliRunner().invoke(
        main, ["runs", "force", "--school", school.urn, "--report", "attendance"]
    )
    assert (result.exit_code, result.stderr) == (1, f"error: {why}\n")
    assert after_token[0] == before[0] + 1  # the token's own creation, nothing else
    assert (m.AuditEvent.objects.count(), _task_count()) == after_token


def _task_count() -> int:
    return m.QueuedTask.objects.count()


def test_an_empty_file_is_refused_alike_by_the_web_app_and_the_api(world: World) -> None:
    """One receiver (`upload_receive`): an empty file is refused before anything is
    stored, through either door (before, the API stored and queued it)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.access.helpers import everything

    school = world.home.school
    web = Client()
    web.force_login(make_user("school_admin", world))
    before = everything()
    page = web.post(
        reverse("web:upload_file", kwargs={"urn": school.urn}),
        {"file": SimpleUploadedFile("s.csv", b""), "fmt": "csv", "report": "students"},
    )
    assert page.status_code == 400
    _token, secret = api_token_create(name="sis", school=school)
    after_token = everything()
    answer = Client().post(
        f"/api/v1/schools/{school.urn}/uploads",
        {"file": SimpleUploadedFile("s.csv", b""), "format": "csv", "report": "students"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert (answer.status_code, answer.json()) == (
        422,
        {
            "detail": "file: the file is empty",
            "errors": [{"field": "file", "message": "the file is empty"}],
        },
    )
    assert everything() == after_token
    assert {k: v for k, v in after_token.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }


def test_a_refused_command_answers_in_json_when_asked(world: World) -> None:
    school = world.home.school
    result: Any = CliRunner().invoke(
        main, ["runs", "force", "--school", school.urn, "--report", "attendance", "--json"]
    )
    why = f"{school.urn} {school.name} has no Attendance upload to run again"
    assert (result.exit_code, json.loads(result.stdout)) == (1, {"error": why})


def test_the_command_refuses_an_empty_file_and_a_csv_without_its_report_as_the_others_do(
    world: World, tmp_path: Any
) -> None:
    """The rules of the one receiver (`upload_store`) hold for `rollsync import` too:
    exit 2, the service's message, nothing stored (before, the command stored the
    empty file and ran it)."""
    from tests.access.helpers import everything

    empty = tmp_path / "students.csv"
    empty.write_bytes(b"")
    before = everything()
    urn = world.home.school.urn
    result: Any = CliRunner().invoke(
        main, ["import", str(empty), "--school", urn, "--format", "csv", "--report", "students"]
    )
    assert (result.exit_code, result.stderr) == (2, "error: the file is empty\n")
    result = CliRunner().invoke(
        main, ["import", str(empty), "--school", urn, "--format", "csv", "--json"]
    )
    assert (result.exit_code, json.loads(result.stdout)) == (
        2,
        {"error": "required with format csv (one report per file)"},
    )
    assert everything() == before
