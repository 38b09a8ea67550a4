"""The two tenants' APIs, one constants object each, shared by the clients
(google.py, microsoft.py) and the simulators (rollsync.downsim), so both speak the same
shapes. From the vendors' published references; what is assumed is said beside it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GoogleApi:
    """Google Workspace Admin SDK Directory API v1 (developers.google.com/admin-sdk/
    directory/v1/reference: users, groups, members; .../limits for the quota)."""

    api_url: str = "https://admin.googleapis.com"
    token_url: str = "https://oauth2.googleapis.com/token"
    users_path: str = "/admin/directory/v1/users"
    groups_path: str = "/admin/directory/v1/groups"
    # Service account with domain-wide delegation: a JWT (RS256, `kid` = private_key_id)
    # with iss = client_email, sub = an admin, aud = token_uri, scope, iat, exp (<= 1 h)
    # exchanged at token_uri with this grant type.
    jwt_grant_type: str = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    scopes: tuple[str, ...] = (
        "https://www.googleapis.com/auth/admin.directory.user",
        "https://www.googleapis.com/auth/admin.directory.group",
    )
    customer: str = "my_customer"
    users_page_max: int = 500  # users.list maxResults
    groups_page_max: int = 200  # groups.list and members.list maxResults
    # The immutable key: users.externalIds [{"type": "custom", "customType": ..., "value"}].
    external_id_type: str = "custom"
    external_id_custom_type: str = "rollsync"
    owner_role: str = "OWNER"
    member_role: str = "MEMBER"
    # Quota: 2,400 queries a minute per user per project; over it, 403 with reason
    # userRateLimitExceeded (or 429 rateLimitExceeded); 403 quotaExceeded for concurrent
    # operations. Remedy: exponential backoff. Google sends no Retry-After (assumed).
    queries_per_minute: int = 2400
    rate_limit_reasons: tuple[str, ...] = (
        "userRateLimitExceeded",
        "rateLimitExceeded",
        "quotaExceeded",
    )
    token_seconds: int = 3600


@dataclass(frozen=True, slots=True)
class MicrosoftApi:
    """Microsoft Entra API-driven inbound provisioning (Graph `bulkUpload` of a SCIM
    BulkRequest, then the provisioning logs for each record) and Graph groups (learn.
    microsoft.com: inbound-provisioning-api-concepts, synchronization-synchronizationjob-
    post-bulkupload, provisioningobjectsummary, group-post-groups, group-post-owners,
    group-post-members, throttling)."""

    login_url: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com"
    token_path: str = "/{tenant}/oauth2/v2.0/token"  # client credentials grant
    scope: str = "https://graph.microsoft.com/.default"
    bulk_path: str = "/v1.0/servicePrincipals/{sp}/synchronization/jobs/{job}/bulkUpload"
    logs_path: str = "/v1.0/auditLogs/provisioning"
    users_path: str = "/v1.0/users"
    groups_path: str = "/v1.0/groups"
    bulk_max: int = 50  # records in one BulkRequest
    bulk_content_type: str = "application/scim+json"
    bulk_schema: str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
    user_schema: str = "urn:ietf:params:scim:schemas:core:2.0:User"
    enterprise_schema: str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    # Assumed: the provisioning app keeps Entra's default mapping, externalId -> employeeId
    # (the matching attribute), userName -> userPrincipalName, active -> accountEnabled,
    # name.givenName -> givenName, name.familyName -> surname. A record for a user that
    # exists changes only the attributes it carries. rollsync sends no userType (Entra's
    # is Member or Guest; pupil or staff is not one of them).
    key_attribute: str = "employeeId"
    page_size: int = 999  # $top for users and groups
    directory_object: str = "https://graph.microsoft.com/v1.0/directoryObjects/{id}"
    # The provisioning service applies an upload asynchronously (the 202 carries no
    # result); rollsync reads the logs a few times, then leaves it to the next run.
    log_polls: int = 5
    # Throttling: 429 (or 503) with Retry-After in seconds, for Graph and bulkUpload
    # (40 bulk requests a second per tenant).
    bulk_requests_per_second: int = 40


GOOGLE = GoogleApi()
MICROSOFT = MicrosoftApi()
