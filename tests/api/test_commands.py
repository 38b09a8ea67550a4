"""`rollsync api-token` (the click group in rollsync.api.commands), run as a person runs
it: through `rollsync`, whose group translates a refusal once."""

from __future__ import annotations

import hashlib
import json

from click.testing import CliRunner

from rollsync.api.models import ApiToken
from rollsync.cli import main
from rollsync.directory import models as m


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["api-token", *args], catch_exceptions=False)
    assert result.exit_code == code, (result.exit_code, result.output)
    return result.stdout


def test_create_prints_the_secret_once_and_stores_its_hash(school: m.School) -> None:
    out = _run("create", "--name", "nightly export", "--school", "100001", "--json")
    made = json.loads(out)
    token = ApiToken.objects.get()
    assert (made["id"], made["name"], made["school"], made["la"], made["read_only"]) == (
        token.pk,
        "nightly export",
        "100001",
        None,
        False,
    )
    assert token.token_hash == hashlib.sha256(made["secret"].encode()).hexdigest()
    listed = json.loads(_run("list", "--json"))
    assert [r["id"] for r in listed] == [token.pk]
    assert "secret" not in listed[0]
    assert made["secret"] not in _run("list")


def test_create_for_an_la_read_only_then_revoke(school: m.School) -> None:
    out = _run("create", "--name", "dashboards", "--la", "202", "--read-only")
    token = ApiToken.objects.get()
    assert out.splitlines()[0] == f"API token {token.pk} 'dashboards' for LA 202 (read-only)"
    assert out.splitlines()[1].startswith("rsk_")
    assert _run("revoke", str(token.pk), "--by", "ops") == (
        f"API token {token.pk} 'dashboards' revoked\n"
    )
    token.refresh_from_db()
    assert (token.revoked_by, token.revoked_at is not None) == ("ops", True)
    _run("revoke", str(token.pk), code=1)
    assert "revoked" in _run("list", "--la", "202")


def test_create_refuses_bad_scopes(school: m.School) -> None:
    _run("create", "--name", "x", code=2)
    _run("create", "--name", "x", "--school", "100001", "--la", "202", code=2)
    _run("create", "--name", "x", "--school", "999999", code=1)
    _run("create", "--name", "x", "--la", "999", code=1)
    _run("create", "--name", " ", "--school", "100001", code=2)
    assert ApiToken.objects.count() == 0
