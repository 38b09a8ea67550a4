"""Small display filters (wording only; no decisions)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from rollsync.directory.services.uploads import PULL_FAILED
from rollsync.domain.run_status import GREY, RED, run_view
from rollsync.web.selectors import feed_label

register = template.Library()


@register.filter
def words(value: Any) -> str:
    """'moved_in' -> 'moved in'."""
    return str(value).replace("_", " ")


@register.filter
def report_label(code: Any) -> str:
    """'groups' -> 'Groups & Classes'."""
    from rollsync.domain.reports import CATALOGUE

    spec = CATALOGUE.get(str(code))
    return spec.label if spec else str(code)


@register.filter
def upload_label(upload: Any) -> str:
    return feed_label(upload.report, upload.fmt)


@register.filter
def get(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key)
    except AttributeError:
        return None


def _badge(code: str, label: str, tone: str) -> SafeString:
    return format_html(
        '<span class="status status-{} status-{}" data-status="{}">{}</span>',
        tone,
        code,
        code,
        label,
    )


@register.filter
def run_badge(run: Any) -> SafeString:
    """A run's status as people read it: "Applied with 3 rejected rows" (amber), "Waiting
    for run 12", "Rejected"... (`domain.run_status.run_view`)."""
    view = run_view(status=run.status, counts=run.counts, waits_for=run.waits_for_id)
    return _badge(view.code, view.label, view.tone)


@register.filter
def upload_badge(upload: Any) -> SafeString:
    """An upload's status: its latest run's (annotated by `selectors.upload_history`), or
    its outcome while it has no run (received, queued, abandoned...)."""
    status = getattr(upload, "run_status", None)
    if status:
        view = run_view(
            status=status,
            counts=getattr(upload, "run_counts", None),
            waits_for=getattr(upload, "run_waits_for", None),
        )
        return _badge(view.code, view.label, view.tone)
    outcome = str(upload.outcome)
    if outcome == PULL_FAILED:
        return _badge("pull_failed", "Pull failed", RED)
    return _badge(outcome, outcome.replace("_", " ").capitalize(), GREY)


@register.filter
def pull_failure(upload: Any) -> str:
    """Why a pull from the MIS failed (kept in the row's file name: "pull failed: <why>")."""
    name = str(upload.filename or "")
    prefix = f"{PULL_FAILED}: "
    return name[len(prefix) :] if name.startswith(prefix) else name
