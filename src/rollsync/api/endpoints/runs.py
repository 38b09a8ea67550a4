"""Sync runs: list, show with the plan, approve or reject a held run."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from rollsync.access.roles import Action
from rollsync.api import present, selectors
from rollsync.api.auth import actor_of, reader, writer
from rollsync.api.endpoints.common import LIMIT, OFFSET, errors, page, task_answer, task_url
from rollsync.api.schemas import ForceRunOut, RunDetailOut, RunOut, RunPage, RunStatusName
from rollsync.directory.services.sync import run_approve_queue, sync_run_reject

router = Router(tags=["runs"])

STATUS = Query(None, description="Only runs with this status")


@router.get(
    "/schools/{urn}/runs", response={200: RunPage, **errors(404, 422)}, operation_id="listRuns"
)
def list_runs(
    request: HttpRequest,
    urn: str,
    status: RunStatusName | None = STATUS,
    limit: int = LIMIT,
    offset: int = OFFSET,
) -> dict[str, Any]:
    """The school's runs, newest first."""
    school = selectors.school_for_token(reader(request), urn)
    return page(
        selectors.runs_at_school(school, status=status),
        limit=limit,
        offset=offset,
        shape=present.run,
    )


@router.get("/runs/{run_id}", response={200: RunDetailOut, **errors(404)}, operation_id="getRun")
def get_run(request: HttpRequest, run_id: int) -> dict[str, Any]:
    """One run with its plan: every action with its reason."""
    return present.run_detail(selectors.run_for_token(reader(request), run_id))


@router.post(
    "/runs/{run_id}/approve",
    response={202: ForceRunOut, **errors(403, 404, 409)},
    operation_id="approveRun",
)
def approve_run(
    request: HttpRequest, response: HttpResponse, run_id: int
) -> Status[dict[str, Any]]:
    """Approve a held run. Approval plans the upload again against the directory as it
    is now and applies it, which is long work: it is queued for the worker (202)."""
    token = writer(request)
    run = selectors.run_for_token(token, run_id, Action.OPERATE)
    task_id = run_approve_queue(run=run, actor=actor_of(token))
    response["Location"] = task_url(task_id)
    return Status(202, {"task": task_answer(token, task_id)})


@router.post(
    "/runs/{run_id}/reject",
    response={200: RunOut, **errors(403, 404, 409)},
    operation_id="rejectRun",
)
def reject_run(request: HttpRequest, run_id: int) -> dict[str, Any]:
    """Turn down a held run: nothing of it is applied."""
    token = writer(request)
    run = selectors.run_for_token(token, run_id, Action.OPERATE)
    sync_run_reject(run=run, actor=actor_of(token))
    return present.run(selectors.run_for_token(token, run_id))
