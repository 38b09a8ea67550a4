"""What each page shows and what each action does, as a school admin (or the role named)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from rollsync.access.services import user_grant
from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from rollsync.web import selectors
from tests.access.helpers import PASSWORD, World, csv_bytes, everything, make_user, pupil
from tests.web.conftest import run_worker


@pytest.fixture
def admin(world: World, client: Client) -> Client:
    client.force_login(make_user("school_admin", world))
    return client


def url(name: str, world: World, **kwargs: Any) -> str:
    return reverse(f"web:{name}", kwargs={"urn": world.home.school.urn, **kwargs})


def text(response: Any) -> str:
    return response.content.decode()


def messages_of(response: Any) -> list[str]:
    return [str(msg) for msg in response.context["messages"]] if response.context else []


# --- AutoUpdate Settings ------------------------------------------------------------------


def test_settings_show_reports_and_field_states(world: World, admin: Client) -> None:
    m.FieldOptOut.objects.create(school=world.home.school, report="students", field="email")
    page = admin.get(url("settings", world))
    assert page.status_code == 200
    rows = {r.spec.code: r for r in page.context["reports"]}
    assert {c for c, r in rows.items() if r.accepted} == {"students", "staff", "contacts", "groups"}
    states = {f.name: f.state for f in rows["students"].fields}
    assert states["mis_id"] == "Mandatory"
    assert states["email"] == "Not uploaded"
    assert states["upn"] == "Uploaded"
    body = text(page)
    for words in ("MIS in use", "Change MIS", "Upload History", "Force run", "Upload a file"):
        assert words in body


def test_accept_and_remove_a_report(world: World, admin: Client) -> None:
    school = world.home.school
    response = admin.post(url("report_set", world, report="attendance"), {"accepted": "1"})
    assert response.status_code == 302
    assert school.accepted_reports.filter(report="attendance").exists()
    admin.post(url("report_set", world, report="groups"), {"accepted": "0"})
    assert set(school.accepted_reports.values_list("report", flat=True)) == {
        "students",
        "staff",
        "contacts",
        "attendance",
    }
    assert list(
        m.AuditEvent.objects.filter(action__startswith="report_").values_list("action", "actor")
    ) == [("report_accepted", "school_admin"), ("report_removed", "school_admin")]


def test_unknown_report_is_not_found(world: World, admin: Client) -> None:
    before = everything()
    assert (
        admin.post(url("report_set", world, report="payroll"), {"accepted": "1"}).status_code == 404
    )
    assert everything() == before


def test_opt_out_and_back_in_but_never_of_a_mandatory_field(world: World, admin: Client) -> None:
    school = world.home.school
    target = url("field_set", world, report="students", field="email")
    out = admin.post(target, {"uploaded": "0"}, follow=True)
    assert messages_of(out) == ["Email of Students (current) is not uploaded."]
    assert list(school.opt_outs.values_list("report", "field")) == [("students", "email")]
    back = admin.post(target, {"uploaded": "1"}, follow=True)
    assert messages_of(back) == ["Email of Students (current) is uploaded."]
    assert not school.opt_outs.exists()
    before = everything()
    response = admin.post(
        url("field_set", world, report="students", field="date_of_birth"),
        {"uploaded": "0"},
        follow=True,
    )
    assert messages_of(response) == [
        "Date of birth (date_of_birth) is mandatory in Students (current): it cannot be opted out of"
    ]
    assert everything() == before


def test_guard_and_grace_period(world: World, admin: Client) -> None:
    saved = admin.post(
        url("policy_set", world),
        {"guard_unallocate_pct": "25", "leaver_grace_days": "30"},
        follow=True,
    )
    assert messages_of(saved) == ["Saved."]
    school = m.School.objects.get(pk=world.home.school.pk)
    assert (school.guard_unallocate_pct, school.leaver_grace_days) == (25.0, 30)
    before = everything()
    response = admin.post(
        url("policy_set", world),
        {"guard_unallocate_pct": "150", "leaver_grace_days": "3"},
        follow=True,
    )
    assert messages_of(response) == ["Ensure this value is less than or equal to 100."]
    assert everything() == before


def test_change_mis(world: World, admin: Client) -> None:
    admin.post(url("mis_change", world), {"mis": "Arbor"})
    assert m.School.objects.get(pk=world.home.school.pk).mis == "Arbor"
    event = m.AuditEvent.objects.get(action="school_mis_changed")
    assert (event.reason, event.changes) == (
        "MIS changed from none to Arbor by school_admin",
        {"mis": ["", "Arbor"]},
    )
    before = everything()
    admin.post(url("mis_change", world), {"mis": "Not A Real MIS"})
    assert everything() == before


def test_pupil_asset_settings_leave_reports_to_the_headteacher(
    world: World, client: Client
) -> None:
    m.School.objects.filter(pk=world.home.school.pk).update(mis="Pupil Asset")
    client.force_login(make_user("school_admin", world))
    page = text(client.get(url("settings", world)))
    assert "for Pupil Asset only the headteacher may" in page
    assert "Accept<span" not in page
    before = everything()
    assert (
        client.post(url("report_set", world, report="students"), {"accepted": "0"}).status_code
        == 403
    )
    assert everything() == before
    client.force_login(make_user("headteacher", world))
    assert (
        client.post(url("report_set", world, report="students"), {"accepted": "0"}).status_code
        == 302
    )
    assert not world.home.school.accepted_reports.filter(report="students").exists()


# --- uploads, Force run, progress ---------------------------------------------------------------


def _task_of(location: str, world: World) -> str:
    prefix = url("bulk_results", world).replace("results/", "tasks/")
    assert location.startswith(prefix), location
    return location[len(prefix) :].rstrip("/")


def test_upload_is_queued_then_processed_and_shown(world: World, admin: Client) -> None:
    payload = csv_bytes("students", [pupil("N1", "Nadia", "Newcomer", "2016-03-03")])
    response = admin.post(
        url("upload_file", world),
        {"file": SimpleUploadedFile("starters.csv", payload), "fmt": "csv", "report": "students"},
    )
    assert response.status_code == 302
    upload = m.Upload.objects.latest("pk")
    task_id = _task_of(response["Location"], world)
    assert response["Location"] == url("task_progress", world, task_id=task_id)
    assert (upload.source, upload.filename, upload.size, upload.outcome) == (
        "web",
        "starters.csv",
        len(payload),
        "queued",
    )
    waiting = admin.get(response["Location"])
    assert waiting.context["progress"].state == "queued"
    assert waiting.context["progress"].upload == upload
    assert '<meta http-equiv="refresh" content="3">' in text(waiting)
    assert 'hx-trigger="every 2s"' in text(waiting)
    assert waiting["Vary"] == "HX-Request, Cookie"

    run_worker()

    done = admin.get(response["Location"])
    run = m.SyncRun.objects.get(upload=upload)
    assert done.context["progress"].state == "done"
    assert done.context["progress"].run == run
    assert "http-equiv" not in text(done)
    assert "hx-trigger" not in text(done)
    assert m.Upload.objects.get(pk=upload.pk).outcome == run.status
    history = admin.get(url("upload_history", world))
    first = history.context["page"].object_list[0]
    assert (first.pk, first.run_id, first.sha256) == (upload.pk, run.pk, upload.sha256)
    assert upload.sha256[:12] in text(history)


def test_progress_fragment_for_htmx(world: World, admin: Client) -> None:
    target = url("task_progress", world, task_id=world.home.task_id)
    fragment = admin.get(target, headers={"HX-Request": "true"})
    body = text(fragment)
    assert body.lstrip().startswith('<div id="progress"')
    assert "<html" not in body
    assert fragment.context["progress"].state == "done"
    assert fragment.context["progress"].run == world.home.held


def test_another_schools_task_is_not_found_here(world: World, admin: Client) -> None:
    assert admin.get(url("task_progress", world, task_id=world.foreign.task_id)).status_code == 404
    assert admin.get(url("task_progress", world, task_id="not-a-task")).status_code == 404


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"fmt": "csv", "report": ""}, "This format holds one report per file: choose which."),
        (
            {"fmt": "xls", "report": ""},
            "Select a valid choice. xls is not one of the available choices.",
        ),
    ],
)
def test_a_bad_upload_is_refused_and_nothing_stored(
    world: World, admin: Client, data: dict[str, str], error: str
) -> None:
    before = everything()
    response = admin.post(
        url("upload_file", world), {"file": SimpleUploadedFile("x.csv", b"a,b\n1,2\n"), **data}
    )
    assert response.status_code == 400
    assert error in text(response)
    assert everything() == before


def test_an_empty_file_is_refused(world: World, admin: Client) -> None:
    before = everything()
    response = admin.post(
        url("upload_file", world),
        {"file": SimpleUploadedFile("x.csv", b""), "fmt": "csv", "report": "students"},
    )
    assert response.status_code == 400
    assert everything() == before


def test_force_run_reprocesses_the_latest_upload_of_the_report(world: World, admin: Client) -> None:
    latest = world.home.upload  # the held run's upload is the latest students CSV
    response = admin.post(url("force_run", world), {"feed": "students:csv"})
    assert response.status_code == 302
    task_id = _task_of(response["Location"], world)
    assert admin.get(response["Location"]).context["progress"].upload == latest
    assert m.AuditEvent.objects.filter(action="force_run_queued", actor="school_admin").count() == 1
    run_worker()
    new = m.SyncRun.objects.filter(upload=latest).exclude(pk=world.home.held.pk).get()
    assert new.status == "held"  # the same half-empty export: the guard holds it again
    assert admin.get(url("task_progress", world, task_id=task_id)).context["progress"].run == new


def test_force_run_of_a_report_never_uploaded_is_refused_with_why(
    world: World, admin: Client
) -> None:
    before = everything()
    response = admin.post(url("force_run", world), {"feed": "attendance:csv"}, follow=True)
    assert response.redirect_chain == [(url("settings", world), 302)]
    assert [str(x) for x in response.context["messages"]] == [
        "100001 Hillside Primary has no Attendance upload to run again"
    ]
    assert everything() == before


def test_force_run_is_not_offered_where_the_source_does_not_allow_it(
    world: World, admin: Client
) -> None:
    m.School.objects.filter(pk=world.home.school.pk).update(mis="SIMS")
    assert "Force run<span" not in text(admin.get(url("settings", world)))
    before = everything()
    assert admin.post(url("force_run", world), {"feed": "students:csv"}).status_code == 403
    assert everything() == before


# --- Whole School Bulk Results ----------------------------------------------------------------


def test_bulk_results_summary(world: World, admin: Client) -> None:
    page = admin.get(url("bulk_results", world))
    assert [f.label for f in page.context["feeds"]] == ["Students (current)"]
    assert page.context["feeds"][0].run == world.home.held
    assert page.context["counts"] == {
        "unmatched": {"pupil": 1, "staff": 0, "contact": 0},
        "unallocated": {"pupil": 1, "staff": 0, "contact": 0},
        "exclusions": 1,
        "held": 1,
    }
    body = text(page)
    assert "List pupils that have not been matched" in body
    assert "List pupils who were unallocated" in body
    assert "MIS names that should not be in USO" in body
    assert "would unallocate 5 of the 9 active pupil accounts" in body


def test_unmatched_shows_ranked_candidates_and_why(world: World, admin: Client) -> None:
    page = admin.get(url("unmatched", world) + "?role=pupil")
    [item] = page.context["cases"]
    assert item.name == "Jonathon HKhan"
    [candidate] = item.candidates
    assert (candidate["username"], candidate["name"], candidate["schools"]) == (
        "jhkhan.202",
        "Jonathan HKhan",
        "Riverside Academy",
    )
    assert escape(world.home.case.candidates[0]["explanation"]) in text(page)
    assert "Match to jhkhan.202" in text(page)


def test_match_to_the_candidate(world: World, admin: Client) -> None:
    case = world.home.case
    account_id = case.candidates[0]["account_id"]
    response = admin.post(
        url("case_decide", world, case_id=case.pk),
        {"decision": "link", "account": str(account_id)},
        follow=True,
    )
    assert messages_of(response) == ["Jonathon HKhan matched to jhkhan.202."]
    case.refresh_from_db()
    assert (case.status, case.resolved_account_id, case.resolved_by) == (
        "linked",
        account_id,
        "school_admin",
    )
    assert m.Allocation.objects.get(school=world.home.school, mis_id="P99").account_id == account_id


def test_create_new_and_never_create(world: World, admin: Client) -> None:
    case = world.home.case
    admin.post(url("case_decide", world, case_id=case.pk), {"decision": "create"})
    case.refresh_from_db()
    assert case.status == "created"
    assert case.resolved_account.username.endswith(".202")
    assert case.resolved_account.username != "jhkhan.202"  # a new account, not the candidate
    # Never create: a second case at the foreign school is not reachable, so open one here.
    other = m.MatchCase.objects.create(
        school=world.home.school,
        run=world.home.held,
        role="pupil",
        mis_id="P77",
        record={
            "role": "pupil",
            "mis_id": "P77",
            "legal_given_name": "Zed",
            "legal_family_name": "Zee",
        },
    )
    admin.post(url("case_decide", world, case_id=other.pk), {"decision": "exclude"})
    other.refresh_from_db()
    assert other.status == "excluded"
    assert m.Exclusion.objects.filter(school=world.home.school, mis_id="P77").exists()


def test_linking_to_an_account_that_is_not_a_candidate_is_refused(
    world: World, admin: Client
) -> None:
    before = everything()
    response = admin.post(
        url("case_decide", world, case_id=world.home.case.pk),
        {"decision": "link", "account": str(world.foreign.account.pk)},
        follow=True,
    )
    assert messages_of(response) == [
        f"Account {world.foreign.account.pk} is not one of the accounts offered for match case"
        f" {world.home.case.pk}: link only to a candidate shown with the case, or create a new"
        " account"
    ]
    assert everything() == before


def test_a_decided_case_cannot_be_decided_again(world: World, admin: Client) -> None:
    target = url("case_decide", world, case_id=world.home.case.pk)
    admin.post(target, {"decision": "create"}, follow=True)
    before = everything()
    response = admin.post(target, {"decision": "create"}, follow=True)
    assert messages_of(response) == [
        f"Match case {world.home.case.pk} was already resolved (created)"
    ]
    assert everything() == before


def test_restore_an_unallocated_pupil(world: World, admin: Client) -> None:
    allocation = world.home.unallocated
    page = admin.get(url("unallocated", world) + "?role=pupil")
    assert [a.pk for a in page.context["page"].object_list] == [allocation.pk]
    assert "Not in the latest export (run " in text(page)
    # The export lacks them: the first press asks (nothing changes), the second decides.
    before = everything()
    ask = admin.post(url("restore", world, allocation_id=allocation.pk))
    assert ask.status_code == 200
    assert f"{allocation.account.username} (MIS ID P9) is not in the latest export" in text(ask)
    assert "Keep as non-MIS at Hillside Primary" in text(ask)
    assert everything() == before
    response = admin.post(
        url("restore", world, allocation_id=allocation.pk),
        {"decision": "restore_anyway"},
        follow=True,
    )
    allocation.refresh_from_db()
    assert allocation.status == "active"
    assert allocation.account.status == "active"
    assert allocation.mis_id == "P9"
    assert messages_of(response) == [
        f"{allocation.account.username} is restored at Hillside Primary."
    ]
    before = everything()
    again = admin.post(url("restore", world, allocation_id=allocation.pk), follow=True)
    assert messages_of(again) == [
        f"{allocation.account.username} is active at 100001, not unallocated: nothing to restore"
    ]
    assert everything() == before


def test_exclusion_list_add_and_remove(world: World, admin: Client) -> None:
    admin.post(
        url("exclusion_add", world),
        {"mis_id": "X9", "role": "staff", "note": "agency cover"},
    )
    added = m.Exclusion.objects.get(mis_id="X9")
    assert (added.role, added.note, added.created_by) == ("staff", "agency cover", "school_admin")
    admin.post(url("exclusion_remove", world, exclusion_id=added.pk))
    assert not m.Exclusion.objects.filter(pk=added.pk).exists()
    before = everything()
    response = admin.post(url("exclusion_add", world), {"given_name": "Only"})
    assert response.status_code == 400
    assert "Give an MIS ID, or a forename and a surname." in text(response)
    assert everything() == before


def test_held_run_shows_its_plan_and_is_approved(world: World, admin: Client) -> None:
    run = world.home.held
    page = admin.get(url("run_detail", world, run_id=run.pk))
    plan = {g.kind: g for g in page.context["plan"]}
    assert {kind: g.total for kind, g in plan.items()} == {"unallocate": 5, "needs_matching": 1}
    assert [a["name"] for a in plan["unallocate"].actions] == [
        f"Pupil{i} HFamily{i}" for i in range(4, 9)
    ]
    assert "Would be unallocated (5)" in text(page)
    assert "Approve run" in text(page)
    response = admin.post(url("run_approve", world, run_id=run.pk))
    task_id = _task_of(response["Location"], world)
    queued = admin.get(response["Location"]).context["progress"]
    assert (queued.kind, queued.state, queued.run) == ("approve", "queued", run)
    assert m.SyncRun.objects.get(pk=run.pk).status == "held"
    run_worker()
    run.refresh_from_db()
    assert (run.status, run.approved_by) == ("applied", "school_admin")
    done = admin.get(url("task_progress", world, task_id=task_id)).context["progress"]
    assert (done.state, done.run) == ("done", run)
    assert m.Allocation.objects.filter(school=world.home.school, status="unallocated").count() == 6


def test_held_run_rejected_applies_nothing(world: World, admin: Client) -> None:
    run = world.home.held
    allocations = list(m.Allocation.objects.order_by("pk").values())
    rejected = admin.post(url("run_reject", world, run_id=run.pk), follow=True)
    assert messages_of(rejected) == [f"Run {run.pk} rejected: nothing from it was applied."]
    run.refresh_from_db()
    assert (run.status, run.approved_by) == ("rejected", "school_admin")
    assert list(m.Allocation.objects.order_by("pk").values()) == allocations
    before = everything()
    again = admin.post(url("run_approve", world, run_id=run.pk), follow=True)
    assert messages_of(again) == [
        f"run {run.pk} is rejected, not held: only a held run can be approved"
    ]
    assert everything() == before


# --- users -----------------------------------------------------------------------------------


def _names(page: Any) -> list[str]:
    return [a.mis_id for a in page.context["page"].object_list]


def test_user_list_filters(world: World, admin: Client) -> None:
    base = url("users", world)
    everyone = admin.get(base)
    assert (
        everyone.context["page"].paginator.count == 11
    )  # ten pupils and the request single (P99 waits to be matched)
    assert _names(admin.get(base + "?status=unallocated")) == ["P9"]
    assert _names(admin.get(base + "?registration_group=3B&status=active")) == [
        "P1",
        "P3",
        "P5",
        "P7",
    ]
    assert _names(admin.get(base + "?q=HFamily4")) == ["P4"]
    assert _names(admin.get(base + "?q=P6")) == ["P6"]
    assert admin.get(base + "?role=staff").context["page"].paginator.count == 0
    assert admin.get(base + "?year_group=3").context["page"].paginator.count == 10


def test_user_list_latest_move_or_create(world: World, admin: Client) -> None:
    old = datetime(2026, 1, 1, tzinfo=UTC)
    m.Allocation.objects.filter(school=world.home.school).update(last_move_or_create_at=old)
    m.Allocation.objects.filter(school=world.home.school, mis_id="P3").update(
        last_move_or_create_at=datetime.now(UTC) - timedelta(days=2),
        last_move_or_create_kind="moved",
    )
    page = admin.get(url("users", world) + "?latest=7")
    assert _names(page) == ["P3"]
    assert "Moved" in text(page)


def test_account_page_shows_places_and_history(world: World, admin: Client) -> None:
    account = world.home.unallocated.account
    page = admin.get(url("account", world, uid=account.uid))
    info = page.context["info"]
    assert [(a.school.urn, a.status) for a in info.allocations] == [("100001", "unallocated")]
    assert info.hidden_places == 0
    assert [e.action for e in info.audit] == ["account_unallocated", "account_created"]
    assert all(e.run is not None for e in info.audit)
    assert f'href="{url("run_detail", world, run_id=info.audit[0].run_id)}"' in text(page)


def test_account_page_hides_places_at_schools_the_user_cannot_see(
    world: World, client: Client
) -> None:
    # The candidate account lives at the sibling school; linking gives it a place here too.
    case = world.home.case
    user_grant(username="sib", password=PASSWORD, role="school_admin", school=world.sibling)
    client.force_login(make_user("school_admin", world))
    client.post(
        url("case_decide", world, case_id=case.pk),
        {"decision": "link", "account": str(case.candidates[0]["account_id"])},
    )
    account = m.Account.objects.get(pk=case.candidates[0]["account_id"])
    info = client.get(url("account", world, uid=account.uid)).context["info"]
    assert [a.school.urn for a in info.allocations] == ["100001"]
    assert info.hidden_places == 1
    assert {e.school_id for e in info.audit} == {world.home.school.pk}
    page = client.get(url("account", world, uid=account.uid)).content.decode()
    assert "And 1 place at schools your role does not cover." in page


def test_an_account_of_another_school_is_not_found_here(world: World, admin: Client) -> None:
    assert admin.get(url("account", world, uid=world.foreign.account.uid)).status_code == 404
    missing = "00000000-0000-0000-0000-000000000000"
    assert admin.get(url("account", world, uid=missing)).status_code == 404


def test_review_non_mis_accounts_keep_and_unallocate(world: World, admin: Client) -> None:
    allocation = world.home.non_mis
    page = admin.get(url("non_mis", world))
    assert [(a.pk, kept) for a, kept in page.context["rows"]] == [(allocation.pk, None)]
    admin.post(url("non_mis_decide", world, allocation_id=allocation.pk), {"decision": "keep"})
    [(row, kept)] = admin.get(url("non_mis", world)).context["rows"]
    assert (row.pk, kept.actor) == (allocation.pk, "school_admin")
    admin.post(
        url("non_mis_decide", world, allocation_id=allocation.pk), {"decision": "unallocate"}
    )
    allocation.refresh_from_db()
    assert allocation.status == "unallocated"
    assert allocation.account.status == "suspended"
    assert admin.get(url("non_mis", world)).context["rows"] == []


def test_an_mis_backed_account_is_not_reviewable_as_non_mis(world: World, admin: Client) -> None:
    backed = m.Allocation.objects.get(school=world.home.school, mis_id="P0")
    before = everything()
    response = admin.post(
        url("non_mis_decide", world, allocation_id=backed.pk), {"decision": "unallocate"}
    )
    assert response.status_code == 404
    assert everything() == before


def test_user_request_single(world: World, admin: Client) -> None:
    response = admin.post(
        url("request_single", world),
        {
            "role": "staff",
            "legal_given_name": "Priya",
            "legal_family_name": "Patel",
            "date_of_birth": "1990-02-03",
            "start_date": "2026-10-01",
        },
    )
    account = m.Account.objects.get(legal_family_name="Patel")
    assert response.status_code == 302
    assert response["Location"] == url("account", world, uid=account.uid)
    allocation = account.allocations.get()
    assert (account.username, account.role, allocation.requested_single, allocation.mis_id) == (
        "ppatel.202",
        "staff",
        True,
        "",
    )
    before = everything()
    bad = admin.post(
        url("request_single", world),
        {"role": "pupil", "legal_given_name": "No", "legal_family_name": "Birthday"},
    )
    assert bad.status_code == 400
    assert everything() == before


# --- landing and LA dashboard ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "target"),
    [
        ("school_admin", "/schools/100001/results/"),
        ("headteacher", "/schools/100001/results/"),
        ("read_only_school", "/schools/100001/results/"),
        ("la_admin", "/la/202/"),
        ("read_only_la", "/la/202/"),
        ("region_operator", "/la/"),
    ],
)
def test_home_leads_each_role_to_its_place(
    world: World, client: Client, key: str, target: str
) -> None:
    client.force_login(make_user(key, world))
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, target)


def test_home_without_a_role(world: World, client: Client) -> None:
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("norole", password=PASSWORD))
    response = client.get("/")
    assert response.status_code == 200
    assert "You have no role yet" in text(response)


def test_la_health_lights(world: World) -> None:
    la = world.la
    operator = make_user("region_operator", world)
    school_add(urn="100003", la_code="202", estab="2003", name="Quiet Infants")
    now = datetime(2026, 9, 9, 20, tzinfo=UTC)
    m.SyncRun.objects.filter(school=world.sibling).update(created_at=now - timedelta(days=5))
    rows = {h.school.urn: h for h in selectors.la_health(user=operator, la=la, now=now)}
    assert {urn: (h.light, h.label) for urn, h in rows.items()} == {
        "100001": ("red", "Held"),
        "100002": ("yellow", "Stale"),
        "100003": ("yellow", "No runs yet"),
    }
    assert (rows["100001"].unmatched, rows["100001"].unallocated) == (1, 1)
    assert rows["100002"].why == "No run for 5 days"
    # A report whose latest run failed is red whatever else; a queued upload is yellow.
    m.SyncRun.objects.filter(school=world.sibling).update(created_at=now - timedelta(hours=2))
    staff = m.Upload.objects.create(
        school=world.sibling,
        source="web",
        fmt="csv",
        report="staff",
        size=1,
        sha256="0" * 64,
        data=b"x",
    )
    failed = m.SyncRun.objects.create(
        upload=staff,
        school=world.sibling,
        status="failed",
        as_of=now.date(),
        errors=[{"row": None, "field": None, "message": "the file is not a CSV"}],
    )
    m.SyncRun.objects.filter(pk=failed.pk).update(created_at=now - timedelta(hours=1))
    m.Upload.objects.filter(pk=world.home.upload.pk).update(outcome="queued")
    rows = {h.school.urn: h for h in selectors.la_health(user=operator, la=la, now=now)}
    assert (rows["100002"].light, rows["100002"].label) == ("red", "Failing")
    assert rows["100002"].why == "The last run failed. the file is not a CSV"
    # A later run of the same report that worked: no longer failing.
    fixed = m.SyncRun.objects.create(
        upload=staff, school=world.sibling, status="applied", as_of=now.date()
    )
    m.SyncRun.objects.filter(pk=fixed.pk).update(created_at=now - timedelta(minutes=5))
    rows = {h.school.urn: h for h in selectors.la_health(user=operator, la=la, now=now)}
    assert (rows["100002"].light, rows["100002"].label) == ("green", "OK")
    # A rejected held run: the directory lacks that export, a person must look (issue 8).
    m.SyncRun.objects.filter(school=world.home.school, status="held").update(status="rejected")
    rows = {h.school.urn: h for h in selectors.la_health(user=operator, la=la, now=now)}
    assert (rows["100001"].light, rows["100001"].label) == ("red", "Rejected")


def test_la_dashboard_filters_to_schools_needing_attention(world: World, client: Client) -> None:
    client.force_login(make_user("la_admin", world))
    m.SyncRun.objects.filter(school=world.sibling).update(
        created_at=datetime.now(UTC) - timedelta(hours=1)
    )
    everything_page = client.get("/la/202/")
    assert [r.school.urn for r in everything_page.context["rows"]] == ["100001", "100002"]
    assert everything_page.context["summary"] == {"red": 1, "yellow": 0, "green": 1}
    attention = client.get("/la/202/?attention=on")
    assert [r.school.urn for r in attention.context["rows"]] == ["100001"]
    body = text(attention)
    assert '<span class="light red">Held</span>' in body
    assert "Riverside Academy" not in body
