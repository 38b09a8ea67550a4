"""Where a person lands: their school, their LA's dashboard, or the list of schools."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from rollsync.access.roles import Action
from rollsync.access.selectors import las_for, restrict
from rollsync.directory import models as m
from rollsync.web import selectors
from rollsync.web.forms import DashboardFilterForm
from rollsync.web.views.common import page_of, query_without_page, signed_in

DASHBOARD_PAGE = 50  # schools a page of the LA dashboard shows


@signed_in
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    las = list(las_for(request.user).order_by("code")[:2])
    if len(las) == 1:
        return redirect("web:la_dashboard", code=las[0].code)
    if las:
        return redirect("web:la_list")
    schools = list(selectors.schools_visible(user=request.user)[:2])
    if len(schools) == 1:
        return redirect("web:bulk_results", urn=schools[0].urn)
    if schools:
        return redirect("web:school_list")
    return render(request, "web/no_role.html", status=200)


@signed_in
@require_GET
def school_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    page = page_of(request, selectors.schools_visible(user=request.user, query=query))
    return render(
        request,
        "web/school_list.html",
        {"page": page, "q": query, "query_string": query_without_page(request)},
    )


@signed_in
@require_GET
def la_list(request: HttpRequest) -> HttpResponse:
    page = page_of(request, las_for(request.user).order_by("code"))
    return render(
        request,
        "web/la_list.html",
        {"las": list(page.object_list), "page": page, "query_string": query_without_page(request)},
    )


@signed_in
@require_GET
def la_dashboard(request: HttpRequest, code: str) -> HttpResponse:
    la = (
        restrict(m.LocalAuthority.objects.all(), request.user, Action.DASHBOARD)
        .filter(code=code)
        .first()
    )
    if la is None:
        raise Http404("No such local authority")
    form = DashboardFilterForm(request.GET or None)
    attention = form.is_valid() and form.cleaned_data["attention"]
    query = request.GET.get("q", "").strip()[:100]
    # every school in one query (the summary counts them all), those needing attention
    # first; one page of them shown, so a 600-school LA still fits one screen
    rows = selectors.la_health(user=request.user, la=la)
    shown = [r for r in rows if r.needs_attention] if attention else rows
    if query:
        folded = query.casefold()
        shown = [r for r in shown if folded in r.school.name.casefold() or r.school.urn == query]
    summary = {
        light: sum(1 for r in rows if r.light == light) for light in ("red", "yellow", "green")
    }
    page = page_of(request, shown, per_page=DASHBOARD_PAGE)
    return render(
        request,
        "web/la_dashboard.html",
        {
            "la": la,
            "rows": list(page.object_list),
            "page": page,
            "matching": len(shown),
            "query_string": query_without_page(request),
            "q": query,
            "total": len(rows),
            "summary": summary,
            "form": form,
            "attention": attention,
        },
    )
