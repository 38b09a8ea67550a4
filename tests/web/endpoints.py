"""Every page and action of the web app, with what it needs, for the matrix tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from rollsync.access.roles import Action
from tests.access.helpers import SchoolData, csv_bytes, pupil


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str  # "get" | "post"
    action: Action
    url: Callable[[SchoolData], str]
    data: Callable[[SchoolData], dict[str, Any]] = field(default=lambda d: {})

    @property
    def addresses_object(self) -> bool:
        """Names an object of the school in its URL (a case, a run, an account...)."""
        return self.name in OBJECT_ENDPOINTS


def _u(name: str, **extra: Callable[[SchoolData], Any]) -> Callable[[SchoolData], str]:
    def build(d: SchoolData) -> str:
        return reverse(
            f"web:{name}", kwargs={"urn": d.school.urn, **{k: f(d) for k, f in extra.items()}}
        )

    return build


def _upload_data(d: SchoolData) -> dict[str, Any]:
    payload = csv_bytes("students", [pupil("N1", "New", "Pupil", "2016-03-03")])
    return {"file": SimpleUploadedFile("new.csv", payload), "fmt": "csv", "report": "students"}


OBJECT_ENDPOINTS = frozenset(
    {
        "task_progress",
        "run_detail",
        "account",
        "case_link",
        "case_create",
        "restore",
        "exclusion_remove",
        "run_approve",
        "run_reject",
        "non_mis_keep",
        "non_mis_unallocate",
    }
)

ENDPOINTS: list[Endpoint] = [
    # reading
    Endpoint("school", "get", Action.VIEW, _u("school")),
    Endpoint("settings", "get", Action.VIEW, _u("settings")),
    Endpoint("upload_history", "get", Action.VIEW, _u("upload_history")),
    Endpoint("task_progress", "get", Action.VIEW, _u("task_progress", task_id=lambda d: d.task_id)),
    Endpoint("bulk_results", "get", Action.VIEW, _u("bulk_results")),
    Endpoint("unmatched", "get", Action.VIEW, _u("unmatched")),
    Endpoint("unallocated", "get", Action.VIEW, _u("unallocated")),
    Endpoint("exclusions", "get", Action.VIEW, _u("exclusions")),
    Endpoint("runs", "get", Action.VIEW, _u("runs")),
    Endpoint("run_detail", "get", Action.VIEW, _u("run_detail", run_id=lambda d: d.held.pk)),
    Endpoint("users", "get", Action.VIEW, _u("users")),
    Endpoint("account", "get", Action.VIEW, _u("account", uid=lambda d: d.account.uid)),
    Endpoint("non_mis", "get", Action.VIEW, _u("non_mis")),
    Endpoint("request_single_form", "get", Action.VIEW, _u("request_single")),
    # changing
    Endpoint("mis_change", "post", Action.CONFIGURE, _u("mis_change"), lambda d: {"mis": "Arbor"}),
    Endpoint(
        "report_set",
        "post",
        Action.REPORTS,
        _u("report_set", report=lambda d: "attendance"),
        lambda d: {"accepted": "1"},
    ),
    Endpoint(
        "field_set",
        "post",
        Action.REPORTS,
        _u("field_set", report=lambda d: "students", field=lambda d: "email"),
        lambda d: {"uploaded": "0"},
    ),
    Endpoint(
        "policy_set",
        "post",
        Action.CONFIGURE,
        _u("policy_set"),
        lambda d: {"guard_unallocate_pct": "25", "leaver_grace_days": "5"},
    ),
    Endpoint("upload_file", "post", Action.OPERATE, _u("upload_file"), _upload_data),
    Endpoint(
        "force_run", "post", Action.FORCE_RUN, _u("force_run"), lambda d: {"feed": "students:csv"}
    ),
    Endpoint(
        "case_link",
        "post",
        Action.OPERATE,
        _u("case_decide", case_id=lambda d: d.case.pk),
        lambda d: {"decision": "link", "account": d.case.candidates[0]["account_id"]},
    ),
    Endpoint(
        "case_create",
        "post",
        Action.OPERATE,
        _u("case_decide", case_id=lambda d: d.case.pk),
        lambda d: {"decision": "create"},
    ),
    Endpoint(
        "restore",
        "post",
        Action.OPERATE,
        _u("restore", allocation_id=lambda d: d.unallocated.pk),
        lambda d: {"decision": "restore_anyway"},  # the export lacks them: decided
    ),
    Endpoint(
        "exclusion_add",
        "post",
        Action.OPERATE,
        _u("exclusion_add"),
        lambda d: {"given_name": "Not", "family_name": "Wanted"},
    ),
    Endpoint(
        "exclusion_remove",
        "post",
        Action.OPERATE,
        _u("exclusion_remove", exclusion_id=lambda d: d.exclusion.pk),
    ),
    Endpoint("run_approve", "post", Action.OPERATE, _u("run_approve", run_id=lambda d: d.held.pk)),
    Endpoint("run_reject", "post", Action.OPERATE, _u("run_reject", run_id=lambda d: d.held.pk)),
    Endpoint(
        "non_mis_keep",
        "post",
        Action.OPERATE,
        _u("non_mis_decide", allocation_id=lambda d: d.non_mis.pk),
        lambda d: {"decision": "keep"},
    ),
    Endpoint(
        "non_mis_unallocate",
        "post",
        Action.OPERATE,
        _u("non_mis_decide", allocation_id=lambda d: d.non_mis.pk),
        lambda d: {"decision": "unallocate"},
    ),
    # the MIS connection (tests/web/test_tenancy.py gives every school one first; connecting
    # and Arbor's approval talk to a simulator: tests/web/test_connections.py)
    Endpoint("connection_disconnect_ask", "get", Action.CONFIGURE, _u("connection_disconnect")),
    Endpoint(
        "connection_schedule",
        "post",
        Action.CONFIGURE,
        _u("connection_schedule"),
        lambda d: {"schedule": "30 18 * * 1-5"},
    ),
    Endpoint("connection_pull", "post", Action.FORCE_RUN, _u("connection_pull"), lambda d: {}),
    Endpoint("connection_disconnect", "post", Action.CONFIGURE, _u("connection_disconnect")),
    Endpoint(
        "request_single",
        "post",
        Action.OPERATE,
        _u("request_single"),
        lambda d: {
            "role": "pupil",
            "legal_given_name": "Ahead",
            "legal_family_name": "Ofmis",
            "date_of_birth": "2016-04-04",
        },
    ),
]
