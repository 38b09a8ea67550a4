"""The OpenAPI 3.1 document of the JSON API, as committed in docs/openapi.json.

    python -m rollsync.api.openapi [docs/openapi.json]

writes it (to stdout without a path); tests/api/test_openapi.py fails when the
committed file differs from what the code generates."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def openapi_document() -> dict[str, Any]:
    from rollsync.api.api import api

    document: dict[str, Any] = json.loads(json.dumps(api.get_openapi_schema(), default=str))
    return document


def openapi_text() -> str:
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
    import django

    django.setup()
    text = openapi_text()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
