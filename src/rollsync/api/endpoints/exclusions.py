"""The school's exclusion list: MIS people who must never get an account."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from rollsync.access.roles import Action
from rollsync.api import present, selectors
from rollsync.api.auth import actor_of, reader, writer
from rollsync.api.endpoints.common import errors
from rollsync.api.schemas import ExclusionIn, ExclusionOut
from rollsync.directory.services.accounts import exclusion_add, exclusion_remove
from rollsync.domain.records import Role

router = Router(tags=["exclusions"])


@router.get(
    "/schools/{urn}/exclusions",
    response={200: list[ExclusionOut], **errors(404)},
    operation_id="listExclusions",
)
def list_exclusions(request: HttpRequest, urn: str) -> list[dict[str, Any]]:
    school = selectors.school_for_token(reader(request), urn)
    return [present.exclusion(e) for e in selectors.exclusions_at_school(school)]


@router.post(
    "/schools/{urn}/exclusions",
    response={201: ExclusionOut, **errors(403, 404, 422)},
    operation_id="addExclusion",
)
def add_exclusion(request: HttpRequest, urn: str, payload: ExclusionIn) -> Status[dict[str, Any]]:
    """Add a person by MIS ID, or by forename and surname (and date of birth)."""
    token = writer(request)
    school = selectors.school_for_token(token, urn, Action.OPERATE)
    exclusion = exclusion_add(
        school=school,
        actor=actor_of(token),
        mis_id=payload.mis_id,
        given_name=payload.given_name,
        family_name=payload.family_name,
        date_of_birth=payload.date_of_birth,
        role=Role(payload.role) if payload.role else None,
        note=payload.note,
    )
    return Status(201, present.exclusion(exclusion))


@router.delete(
    "/schools/{urn}/exclusions/{exclusion_id}",
    response={204: None, **errors(403, 404)},
    operation_id="removeExclusion",
)
def remove_exclusion(request: HttpRequest, urn: str, exclusion_id: int) -> Status[None]:
    token = writer(request)
    school = selectors.school_for_token(token, urn, Action.OPERATE)
    exclusion = selectors.exclusion_at_school(school, exclusion_id)
    exclusion_remove(school=school, exclusion_id=exclusion.pk, actor=actor_of(token))
    return Status(204, None)
