"""Schools the token sees, and each school's latest results per report."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from rollsync.api import present, selectors
from rollsync.api.auth import reader
from rollsync.api.endpoints.common import errors
from rollsync.api.schemas import ResultOut, SchoolOut

router = Router(tags=["schools"])


@router.get("/schools", response={200: list[SchoolOut], **errors()}, operation_id="listSchools")
def list_schools(request: HttpRequest) -> list[dict[str, Any]]:
    """The schools this token may see: its school, or every school of its LA."""
    return [
        present.school(s, selectors.school_accepted_reports(s))
        for s in selectors.schools_for_token(reader(request)).order_by("urn")
    ]


@router.get("/schools/{urn}", response={200: SchoolOut, **errors(404)}, operation_id="getSchool")
def get_school(request: HttpRequest, urn: str) -> dict[str, Any]:
    school = selectors.school_for_token(reader(request), urn)
    return present.school(school, selectors.school_accepted_reports(school))


@router.get(
    "/schools/{urn}/results",
    response={200: list[ResultOut], **errors(404)},
    operation_id="listResults",
)
def list_results(request: HttpRequest, urn: str) -> list[dict[str, Any]]:
    """Whole School Bulk Results: the latest run of each report uploaded (dry runs left
    out), with its counts, errors and holds."""
    school = selectors.school_for_token(reader(request), urn)
    return [present.result(run) for run in selectors.latest_runs_by_report(school)]
