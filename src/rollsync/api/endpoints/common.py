"""Helpers shared by the endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from ninja import Query

from rollsync.api import present, selectors
from rollsync.api.models import ApiToken
from rollsync.api.schemas import ErrorOut

LIMIT = Query(100, ge=1, le=1000, description="Items per page (at most 1000)")
MAX_OFFSET = 1_000_000_000  # far beyond any list; keeps the number within every database's
OFFSET = Query(0, ge=0, le=MAX_OFFSET, description="Items to skip (at most 1,000,000,000)")


def errors(*codes: int) -> dict[int, type[ErrorOut]]:
    """Document the error answers an operation can give (all have the ErrorOut shape)."""
    return dict.fromkeys((401, *codes), ErrorOut)


def page(
    items: QuerySet[Any], *, limit: int, offset: int, shape: Callable[[Any], dict[str, Any]]
) -> dict[str, Any]:
    return {
        "count": items.count(),
        "limit": limit,
        "offset": offset,
        "items": [shape(item) for item in items[offset : offset + limit]],
    }


def task_url(task_id: str) -> str:
    return reverse("api-v1:get_task", kwargs={"task_id": task_id})


def task_answer(token: ApiToken, task_id: str) -> dict[str, Any]:
    status, run = selectors.task_for_token(token, task_id)
    return present.task(status, url=task_url(task_id), run_obj=run)
