"""scim2-server's storage contract over the directory, read-only: `get` and `search`
read through `selectors` (the tenancy chokepoint, the SCIM client as principal) and
`filters`; `create`, `update` and `delete` refuse (the service refuses them first)."""

from __future__ import annotations

import uuid
from typing import Any, Final

from django.db.models import F, QuerySet
from django.db.models.functions import Lower
from scim2_models import (
    ForbiddenException,
    InvalidFilterException,
    InvalidValueException,
    NotFoundException,
    Resource,
    ResourceType,
    ResponseParameters,
    SearchRequest,
)
from scim2_server.storage import ScimStorage, SearchPage

from rollsync.scim import filters, selectors
from rollsync.scim.filters import attribute_key
from rollsync.scim.provider import READ_ONLY, model_of, naming_filter
from rollsync.scim.resources import group_of, user_of

# sortBy (as RFC 7643 spells it) -> (column, compared as text), per resource type.
SORTS: Final[dict[str, dict[str, tuple[str, bool]]]] = {
    "User": {
        "id": ("uid", False),
        "userName": ("username", True),
        "displayName": ("scim_display", True),
        "name.formatted": ("scim_display", True),
        "name.givenName": ("scim_given", True),
        "name.familyName": ("scim_family", True),
        "userType": ("role", True),
        "meta.created": ("created_at", False),
        "meta.lastModified": ("scim_last_modified", False),
    },
    "Group": {
        "id": ("pk", False),
        "displayName": ("name", True),
        "externalId": ("mis_id", False),
        "meta.lastModified": ("scim_last_modified", False),
    },
}
_SORT_KEYS: Final = {
    kind: {name.lower(): column for name, column in sorts.items()} for kind, sorts in SORTS.items()
}


class DirectoryStorage(ScimStorage):
    """The resources one SCIM client may read."""

    def __init__(self, principal: Any) -> None:
        self.principal = principal

    # -- reads ------------------------------------------------------------------

    def _queryset(self, resource_type: ResourceType) -> QuerySet[Any]:
        if resource_type.name == "User":
            return selectors.scim_users(self.principal)
        return selectors.scim_groups(self.principal)

    @staticmethod
    def _render(resource_type: ResourceType, row: Any) -> Resource[Any]:
        rendered: Resource[Any] = user_of(row) if resource_type.name == "User" else group_of(row)
        return rendered

    def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        missing = NotFoundException(detail=f"{resource_type.name} {resource_id} not found")
        if resource_type.name == "User":
            try:
                lookup: dict[str, Any] = {"uid": uuid.UUID(resource_id)}
            except ValueError:
                raise missing from None
        elif resource_id.isascii() and resource_id.isdigit() and len(resource_id) < 19:
            lookup = {"pk": int(resource_id)}
        else:
            raise missing
        row = self._queryset(resource_type).filter(**lookup).first()
        if row is None:
            raise missing
        return self._render(resource_type, row)

    def _searched(
        self, resource_type: ResourceType, search_request: SearchRequest[Any]
    ) -> QuerySet[Any]:
        model = model_of(resource_type)
        rows = self._queryset(resource_type)
        if search_request.filter is not None:
            text = str(search_request.filter)
            try:
                if resource_type.name == "User":
                    allocations = selectors.visible_allocations(self.principal)
                    rows = rows.filter(filters.users_q(text, model, allocations))
                else:
                    rows = rows.filter(filters.groups_q(text, model))
            except InvalidFilterException as bad:
                raise naming_filter(text, bad) from bad
        order: list[Any] = []
        binding = search_request.sort_binding(model) if search_request.sort_by else None
        if binding is not None:
            kind = str(resource_type.name)
            column = _SORT_KEYS[kind].get(attribute_key(binding.urn))
            if column is None:
                raise InvalidValueException(
                    detail=f"sortBy: {kind}s sort by {', '.join(SORTS[kind])}, "
                    f"not {search_request.sort_by}"
                )
            name, folded = column
            key = Lower(name) if folded else F(name)
            descending = search_request.sort_order == SearchRequest.SortOrder.descending
            order.append(key.desc() if descending else key.asc())
        return rows.order_by(*order, "pk")

    def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        """Index paging (`startIndex`, `count`) in the database. A search at the root
        lists the Users, then the Groups."""
        skip = (search_request.start_index or 1) - 1
        left = search_request.count if search_request.count is not None else 0
        total = 0
        found: list[Resource[Any]] = []
        for resource_type in resource_types:
            rows = self._searched(resource_type, search_request)
            here = rows.count()
            total += here
            if left > 0 and skip < here:
                page = list(rows[skip : skip + left])
                found.extend(self._render(resource_type, row) for row in page)
                left -= len(page)
            skip = max(0, skip - here)
        return SearchPage(total=total, resources=found)

    # -- writes: none -------------------------------------------------------------

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        raise ForbiddenException(detail=READ_ONLY)

    def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        raise ForbiddenException(detail=READ_ONLY)

    def delete(
        self, resource_type: ResourceType, resource_id: str, *, expected_version: str | None = None
    ) -> None:
        raise ForbiddenException(detail=READ_ONLY)
