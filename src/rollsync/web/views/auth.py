"""Signing in and out, and the optional second step (an authenticator app, TOTP)."""

from __future__ import annotations

from io import BytesIO

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp import match_token, user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from rollsync.access import services as access_services
from rollsync.web.forms import TokenForm
from rollsync.web.views.common import signed_in

login_view = LoginView.as_view(template_name="web/login.html", redirect_authenticated_user=True)
logout_view = LogoutView.as_view(next_page="web:login")


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("web:home")


@login_required
@require_http_methods(["GET", "POST"])
def otp_verify(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the authenticator app the user set up."""
    if not user_has_device(request.user) or request.user.is_verified():  # type: ignore[union-attr]
        return redirect(_safe_next(request))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = match_token(request.user, form.cleaned_data["token"].strip())
        if device is not None:
            otp_login(request, device)
            return redirect(_safe_next(request))
        form.add_error("token", "That code is not right, or it has expired. Try the next one.")
    return render(
        request, "web/otp_verify.html", {"form": form, "next": _safe_next(request)}, status=200
    )


def _qr_svg(url: str) -> str:
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    out = BytesIO()
    image.save(out)
    return out.getvalue().decode("utf-8")


@signed_in
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    """Set up, or turn off, the authenticator app for the signed-in user."""
    user = request.user
    form = TokenForm(request.POST or None)
    action = request.POST.get("action", "")
    if request.method == "POST" and action == "start":
        access_services.totp_start(user=user)
        return redirect("web:two_factor")
    if request.method == "POST" and action == "confirm" and form.is_valid():
        device = access_services.totp_confirm(user=user, token=form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            messages.success(request, "Two-step sign-in is on. You will be asked for a code.")
            return redirect("web:two_factor")
        form.add_error("token", "That code is not right. Check the app's clock and try again.")
    if request.method == "POST" and action == "remove" and form.is_valid():
        if match_token(user, form.cleaned_data["token"].strip()) is not None:
            access_services.totp_remove(user=user)
            messages.success(request, "Two-step sign-in is off.")
            return redirect("web:two_factor")
        form.add_error("token", "That code is not right.")
    confirmed = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    context = {"form": form, "confirmed": confirmed, "pending": pending}
    if pending is not None and confirmed is None:
        context["qr_svg"] = _qr_svg(pending.config_url)
        context["secret"] = _b32(pending)
    return render(request, "web/two_factor.html", context)


def _b32(device: TOTPDevice) -> str:
    from base64 import b32encode

    key = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))
