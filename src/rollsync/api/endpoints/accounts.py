"""Accounts at a school, one account with its places and history, and restore."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from rollsync.access.roles import Action
from rollsync.api import present, selectors
from rollsync.api.auth import actor_of, reader, writer
from rollsync.api.endpoints.common import LIMIT, OFFSET, errors, page
from rollsync.api.models import ApiToken
from rollsync.api.schemas import AccountDetailOut, AccountPage, AllocationStatusName, RoleName
from rollsync.directory import models as m
from rollsync.directory.services.accounts import account_restore

router = Router(tags=["accounts"])

ROLE = Query(None, description="Only this role")
STATUS = Query(None, description="Only this status at the school")
KEEP_NON_MIS = Query(
    None,
    description=(
        "For a person the latest export does not list: true keeps the account as non-MIS "
        "at the school, false restores it anyway"
    ),
)
AUDIT_LIMIT = Query(200, ge=1, le=1000, description="At most this many audit events")


def _detail(token: ApiToken, account: m.Account, audit_limit: int) -> dict[str, Any]:
    parts = selectors.account_detail(token, account, audit_limit=audit_limit)
    return present.account_detail(account, parts["allocations"], parts["audit"])


@router.get(
    "/schools/{urn}/accounts",
    response={200: AccountPage, **errors(404, 422)},
    operation_id="listAccounts",
)
def list_accounts(
    request: HttpRequest,
    urn: str,
    role: RoleName | None = ROLE,
    status: AllocationStatusName | None = STATUS,
    limit: int = LIMIT,
    offset: int = OFFSET,
) -> dict[str, Any]:
    """Accounts placed at the school, by surname then forename."""
    school = selectors.school_for_token(reader(request), urn)
    return page(
        selectors.allocations_at_school(school, role=role, status=status),
        limit=limit,
        offset=offset,
        shape=present.allocation_account,
    )


@router.get(
    "/schools/{urn}/accounts/{username}",
    response={200: AccountDetailOut, **errors(404, 422)},
    operation_id="getAccount",
)
def get_account(
    request: HttpRequest, urn: str, username: str, audit_limit: int = AUDIT_LIMIT
) -> dict[str, Any]:
    """One account with its places and its audit history at the schools this token
    sees (places elsewhere, and what happened there, are left out)."""
    token = reader(request)
    school = selectors.school_for_token(token, urn)
    return _detail(token, selectors.account_at_school(school, username), audit_limit)


@router.post(
    "/schools/{urn}/accounts/{username}/restore",
    response={200: AccountDetailOut, **errors(403, 404, 409)},
    operation_id="restoreAccount",
)
def restore_account(
    request: HttpRequest, urn: str, username: str, keep_non_mis: bool | None = KEEP_NON_MIS
) -> dict[str, Any]:
    """Give an unallocated account its place at the school back, with everything it had.
    When the school's latest export does not list the person the answer is 409 saying
    so, until `keep_non_mis` decides: true keeps the account as non-MIS at the school
    (no run unallocates it), false restores it anyway."""
    token = writer(request)
    school = selectors.school_for_token(token, urn, Action.OPERATE)
    account = selectors.account_at_school(school, username)
    account_restore(
        username=account.username,
        school=school,
        actor=actor_of(token),
        keep_non_mis=keep_non_mis,
    )
    account.refresh_from_db()
    return _detail(token, account, 200)
