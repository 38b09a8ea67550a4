"""Limits every door applies the same way (web form, JSON API, `rollsync import`, the
directory service): one number each, defined once here."""

from __future__ import annotations

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
"""The largest upload rollsync accepts: 100 MiB, far beyond any school's export. Every
door checks it while reading the file, before anything is stored."""
