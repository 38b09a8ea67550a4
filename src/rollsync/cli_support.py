"""What every `rollsync` command group shares: lazy Django set-up, JSON output, failing
with the command's exit codes (0 done, 1 the work failed or was refused, 2 bad input)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, NoReturn

import click

_django_ready = False


def setup_django() -> None:
    """Configure Django on first use, so `--help` and pure commands stay fast."""
    global _django_ready
    if _django_ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
    import django

    django.setup()
    _django_ready = True


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str))


def fail(message: str, *, as_json: bool = False, code: int = 1) -> NoReturn:
    if as_json:
        emit_json({"error": message})
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)
