"""Request and response shapes of the JSON API (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from ninja import Field, Schema

from rollsync.ingest import FORMATS, registered_formats

# The registered formats (ingest's registry), as an enum in the OpenAPI document: every
# format an upload can be in, pulls from an MIS API included; `UploadFormat` is what a
# person may upload.
Format = Literal[registered_formats()]  # type: ignore[valid-type]
UploadFormat = Literal[FORMATS]  # type: ignore[valid-type]
Report = Literal[
    "students", "students_future", "staff", "staff_future", "contacts", "groups", "attendance"
]
RoleName = Literal["pupil", "staff", "contact"]
AllocationStatusName = Literal["active", "future", "unallocated"]
RunStatusName = Literal["preview", "held", "applied", "failed", "rejected", "superseded"]
TaskStatusName = Literal["queued", "running", "succeeded", "failed"]


class FieldError(Schema):
    field: str | None = Field(description="The request field at fault, if one is")
    message: str


class ErrorOut(Schema):
    detail: str = Field(description="What went wrong, in words; names the field when one is")
    errors: list[FieldError] = Field(default_factory=list)


class Page(Schema):
    count: int = Field(description="How many items there are in all")
    limit: int
    offset: int


# --- schools ---------------------------------------------------------------------------


class SchoolOut(Schema):
    urn: str
    name: str
    la_code: str
    la_name: str
    dfe_number: str
    phase: str
    status: str
    mis: str
    accepted_reports: list[str]
    guard_unallocate_pct: float
    leaver_grace_days: int


# --- runs ------------------------------------------------------------------------------


class Counts(Schema):
    created: int
    updated: int
    unchanged: int
    moved_in: int
    unallocated: int
    restored: int
    needs_matching: int
    excluded: int
    deferred: int
    rejected: int
    # What the run changed besides people (Groups & Classes, Contacts, Attendance).
    groups_added_or_changed: int = 0
    groups_ended: int = 0
    memberships_added: int = 0
    memberships_ended: int = 0
    contact_links_added_or_changed: int = 0
    contact_links_ended: int = 0
    attendance_marks: int = 0


class RowErrorOut(Schema):
    row: int | None = Field(description="Data row (1-based) or line; null for the whole file")
    field: str | None
    message: str
    source: str | None = Field(None, description="The file inside a bundle")


class HoldOut(Schema):
    code: str = Field(
        description="unallocate_share | rekey_share | empty_export | group_removal_share | membership_removal_share | contact_link_removal_share | errors_and_leavers | waits_for_run (the run waits for another held run: approve or reject that one)"
    )
    message: str
    acknowledged_by: str | None = Field(None, description="Who approved the run despite it")


class RunStatusFields(Schema):
    status_detail: str = Field(
        description='The status as people read it: "Applied", "Applied with 3 rejected rows", '
        '"Held", "Waiting for run 12", "Failed", "Rejected", "Superseded", "Preview"'
    )
    clean: bool = Field(
        description="An applied run with no rejected row (a partial run is never clean)"
    )
    rejected_rows: int = Field(description="Rows of the upload the run could not use")
    waits_for: int | None = Field(
        None,
        description="A held run that waits for the school's held people run: that run's id "
        "(it is planned again by itself when that run is approved or rejected)",
    )


class RunOut(RunStatusFields):
    id: int
    school: str = Field(description="URN")
    upload: int
    report: str | None
    format: Format
    status: RunStatusName
    dry_run: bool
    as_of: date
    counts: Counts
    errors: list[RowErrorOut]
    holds: list[HoldOut]
    seconds: float
    created_at: datetime
    applied_at: datetime | None
    approved_by: str | None


class KeptNonMisOut(Schema):
    username: str
    kept_by: str = Field(description="Who kept the account as non-MIS at the school")
    kept_at: datetime


class RunDetailOut(RunOut):
    actions: list[dict[str, Any]] = Field(
        description="The plan: one entry per person (kind, role, mis_id, reason, ...)"
    )
    kept_non_mis: list[KeptNonMisOut] = Field(
        description="Accounts a person kept as non-MIS at the school that the run's export "
        "does not list: the run left them alone because of that decision"
    )


class RunPage(Page):
    items: list[RunOut]


class RunRef(RunStatusFields):
    id: int
    status: RunStatusName
    dry_run: bool
    created_at: datetime


class ResultOut(Schema):
    report: str | None = Field(description="Report code; null for a bundle of several")
    label: str
    format: Format
    run: RunOut


# --- uploads and tasks -----------------------------------------------------------------


class UploadOut(Schema):
    id: int
    school: str = Field(description="URN")
    source: str
    format: Format
    report: str | None
    filename: str
    asked: str = Field(description="A pull from an MIS: what it asked for")
    size: int
    sha256: str
    received_at: datetime
    outcome: str = Field(description="received, or the status of its latest run")
    status_detail: str = Field(
        description="Its latest run's status as people read it (see RunOut), or its outcome"
    )
    rejected_rows: int = Field(description="Rows its latest run could not use")
    runs: list[RunRef]


class UploadPage(Page):
    items: list[UploadOut]


class TaskOut(Schema):
    id: str
    kind: Literal["sync", "approve", "pull"]
    status: TaskStatusName
    url: str = Field(description="Where to follow the task")
    upload: int | None
    school: str | None
    dry_run: bool
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    run: RunOut | None = Field(description="The run, once the task has succeeded")
    error: str | None = Field(description="Why the task itself failed")


class QueuedOut(Schema):
    task: TaskOut
    upload: UploadOut


class ForceRunIn(Schema):
    report: Report | None = Field(
        None, description="Run the latest upload of this report again (any report when absent)"
    )
    dry_run: bool = False
    as_of: date | None = None


class ForceRunOut(Schema):
    task: TaskOut


# --- MIS connections -------------------------------------------------------------------


class PullIn(Schema):
    reports: list[Report] = Field(
        default_factory=list, description="Pull only these reports (every accepted one when empty)"
    )
    dry_run: bool = False


class LastPullOut(Schema):
    at: datetime
    outcome: str = Field(
        description="applied, held, failed or preview; a push (Bromcom): received or replayed"
    )


class AgentLightOut(Schema):
    light: Literal["green", "yellow", "red", "grey"]
    message: str


class AgentUploadOut(Schema):
    upload: int
    report: str
    received_at: datetime
    outcome: str


class AgentOut(Schema):
    licence_hint: str | None = Field(
        description="The licence key's last 4 characters (the key is shown once, when issued)"
    )
    licence_issued_at: datetime | None
    last_contact: datetime | None = Field(description="The agent's last request with the key")
    version: str | None
    hostname: str | None
    platform: str | None
    python: str | None
    lights: dict[str, AgentLightOut] = Field(
        description="configuration, extract, filter, upload: as the agent last reported them"
    )
    last_run: dict[str, str | None] | None
    queued: int | None
    reported_at: datetime | None
    last_upload: AgentUploadOut | None


class ConnectionOut(Schema):
    school: str = Field(description="URN")
    mis: str | None
    connector: str | None = Field(
        description="isams, arbor, wonde, bromcom (pushes), sims (the rollsync agent "
        "uploads); null when not set up"
    )
    state: Literal[
        "not set up",
        "awaiting approval",
        "connected",
        "failing",
        "push overdue",
        "awaiting agent",
        "agent silent",
    ]
    light: Literal["green", "yellow", "red"]
    status: str = Field(description="The state in a sentence")
    last_pull: LastPullOut | None
    next_pull: datetime | None
    schedule: str | None = Field(description="Cron fields in the LA's time")
    last_error: str | None
    settings: dict[str, str] = Field(description="The non-secret settings (URL, client ID, ...)")
    secrets_set: list[str] = Field(description="Which secrets are stored (never their values)")
    push: bool = Field(
        False,
        description="The MIS pushes to rollsync (Bromcom, docs/push-api.md): last_pull is its "
        "last push; the light turns yellow after two school days without one, then red",
    )
    agent: AgentOut | None = Field(
        None,
        description="SIMS: the rollsync agent on the school's server (docs/agent.md); its "
        "light is red after two school days without contact",
    )


# --- match cases -----------------------------------------------------------------------


class CandidateOut(Schema):
    account_id: int
    username: str | None
    score: float
    explanation: str


class MatchCaseOut(Schema):
    id: int
    school: str
    run: int
    role: RoleName
    mis_id: str
    record: dict[str, Any] = Field(description="The incoming record as the run saw it")
    reason: str
    candidates: list[CandidateOut]
    status: Literal["open", "linked", "created", "excluded"]
    created_at: datetime
    resolved_account: str | None = Field(description="Username linked or created")
    resolved_at: datetime | None
    resolved_by: str | None


class ResolveIn(Schema):
    decision: Literal["link", "create", "exclude"]
    account_id: int | None = Field(
        None, description="With decision=link: the account (a candidate's account_id)"
    )


class CrossSchoolCaseOut(Schema):
    """Identity changes one school's MIS asks for on an account active at another
    school: nothing changes until the school that holds the account agrees."""

    id: int
    school: str = Field(description="URN of the school whose MIS asks for the change")
    holding_school: str = Field(description="URN of the school that must agree")
    account: str = Field(description="Username")
    role: RoleName
    mis_id: str
    changes: dict[str, list[Any]] = Field(description="field -> [stored value, asked value]")
    reason: str
    status: Literal["open", "agreed", "declined"]
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None


class CrossSchoolDecideIn(Schema):
    decision: Literal["agree", "decline"]


# --- accounts --------------------------------------------------------------------------


class AccountOut(Schema):
    """One account as placed at the school (an allocation)."""

    username: str
    id: str = Field(description="The account's stable UUID")
    account_id: int
    role: RoleName
    status: AllocationStatusName = Field(description="The allocation's status at this school")
    account_status: Literal["active", "suspended"]
    legal_given_name: str
    legal_family_name: str
    preferred_given_name: str | None
    preferred_family_name: str | None
    date_of_birth: date | None
    mis_id: str
    upn: str | None
    year_group: str | None
    registration_group: str | None
    start_date: date | None
    leaving_date: date | None
    last_move_or_create: str | None


class AccountPage(Page):
    items: list[AccountOut]


class AllocationOut(Schema):
    school: str = Field(description="URN")
    school_name: str
    role: RoleName
    status: AllocationStatusName
    mis_id: str
    upn: str | None
    start_date: date | None
    leaving_date: date | None
    year_group: str | None
    registration_group: str | None
    requested_single: bool
    leaver_pending_since: date | None
    unallocated_at: datetime | None
    last_move_or_create_at: datetime | None
    last_move_or_create: str | None


class AuditOut(Schema):
    at: datetime
    action: str
    reason: str
    actor: str
    school: str | None
    run: int | None
    changes: dict[str, Any] = Field(
        description="field -> [old, new] for a change, or a value the event names"
    )
    changes_text: list[str] = Field(
        description='The changes as people read them, with real values ("MIS ID: 2093 → 3107")'
    )


class AccountDetailOut(Schema):
    username: str
    id: str
    account_id: int
    role: RoleName
    status: Literal["active", "suspended"]
    legal_given_name: str
    legal_family_name: str
    preferred_given_name: str | None
    preferred_family_name: str | None
    middle_names: str | None
    date_of_birth: date | None
    gender: str | None
    upn: str | None
    allocations: list[AllocationOut] = Field(description="Its places at schools the token sees")
    audit: list[AuditOut] = Field(description="Its history at those schools, newest first")


# --- exclusions ------------------------------------------------------------------------


class ExclusionIn(Schema):
    mis_id: str | None = Field(None, max_length=64)
    given_name: str | None = Field(None, max_length=100)
    family_name: str | None = Field(None, max_length=100)
    date_of_birth: date | None = None
    role: RoleName | None = None
    note: str = Field("", max_length=300)


class ExclusionOut(Schema):
    id: int
    role: RoleName | None
    mis_id: str | None
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    note: str
    created_at: datetime
    created_by: str
