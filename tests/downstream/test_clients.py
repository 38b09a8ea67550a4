"""Downstream client credentials: made, listed, rotated and revoked from the command
line; secrets kept only as hashes; a client is a read-only principal at its scope."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from click.testing import CliRunner

from rollsync.access.roles import Action
from rollsync.access.selectors import allows, restrict, schools_for
from rollsync.cli import main
from rollsync.directory import models as m
from rollsync.downstream.models import AccessToken, DownstreamClient
from rollsync.downstream.services import (
    access_token_store,
    downstream_client_revoke,
    oneroster_client_authenticate,
    scim_client_verify,
)


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["downstream", "client", *args], catch_exceptions=False)
    assert result.exit_code == code, (result.exit_code, result.output)
    return result.stdout


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def test_create_oneroster_prints_client_credentials_once(school: m.School) -> None:
    made = json.loads(
        _run("create", "--name", "SDS", "--school", "100001", "--kind", "oneroster", "--json")
    )
    client = DownstreamClient.objects.get()
    assert set(made) == {"id", "client_id", "client_secret"}
    assert (made["id"], made["client_id"]) == (client.pk, client.client_id)
    assert (client.kind, client.school_id, client.la_id) == ("oneroster", school.pk, None)
    assert client.secret_hash == _sha(made["client_secret"])
    assert made["client_secret"] not in json.dumps(
        [f.value_from_object(client) for f in client._meta.fields], default=str
    )
    listed = _run("list", "--json")
    assert made["client_secret"] not in listed and made["client_secret"] not in _run("list")
    assert [r["client_id"] for r in json.loads(listed)] == [client.client_id]
    event = m.AuditEvent.objects.get(action="downstream_client_created")
    assert (event.action, event.school_id, event.actor) == (
        "downstream_client_created",
        school.pk,
        "operator",
    )
    assert (
        oneroster_client_authenticate(
            client_id=made["client_id"], client_secret=made["client_secret"]
        )
        == client
    )


def test_create_scim_prints_a_bearer_token_that_verify_accepts(school: m.School) -> None:
    made = json.loads(_run("create", "--name", "Okta", "--la", "202", "--kind", "scim", "--json"))
    assert set(made) == {"id", "token"}
    client = DownstreamClient.objects.get()
    assert (client.kind, client.la_id, client.school_id) == ("scim", school.la_id, None)
    assert scim_client_verify(token=made["token"]) == client
    assert DownstreamClient.objects.get().last_used_at is not None
    assert scim_client_verify(token=made["token"] + "x") is None
    assert scim_client_verify(token="") is None
    assert scim_client_verify(token=made["token"][:-1]) is None
    # A SCIM token is no OneRoster client secret.
    assert (
        oneroster_client_authenticate(client_id=client.client_id, client_secret=made["token"])
        is None
    )


def test_bad_input_is_refused_and_nothing_is_made(school: m.School) -> None:
    _run("create", "--name", "x", "--kind", "scim", code=2)
    _run("create", "--name", "x", "--school", "100001", "--la", "202", "--kind", "scim", code=2)
    _run("create", "--name", "x", "--school", "100001", "--kind", "ldap", code=2)
    _run("create", "--name", "x", "--school", "999999", "--kind", "scim", code=1)
    _run("create", "--name", "x", "--la", "999", "--kind", "scim", code=1)
    out = CliRunner().invoke(
        main,
        ["downstream", "client", "create", "--name", "  ", "--school", "100001", "--kind", "scim"],
    )
    assert out.exit_code == 2 and "name" in out.output
    assert not DownstreamClient.objects.exists()
    assert not m.AuditEvent.objects.filter(action__startswith="downstream").exists()


def test_a_client_is_a_read_only_principal_at_its_scope(clients: dict[str, Any]) -> None:
    school_client = clients["school"][0]
    la_client = clients["la"][0]
    assert list(schools_for(school_client).values_list("urn", flat=True)) == ["100001"]
    assert sorted(schools_for(la_client).values_list("urn", flat=True)) == ["100001", "100002"]
    assert sorted(schools_for(clients["other_la"][0]).values_list("urn", flat=True)) == ["200001"]
    for client, _ in clients.values():
        for action in (Action.OPERATE, Action.CONFIGURE, Action.REPORTS, Action.FORCE_RUN):
            assert not allows(client, action)
            assert not schools_for(client, action).exists()
    assert restrict(m.School.objects.all(), school_client).count() == 1
    downstream_client_revoke(client_pk=school_client.pk)
    school_client.refresh_from_db()
    assert not restrict(m.School.objects.all(), school_client).exists()


def test_rotate_replaces_the_secret_and_ends_its_tokens(clients: dict[str, Any]) -> None:
    client, old = clients["school"]
    access_token_store(client=client, token="rsa_a", scopes=[], expires_in=3600)
    kept = access_token_store(client=clients["la"][0], token="rsa_b", scopes=[], expires_in=60)
    made = json.loads(_run("rotate", client.client_id, "--json"))
    assert (
        set(made) == {"id", "client_id", "client_secret"} and made["client_id"] == client.client_id
    )
    assert oneroster_client_authenticate(client_id=client.client_id, client_secret=old) is None
    assert (
        oneroster_client_authenticate(
            client_id=client.client_id, client_secret=made["client_secret"]
        )
        is not None
    )
    assert list(AccessToken.objects.all()) == [kept]
    assert m.AuditEvent.objects.filter(action="downstream_client_rotated").count() == 1
    scim, token = clients["scim"]
    new = json.loads(_run("rotate", str(scim.pk), "--json"))
    assert set(new) == {"id", "token"}
    assert (
        scim_client_verify(token=token) is None and scim_client_verify(token=new["token"]) == scim
    )


def test_revoke_is_at_once_and_for_good(clients: dict[str, Any]) -> None:
    client, secret = clients["scim"]
    assert "revoked" in _run("revoke", str(client.pk))
    assert scim_client_verify(token=secret) is None
    _run("revoke", str(client.pk), code=1)  # already revoked: refused, nothing changes
    _run("rotate", str(client.pk), code=1)
    _run("revoke", "9999", code=1)
    _run("revoke", "rsc_nonesuch", code=1)
    assert m.AuditEvent.objects.filter(action="downstream_client_revoked").count() == 1
    rows = {r["id"]: r for r in json.loads(_run("list", "--json"))}
    assert rows[client.pk]["revoked_at"] is not None
    assert sum(1 for r in rows.values() if r["revoked_at"] is None) == 4


def test_list_by_scope(clients: dict[str, Any]) -> None:
    by_school = json.loads(_run("list", "--school", "100001", "--json"))
    assert sorted(r["name"] for r in by_school) == ["Okta", "SDS"]
    by_la = json.loads(_run("list", "--la", "303", "--json"))
    assert [r["name"] for r in by_la] == ["South"]
    _run("list", "--school", "999999", code=1)
