"""User list/search, the account page, Review Non-MIS Accounts and User Request Single."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rollsync.access.roles import Action
from rollsync.directory import models as m
from rollsync.directory.services import accounts as account_services
from rollsync.directory.services.errors import ServiceError
from rollsync.domain.records import PersonRecord, Role
from rollsync.web import selectors
from rollsync.web.forms import RequestSingleForm, UserFilterForm
from rollsync.web.views.common import (
    page_of,
    query_without_page,
    refusal,
    school_context,
    school_for,
    signed_in,
)


@signed_in
@require_GET
def user_list(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn)
    years, regs = selectors.group_choices(school=school)
    form = UserFilterForm(request.GET or None, years=years, regs=regs)
    filters = (
        {k: v for k, v in form.cleaned_data.items() if v}
        if form.is_bound and form.is_valid()
        else {}
    )
    page = page_of(
        request,
        selectors.users_at_school(school=school, query=filters.pop("q", ""), **filters),
    )
    return render(
        request,
        "web/user_list.html",
        school_context(
            request,
            school,
            form=form,
            page=page,
            latest=bool(filters.get("latest")),
            query_string=query_without_page(request),
        ),
    )


@signed_in
@require_GET
def account_detail(request: HttpRequest, urn: str, uid: UUID) -> HttpResponse:
    school = school_for(request, urn)
    info = selectors.account_page(user=request.user, school=school, uid=uid)
    if info is None:
        raise Http404("No such account")
    return render(request, "web/account.html", school_context(request, school, info=info))


@signed_in
@require_GET
def non_mis(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn)
    page = page_of(request, selectors.non_mis_at_school(school=school))
    return render(
        request,
        "web/non_mis.html",
        school_context(
            request,
            school,
            rows=list(page.object_list),
            page=page,
            query_string=query_without_page(request),
        ),
    )


@signed_in
@require_POST
def non_mis_decide(request: HttpRequest, urn: str, allocation_id: int) -> HttpResponse:
    school = school_for(request, urn, Action.OPERATE)
    allocation = selectors.non_mis_allocation(school=school, allocation_id=allocation_id)
    decision = request.POST.get("decision", "")
    if allocation is None or decision not in ("keep", "unallocate"):
        raise Http404("No such account to review")
    actor = request.user.get_username()
    try:
        if decision == "keep":
            account_services.account_non_mis_keep(allocation=allocation, actor=actor)
            messages.success(request, f"{allocation.account.username} kept.")
        else:
            account_services.account_non_mis_unallocate(allocation=allocation, actor=actor)
            messages.success(
                request,
                f"{allocation.account.username} unallocated (restorable from the unallocated list).",
            )
    except ServiceError as exc:
        messages.error(request, refusal(exc))
    return redirect("web:non_mis", urn=school.urn)


@signed_in
@require_http_methods(["GET", "POST"])
def request_single(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn, Action.OPERATE if request.method == "POST" else Action.VIEW)
    form = RequestSingleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        record = PersonRecord(
            role=Role(data["role"]),
            mis_id="",
            legal_given_name=data["legal_given_name"].strip(),
            legal_family_name=data["legal_family_name"].strip(),
            preferred_given_name=data["preferred_given_name"].strip() or None,
            date_of_birth=data["date_of_birth"],
            start_date=data["start_date"],
        )
        try:
            account = account_services.account_request_single(
                school=school,
                record=record,
                actor=request.user.get_username(),
                create_anyway=request.POST.get("create_anyway") == "1",
            )
        except account_services.LikelyExistingAccounts as exc:
            # The second step: the likely existing accounts, and a confirm to create anyway.
            here = set(
                m.Allocation.objects.filter(
                    school=school, account__in=[c.account for c in exc.candidates]
                ).values_list("account_id", flat=True)
            )
            return render(
                request,
                "web/request_single_confirm.html",
                school_context(
                    request,
                    school,
                    form=form,
                    record=record,
                    candidates=[(c, c.account.pk in here) for c in exc.candidates],
                ),
            )
        except ServiceError as exc:
            form.add_error(None, refusal(exc))
        else:
            messages.success(
                request,
                f"Account {account.username} created. When the MIS sends the same legal name "
                "and date of birth, it will be linked to this account.",
            )
            return redirect("web:account", urn=school.urn, uid=account.uid)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "web/request_single.html",
        school_context(request, school, form=form),
        status=status,
    )
