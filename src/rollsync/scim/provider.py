"""What the SCIM door serves and says it supports: Users (with the enterprise
extension) and Groups, read-only. `/ServiceProviderConfig` publishes `CONFIG`; the
service refuses every write before anything is read."""

from __future__ import annotations

from typing import Any, Final

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    EnterpriseUser,
    ETag,
    Filter,
    ForbiddenException,
    Group,
    InvalidFilterException,
    Pagination,
    Patch,
    ResourceType,
    ScimProvider,
    SearchRequest,
    ServiceProviderConfig,
    Sort,
    User,
)
from scim2_server.requests import ScimRequest
from scim2_server.routing import Operation, Target
from scim2_server.service import ScimService

MAX_RESULTS: Final = 500  # the largest page (`count` above it is lowered to it)
DEFAULT_PAGE: Final = 100  # a page when `count` is not given
READ_ONLY: Final = (
    "rollsync's SCIM interface is read-only: the directory is written by the schools' "
    "MIS syncs, never by a SCIM client"
)

UserResource = User[EnterpriseUser]

CONFIG: Final = ServiceProviderConfig(
    patch=Patch(supported=False),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=True),
    etag=ETag(supported=True),
    pagination=Pagination(
        index=True,
        cursor=False,
        default_pagination_method=Pagination.DefaultPaginationMethod.index,
        default_page_size=DEFAULT_PAGE,
        max_page_size=MAX_RESULTS,
    ),
    authentication_schemes=[
        AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken,
            name="Bearer token",
            description="The token of a SCIM client that `rollsync downstream client "
            "create --kind scim` printed, as `Authorization: Bearer <token>`",
            primary=True,
        )
    ],
)

PROVIDER: Final = ScimProvider(
    models=[User, EnterpriseUser, Group],
    resource_types=[
        ResourceType.from_resource(UserResource),
        ResourceType.from_resource(Group),
    ],
    config=CONFIG,
)


class ReadOnlyService(ScimService):
    """scim2-server's protocol, with every write refused: create, replace and delete
    answer 403 (no SCIM client may write, RFC 7644 section 3.12), PATCH and Bulk 501
    (not supported, as `/ServiceProviderConfig` says)."""

    def authorize(self, request: ScimRequest, target: Target, resource_type: ResourceType) -> None:
        if target.operation in (Operation.create, Operation.replace, Operation.delete):
            raise ForbiddenException(detail=READ_ONLY)

    def read_search(
        self, resource_types: list[ResourceType], payload: Any
    ) -> tuple[SearchRequest[Any], Any]:
        try:
            return super().read_search(resource_types, payload)
        except InvalidFilterException as bad:
            text = payload.get("filter") if isinstance(payload, dict) else None
            raise naming_filter(text, bad) from bad


def naming_filter(text: Any, bad: InvalidFilterException) -> InvalidFilterException:
    """The error of a bad filter, saying which filter it was."""
    return InvalidFilterException(detail=f"filter {text!r}: {bad.detail}", filter=text)


SERVICE: Final = ReadOnlyService(PROVIDER)


def model_of(resource_type: ResourceType) -> type[Any]:
    """The model (extensions included) of one of the served resource types."""
    model = PROVIDER.model_for(resource_type)
    assert model is not None, resource_type.name
    return model
