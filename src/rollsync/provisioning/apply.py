"""What both tenant clients share when they apply a plan: the order of the actions, the
tenant ids of rollsync's users, reading an answer's JSON, and an outcome from a status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from .errors import TenantBadResponse
from .model import Action, ActionKind, Outcome, ProvisionPlan, TenantState


def tenant_ids(tenant: TenantState) -> dict[str, str | None]:
    """Each rollsync key's tenant id (the first, by id, where the tenant holds two)."""
    out: dict[str, str | None] = {}
    for u in sorted(tenant.users, key=lambda u: u.id, reverse=True):
        if u.key:
            out[u.key] = u.id
    return out


# Users before groups; within groups, removals before additions (a teacher who becomes
# an owner stops being a plain member first).
_PHASE = {
    ActionKind.CONFLICT: 0,
    ActionKind.CREATE_USER: 1,
    ActionKind.UPDATE_USER: 1,
    ActionKind.RESTORE_USER: 1,
    ActionKind.SUSPEND_USER: 2,
    ActionKind.CREATE_GROUP: 3,
    ActionKind.UPDATE_GROUP: 3,
    ActionKind.REMOVE_OWNER: 4,
    ActionKind.REMOVE_MEMBER: 4,
    ActionKind.ADD_OWNER: 5,
    ActionKind.ADD_MEMBER: 5,
}


def ordered(plan: ProvisionPlan) -> list[Action]:
    return sorted(plan.actions, key=lambda a: _PHASE[a.kind])


def done(
    action: Action,
    response: httpx.Response,
    ok: tuple[int, ...],
    words: Callable[[httpx.Response], str],
) -> Outcome:
    if response.status_code in ok:
        return Outcome(action, True)
    return Outcome(action, False, words(response))


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise TenantBadResponse(f"the tenant's answer to {what} is not JSON") from None
    if not isinstance(data, dict):
        raise TenantBadResponse(f"the tenant's answer to {what} is not a JSON object")
    return data


def oauth_error(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body.get("error_description") or body.get("error") or "")[:200]
    except (ValueError, AttributeError):
        return ""
