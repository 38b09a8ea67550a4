"""Small display filters (wording only; no decisions)."""

from __future__ import annotations

from typing import Any

from django import template

from rollsync.web.selectors import feed_label

register = template.Library()


@register.filter
def words(value: Any) -> str:
    """'moved_in' -> 'moved in'."""
    return str(value).replace("_", " ")


@register.filter
def upload_label(upload: Any) -> str:
    return feed_label(upload.report, upload.fmt)


@register.filter
def get(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key)
    except AttributeError:
        return None
