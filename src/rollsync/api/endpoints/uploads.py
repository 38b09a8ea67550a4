"""Uploads (the Upload History), Force run, and following a queued task."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from rollsync.access.roles import Action
from rollsync.api import present, selectors
from rollsync.api.auth import actor_of, reader, writer
from rollsync.api.endpoints.common import LIMIT, OFFSET, errors, page, task_answer, task_url
from rollsync.api.schemas import (
    ForceRunIn,
    ForceRunOut,
    QueuedOut,
    Report,
    TaskOut,
    UploadFormat,
    UploadOut,
    UploadPage,
)
from rollsync.directory.services.sync import run_force
from rollsync.directory.services.uploads import upload_receive

router = Router(tags=["uploads"])


@router.post(
    "/schools/{urn}/uploads",
    response={202: QueuedOut, **errors(400, 403, 404, 413, 422)},
    operation_id="createUpload",
)
def create_upload(
    request: HttpRequest,
    response: HttpResponse,
    urn: str,
    file: File[UploadedFile],
    format: Form[UploadFormat],
    report: Form[Report | None] = None,
    dry_run: Form[bool] = False,
    as_of: Form[date | None] = None,
) -> Status[dict[str, Any]]:
    """Upload an export (multipart form). It is kept as it came and its sync is queued
    for the worker: the answer is 202 with the task; follow `task.url` (or the
    Location header) until the task has succeeded and shows the run."""
    token = writer(request)
    school = selectors.school_for_token(token, urn, Action.OPERATE)
    upload, task_id = upload_receive(
        school=school,
        payload=file,  # streamed within the limit by upload_store, read once
        declared_size=file.size,
        fmt=format,
        report=report,
        filename=file.name or "",
        actor=actor_of(token),
        source="api",
        dry_run=dry_run,
        as_of=as_of,
    )
    response["Location"] = task_url(task_id)
    upload = selectors.upload_for_token(token, upload.pk)
    return Status(202, {"task": task_answer(token, task_id), "upload": present.upload(upload)})


@router.get(
    "/schools/{urn}/uploads",
    response={200: UploadPage, **errors(404, 422)},
    operation_id="listUploads",
)
def list_uploads(
    request: HttpRequest, urn: str, limit: int = LIMIT, offset: int = OFFSET
) -> dict[str, Any]:
    """Upload History: every upload of the school, newest first, with its runs."""
    school = selectors.school_for_token(reader(request), urn)
    return page(
        selectors.uploads_at_school(school), limit=limit, offset=offset, shape=present.upload
    )


@router.get(
    "/uploads/{upload_id}", response={200: UploadOut, **errors(404)}, operation_id="getUpload"
)
def get_upload(request: HttpRequest, upload_id: int) -> dict[str, Any]:
    return present.upload(selectors.upload_for_token(reader(request), upload_id))


@router.post(
    "/schools/{urn}/force-run",
    response={202: ForceRunOut, **errors(403, 404, 409, 422)},
    operation_id="forceRun",
)
def force_run(
    request: HttpRequest, response: HttpResponse, urn: str, payload: ForceRunIn
) -> Status[dict[str, Any]]:
    """Force run: queue the school's latest upload of a report to be processed again."""
    token = writer(request)
    school = selectors.school_for_token(token, urn, Action.FORCE_RUN)
    task_id = run_force(
        school=school,
        report=payload.report,
        actor=actor_of(token),
        as_of=payload.as_of,
        dry_run=payload.dry_run,
    )
    response["Location"] = task_url(task_id)
    return Status(202, {"task": task_answer(token, task_id)})


@router.get("/tasks/{task_id}", response={200: TaskOut, **errors(404)}, operation_id="getTask")
def get_task(request: HttpRequest, task_id: str) -> dict[str, Any]:
    """A queued sync or approval: queued, running, succeeded (with the run) or failed
    (with the error). A run that failed is a task that succeeded: see `run.status`."""
    return task_answer(reader(request), task_id)
