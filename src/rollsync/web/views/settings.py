"""AutoUpdate Settings: the MIS, the reports and their fields, the guard and grace
period, uploading by hand, Force run and the Upload History."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from rollsync.access.roles import MIS_CATALOGUE, Action, mis_info
from rollsync.directory import models as m
from rollsync.directory.services import schools as school_services
from rollsync.directory.services.errors import ServiceError
from rollsync.directory.services.sync import run_force
from rollsync.directory.services.uploads import upload_receive
from rollsync.domain.reports import CATALOGUE, UnknownField
from rollsync.web import selectors
from rollsync.web.forms import (
    ConnectionForm,
    ConnectorChoiceForm,
    FieldOptOutForm,
    ForceRunForm,
    MisForm,
    PolicyForm,
    PullForm,
    ReportForm,
    ScheduleForm,
    UploadForm,
)
from rollsync.web.upload_limit import refused_upload
from rollsync.web.views.common import (
    page_of,
    query_without_page,
    refusal,
    school_context,
    school_for,
    signed_in,
)


def _settings_url(school: m.School, anchor: str = "") -> str:
    url = reverse("web:settings", kwargs={"urn": school.urn})
    return f"{url}#{anchor}" if anchor else url


def settings_context(request: HttpRequest, school: m.School, **overrides: Any) -> dict[str, Any]:
    """Everything AutoUpdate Settings shows; `overrides` puts a bound form with its
    errors in place of a blank one (a refused connect or schedule)."""
    panel = selectors.connection_panel(school=school)
    chosen = selectors.connector_choice(request.GET.get("connector")) or (
        selectors.connector_for_school(school=school, panel=panel)
    )
    context: dict[str, Any] = {
        "mis": selectors.school_mis(school=school),
        "mis_choices": list(MIS_CATALOGUE.values()),
        "mis_form": MisForm(initial={"mis": school.mis}),
        "reports": selectors.school_reports(school=school),
        "policy_form": PolicyForm(
            initial={
                "guard_unallocate_pct": school.guard_unallocate_pct,
                "leaver_grace_days": school.leaver_grace_days,
            }
        ),
        "upload_form": UploadForm(),
        "feeds": selectors.upload_feeds(school=school),
        "history": selectors.upload_history(school=school)[:10],
        "connection": panel,
        "connection_connector": selectors.connector_choice(panel.connector),
        "connector": chosen,
        "connector_choices": selectors.connector_choices(),
        "choose_form": ConnectorChoiceForm(
            initial={"connector": chosen.name if chosen else None},
            choices=[(c.name, c.label) for c in selectors.connector_choices()],
        ),
        "connect_form": (
            ConnectionForm(
                initial={
                    "connector": chosen.name,
                    **(panel.settings if panel.connector == chosen.name else {}),
                },
                fields=chosen.fields,
                secrets_set=panel.secrets_set if panel.connector == chosen.name else [],
            )
            if chosen
            else None
        ),
        "schedule_form": ScheduleForm(initial={"schedule": panel.schedule}),
        "pull_form": PullForm(reports=selectors.pull_report_choices(school=school)),
    }
    context = {**context, **overrides}
    return school_context(request, school, **context)


@signed_in
@require_GET
def settings_page(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn)
    return render(request, "web/settings.html", settings_context(request, school))


@signed_in
@require_POST
def mis_change(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn, Action.CONFIGURE)
    form = MisForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an MIS from the list.")
    else:
        mis = form.cleaned_data["mis"]
        change = school_services.school_mis_set(
            school=school, mis=mis, actor=request.user.get_username()
        )
        if change.changed:
            info = mis_info(mis)
            steps = f" Set it up: {len(info.setup)} steps below." if info and info.setup else ""
            messages.success(request, f"The MIS is now {mis or 'not set'}.{steps}")
        if change.withdrawn:
            labels = ", ".join(CATALOGUE[code].label for code in change.withdrawn)
            messages.warning(
                request,
                f"{mis} cannot send {labels}: "
                f"{'that report is' if len(change.withdrawn) == 1 else 'those reports are'}"
                " no longer accepted.",
            )
        if change.changed and mis_info(mis):
            return redirect(_settings_url(school, "setup"))
    return redirect(_settings_url(school, "mis"))


@signed_in
@require_POST
def report_set(request: HttpRequest, urn: str, report: str) -> HttpResponse:
    school = school_for(request, urn, Action.REPORTS)
    form = ReportForm(request.POST)
    if report not in CATALOGUE or not form.is_valid():
        raise Http404("No such report")
    accepted = form.cleaned_data["accepted"]
    try:
        school_services.school_report_set(
            school=school, report=report, accepted=accepted, actor=request.user.get_username()
        )
    except school_services.ReportNotSendable as exc:
        messages.error(request, str(exc)[:1].upper() + str(exc)[1:] + ".")
    else:
        word = "accepted" if accepted else "removed"
        messages.success(request, f"{CATALOGUE[report].label} report {word}.")
    return redirect(_settings_url(school, f"report-{report}"))


@signed_in
@require_POST
def field_set(request: HttpRequest, urn: str, report: str, field: str) -> HttpResponse:
    school = school_for(request, urn, Action.REPORTS)
    form = FieldOptOutForm(request.POST)
    if report not in CATALOGUE or not form.is_valid():
        raise Http404("No such report")
    try:
        school_services.school_field_opt_out_set(
            school=school,
            report=report,
            field_name=field,
            opted_out=not form.cleaned_data["uploaded"],
            actor=request.user.get_username(),
        )
    except UnknownField as exc:
        messages.error(request, str(exc))
    else:
        state = "uploaded" if form.cleaned_data["uploaded"] else "not uploaded"
        label = CATALOGUE[report].field(field).label
        messages.success(request, f"{label} of {CATALOGUE[report].label} is {state}.")
    return redirect(_settings_url(school, f"report-{report}"))


@signed_in
@require_POST
def policy_set(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn, Action.CONFIGURE)
    form = PolicyForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(_settings_url(school, "policy"))
    try:
        changed = school_services.school_policy_set(
            school=school, actor=request.user.get_username(), **form.cleaned_data
        )
    except ServiceError as exc:
        messages.error(request, refusal(exc))
    else:
        messages.success(request, "Saved." if changed else "Nothing to change.")
    return redirect(_settings_url(school, "policy"))


def _progress_url(school: m.School, task_id: str) -> str:
    return reverse("web:task_progress", kwargs={"urn": school.urn, "task_id": task_id})


@signed_in
@require_POST
def upload_file(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn, Action.OPERATE)
    refused = refused_upload(request)  # the file passed the limit while it arrived
    form = UploadForm(request.POST, request.FILES)
    if refused is not None:
        form = UploadForm(request.POST)
        form.full_clean()
        form.errors.clear()
        form.add_error(None, refused[:1].upper() + refused[1:] + ".")
        return render(
            request,
            "web/upload_form.html",
            school_context(request, school, upload_form=form),
            status=413,
        )
    if form.is_valid():
        f = form.cleaned_data["file"]
        try:
            _upload, result_id = upload_receive(
                school=school,
                payload=f,  # streamed within the limit by upload_store, read once
                declared_size=f.size,
                fmt=form.cleaned_data["fmt"],
                report=form.cleaned_data["report"],
                filename=f.name[:255],
                actor=request.user.get_username(),
                source="web",
            )
        except ServiceError as exc:
            form.add_error(None, refusal(exc))
        else:
            return redirect(_progress_url(school, result_id))
    return render(
        request,
        "web/upload_form.html",
        school_context(request, school, upload_form=form),
        status=400,
    )


@signed_in
@require_POST
def force_run(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn, Action.FORCE_RUN)
    form = ForceRunForm(request.POST)
    if not form.is_valid():
        raise Http404("No upload of that report")
    report, _, _fmt = form.cleaned_data["feed"].partition(":")
    try:
        task_id = run_force(school=school, report=report, actor=request.user.get_username())
    except ServiceError as exc:
        messages.error(request, refusal(exc))
        return redirect(_settings_url(school))
    return redirect(_progress_url(school, task_id))


@signed_in
@require_GET
@vary_on_headers("HX-Request")
def task_progress(request: HttpRequest, urn: str, task_id: str) -> HttpResponse:
    """An upload, Force run or approval in the background: refreshes itself (htmx, or a
    meta refresh without JavaScript) until the run is done."""
    school = school_for(request, urn)
    progress = selectors.task_progress(school=school, task_id=task_id)
    if progress is None:
        raise Http404("No such task")
    context = school_context(request, school, progress=progress)
    template = (
        "web/_progress.html" if request.headers.get("HX-Request") else "web/task_progress.html"
    )
    return render(request, template, context)


@signed_in
@require_GET
def upload_history(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn)
    page = page_of(request, selectors.upload_history(school=school))
    return render(
        request,
        "web/upload_history.html",
        school_context(request, school, page=page, query_string=query_without_page(request)),
    )
