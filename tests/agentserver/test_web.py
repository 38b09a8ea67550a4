"""AutoUpdate Settings for a SIMS school: the "rollsync agent" panel, the licence key
shown once (then only its last characters), who may issue it, the agent's status and
light on the page, the LA dashboard and the API; the agent package to download; and an
upload by hand of a SIMS CommandReporter report."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rollsync.access.services import user_grant
from rollsync.directory import models as m
from rollsync.directory.services.agent import agent_contact, agent_status_record
from rollsync.directory.services.schools import school_add
from rollsync.web.forms import UploadForm
from tests.agentserver.conftest import make_agent, sims_school
from tests.agentserver.test_endpoints import STATUS

PASSWORD = "a-long-test-password-9"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def signed_in(role: str = "school_admin", **where: Any) -> Client:
    name = f"{role}-{where.get('school').urn if where.get('school') else where.get('la')}"
    grant = user_grant(username=name, password=PASSWORD, role=role, **where)
    client = Client()
    client.force_login(grant.user)
    return client


def settings_page(client: Client, school: m.School) -> str:
    response = client.get(reverse("web:settings", kwargs={"urn": school.urn}))
    assert response.status_code == 200
    return response.content.decode()


def _issue(client: Client, school: m.School) -> Any:
    return client.post(reverse("web:connection_agent_licence", kwargs={"urn": school.urn}))


def test_the_key_is_shown_once_then_only_its_hint(db: Any) -> None:
    school = sims_school()
    client = signed_in(school=school)
    page = settings_page(client, school)
    assert "rollsync agent" in page and "Issue a licence key" in page
    assert "The rollsync agent is not set up" in page and 'class="light red"' in page
    assert ">Force run</button>" not in page and "Run from the MIS" not in page
    response = _issue(client, school)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    shown = re.search(
        r'<code class="licence-key" data-copy>(RSA-[A-Z0-9-]+)</code>', response.content.decode()
    )
    assert shown is not None
    key = shown.group(1)
    assert "it will not be shown again" in response.content.decode()
    conn = m.MisConnection.objects.get(school=school)
    assert conn.settings["licence_key_sha256"] == hashlib.sha256(key.encode()).hexdigest()
    after = settings_page(client, school)
    assert key not in after
    issued = timezone.localtime(conn.connected_at)
    assert f"<code>…{key[-4:]}</code>, issued {issued.day} {issued:%b %Y}" in after
    assert "Replace the licence key" in after
    assert "Waiting for the agent: install it on the SIMS server" in after
    for name in ("upload_history", "bulk_results", "runs"):
        other = client.get(reverse(f"web:{name}", kwargs={"urn": school.urn}))
        assert other.status_code == 200 and key not in other.content.decode()
    again = _issue(client, school).content.decode()
    assert "replaces the school's earlier one" in again and key not in again
    school.refresh_from_db()
    assert school.mis == "SIMS"


def test_a_read_only_user_another_school_or_nobody_cannot_issue(db: Any) -> None:
    school = sims_school()
    reader = signed_in("read_only", school=school)
    page = settings_page(reader, school)
    assert "Issue a licence key" not in page and "A school admin issues the licence key" in page
    assert _issue(reader, school).status_code == 403
    other = school_add(urn="300001", la_code="303", estab="3001", name="Elsewhere", actor="t")
    assert _issue(signed_in(school=other), school).status_code == 404
    signed_out = _issue(Client(), school)
    assert signed_out.status_code == 302 and signed_out["Location"].startswith("/login/")
    assert not m.MisConnection.objects.filter(school=school).exists()
    assert not m.AuditEvent.objects.filter(action="agent_licence_issued").exists()


def test_an_la_admin_may_issue(db: Any) -> None:
    school = sims_school()
    assert _issue(signed_in("la_admin", la="202"), school).status_code == 200
    assert m.MisConnection.objects.get(school=school).connector == "sims"


def test_the_page_shows_the_agents_status_and_light(db: Any) -> None:
    agent = make_agent()
    agent.send("students", agent.extract("students"))
    agent_status_record(licence_key=agent.key, report=STATUS)
    client = signed_in(school=agent.school)
    page = settings_page(client, agent.school)
    assert "0.1.0" in page and "SIMS-SRV (Windows-10)" in page
    assert '<span class="light red">Upload</span> the server refused students' in page
    assert '<span class="light green">Extract</span> 7 reports extracted' in page
    assert "The agent&#x27;s upload light is red: the server refused students" in page
    assert "students, Queued" in page or "students, queued" in page.lower()
    # silent for a week: five school evenings passed (the rule itself: test_light.py)
    week_ago = timezone.now() - timedelta(days=7)
    m.MisConnection.objects.filter(school=agent.school).update(last_contact_at=week_ago)
    la = signed_in("la_admin", la="202")
    dashboard = la.get(reverse("web:la_dashboard", kwargs={"code": "202"})).content.decode()
    assert "Agent silent" in dashboard
    assert "No contact from the rollsync agent for 5 school days" in dashboard
    body = (
        Client()
        .get(f"/api/v1/schools/{agent.school.urn}/connection", **_api_auth(agent.school))
        .json()
    )
    assert (body["connector"], body["state"], body["light"]) == ("sims", "agent silent", "red")
    assert (
        body["agent"]["hostname"] == "SIMS-SRV" and body["agent"]["licence_hint"] == agent.key[-4:]
    )
    assert "licence_key_sha256" not in json.dumps(body) and agent.key not in json.dumps(body)


def _api_auth(school: m.School) -> dict[str, str]:
    from rollsync.api.services import api_token_create

    _, secret = api_token_create(name="t", school=school, actor="t", read_only=True)
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_a_refused_extract_shows_on_the_page_until_one_is_stored(db: Any) -> None:
    agent = make_agent()
    bad = b"<CommandReporterError><Message>Report not found</Message></CommandReporterError>"
    uid = agent.begin("staff", bad).json()["id"]
    assert agent.patch(uid, 0, bad).status_code == 422
    client = signed_in(school=agent.school)
    page = settings_page(client, agent.school)
    assert "Last refused upload" in page and "Report not found" in page
    agent.send("staff", agent.extract("staff"))
    assert "Last refused upload" not in settings_page(client, agent.school)


def test_disconnecting_forgets_the_key(db: Any) -> None:
    from rollsync.directory.services.agent import AgentUnauthorised

    agent = make_agent()
    client = signed_in(school=agent.school)
    url = reverse("web:connection_disconnect", kwargs={"urn": agent.school.urn})
    assert "licence key" in client.get(url).content.decode()
    client.post(url)
    assert not m.MisConnection.objects.filter(school=agent.school).exists()
    with pytest.raises(AgentUnauthorised):
        agent_contact(licence_key=agent.key)
    assert agent.get("hello").status_code == 401


# --- the agent package ----------------------------------------------------------------------


def _agent_source(tmp_path: Path) -> Path:
    source = tmp_path / "agent"
    (source / "src" / "rollsync_agent" / "__pycache__").mkdir(parents=True)
    (source / "pyproject.toml").write_text(
        '[project]\nname = "rollsync-agent"\nversion = "0.3.1"\n', encoding="utf-8"
    )
    (source / "src" / "rollsync_agent" / "__init__.py").write_text("", encoding="utf-8")
    (source / "src" / "rollsync_agent" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"x")
    (source / "src" / "rollsync_agent.egg-info").mkdir()
    (source / "src" / "rollsync_agent.egg-info" / "PKG-INFO").write_text("x", encoding="utf-8")
    (source / ".venv" / "bin").mkdir(parents=True)
    (source / ".venv" / "bin" / "python").write_text("x", encoding="utf-8")
    (source / "README.md").write_text("agent", encoding="utf-8")
    return source


def test_the_agent_package_downloads_as_an_installable_tarball(
    db: Any, tmp_path: Path, settings: Any
) -> None:
    settings.ROLLSYNC_AGENT_SOURCE = _agent_source(tmp_path)
    school = sims_school()
    client = signed_in("read_only", school=school)
    url = reverse("web:agent_download", kwargs={"urn": school.urn})
    assert f'href="{url}"' in settings_page(client, school)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="rollsync-agent-0.3.1.tar.gz"'
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        names = sorted(tar.getnames())
    assert names == [
        "rollsync-agent-0.3.1/README.md",
        "rollsync-agent-0.3.1/pyproject.toml",
        "rollsync-agent-0.3.1/src",
        "rollsync-agent-0.3.1/src/rollsync_agent",
        "rollsync-agent-0.3.1/src/rollsync_agent/__init__.py",
    ]
    assert client.get(url).content == response.content  # the same bytes every time


def test_without_the_agent_source_the_page_says_so(db: Any, tmp_path: Path, settings: Any) -> None:
    settings.ROLLSYNC_AGENT_SOURCE = tmp_path / "nowhere"
    school = sims_school()
    client = signed_in(school=school)
    url = reverse("web:agent_download", kwargs={"urn": school.urn})
    page = settings_page(client, school)
    assert "The rollsync agent package is not available on this server" in page
    assert url not in page
    assert client.get(url).status_code == 404


# --- an upload by hand ---------------------------------------------------------------------


def test_the_upload_form_takes_a_sims_report(db: Any) -> None:
    agent = make_agent()
    data = agent.extract("staff")
    form = UploadForm(
        {"fmt": "sims-superstar", "report": "staff"},
        {"file": SimpleUploadedFile("staff.xml", data)},
    )
    assert form.is_valid(), form.errors
    missing = UploadForm(
        {"fmt": "sims-superstar", "report": ""}, {"file": SimpleUploadedFile("staff.xml", data)}
    )
    assert not missing.is_valid()
    assert missing.errors["report"] == ["This format holds one report per file: choose which."]
    client = signed_in(school=agent.school)
    response = client.post(
        reverse("web:upload_file", kwargs={"urn": agent.school.urn}),
        {"fmt": "sims-superstar", "report": "staff", "file": SimpleUploadedFile("staff.xml", data)},
    )
    assert response.status_code in (200, 302), response.content[:500]
    upload = m.Upload.objects.get()
    assert (upload.fmt, upload.report, upload.source, bytes(upload.data)) == (
        "sims-superstar",
        "staff",
        "web",
        data,
    )


def test_a_key_issued_a_while_ago_and_never_used_stays_yellow(db: Any) -> None:
    agent = make_agent()
    week_ago = timezone.now() - timedelta(days=7)
    conn = m.MisConnection.objects.get(school=agent.school)
    m.MisConnection.objects.filter(pk=conn.pk).update(
        settings={**conn.settings, "credentials_issued_at": week_ago.isoformat()}
    )
    page = settings_page(signed_in(school=agent.school), agent.school)
    assert 'data-state="awaiting agent"' in page


def test_a_sims_report_by_hand_through_the_api_and_the_command(db: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from rollsync.api.services import api_token_create
    from rollsync.cli import main

    agent = make_agent()
    data = agent.extract("staff")
    _, secret = api_token_create(name="w", school=agent.school, actor="t", read_only=False)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    url = f"/api/v1/schools/{agent.school.urn}/uploads"
    missing = Client().post(
        url, {"file": SimpleUploadedFile("s.xml", data), "format": "sims-superstar"}, **auth
    )
    assert missing.status_code == 422
    assert (
        missing.json()["detail"]
        == "report: required with format sims-superstar (one report per file)"
    )
    assert not m.Upload.objects.exists()
    response = Client().post(
        url,
        {"file": SimpleUploadedFile("s.xml", data), "format": "sims-superstar", "report": "staff"},
        **auth,
    )
    assert response.status_code == 202, response.content
    upload = m.Upload.objects.get()
    assert (upload.fmt, upload.report, upload.source) == ("sims-superstar", "staff", "api")
    path = tmp_path / "staff.xml"
    path.write_bytes(data)
    result = CliRunner().invoke(
        main,
        [
            "import",
            str(path),
            "--school",
            agent.school.urn,
            "--format",
            "sims-superstar",
            "--report",
            "staff",
            "--json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "applied"
    assert m.Upload.objects.filter(fmt="sims-superstar", source="cli").count() == 1
