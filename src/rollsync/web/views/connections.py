"""The MIS connection on AutoUpdate Settings: connect (credentials, or Arbor's approval
hand-off), the pull schedule, Force run through the connection, and disconnect; for an MIS
that pushes to rollsync (Bromcom), its push credentials, shown once; for SIMS, the
rollsync agent's licence key (shown once) and the agent package to download.

Connecting, the schedule and disconnecting need what Change MIS needs (*configure*);
Force run needs *force_run*; everyone who sees the school sees the status. Every write
is a service of `rollsync.directory.services.connections`; a refusal stores nothing and
is shown next to the field it names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rollsync.access.roles import Action
from rollsync.directory import models as m
from rollsync.directory.services import agent as agent_services
from rollsync.directory.services import connections as connection_services
from rollsync.directory.services import push as push_services
from rollsync.directory.services.errors import ServiceError
from rollsync.domain.reports import CATALOGUE
from rollsync.web import selectors
from rollsync.web.forms import ConnectionForm, ConnectorChoiceForm, PullForm, ScheduleForm
from rollsync.web.views.common import refusal, school_context, school_for, signed_in
from rollsync.web.views.settings import settings_context

ANCHOR = "connection"


def _settings_url(school: m.School, connector: str | None = None) -> str:
    url = reverse("web:settings", kwargs={"urn": school.urn})
    query = f"?connector={connector}" if connector else ""
    return f"{url}{query}#{ANCHOR}"


def _sentence(message: str) -> str:
    text = message.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _refused(form: Any, exc: ServiceError) -> None:
    """The refusal next to the field it names, or above the form."""
    field = exc.field if exc.field in form.fields and exc.field != "connector" else None
    form.add_error(field, _sentence(refusal(exc)))


def _accepted(school: m.School) -> set[str]:
    return set(school.accepted_reports.values_list("report", flat=True))


def _say_withdrawn(request: HttpRequest, school: m.School, before: set[str], mis: str) -> None:
    """Connecting another MIS changes the school's MIS (as Change MIS does): say which
    accepted reports the new MIS cannot send and are no longer accepted."""
    withdrawn = [code for code in CATALOGUE if code in before - _accepted(school)]
    if withdrawn:
        labels = ", ".join(CATALOGUE[code].label for code in withdrawn)
        these = "that report is" if len(withdrawn) == 1 else "those reports are"
        messages.warning(request, f"{mis} cannot send {labels}: {these} no longer accepted.")


def _settings_with(
    request: HttpRequest, school: m.School, status: int = 400, **forms: Any
) -> HttpResponse:
    return render(
        request, "web/settings.html", settings_context(request, school, **forms), status=status
    )


@signed_in
@require_POST
def connection_connect(request: HttpRequest, urn: str) -> HttpResponse:
    """Connect (or reconnect) with credentials: checked at once by the service; when
    they fail nothing is stored and the page says what is wrong, next to the field."""
    school = school_for(request, urn, Action.CONFIGURE)
    choice = selectors.connector_choice(request.POST.get("connector"))
    if choice is None:
        messages.error(request, "Choose an MIS from the list.")
        return redirect(_settings_url(school))
    panel = selectors.connection_panel(school=school)
    form = ConnectionForm(
        request.POST,
        fields=choice.fields,
        secrets_set=panel.secrets_set if panel.connector == choice.name else [],
    )
    if form.is_valid():
        settings, secrets = form.values()
        before = _accepted(school)
        try:
            connection_services.connection_connect(
                school=school,
                mis=choice.name,
                settings=settings,
                secrets=secrets,
                actor=request.user.get_username(),
            )
        except ServiceError as exc:
            _refused(form, exc)
        else:
            messages.success(
                request, f"{choice.label} is connected: the credentials were accepted."
            )
            _say_withdrawn(request, school, before, choice.mis)
            return redirect(_settings_url(school))
    return _settings_with(
        request,
        school,
        connect_form=form,
        connector=choice,
        choose_form=ConnectorChoiceForm(
            initial={"connector": choice.name},
            choices=[(c.name, c.label) for c in selectors.connector_choices()],
        ),
    )


@signed_in
@require_POST
def connection_approval(request: HttpRequest, urn: str) -> HttpResponse:
    """Arbor: start (or start again) the approval; the page shows the link to Arbor,
    where the school signs in and approves access. Arbor sends the browser back to
    `connection_return`."""
    school = school_for(request, urn, Action.CONFIGURE)
    choice = selectors.connector_choice(request.POST.get("connector"))
    if choice is None or not choice.needs_approval:
        messages.error(request, "Choose an MIS that is connected by approving access in it.")
        return redirect(_settings_url(school))
    before = _accepted(school)
    try:
        link = connection_services.connection_approval_begin(
            school=school,
            mis=choice.name,
            actor=request.user.get_username(),
            return_url=request.build_absolute_uri(reverse("web:connection_return")),
        )
    except ServiceError as exc:
        messages.error(request, _sentence(refusal(exc)))
        return redirect(_settings_url(school, choice.name))
    _say_withdrawn(request, school, before, choice.mis)
    if not link.startswith(("https://", "http://")):
        messages.error(
            request, f"{choice.label} gave no usable approval link: ask the service desk."
        )
        return redirect(_settings_url(school, choice.name))
    return render(
        request,
        "web/connection_approval.html",
        school_context(request, school, connector=choice, link=link),
    )


@signed_in
@require_GET
def connection_return(request: HttpRequest) -> HttpResponse:
    """Where the MIS sends the browser back after the school approved (or refused)
    access: ?state=&code= (or ?error=). Only a signed-in person who may configure the
    school the approval was started for completes it; anything else stores nothing."""
    state = request.GET.get("state", "")[:200]
    code = request.GET.get("code", "")[:2000]
    conn = selectors.connection_awaiting_approval(user=request.user, state=state)
    if conn is None:
        return render(
            request,
            "web/connection_return.html",
            {
                "error": "This approval link is not one rollsync issued, or it was used "
                "already: start the approval again from AutoUpdate Settings."
            },
            status=400,
        )
    school = conn.school
    label = selectors.connector_choice(conn.connector)
    name = label.label if label else conn.connector
    refused_there = request.GET.get("error", "")[:200]
    if refused_there:
        why = request.GET.get("error_description", "")[:300] or refused_there.replace("_", " ")
        connection_services.connection_approval_abandon(
            state=state, actor=request.user.get_username(), why=why
        )
        messages.error(
            request,
            _sentence(
                f"{name} did not approve access ({why}); nothing was stored. "
                "Start the approval again when you are ready"
            ),
        )
        return redirect(_settings_url(school))
    try:
        connection_services.connection_approval_complete(
            state=state, code=code, actor=request.user.get_username()
        )
    except ServiceError as exc:
        messages.error(request, _sentence(refusal(exc)))
    else:
        messages.success(
            request, f"{name} access is approved: {school.name}'s MIS connection is set up."
        )
    return redirect(_settings_url(school))


@signed_in
@require_POST
def connection_schedule(request: HttpRequest, urn: str) -> HttpResponse:
    school = school_for(request, urn, Action.CONFIGURE)
    form = ScheduleForm(request.POST)
    if form.is_valid():
        try:
            conn = connection_services.connection_schedule_set(
                school=school,
                schedule=form.cleaned_data["schedule"],
                actor=request.user.get_username(),
            )
        except ServiceError as exc:
            _refused(form, exc)
        else:
            messages.success(
                request, f"Pulls are scheduled {selectors.schedule_words(conn.schedule)}."
            )
            return redirect(_settings_url(school))
    return _settings_with(request, school, schedule_form=form)


@signed_in
@require_POST
def connection_pull(request: HttpRequest, urn: str) -> HttpResponse:
    """Force run through the connection: the pull is queued on the worker and the page
    follows it, as for an upload. Any time of day."""
    school = school_for(request, urn, Action.FORCE_RUN)
    form = PullForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a report from the list.")
        return redirect(_settings_url(school))
    report = form.cleaned_data["report"]
    under_way = selectors.pull_under_way(school=school)
    if under_way is not None:
        messages.info(request, "A pull of the MIS is already queued or running: here it is.")
        return redirect(
            reverse("web:task_progress", kwargs={"urn": school.urn, "task_id": under_way})
        )
    try:
        task_id = connection_services.connection_pull_queue(
            school=school, actor=request.user.get_username(), reports=[report] if report else None
        )
    except ServiceError as exc:
        messages.error(request, _sentence(refusal(exc)))
        return redirect(_settings_url(school))
    return redirect(reverse("web:task_progress", kwargs={"urn": school.urn, "task_id": task_id}))


@signed_in
@require_http_methods(["GET", "POST"])
def connection_disconnect(request: HttpRequest, urn: str) -> HttpResponse:
    """Asks first (GET), then forgets the connection and its credentials (POST)."""
    school = school_for(request, urn, Action.CONFIGURE)
    panel = selectors.connection_panel(school=school)
    if request.method == "POST":
        if connection_services.connection_disconnect(
            school=school, actor=request.user.get_username()
        ):
            messages.success(
                request,
                f"{panel.label} is disconnected and its credentials are forgotten. "
                "Nothing more is pulled; uploads and runs stay.",
            )
        else:
            messages.info(request, "There was no MIS connection to disconnect.")
        return redirect(_settings_url(school))
    if not panel.exists:
        messages.info(request, "There is no MIS connection to disconnect.")
        return redirect(_settings_url(school))
    return render(
        request, "web/connection_disconnect.html", school_context(request, school, connection=panel)
    )


def _issue_shown_once(
    request: HttpRequest,
    urn: str,
    *,
    issue: Callable[..., Any],
    mis: str,
    template: str,
    **extra: Any,
) -> HttpResponse:
    """Issue (or replace) credentials that rollsync keeps only as a hash and show them
    this once, on a page never cached; a refusal goes back to AutoUpdate Settings."""
    school = school_for(request, urn, Action.CONFIGURE)
    before = _accepted(school)
    try:
        issued = issue(school=school, actor=request.user.get_username())
    except ServiceError as exc:
        messages.error(request, _sentence(refusal(exc)))
        return redirect(_settings_url(school))
    _say_withdrawn(request, school, before, mis)
    response = render(request, template, school_context(request, school, issued=issued, **extra))
    response["Cache-Control"] = "no-store"
    return response


@signed_in
@require_POST
def connection_push_credentials(request: HttpRequest, urn: str) -> HttpResponse:
    """Bromcom: issue (or replace) the school's push credentials and show them this once
    (the supplier password is stored only as a hash)."""
    return _issue_shown_once(
        request,
        urn,
        issue=push_services.push_credentials_issue,
        mis=push_services.MIS,
        template="web/connection_push_credentials.html",
        push_url=request.build_absolute_uri("/push/v1/"),
    )


@signed_in
@require_POST
def connection_agent_licence(request: HttpRequest, urn: str) -> HttpResponse:
    """SIMS: issue (or replace) the rollsync agent's licence key and show it this once
    (rollsync keeps only its hash)."""
    return _issue_shown_once(
        request,
        urn,
        issue=agent_services.agent_licence_issue,
        mis=agent_services.MIS,
        template="web/connection_agent_licence.html",
        server_url=request.build_absolute_uri("/"),
        package_version=selectors.agent_package_version(),
    )


@signed_in
@require_GET
def agent_download(request: HttpRequest, urn: str) -> HttpResponse:
    """The rollsync agent's package (`directory.agent_package`), for the school's server."""
    from pathlib import Path

    from rollsync.directory.agent_package import build_package

    school_for(request, urn)
    package = build_package(Path(settings.ROLLSYNC_AGENT_SOURCE))
    if package is None:
        raise Http404("The rollsync agent package is not available on this server")
    response = HttpResponse(package.data, content_type="application/gzip")
    response["Content-Disposition"] = f'attachment; filename="{package.filename}"'
    return response
