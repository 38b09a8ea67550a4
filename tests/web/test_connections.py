"""The MIS connection on AutoUpdate Settings: the panel, connect (credentials checked at
once; nothing stored when they fail), Arbor's approval hand-off and its return, the
schedule, Force run through the connection, disconnect, and who may do each; Upload
History's pulls; the LA dashboard's and Whole School Bulk Results' light.

The vendor connectors are stubs here (their check and pull refuse): the refusal path
runs against them, the success paths patch the connector class in the test."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rollsync.connectors import (
    Approved,
    CheckResult,
    ConnectorError,
    CredentialsRefused,
    Pulled,
    SettingField,
)
from rollsync.connectors.arbor import ArborConnector
from rollsync.connectors.isams import IsamsConnector
from rollsync.directory import models as m
from rollsync.directory.secrets import seal, unseal
from rollsync.directory.services.uploads import upload_record_failed_pull
from rollsync.ingest import reader_for
from rollsync.ingest.isams_api import IsamsApiReader
from tests.access.helpers import World, class_list, csv_bytes, everything, make_user
from tests.web.conftest import run_worker

SECRET = "s3cret-Client-Value-7f2c9"
TOKEN = "arbor-Token-Value-91ab"
ISAMS_FIELDS = (
    SettingField("url", "MIS URL", help="https://yourschool.isams.cloud"),
    SettingField("client_id", "Client ID"),
    SettingField("client_secret", "Client secret", secret=True),
)


@pytest.fixture(autouse=True)
def connection_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets are sealed under a key of the test's own (never a key file on disk)."""
    monkeypatch.setenv("ROLLSYNC_CONNECTION_KEYS", Fernet.generate_key().decode())


@pytest.fixture(autouse=True)
def isams_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """The iSAMS connector's fields as the real one has them (the stub has only a URL)."""
    monkeypatch.setattr(IsamsConnector, "fields", ISAMS_FIELDS)


@pytest.fixture
def check_passes(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []

    def check(self: Any, connection: Any) -> CheckResult:
        seen.append(connection)
        return CheckResult("Token issued; 10 students visible")

    monkeypatch.setattr(IsamsConnector, "check", check)
    return seen


def as_user(client: Client, world: World, key: str) -> Client:
    client.force_login(make_user(key, world))
    return client


@pytest.fixture
def admin(world: World, client: Client) -> Client:
    return as_user(client, world, "school_admin")


def url(name: str, school: m.School, **kwargs: Any) -> str:
    return reverse(f"web:{name}", kwargs={"urn": school.urn, **kwargs})


def text(response: Any) -> str:
    return response.content.decode()


def messages_of(response: Any) -> list[str]:
    return [str(msg) for msg in response.context["messages"]] if response.context else []


def connections() -> list[dict[str, Any]]:
    return list(m.MisConnection.objects.order_by("pk").values())


def make_connection(school: m.School, **extra: Any) -> m.MisConnection:
    now = timezone.now()
    fields: dict[str, Any] = {
        "connector": "isams",
        "settings": {"url": "https://hillside.isams.cloud", "client_id": "hillside-client"},
        "secrets": seal({"client_secret": SECRET}),
        "state": m.MisConnection.State.CONNECTED,
        "schedule": "0 2 * * *",
        "next_pull_at": now + timedelta(hours=3),
        "last_pull_at": now - timedelta(hours=20),
        "last_outcome": "applied",
        "connected_by": "someone",
        **extra,
    }
    return m.MisConnection.objects.create(school=school, **fields)


def connect_post(**overrides: str) -> dict[str, str]:
    return {
        "connector": "isams",
        "url": "https://hillside.isams.cloud",
        "client_id": "hillside-client",
        "client_secret": SECRET,
        **overrides,
    }


# --- the panel -----------------------------------------------------------------------------


def test_without_a_connection_the_panel_says_not_set_up_and_offers_the_connectors(
    world: World, admin: Client
) -> None:
    page = admin.get(url("settings", world.home.school))
    assert page.status_code == 200
    body = text(page)
    assert 'id="connection">MIS connection</h2>' in body
    # The home school uploads files: no connection is expected, so no red light.
    assert "No MIS connection. The school sends its data by uploading files." in body
    assert 'class="light' not in body[body.index('id="connection"') : body.index("reports-heading")]
    # The home school runs no MIS: the school chooses one of the connectors.
    choices = [c for c, _label in page.context["choose_form"].fields["connector"].choices]
    assert choices == ["isams", "arbor", "wonde"]
    assert page.context["connect_form"] is None
    assert "Disconnect" not in body

    chosen = admin.get(url("settings", world.home.school) + "?connector=isams")
    body = text(chosen)
    assert 'name="url"' in body and 'name="client_id"' in body
    assert '<input type="password" name="client_secret"' in body
    assert "Check and connect IRIS iSAMS / Ed:gen" in body
    assert "leave blank to keep the stored one" not in body  # nothing is stored yet


def test_a_school_whose_mis_is_pulled_but_not_connected_is_red(world: World, admin: Client) -> None:
    m.School.objects.filter(pk=world.home.school.pk).update(mis="Arbor")
    body = text(admin.get(url("settings", world.home.school)))
    assert '<span class="light red" data-state="not set up">Not set up</span>' in body
    assert "No MIS connection: nothing is pulled." in body
    assert "Get the Arbor approval link" not in body  # the stub Arbor needs no approval


def test_a_sims_school_has_no_connection_light(world: World, admin: Client) -> None:
    m.School.objects.filter(pk=world.home.school.pk).update(mis="SIMS")
    body = text(admin.get(url("settings", world.home.school)))
    assert "No MIS connection. SIMS's data arrives another way" in body
    assert 'data-state="not set up"' not in body


def test_a_connected_school_shows_light_last_and_next_pull_schedule_and_secrets_set(
    world: World, admin: Client
) -> None:
    conn = make_connection(world.home.school)
    page = admin.get(url("settings", world.home.school))
    body = text(page)
    assert '<span class="light green" data-state="connected">Connected</span>' in body
    assert "Connected; the last pull was applied." in body
    panel = page.context["connection"]
    assert panel.last_pull_at == conn.last_pull_at
    assert panel.next_pull_at == conn.next_pull_at
    assert "<dt>Schedule</dt><dd>Every day at 02:00</dd>" in body
    assert "<dt>MIS URL</dt><dd>https://hillside.isams.cloud</dd>" in body
    assert "<dt>Client secret</dt><dd>Stored (never shown)</dd>" in body
    assert "<dt>Last error</dt><dd>None</dd>" in body
    # The form offers the stored connection's connector, its settings filled in, the
    # secret empty with the promise that a blank keeps it.
    form = page.context["connect_form"]
    assert form.initial["client_id"] == "hillside-client"
    assert "A value is stored: leave blank to keep the stored one." in body
    assert SECRET not in body
    assert 'name="schedule"' in body and 'value="0 2 * * *"' in body
    assert "Disconnect IRIS iSAMS / Ed:gen" in body
    assert '<button type="submit">Force run</button>' in body


def test_a_failing_connection_shows_the_error_in_plain_words(world: World, admin: Client) -> None:
    make_connection(
        world.home.school,
        state=m.MisConnection.State.FAILING,
        failures=2,
        last_outcome="failed",
        last_error="IRIS did not answer (503) after 4 tries",
    )
    body = text(admin.get(url("settings", world.home.school)))
    assert '<span class="light red" data-state="failing">Failing</span>' in body
    assert "2 pulls in a row failed: IRIS did not answer (503) after 4 tries" in body
    assert "<dt>Last error</dt><dd>IRIS did not answer (503) after 4 tries</dd>" in body


def test_read_only_sees_the_status_but_no_form(world: World, client: Client) -> None:
    make_connection(world.home.school)
    reader = as_user(client, world, "read_only_school")
    page = reader.get(url("settings", world.home.school))
    body = text(page)
    assert page.status_code == 200
    assert "Connected; the last pull was applied." in body
    for absent in (
        reverse("web:connection_connect", kwargs={"urn": world.home.school.urn}),
        reverse("web:connection_disconnect", kwargs={"urn": world.home.school.urn}),
        reverse("web:connection_schedule", kwargs={"urn": world.home.school.urn}),
        reverse("web:connection_pull", kwargs={"urn": world.home.school.urn}),
        "Check and connect",
    ):
        assert absent not in body
    assert SECRET not in body


# --- connecting ----------------------------------------------------------------------------


def test_a_failed_check_stores_nothing_and_says_why(world: World, admin: Client) -> None:
    """The stub connector's check refuses, as a vendor refusing the credentials does."""
    before, school_before = everything(), world.home.school.mis
    response = admin.post(url("connection_connect", world.home.school), connect_post())
    assert response.status_code == 400
    body = text(response)
    assert "The IRIS iSAMS / Ed:gen connector is not built yet." in body
    assert connections() == []
    assert everything() == before
    assert m.School.objects.get(pk=world.home.school.pk).mis == school_before
    assert SECRET not in body  # never echoed back, not even into the form


def test_a_refusal_naming_a_field_is_shown_next_to_it(
    world: World, admin: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def check(self: Any, connection: Any) -> CheckResult:
        raise CredentialsRefused("IRIS refused the client ID and secret", field="client_secret")

    monkeypatch.setattr(IsamsConnector, "check", check)
    response = admin.post(url("connection_connect", world.home.school), connect_post())
    assert response.status_code == 400
    form = response.context["connect_form"]
    assert form.errors["client_secret"] == ["IRIS refused the client ID and secret."]
    body = text(response)
    assert '<ul class="errorlist" id="conn_client_secret_error">' in body
    assert SECRET not in body
    assert connections() == []

    # A required value left out: the service names the field, nothing is stored.
    response = admin.post(url("connection_connect", world.home.school), connect_post(client_id=""))
    assert response.status_code == 400
    assert response.context["connect_form"].errors["client_id"] == [
        "Client ID is required for IRIS iSAMS / Ed:gen."
    ]
    # An unsafe URL, next to the URL.
    response = admin.post(
        url("connection_connect", world.home.school), connect_post(url="http://example.org")
    )
    assert response.status_code == 400
    assert "plain http" in response.context["connect_form"].errors["url"][0]
    assert connections() == []


def test_connect_checks_stores_and_then_never_shows_the_secret(
    world: World, admin: Client, check_passes: list[Any]
) -> None:
    school = world.home.school
    response = admin.post(url("connection_connect", school), connect_post(), follow=True)
    assert response.redirect_chain[-1][0].endswith("/settings/#connection")
    assert messages_of(response) == [
        "IRIS iSAMS / Ed:gen is connected: the credentials were accepted.",
        # as Change MIS says it: the home school had accepted reports iSAMS cannot send
        "IRIS iSAMS cannot send Contacts, Groups & Classes: those reports are no longer accepted.",
    ]
    # Checked with what was entered.
    assert check_passes[0].settings["client_id"] == "hillside-client"
    assert check_passes[0].secrets == {"client_secret": SECRET}
    conn = m.MisConnection.objects.get(school=school)
    assert conn.connector == "isams"
    assert conn.settings == {"url": "https://hillside.isams.cloud", "client_id": "hillside-client"}
    assert unseal(conn.secrets) == {"client_secret": SECRET}
    assert SECRET.encode() not in bytes(conn.secrets)
    assert conn.connected_by == "school_admin"
    assert m.School.objects.get(pk=school.pk).mis == "IRIS iSAMS"
    body = text(response)
    assert '<span class="light green" data-state="connected">Connected</span>' in body
    assert "<dt>Client secret</dt><dd>Stored (never shown)</dd>" in body
    assert SECRET not in body


def test_reconnecting_with_a_blank_secret_keeps_the_stored_one(
    world: World, admin: Client, check_passes: list[Any]
) -> None:
    school = world.home.school
    make_connection(school)
    response = admin.post(
        url("connection_connect", school), connect_post(client_id="new-client", client_secret="")
    )
    assert response.status_code == 302
    conn = m.MisConnection.objects.get(school=school)
    assert conn.settings["client_id"] == "new-client"
    assert unseal(conn.secrets) == {"client_secret": SECRET}
    assert check_passes[-1].secrets == {"client_secret": SECRET}


def test_an_unknown_connector_is_refused(world: World, admin: Client) -> None:
    before = everything()
    response = admin.post(
        url("connection_connect", world.home.school), connect_post(connector="nope"), follow=True
    )
    assert messages_of(response) == ["Choose an MIS from the list."]
    assert connections() == [] and everything() == before


# --- who may ---------------------------------------------------------------------------


def _writes(school: m.School) -> list[tuple[str, str, dict[str, str]]]:
    return [
        ("post", url("connection_connect", school), connect_post()),
        ("post", url("connection_approval", school), {"connector": "arbor"}),
        ("post", url("connection_schedule", school), {"schedule": "15 3 * * *"}),
        ("post", url("connection_pull", school), {"report": ""}),
        ("get", url("connection_disconnect", school), {}),
        ("post", url("connection_disconnect", school), {}),
    ]


@pytest.mark.parametrize("key", ["read_only_school", "read_only_la", "headteacher"])
def test_roles_without_configure_cannot_connect_or_disconnect(
    world: World, client: Client, key: str, check_passes: list[Any]
) -> None:
    make_connection(world.home.school)
    as_user(client, world, key)
    before, conns = everything(), connections()
    for method, address, data in _writes(world.home.school):
        response = getattr(client, method)(address, data)
        assert response.status_code == 403, (key, address)
        assert SECRET not in text(response)
    assert connections() == conns
    assert everything() == before
    assert check_passes == []  # the credentials were never even tried


def test_another_schools_admin_gets_404_and_nothing_changes(
    world: World, admin: Client, check_passes: list[Any]
) -> None:
    make_connection(world.foreign.school, settings={"url": "https://far.isams.cloud"})
    before, conns = everything(), connections()
    for method, address, data in _writes(world.foreign.school):
        response = getattr(admin, method)(address, data)
        assert response.status_code == 404, address
    assert admin.get(url("settings", world.foreign.school)).status_code == 404
    assert connections() == conns and everything() == before
    assert check_passes == []


def test_an_la_admin_connects_a_school_of_their_la(
    world: World, client: Client, check_passes: list[Any]
) -> None:
    as_user(client, world, "la_admin")
    response = client.post(url("connection_connect", world.sibling), connect_post())
    assert response.status_code == 302
    assert m.MisConnection.objects.get(school=world.sibling).connected_by == "la_admin"
    assert (
        client.post(url("connection_connect", world.foreign.school), connect_post()).status_code
        == 404
    )


# --- schedule ------------------------------------------------------------------------------


def test_the_schedule_is_edited_and_a_bad_one_is_shown_next_to_the_field(
    world: World, admin: Client
) -> None:
    school = world.home.school
    make_connection(school)
    response = admin.post(
        url("connection_schedule", school), {"schedule": "15 3 * * 1-5"}, follow=True
    )
    assert messages_of(response) == ["Pulls are scheduled weekdays (Monday to Friday) at 03:15."]
    conn = m.MisConnection.objects.get(school=school)
    assert conn.schedule == "15 3 * * 1-5"
    assert timezone.localtime(conn.next_pull_at).strftime("%H:%M") == "03:15"

    bad = admin.post(url("connection_schedule", school), {"schedule": "every night"})
    assert bad.status_code == 400
    errors = bad.context["schedule_form"].errors["schedule"]
    assert errors[0].startswith("'every night' is not a schedule: give five cron fields")
    assert '<ul class="errorlist" id="schedule_schedule_error">' in text(bad)
    assert m.MisConnection.objects.get(school=school).schedule == "15 3 * * 1-5"


# --- disconnect ----------------------------------------------------------------------------


def test_disconnect_asks_first_then_forgets_the_credentials(world: World, admin: Client) -> None:
    school = world.home.school
    make_connection(school)
    ask = admin.get(url("connection_disconnect", school))
    assert ask.status_code == 200
    body = text(ask)
    assert "Disconnect IRIS iSAMS / Ed:gen?" in body
    assert "rollsync will forget the connection and its credentials" in body
    assert SECRET not in body
    assert m.MisConnection.objects.filter(school=school).exists()  # asking changed nothing

    done = admin.post(url("connection_disconnect", school), follow=True)
    assert messages_of(done) == [
        "IRIS iSAMS / Ed:gen is disconnected and its credentials are forgotten. "
        "Nothing more is pulled; uploads and runs stay."
    ]
    assert not m.MisConnection.objects.filter(school=school).exists()
    assert m.AuditEvent.objects.filter(school=school, action="connection_removed").count() == 1
    assert "No MIS connection." in text(done)
    assert "Disconnect IRIS" not in text(done)


# --- Force run through the connection ------------------------------------------------------------


def test_force_run_queues_a_pull_and_the_progress_page_follows_a_failed_pull(
    world: World, admin: Client
) -> None:
    """The stub's pull fails: the page says why, Upload History lists the failed pull."""
    school = world.home.school
    make_connection(school)
    response = admin.post(url("connection_pull", school), {"report": "students"})
    assert response.status_code == 302
    task_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    task = m.QueuedTask.objects.get(pk=task_id)
    assert (task.kind, task.school_id, task.reports) == ("pull", school.pk, ["students"])

    queued = admin.get(response["Location"])
    assert queued.status_code == 200
    assert "Force run: pulling from the MIS" in text(queued)
    assert "Queued." in text(queued)

    run_worker()
    done = admin.get(response["Location"])
    body = text(done)
    assert "Not done." in body
    assert "The IRIS iSAMS / Ed:gen connector is not built yet" in body
    assert "Nothing of this pull was applied" in body

    history = text(admin.get(url("upload_history", school)))
    assert "Pull failed" in history
    assert "status-red status-pull_failed" in history
    assert "<td>IRIS iSAMS</td>" in history  # source: the MIS
    start = history.index("<td>IRIS iSAMS</td>")  # source: the MIS
    row = history[start : history.index("</tr>", start)]
    assert "<td>Students (current)</td>" in row  # what was asked for
    assert '<td class="num">0</td>' in row  # nothing was received
    assert "The IRIS iSAMS / Ed:gen connector is not built yet" in history
    conn = m.MisConnection.objects.get(school=school)
    assert (conn.state, conn.failures, conn.last_outcome) == ("failing", 1, "failed")


def test_force_run_of_a_working_pull_shows_the_run_and_upload_history_the_pull(
    world: World, admin: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    school = world.home.school
    make_connection(school)
    payload = csv_bytes("students", class_list("P", "H"))

    def pull(self: Any, connection: Any, request: Any) -> list[Pulled]:
        assert connection.secrets == {"client_secret": SECRET}
        return [Pulled("students", "isams-api", payload, "students (1 page)")]

    def parse(self: Any, data: bytes, *, school: Any, report: Any, today: Any = None) -> Any:
        return reader_for("csv").parse(data, school=school, report="students", today=today)

    monkeypatch.setattr(IsamsConnector, "pull", pull)
    monkeypatch.setattr(IsamsApiReader, "parse", parse)
    response = admin.post(url("connection_pull", school), {"report": ""})
    assert response.status_code == 302
    run_worker()
    body = text(admin.get(response["Location"]))
    assert "Finished:" in body
    upload = m.Upload.objects.filter(school=school).latest("pk")
    assert (upload.source, upload.asked, upload.fmt) == (
        "IRIS iSAMS",
        "students (1 page)",
        "isams-api",
    )
    run = m.SyncRun.objects.get(upload=upload)
    assert f"Open run {run.pk}" in body

    history = text(admin.get(url("upload_history", school)))
    assert "<td>students (1 page)</td>" in history
    assert f'<td class="num">{len(payload)}</td>' in history
    assert upload.sha256[:12] in history
    assert m.MisConnection.objects.get(school=school).last_outcome in ("applied", "held")


def test_a_second_force_run_follows_the_pull_under_way(world: World, admin: Client) -> None:
    school = world.home.school
    make_connection(school)
    first = admin.post(url("connection_pull", school), {"report": ""})
    tasks_before = m.QueuedTask.objects.count()
    second = admin.post(url("connection_pull", school), {"report": ""}, follow=True)
    assert second.redirect_chain[0][0] == first["Location"]
    assert messages_of(second) == ["A pull of the MIS is already queued or running: here it is."]
    assert m.QueuedTask.objects.count() == tasks_before


def test_force_run_while_awaiting_approval_is_refused_with_missing_endpoint_url(
    world: World, admin: Client
) -> None:
    school = world.home.school
    make_connection(
        school,
        connector="arbor",
        settings={},
        secrets=b"",
        state=m.MisConnection.State.AWAITING_APPROVAL,
        next_pull_at=None,
        last_pull_at=None,
        last_outcome="",
    )
    tasks_before = m.QueuedTask.objects.count()
    response = admin.post(url("connection_pull", school), {"report": ""}, follow=True)
    assert messages_of(response)[0].startswith("MISSING ENDPOINT URL: the school has not approved")
    assert m.QueuedTask.objects.count() == tasks_before


def test_force_run_without_a_connection_is_refused(world: World, admin: Client) -> None:
    before = everything()
    response = admin.post(url("connection_pull", world.home.school), {"report": ""}, follow=True)
    assert "has no MIS connection: connect it first" in messages_of(response)[0]
    assert everything() == before


def test_another_schools_pull_task_is_not_found(world: World, client: Client) -> None:
    make_connection(world.foreign.school)
    operator = as_user(client, world, "region_operator")
    response = operator.post(url("connection_pull", world.foreign.school), {"report": ""})
    task_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    # The task under the home school's URL: 404 (a pull's task names its school).
    assert operator.get(url("task_progress", world.home.school, task_id=task_id)).status_code == 404
    assert (
        operator.get(url("task_progress", world.foreign.school, task_id=task_id)).status_code == 200
    )


# --- Arbor: the approval hand-off -----------------------------------------------------------


@pytest.fixture
def arbor_approval(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def approval_url(self: Any, connection: Any, *, return_url: str, state: str) -> str:
        seen.update(return_url=return_url, state=state)
        return f"https://login.arbor.test/approve?state={state}"

    def complete_approval(self: Any, connection: Any, *, code: str) -> Approved:
        if code != "good-code":
            raise ConnectorError("Arbor did not accept the approval code")
        return Approved(settings={"url": "https://hillside.uk.arbor.sc"}, secrets={"token": TOKEN})

    def check(self: Any, connection: Any) -> CheckResult:
        return CheckResult("Arbor answered; 10 students visible")

    monkeypatch.setattr(ArborConnector, "needs_approval", True)
    monkeypatch.setattr(ArborConnector, "approval_url", approval_url)
    monkeypatch.setattr(ArborConnector, "complete_approval", complete_approval)
    monkeypatch.setattr(ArborConnector, "check", check)
    return seen


def test_arbor_link_then_missing_endpoint_url_then_approval_connects(
    world: World, admin: Client, arbor_approval: dict[str, Any]
) -> None:
    school = world.home.school
    offer = text(admin.get(url("settings", school) + "?connector=arbor"))
    assert "Get the Arbor approval link" in offer

    page = admin.post(url("connection_approval", school), {"connector": "arbor"})
    assert page.status_code == 200
    state = arbor_approval["state"]
    assert arbor_approval["return_url"] == "http://testserver/connections/return/"
    assert f'href="https://login.arbor.test/approve?state={state}"' in text(page)
    conn = m.MisConnection.objects.get(school=school)
    assert (conn.connector, conn.state) == ("arbor", "awaiting_approval")

    waiting = text(admin.get(url("settings", school)))
    assert "MISSING ENDPOINT URL" in waiting
    assert '<span class="light yellow" data-state="awaiting approval">' in waiting
    assert "Re-authorise Arbor" in waiting
    assert '<button type="submit">Force run</button>' not in waiting

    back = admin.get(
        reverse("web:connection_return") + f"?state={state}&code=good-code", follow=True
    )
    assert back.redirect_chain[-1][0].endswith(f"/schools/{school.urn}/settings/#connection")
    assert messages_of(back) == [
        "Arbor access is approved: Hillside Primary's MIS connection is set up."
    ]
    conn.refresh_from_db()
    assert (conn.state, conn.approval_state) == ("connected", "")
    assert unseal(conn.secrets) == {"token": TOKEN}
    assert TOKEN not in text(back)

    # The same link again: used already, nothing changes.
    again = admin.get(reverse("web:connection_return") + f"?state={state}&code=good-code")
    assert again.status_code == 400
    assert "not one rollsync issued, or it was used already" in text(again)


def test_a_refused_or_unknown_approval_stores_nothing(
    world: World, admin: Client, client: Client, arbor_approval: dict[str, Any]
) -> None:
    school = world.home.school
    admin.post(url("connection_approval", school), {"connector": "arbor"})
    state = arbor_approval["state"]
    snapshot = connections()

    unknown = admin.get(reverse("web:connection_return") + "?state=forged&code=good-code")
    assert unknown.status_code == 400
    assert "This approval link is not one rollsync issued" in text(unknown)

    bad_code = admin.get(
        reverse("web:connection_return") + f"?state={state}&code=bad-code", follow=True
    )
    assert messages_of(bad_code) == ["Arbor did not accept the approval code."]

    denied = admin.get(
        reverse("web:connection_return") + f"?state={state}&error=access_denied", follow=True
    )
    assert messages_of(denied)[0].startswith("Arbor did not approve access (access denied)")
    assert connections() == snapshot  # still awaiting approval, nothing stored

    # A read-only user holding the link cannot complete it.
    client.logout()
    reader = as_user(client, world, "read_only_school")
    refused = reader.get(reverse("web:connection_return") + f"?state={state}&code=good-code")
    assert refused.status_code == 400
    assert connections() == snapshot


def test_approval_return_needs_a_signed_in_person(world: World, client: Client) -> None:
    response = client.get(reverse("web:connection_return") + "?state=x&code=y")
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- Upload History, Bulk Results, LA dashboard -----------------------------------------------


def test_upload_history_shows_a_failed_pull_with_its_reason(world: World, admin: Client) -> None:
    upload_record_failed_pull(
        school=world.home.school,
        source="Arbor",
        fmt="arbor-api",
        asked="Students, Staff",
        why="Arbor refused the token (401)",
    )
    body = text(admin.get(url("upload_history", world.home.school)))
    row = body[body.index("<td>Arbor</td>") : body.index("</tr>", body.index("<td>Arbor</td>"))]
    assert "<td>Students, Staff</td>" in row
    assert '<td class="num">0</td>' in row
    assert "nothing received" in row
    assert "Pull failed" in row and "Arbor refused the token (401)" in row
    # A failed pull is not a processed file: the latest-upload table leaves it out.
    settings_page = admin.get(url("settings", world.home.school))
    assert all(f.upload.outcome != "pull failed" for f in settings_page.context["feeds"])


def test_bulk_results_show_the_connection_only_where_there_is_one(
    world: World, admin: Client
) -> None:
    school = world.home.school
    assert "connection-heading" not in text(admin.get(url("bulk_results", school)))
    make_connection(
        school, state="failing", failures=3, last_outcome="failed", last_error="IRIS timed out"
    )
    body = text(admin.get(url("bulk_results", school)))
    assert '<span class="light red" data-state="failing">Failing</span>' in body
    assert "3 pulls in a row failed: IRIS timed out" in body


def test_la_dashboard_light_follows_the_connection(world: World, client: Client) -> None:
    la_admin = as_user(client, world, "la_admin")
    dashboard = reverse("web:la_dashboard", kwargs={"code": world.la.code})
    before = {
        r.school.urn: (r.light, r.label, r.why) for r in la_admin.get(dashboard).context["rows"]
    }

    make_connection(
        world.home.school,
        state="failing",
        failures=2,
        last_outcome="failed",
        last_error="IRIS refused the client secret",
    )
    rows = {r.school.urn: r for r in la_admin.get(dashboard + "?attention=on").context["rows"]}
    home = rows[world.home.school.urn]
    assert (home.light, home.label) == ("red", "Connection failing")
    assert home.why.startswith(
        "MIS connection: 2 pulls in a row failed: IRIS refused the client secret"
    )
    assert home.needs_attention
    # The sibling has no connection: it shows what it showed before (file uploads).
    sib = la_admin.get(dashboard).context["rows"]
    sibling = next(r for r in sib if r.school.urn == world.sibling.urn)
    assert (sibling.light, sibling.label, sibling.why) == before[world.sibling.urn]
    assert "IRIS refused the client secret" in text(la_admin.get(dashboard + "?attention=on"))
    assert SECRET not in text(la_admin.get(dashboard))


def test_la_dashboard_awaiting_approval_is_yellow_and_a_good_connection_keeps_the_runs_light(
    world: World, client: Client
) -> None:
    la_admin = as_user(client, world, "la_admin")
    dashboard = reverse("web:la_dashboard", kwargs={"code": world.la.code})
    sibling = world.sibling
    before = next(r for r in la_admin.get(dashboard).context["rows"] if r.school == sibling)
    make_connection(sibling, connector="arbor", settings={}, secrets=b"", state="awaiting_approval")
    row = next(r for r in la_admin.get(dashboard).context["rows"] if r.school == sibling)
    if before.light == "red":
        assert (row.light, row.label) == (before.light, before.label)
    else:
        assert (row.light, row.label) == ("yellow", "Awaiting approval")
        assert "MISSING ENDPOINT URL" in row.why
    m.MisConnection.objects.filter(school=sibling).update(state="connected", last_outcome="applied")
    row = next(r for r in la_admin.get(dashboard).context["rows"] if r.school == sibling)
    assert (row.light, row.label, row.why) == (before.light, before.label, before.why)


def test_secrets_appear_in_no_page(
    world: World, admin: Client, client: Client, check_passes: list[Any]
) -> None:
    school = world.home.school
    admin.post(url("connection_connect", school), connect_post())
    upload_record_failed_pull(
        school=school, source="IRIS iSAMS", fmt="isams-api", asked="Students", why="refused"
    )
    pages = [
        url("settings", school),
        url("settings", school) + "?connector=isams",
        url("upload_history", school),
        url("bulk_results", school),
        url("runs", school),
        url("connection_disconnect", school),
    ]
    for address in pages:
        response = admin.get(address)
        assert response.status_code == 200, address
        assert SECRET not in text(response), address
    operator = Client()
    operator.force_login(make_user("region_operator", world))
    for address in [*pages, reverse("web:la_dashboard", kwargs={"code": world.la.code})]:
        assert SECRET not in text(operator.get(address)), address
