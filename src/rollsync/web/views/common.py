"""What every view shares: signing in (with the second step where the user set one up)
and the tenancy chokepoint for the school in the URL."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import user_has_device

from rollsync.access.roles import Action
from rollsync.access.selectors import actions_at, restrict
from rollsync.directory import models as m
from rollsync.directory.services.errors import ServiceError

View = Callable[..., HttpResponse]


def signed_in(view: View) -> View:
    """A signed-in user, who has also passed the second step if they set one up."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if user_has_device(user) and not user.is_verified():  # type: ignore[union-attr]
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('web:otp_verify')}?{query}")
        return view(request, *args, **kwargs)

    return wrapper


def school_for(request: HttpRequest, urn: str, action: Action = Action.VIEW) -> m.School:
    """The school in the URL, through the chokepoint: 404 when the user may not see it
    (its existence is not confirmed), 403 when they see it but may not do `action`."""
    visible = restrict(m.School.objects.select_related("la", "la__region"), request.user)
    school = visible.filter(urn=urn).first()
    if school is None:
        raise Http404("No such school")
    if action is not Action.VIEW and not (
        restrict(m.School.objects.filter(pk=school.pk), request.user, action).exists()
    ):
        raise PermissionDenied(f"Your role does not allow this at {school.name}")
    return school


def school_context(request: HttpRequest, school: m.School, **extra: Any) -> dict[str, Any]:
    can = {a.value for a in actions_at(request.user, school)}
    return {"school": school, "can": can, **extra}


def page_of(request: HttpRequest, items: Any, per_page: int = 50) -> Page:
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def refusal(exc: ServiceError) -> str:
    """The web app's one translation of a refused write: the service's message, shown on
    the page (the view answers 400 or redirects with it)."""
    return exc.message
