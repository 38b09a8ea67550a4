"""The needs-matching queue: open cases with their candidates, and decisions."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from rollsync.access.roles import Action
from rollsync.api import present, selectors
from rollsync.api.auth import ApiError, actor_of, reader, writer
from rollsync.api.endpoints.common import errors
from rollsync.api.schemas import (
    CrossSchoolCaseOut,
    CrossSchoolDecideIn,
    MatchCaseOut,
    ResolveIn,
)
from rollsync.directory import selectors as directory_selectors
from rollsync.directory.services.accounts import (
    cross_school_case_decide,
    match_case_resolve,
)

router = Router(tags=["match cases"])


@router.get(
    "/schools/{urn}/match-cases",
    response={200: list[MatchCaseOut], **errors(404)},
    operation_id="listMatchCases",
)
def list_match_cases(request: HttpRequest, urn: str) -> list[dict[str, Any]]:
    """Open cases: each incoming record with the ranked candidates and why."""
    school = selectors.school_for_token(reader(request), urn)
    return [present.match_case(c) for c in selectors.match_cases_open(school)]


@router.get(
    "/match-cases/{case_id}",
    response={200: MatchCaseOut, **errors(404)},
    operation_id="getMatchCase",
)
def get_match_case(request: HttpRequest, case_id: int) -> dict[str, Any]:
    return present.match_case(selectors.match_case_for_token(reader(request), case_id))


@router.post(
    "/match-cases/{case_id}/resolve",
    response={200: MatchCaseOut, **errors(403, 404, 409, 422)},
    operation_id="resolveMatchCase",
)
def resolve_match_case(request: HttpRequest, case_id: int, payload: ResolveIn) -> dict[str, Any]:
    """Decide a case: `link` it to one of the accounts the case offered (`candidates`;
    no other account), `create` a new account, or `exclude` the person. The decision
    is remembered: the record is never asked about again."""
    token = writer(request)
    case = selectors.match_case_for_token(token, case_id, Action.OPERATE)
    if payload.decision == "link":
        if payload.account_id is None:
            raise ApiError(422, "account_id: required with decision link", field="account_id")
    elif payload.account_id is not None:
        raise ApiError(
            422, f"account_id: only with decision link, not {payload.decision}", field="account_id"
        )
    match_case_resolve(
        case_id=case.pk,
        actor=actor_of(token),
        link_account_id=payload.account_id if payload.decision == "link" else None,
        create=payload.decision == "create",
        exclude=payload.decision == "exclude",
    )
    return present.match_case(selectors.match_case_for_token(token, case_id))


# --- cross-school cases: identity changes waiting for the other school's agreement ------


@router.get(
    "/schools/{urn}/cross-school-cases",
    response={200: list[CrossSchoolCaseOut], **errors(404)},
    operation_id="listCrossSchoolCases",
)
def list_cross_school_cases(request: HttpRequest, urn: str) -> list[dict[str, Any]]:
    """Open cross-school cases of the school: identity changes its MIS asks for on an
    account active elsewhere, and changes another school asks for on its accounts."""
    school = selectors.school_for_token(reader(request), urn)
    return [
        present.cross_school_case(c)
        for c in directory_selectors.cross_school_cases_open(school=school)
    ]


@router.post(
    "/cross-school-cases/{case_id}/decide",
    response={200: CrossSchoolCaseOut, **errors(403, 404, 409)},
    operation_id="decideCrossSchoolCase",
)
def decide_cross_school_case(
    request: HttpRequest, case_id: int, payload: CrossSchoolDecideIn
) -> dict[str, Any]:
    """The school that holds the account agrees (the changes are applied) or declines
    (nothing changes). The school that asked cannot decide its own request."""
    token = writer(request)
    case = selectors.cross_school_case_for_token(token, case_id, Action.OPERATE)
    if (
        not selectors.schools_for_token(token, Action.OPERATE)
        .filter(pk=case.holding_school_id)
        .exists()
    ):
        raise ApiError(
            403,
            f"only {case.holding_school.name}, where the account is active, can agree or decline",
        )
    decided = cross_school_case_decide(
        case_id=case.pk,
        school=case.holding_school,
        actor=actor_of(token),
        agree=payload.decision == "agree",
    )
    return present.cross_school_case(decided)
