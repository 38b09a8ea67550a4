"""Each request's log lines carry the school and run in its URL, and nothing of the
work the process did before it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from rollsync.ops import logging as ops_logging


class LogContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ops_logging.clear()
        try:
            return self.get_response(request)
        finally:
            ops_logging.clear()

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: dict[str, Any]
    ) -> None:
        urn, run_id = kwargs.get("urn"), kwargs.get("run_id")
        ops_logging.bind(
            school=str(urn)[:20] if urn else None, run=run_id if isinstance(run_id, int) else None
        )
