"""A school's MIS connection: its state and light, and Force run by pull."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from rollsync.access.roles import Action
from rollsync.api import selectors
from rollsync.api.auth import actor_of, reader, writer
from rollsync.api.endpoints.common import errors, task_answer, task_url
from rollsync.api.schemas import ConnectionOut, ForceRunOut, PullIn
from rollsync.directory import selectors as directory_selectors
from rollsync.directory.services.connections import connection_pull_queue

router = Router(tags=["connections"])


@router.get(
    "/schools/{urn}/connection",
    response={200: ConnectionOut, **errors(404)},
    operation_id="getConnection",
)
def get_connection(request: HttpRequest, urn: str) -> dict[str, Any]:
    """The school's MIS connection: state, light, last and next pull, last error. Secrets
    are never shown, only which are set."""
    school = selectors.school_for_token(reader(request), urn)
    return directory_selectors.connection_status(school=school)


@router.post(
    "/schools/{urn}/connection/pull",
    response={202: ForceRunOut, **errors(403, 404, 409, 422)},
    operation_id="pullConnection",
)
def pull_connection(
    request: HttpRequest, response: HttpResponse, urn: str, payload: PullIn
) -> Status[dict[str, Any]]:
    """Force run: pull the school's MIS now (every accepted report, or those named) on
    the worker; follow the task. A pull already running for the school answers 409
    when the worker takes this one (the task fails with that reason)."""
    token = writer(request)
    school = selectors.school_for_token(token, urn, Action.FORCE_RUN)
    task_id = connection_pull_queue(
        school=school,
        actor=actor_of(token),
        reports=list(payload.reports) or None,
        dry_run=payload.dry_run,
    )
    response["Location"] = task_url(task_id)
    return Status(202, {"task": task_answer(token, task_id)})
