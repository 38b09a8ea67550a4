"""Whole School Bulk Results: the last processed files, the matching queue, the
unallocated, the exclusion list ("MIS names that should not be in USO") and held runs."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from rollsync.access.roles import Action
from rollsync.access.selectors import restrict
from rollsync.directory import models as m
from rollsync.directory import selectors as directory_selectors
from rollsync.directory.services import accounts as account_services
from rollsync.directory.services import sync as sync_services
from rollsync.directory.services.errors import ServiceError
from rollsync.domain.records import Role
from rollsync.web import selectors
from rollsync.web.forms import ROLE_CHOICES, CaseDecisionForm, ExclusionForm
from rollsync.web.views.common import (
    page_of,
    query_without_page,
    refusal,
    school_context,
    school_for,
    signed_in,
)


def _role(request: HttpRequest) -> str:
    role = request.GET.get("role", "")
    return role if role in selectors.ROLE_PLURAL else ""


@signed_in
@require_GET
def bulk_results(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn)
    return render(
        request,
        "web/bulk_results.html",
        school_context(
            request,
            school,
            feeds=selectors.upload_feeds(school=school),
            connection=selectors.connection_panel(school=school),
            counts=selectors.bulk_counts(school=school),
            held=selectors.held_runs(school=school)[:20],
            waiting=selectors.waiting_runs(school=school)[:20],
            cross_school=restrict(
                directory_selectors.cross_school_cases_open(school=school), request.user
            ),
            roles=ROLE_CHOICES,
        ),
    )


@signed_in
@require_POST
def cross_school_decide(request: HttpRequest, urn: str, case_id: int) -> HttpResponse:
    """The school that holds the account agrees to or declines another school's
    identity changes (only that school, or people above it, may)."""
    school = school_for(request, urn, Action.OPERATE)
    case = (
        restrict(m.CrossSchoolCase.objects.all(), request.user, Action.OPERATE)
        .filter(pk=case_id, holding_school=school)
        .first()
    )
    if case is None:
        raise Http404("No such case")
    decision = request.POST.get("decision", "")
    if decision not in ("agree", "decline"):
        messages.error(request, "Choose agree or decline.")
        return redirect("web:bulk_results", urn=school.urn)
    try:
        decided = account_services.cross_school_case_decide(
            case_id=case.pk,
            school=school,
            actor=request.user.get_username(),
            agree=decision == "agree",
        )
    except ServiceError as exc:
        messages.error(request, refusal(exc))
    else:
        verb = "are applied" if decided.status == "agreed" else "were declined: nothing changed"
        messages.success(request, f"The changes to {decided.account.username} {verb}.")
    return redirect("web:bulk_results", urn=school.urn)


@signed_in
@require_GET
def unmatched(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn)
    role = _role(request)
    page = page_of(request, selectors.open_cases(school=school, role=role or None), per_page=20)
    return render(
        request,
        "web/unmatched.html",
        school_context(
            request,
            school,
            role=role,
            role_label=selectors.ROLE_PLURAL.get(role, "people"),
            roles=ROLE_CHOICES,
            page=page,
            cases=selectors.case_views(cases=page.object_list),
            query_string=query_without_page(request),
        ),
    )


@signed_in
@require_POST
def case_decide(request: HttpRequest, urn: str, case_id: int) -> HttpResponse:
    school = school_for(request, urn, Action.OPERATE)
    case = (
        restrict(m.MatchCase.objects.all(), request.user, Action.OPERATE)
        .filter(school=school, pk=case_id)
        .first()
    )
    if case is None:
        raise Http404("No such case")
    form = CaseDecisionForm(request.POST)
    back = f"{reverse('web:unmatched', kwargs={'urn': school.urn})}?role={case.role}"
    if not form.is_valid():
        messages.error(request, "Choose match, create new or never create.")
        return redirect(back)
    decision = form.cleaned_data["decision"]
    try:
        resolved = account_services.match_case_resolve(
            case_id=case.pk,
            actor=request.user.get_username(),
            link_account_id=form.cleaned_data["account"] if decision == "link" else None,
            create=decision == "create",
            exclude=decision == "exclude",
        )
    except ServiceError as exc:
        messages.error(request, refusal(exc))
        return redirect(back)
    name = " ".join(
        x for x in (case.record.get("legal_given_name"), case.record.get("legal_family_name")) if x
    )
    if resolved.status == m.MatchCase.Status.EXCLUDED:
        messages.success(request, f"{name} will never get an account here.")
    else:
        account = resolved.resolved_account
        verb = "matched to" if resolved.status == m.MatchCase.Status.LINKED else "created as"
        messages.success(request, f"{name} {verb} {account.username if account else ''}.")
    return redirect(back)


@signed_in
@require_GET
def unallocated(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn)
    role = _role(request)
    page = page_of(request, selectors.unallocated_at_school(school=school, role=role or None))
    exports = directory_selectors.latest_exports(school=school)
    for allocation in page.object_list:
        export = exports.get(allocation.role)
        allocation.absent_from = (  # a restore would ask first: the person is not there
            export[0]
            if export
            and allocation.mis_id
            and not allocation.requested_single
            and allocation.mis_id not in export[1]
            else None
        )
    return render(
        request,
        "web/unallocated.html",
        school_context(
            request,
            school,
            role=role,
            role_label=selectors.ROLE_PLURAL.get(role, "people"),
            roles=ROLE_CHOICES,
            page=page,
            query_string=query_without_page(request),
        ),
    )


@signed_in
@require_POST
def restore(request: HttpRequest, urn: str, allocation_id: int) -> HttpResponse:
    school = school_for(request, urn, Action.OPERATE)
    allocation = (
        restrict(m.Allocation.objects.select_related("account"), request.user, Action.OPERATE)
        .filter(school=school, pk=allocation_id)
        .first()
    )
    if allocation is None:
        raise Http404("No such account here")
    decision = request.POST.get("decision", "")
    keep_non_mis = {"keep_non_mis": True, "restore_anyway": False}.get(decision)
    try:
        account_services.account_restore(
            username=allocation.account.username,
            school=school,
            actor=request.user.get_username(),
            keep_non_mis=keep_non_mis,
        )
    except account_services.RestoreNeedsDecision as exc:
        # The second step: say why a plain restore would not last, and let them decide.
        return render(
            request,
            "web/restore_confirm.html",
            school_context(request, school, allocation=allocation, warning=str(exc)),
        )
    except ServiceError as exc:
        messages.error(request, refusal(exc))
    else:
        done = " and kept as non-MIS" if keep_non_mis else ""
        messages.success(
            request, f"{allocation.account.username} is restored at {school.name}{done}."
        )
    return redirect(
        f"{reverse('web:unallocated', kwargs={'urn': school.urn})}?role={allocation.role}"
    )


@signed_in
@require_GET
def exclusions(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn)
    return _exclusions_page(request, school, ExclusionForm())


def _exclusions_page(
    request: HttpRequest, school: m.School, form: ExclusionForm, status: int = 200
) -> HttpResponse:
    page = page_of(request, selectors.exclusions_at_school(school=school))
    return render(
        request,
        "web/exclusions.html",
        school_context(
            request,
            school,
            exclusions=list(page.object_list),
            page=page,
            query_string=query_without_page(request),
            form=form,
        ),
        status=status,
    )


@signed_in
@require_POST
def exclusion_add(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn, Action.OPERATE)
    form = ExclusionForm(request.POST)
    if not form.is_valid():
        return _exclusions_page(request, school, form, status=400)
    data = form.cleaned_data
    try:
        account_services.exclusion_add(
            school=school,
            actor=request.user.get_username(),
            mis_id=data["mis_id"] or None,
            given_name=data["given_name"] or None,
            family_name=data["family_name"] or None,
            date_of_birth=data["date_of_birth"],
            role=Role(data["role"]) if data["role"] else None,
            note=data["note"],
        )
    except ServiceError as exc:
        form.add_error(None, refusal(exc))
        return _exclusions_page(request, school, form, status=400)
    messages.success(request, "Added to the list: no account will be created for them.")
    return redirect("web:exclusions", urn=school.urn)


@signed_in
@require_POST
def exclusion_remove(request: HttpRequest, urn: str, exclusion_id: int) -> HttpResponse:
    school = school_for(request, urn, Action.OPERATE)
    exclusion = (
        restrict(m.Exclusion.objects.all(), request.user, Action.OPERATE)
        .filter(school=school, pk=exclusion_id)
        .first()
    )
    if exclusion is None:
        raise Http404("No such entry")
    account_services.exclusion_remove(
        school=school, exclusion_id=exclusion.pk, actor=request.user.get_username()
    )
    messages.success(request, "Removed from the list: the next run may create their account.")
    return redirect("web:exclusions", urn=school.urn)


@signed_in
@require_GET
def runs(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn)
    status = request.GET.get("status", "")
    if status not in m.SyncRun.Status.values:
        status = ""
    page = page_of(request, selectors.runs_at_school(school=school, status=status or None))
    return render(
        request,
        "web/runs.html",
        school_context(
            request,
            school,
            page=page,
            status=status,
            statuses=m.SyncRun.Status.values,
            query_string=query_without_page(request),
        ),
    )


def _run(request: HttpRequest, school: m.School, run_id: int, action: Action) -> m.SyncRun:
    run = (
        restrict(
            m.SyncRun.objects.select_related("upload").defer("upload__data"), request.user, action
        )
        .filter(school=school, pk=run_id)
        .first()
    )
    if run is None:
        raise Http404("No such run")
    return run


@signed_in
@require_GET
def run_detail(request: HttpRequest, urn: str, run_id: int) -> HttpResponse:
    school = school_for(request, urn)
    run = _run(request, school, run_id, Action.VIEW)
    return render(
        request,
        "web/run_detail.html",
        school_context(
            request,
            school,
            run=run,
            messages_of_run=selectors.run_messages(run=run, page=request.GET.get("messages")),
            plan=selectors.run_plan(run=run),
            kept_non_mis=directory_selectors.kept_non_mis_for_run(run=run),
            shown=selectors.PLAN_SHOWN,
            counts=[(k.replace("_", " "), v) for k, v in run.counts.items()],
        ),
    )


@signed_in
@require_POST
def run_approve(request: HttpRequest, urn: str, run_id: int) -> HttpResponse:
    school = school_for(request, urn, Action.OPERATE)
    run = _run(request, school, run_id, Action.OPERATE)
    try:
        task_id = sync_services.run_approve_queue(run=run, actor=request.user.get_username())
    except ServiceError as exc:
        messages.error(request, refusal(exc))
        return redirect("web:run_detail", urn=school.urn, run_id=run.pk)
    return redirect("web:task_progress", urn=school.urn, task_id=task_id)


@signed_in
@require_POST
def run_reject(request: HttpRequest, urn: str, run_id: int) -> HttpResponse:
    school = school_for(request, urn, Action.OPERATE)
    run = _run(request, school, run_id, Action.OPERATE)
    try:
        sync_services.sync_run_reject(run=run, actor=request.user.get_username())
    except ServiceError as exc:
        messages.error(request, refusal(exc))
    else:
        messages.success(request, f"Run {run.pk} rejected: nothing from it was applied.")
    return redirect("web:run_detail", urn=school.urn, run_id=run.pk)
