"""The MIS connection on AutoUpdate Settings: the panel, connect (credentials checked at
once; nothing stored when they fail), Arbor's approval hand-off and its return, the
schedule, Force run through the connection, disconnect, and who may do each; Upload
History's pulls; the LA dashboard's and Whole School Bulk Results' light.

Nothing is replaced: every check, pull and approval goes to the MIS simulator the project
ships (`rollsync.missim`), running here on 127.0.0.1 and serving the world's schools with
its demo credentials; its request log proves what reached the MIS, and that nothing did
where nothing should."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rollsync.connectors.isams import REFUSED
from rollsync.directory import models as m
from rollsync.directory.secrets import seal, unseal
from rollsync.directory.services.schools import school_policy_set
from rollsync.directory.services.uploads import upload_record_failed_pull
from rollsync.missim.arbor import ArborSimulator, credentials_for
from rollsync.missim.isams import (
    IsamsSimulator,
    client_id_for,
    client_secret_for,
    school_id_for,
)
from tests.access.helpers import HOME_URN, World, everything, make_user
from tests.web.conftest import run_worker
from tests.web.connection_helpers import (
    approve_at_arbor,
    current_pupils,
    current_staff,
    form_sent,
    mis_data,
    query_of,
    school_url,
    seen,
    snapshot_of,
)

# The simulator's demo client for the home school: the only secret it accepts.
CLIENT = client_id_for(HOME_URN)
SECRET = client_secret_for(HOME_URN)
WRONG_SECRET = "wrong-Secret-Value-7f2c9"  # a secret the simulator refuses
ARBOR_USER, ARBOR_PASSWORD = credentials_for(HOME_URN)
TOKEN = "/auth/connect/token"  # iSAMS's token endpoint, under the school's MIS URL
STUDENTS = "/api/students"


@pytest.fixture(autouse=True)
def connection_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets are sealed under a key of the test's own (never a key file on disk)."""
    monkeypatch.setenv("ROLLSYNC_CONNECTION_KEYS", Fernet.generate_key().decode())


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tries, a hundredth of a second apart: a failing MIS fails fast."""
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_WAIT", "0.01")
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_MAX_WAIT", "0.05")


@pytest.fixture
def isams(world: World) -> Iterator[IsamsSimulator]:
    """iSAMS for the home school, its sibling and the foreign school, on 127.0.0.1."""
    data = mis_data(world.home.school, world.sibling, world.foreign.school)
    sim = IsamsSimulator(data)
    with sim:
        yield sim


@pytest.fixture
def arbor(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArborSimulator]:
    """Arbor for the home school, its approval pages included, on 127.0.0.1."""
    sim = ArborSimulator(mis_data(world.home.school))
    with sim:
        monkeypatch.setenv("ROLLSYNC_ARBOR_APPROVAL_URL", sim.url)
        yield sim


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


def make_connection(school: m.School, mis_url: str, **extra: Any) -> m.MisConnection:
    """A stored iSAMS connection of `school` at `mis_url`, with its demo credentials."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "connector": "isams",
        "settings": {"url": mis_url, "client_id": client_id_for(school.urn)},
        "secrets": seal({"client_secret": client_secret_for(school.urn)}),
        "state": m.MisConnection.State.CONNECTED,
        "schedule": "0 2 * * *",
        "next_pull_at": now + timedelta(hours=3),
        "last_pull_at": now - timedelta(hours=20),
        "last_outcome": "applied",
        "connected_by": "someone",
        **extra,
    }
    return m.MisConnection.objects.create(school=school, **fields)


# A connection shown but never used: no MIS is asked anything in these tests.
SHOWN_URL = "https://hillside.isams.cloud"


def connect_post(mis_url: str, **overrides: str) -> dict[str, str]:
    return {
        "connector": "isams",
        "url": mis_url,
        "client_id": CLIENT,
        "client_secret": SECRET,
        **overrides,
    }


def token_forms(sim: IsamsSimulator) -> list[dict[str, str]]:
    """What each token request sent (the client ID and secret the check or pull used)."""
    return [form_sent(sim, n) for n, r in enumerate(sim.requests) if r.path.endswith(TOKEN)]


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
    assert choices == ["isams", "arbor", "wonde", "integris", "pupil_asset", "scholarpack"]
    assert page.context["connect_form"] is None
    assert "Disconnect" not in body

    chosen = admin.get(url("settings", world.home.school) + "?connector=isams")
    body = text(chosen)
    assert 'name="url"' in body and 'name="client_id"' in body
    assert '<input type="password" name="client_secret"' in body
    assert "Check and connect IRIS iSAMS / Ed:gen" in body
    assert "leave blank to keep the stored one" not in body  # nothing is stored yet
    assert "Get the" not in body  # iSAMS is connected by entering its credentials


def test_a_school_whose_mis_is_pulled_but_not_connected_is_red(world: World, admin: Client) -> None:
    m.School.objects.filter(pk=world.home.school.pk).update(mis="Arbor")
    page = admin.get(url("settings", world.home.school))
    body = text(page)
    assert '<span class="light red" data-state="not set up">Not set up</span>' in body
    assert "No MIS connection: nothing is pulled." in body
    # Arbor is offered as the school's MIS: approval in Arbor, or its credentials.
    assert page.context["connector"].name == "arbor"
    assert '<button type="submit">Get the Arbor approval link</button>' in body
    assert "Or enter its credentials:" in body
    assert "Check and connect Arbor" in body
    assert connections() == []  # showing the offer stores nothing


def test_a_files_by_hand_school_has_no_connection_light(world: World, admin: Client) -> None:
    m.School.objects.filter(pk=world.home.school.pk).update(mis="Standard files")
    body = text(admin.get(url("settings", world.home.school)))
    assert "No MIS connection. Standard files's data arrives another way" in body
    assert 'data-state="not set up"' not in body


def test_a_sims_school_is_told_to_set_up_the_agent(world: World, admin: Client) -> None:
    # the rollsync agent delivers SIMS's data: its panel, red until a licence key is issued
    m.School.objects.filter(pk=world.home.school.pk).update(mis="SIMS")
    body = text(admin.get(url("settings", world.home.school)))
    assert "The rollsync agent is not set up" in body and 'data-state="not set up"' in body
    assert "Issue a licence key" in body


def test_a_connected_school_shows_light_last_and_next_pull_schedule_and_secrets_set(
    world: World, admin: Client
) -> None:
    conn = make_connection(world.home.school, SHOWN_URL)
    page = admin.get(url("settings", world.home.school))
    body = text(page)
    assert '<span class="light green" data-state="connected">Connected</span>' in body
    assert "Connected; the last pull was applied." in body
    panel = page.context["connection"]
    assert panel.last_pull_at == conn.last_pull_at
    assert panel.next_pull_at == conn.next_pull_at
    assert "<dt>Schedule</dt><dd>Every day at 02:00</dd>" in body
    assert "<dt>MIS URL</dt><dd>https://hillside.isams.cloud</dd>" in body
    assert f"<dt>Client ID</dt><dd>{CLIENT}</dd>" in body
    assert "<dt>Client secret</dt><dd>Stored (never shown)</dd>" in body
    assert "<dt>Last error</dt><dd>None</dd>" in body
    # The form offers the stored connection's connector, its settings filled in, the
    # secret empty with the promise that a blank keeps it.
    form = page.context["connect_form"]
    assert form.initial["client_id"] == CLIENT
    assert "A value is stored: leave blank to keep the stored one." in body
    assert SECRET not in body
    assert 'name="schedule"' in body and 'value="0 2 * * *"' in body
    assert "Disconnect IRIS iSAMS / Ed:gen" in body
    assert '<button type="submit">Force run</button>' in body


def test_a_failing_connection_shows_the_error_in_plain_words(world: World, admin: Client) -> None:
    make_connection(
        world.home.school,
        SHOWN_URL,
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
    make_connection(world.home.school, SHOWN_URL)
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


def test_a_refused_check_stores_nothing_and_says_why_next_to_the_secret(
    world: World, admin: Client, isams: IsamsSimulator
) -> None:
    """The simulator refuses a wrong client secret, as iSAMS does (400 invalid_client)."""
    school = world.home.school
    before, school_before = everything(), world.home.school.mis
    response = admin.post(
        url("connection_connect", school),
        connect_post(school_url(isams, school), client_secret=WRONG_SECRET),
    )
    assert response.status_code == 400
    # One token request, with what was entered; refused logins are never retried.
    assert seen(isams) == [("POST", f"/schools/{school.urn}{TOKEN}")]
    assert token_forms(isams) == [
        {
            "grant_type": "client_credentials",
            "client_id": CLIENT,
            "client_secret": WRONG_SECRET,
            "scope": "restapi",
        }
    ]
    form = response.context["connect_form"]
    assert form.errors["client_secret"] == [REFUSED + "."]
    body = text(response)
    assert '<ul class="errorlist" id="conn_client_secret_error">' in body
    assert "IRIS iSAMS refused the client ID and secret: check them in iSAMS" in body
    assert connections() == []
    assert everything() == before
    assert m.School.objects.get(pk=school.pk).mis == school_before
    assert WRONG_SECRET not in body  # never echoed back, not even into the form


def test_a_refusal_naming_a_field_is_shown_next_to_it(
    world: World, admin: Client, isams: IsamsSimulator
) -> None:
    school = world.home.school
    before = everything()
    # A MIS URL where iSAMS has no sign-in: the simulator answers 404, next to the URL.
    nowhere = f"{isams.url}/schools/999999"
    response = admin.post(url("connection_connect", school), connect_post(nowhere))
    assert response.status_code == 400
    assert response.context["connect_form"].errors["url"] == [
        f"There is no iSAMS sign-in at {nowhere}: check the MIS URL (the address staff sign "
        "in at, e.g. https://yourschool.isams.cloud)."
    ]
    assert '<ul class="errorlist" id="conn_url_error">' in text(response)
    assert seen(isams) == [("POST", f"/schools/999999{TOKEN}")]
    assert SECRET not in text(response)
    isams.requests.clear()

    # A required value left out: the service names the field; the MIS is not asked.
    response = admin.post(
        url("connection_connect", school), connect_post(school_url(isams, school), client_id="")
    )
    assert response.status_code == 400
    assert response.context["connect_form"].errors["client_id"] == [
        "Client ID is required for IRIS iSAMS / Ed:gen."
    ]
    # An unsafe URL (plain http to another machine), next to the URL; never called.
    response = admin.post(url("connection_connect", school), connect_post("http://example.org"))
    assert response.status_code == 400
    assert response.context["connect_form"].errors["url"] == [
        "Plain http (http://example.org) is refused: rollsync calls an MIS over https only "
        "(plain http is for a simulator on this machine)."
    ]
    assert seen(isams) == []
    assert connections() == [] and everything() == before


def test_connect_checks_stores_and_then_never_shows_the_secret(
    world: World, admin: Client, isams: IsamsSimulator
) -> None:
    school = world.home.school
    mis_url = school_url(isams, school)
    response = admin.post(url("connection_connect", school), connect_post(mis_url), follow=True)
    assert response.redirect_chain[-1][0].endswith("/settings/#connection")
    assert messages_of(response) == [
        "IRIS iSAMS / Ed:gen is connected: the credentials were accepted.",
        # as Change MIS says it: the home school had accepted reports iSAMS cannot send
        "IRIS iSAMS cannot send Contacts, Groups & Classes: those reports are no longer accepted.",
    ]
    # Checked at the MIS with what was entered: a token, then one student's page.
    assert seen(isams) == [
        ("POST", f"/schools/{school.urn}{TOKEN}"),
        ("GET", f"/schools/{school.urn}{STUDENTS}"),
    ]
    assert token_forms(isams)[0]["client_secret"] == SECRET
    assert isams.requests[1].query == {"page": ["1"], "pageSize": ["1"]}
    made = m.AuditEvent.objects.get(school=school, action="connection_made")
    assert made.reason == (
        f"IRIS iSAMS / Ed:gen connected by school_admin: Token issued; "
        f"{current_pupils(school)} students visible"
    )
    conn = m.MisConnection.objects.get(school=school)
    assert conn.connector == "isams"
    assert conn.settings == {"url": mis_url, "client_id": CLIENT}
    assert unseal(conn.secrets) == {"client_secret": SECRET}
    assert SECRET.encode() not in bytes(conn.secrets)
    assert conn.connected_by == "school_admin"
    assert (conn.state, conn.failures, conn.last_error) == ("connected", 0, "")
    assert m.School.objects.get(pk=school.pk).mis == "IRIS iSAMS"
    body = text(response)
    assert '<span class="light green" data-state="connected">Connected</span>' in body
    assert "<dt>Client secret</dt><dd>Stored (never shown)</dd>" in body
    assert SECRET not in body


def test_reconnecting_with_a_blank_secret_keeps_the_stored_one(
    world: World, admin: Client, isams: IsamsSimulator
) -> None:
    """The stored secret is the only one the simulator accepts: the check passing, and
    the token request's form, prove it was the one used."""
    school = world.home.school
    make_connection(school, SHOWN_URL)
    mis_url = school_url(isams, school)
    response = admin.post(
        url("connection_connect", school), connect_post(mis_url, client_secret="")
    )
    assert response.status_code == 302
    assert token_forms(isams) == [
        {
            "grant_type": "client_credentials",
            "client_id": CLIENT,
            "client_secret": SECRET,
            "scope": "restapi",
        }
    ]
    conn = m.MisConnection.objects.get(school=school)
    assert conn.settings == {"url": mis_url, "client_id": CLIENT}
    assert unseal(conn.secrets) == {"client_secret": SECRET}


def test_an_unknown_connector_is_refused(
    world: World, admin: Client, isams: IsamsSimulator
) -> None:
    before = everything()
    response = admin.post(
        url("connection_connect", world.home.school),
        connect_post(school_url(isams, world.home.school), connector="nope"),
        follow=True,
    )
    assert messages_of(response) == ["Choose an MIS from the list."]
    assert connections() == [] and everything() == before
    assert seen(isams) == []


# --- who may ---------------------------------------------------------------------------


def _writes(school: m.School, mis_url: str) -> list[tuple[str, str, dict[str, str]]]:
    return [
        ("post", url("connection_connect", school), connect_post(mis_url)),
        ("post", url("connection_approval", school), {"connector": "arbor"}),
        ("post", url("connection_schedule", school), {"schedule": "15 3 * * *"}),
        ("post", url("connection_pull", school), {"report": ""}),
        ("get", url("connection_disconnect", school), {}),
        ("post", url("connection_disconnect", school), {}),
    ]


@pytest.mark.parametrize("key", ["read_only_school", "read_only_la", "headteacher"])
def test_roles_without_configure_cannot_connect_or_disconnect(
    world: World,
    client: Client,
    key: str,
    isams: IsamsSimulator,
    arbor: ArborSimulator,
) -> None:
    school = world.home.school
    make_connection(school, school_url(isams, school))
    as_user(client, world, key)
    before, conns = everything(), connections()
    for method, address, data in _writes(school, school_url(isams, school)):
        response = getattr(client, method)(address, data)
        assert response.status_code == 403, (key, address)
        assert SECRET not in text(response)
    run_worker()  # nothing was queued for it to pull
    assert connections() == conns
    assert everything() == before
    assert seen(isams) == [] and seen(arbor) == []  # the MIS was never even asked


def test_another_schools_admin_gets_404_and_nothing_changes(
    world: World, admin: Client, isams: IsamsSimulator, arbor: ArborSimulator
) -> None:
    foreign = world.foreign.school
    make_connection(foreign, school_url(isams, foreign))
    before, conns = everything(), connections()
    for method, address, data in _writes(foreign, school_url(isams, foreign)):
        response = getattr(admin, method)(address, data)
        assert response.status_code == 404, address
    assert admin.get(url("settings", foreign)).status_code == 404
    run_worker()
    assert connections() == conns and everything() == before
    assert seen(isams) == [] and seen(arbor) == []


def test_an_la_admin_connects_a_school_of_their_la(
    world: World, client: Client, isams: IsamsSimulator
) -> None:
    sibling, foreign = world.sibling, world.foreign.school
    as_user(client, world, "la_admin")
    response = client.post(
        url("connection_connect", sibling),
        connect_post(
            school_url(isams, sibling),
            client_id=client_id_for(sibling.urn),
            client_secret=client_secret_for(sibling.urn),
        ),
    )
    assert response.status_code == 302
    conn = m.MisConnection.objects.get(school=sibling)
    assert conn.connected_by == "la_admin"
    assert unseal(conn.secrets) == {"client_secret": client_secret_for(sibling.urn)}
    assert seen(isams) == [
        ("POST", f"/schools/{sibling.urn}{TOKEN}"),
        ("GET", f"/schools/{sibling.urn}{STUDENTS}"),
    ]
    refused = client.post(
        url("connection_connect", foreign),
        connect_post(
            school_url(isams, foreign),
            client_id=client_id_for(foreign.urn),
            client_secret=client_secret_for(foreign.urn),
        ),
    )
    assert refused.status_code == 404
    assert not m.MisConnection.objects.filter(school=foreign).exists()
    assert len(isams.requests) == 2  # the other LA's MIS was never asked


# --- Force run through the connection ------------------------------------------------------------

UNAVAILABLE = (
    f"IRIS iSAMS did not answer POST {TOKEN} after 2 tries: 503 (service unavailable) to "
    f"POST {TOKEN}. rollsync will try again at the next scheduled pull"
)


def _history_row(history: str, cell: str) -> str:
    start = history.index(cell)
    return history[history.rindex("<tr", 0, start) : history.index("</tr>", start)]


def test_force_run_queues_a_pull_and_the_progress_page_follows_a_failed_pull(
    world: World, admin: Client, isams: IsamsSimulator
) -> None:
    """iSAMS answers 503 to everything: the page says why, Upload History lists the
    failed pull, nothing of it is applied."""
    school = world.home.school
    make_connection(school, school_url(isams, school))
    isams.set_faults("503@*")
    response = admin.post(url("connection_pull", school), {"report": "students"})
    assert response.status_code == 302
    task_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    task = m.QueuedTask.objects.get(pk=task_id)
    assert (task.kind, task.school_id, task.reports) == ("pull", school.pk, ["students"])

    queued = admin.get(response["Location"])
    assert queued.status_code == 200
    assert "Force run: pulling from the MIS" in text(queued)
    assert "Queued." in text(queued)
    assert seen(isams) == []  # queued, not pulled yet

    uploads_before = set(m.Upload.objects.values_list("pk", flat=True))
    directory_before = {k: v for k, v in everything().items() if k in ("accounts", "allocations")}
    run_worker()
    # The worker asked for a token twice (the retries), and got 503 each time.
    assert seen(isams) == [("POST", f"/schools/{school.urn}{TOKEN}")] * 2
    done = admin.get(response["Location"])
    body = text(done)
    assert "Not done." in body
    assert UNAVAILABLE in body
    assert "Nothing of this pull was applied" in body

    (failed,) = m.Upload.objects.exclude(pk__in=uploads_before)
    assert (failed.source, failed.fmt, failed.asked, failed.size) == (
        "IRIS iSAMS",
        "isams-api",
        "Students (current)",
        0,
    )
    assert not m.SyncRun.objects.filter(upload=failed).exists()
    history = text(admin.get(url("upload_history", school)))
    row = _history_row(history, "<td>IRIS iSAMS</td>")  # source: the MIS
    assert "Pull failed" in row and "status-red status-pull_failed" in row
    assert "<td>Students (current)</td>" in row  # what was asked for
    assert '<td class="num">0</td>' in row  # nothing was received
    assert UNAVAILABLE in row
    conn = m.MisConnection.objects.get(school=school)
    assert (conn.state, conn.failures, conn.last_outcome, conn.last_error) == (
        "failing",
        1,
        "failed",
        UNAVAILABLE,
    )
    after = {k: v for k, v in everything().items() if k in ("accounts", "allocations")}
    assert after == directory_before


def test_force_run_of_a_working_pull_shows_the_run_and_upload_history_the_pull(
    world: World, admin: Client, isams: IsamsSimulator
) -> None:
    school = world.home.school
    # The world's ten pupils are not in the simulated MIS, so the pull takes them all off
    # roll; the school's guard (10%) would hold that for a person. Let it through here.
    school_policy_set(school=school, actor="test", guard_unallocate_pct=100)
    make_connection(school, school_url(isams, school))
    uploads_before = set(m.Upload.objects.values_list("pk", flat=True))
    response = admin.post(url("connection_pull", school), {"report": ""})
    assert response.status_code == 302
    run_worker()
    # Every report the school accepted that iSAMS can send, each read in full.
    base = f"/schools/{school.urn}"
    assert seen(isams) == [
        ("POST", base + TOKEN),
        ("GET", base + STUDENTS),
        ("GET", base + "/api/humanresources/employees"),
    ]
    assert all(r.headers["authorization"].startswith("Bearer ") for r in isams.requests[1:])
    assert token_forms(isams)[0]["client_secret"] == SECRET

    students, staff = m.Upload.objects.exclude(pk__in=uploads_before).order_by("pk")
    pupils, employees = current_pupils(school), current_staff(school)
    assert (students.source, students.fmt, students.report, students.asked) == (
        "IRIS iSAMS",
        "isams-api",
        "students",
        f"students (1 page, {pupils})",
    )
    assert (staff.source, staff.fmt, staff.report, staff.asked) == (
        "IRIS iSAMS",
        "isams-api",
        "staff",
        f"employees (1 page, {employees})",
    )
    student_run = m.SyncRun.objects.get(upload=students)
    staff_run = m.SyncRun.objects.get(upload=staff)
    assert (student_run.status, staff_run.status) == ("applied", "applied")
    # On roll now: exactly the MIS's pupils, by iSAMS's schoolId.
    on_roll = m.Allocation.objects.filter(school=school, role="pupil", status="active")
    assert set(on_roll.exclude(mis_id="").values_list("mis_id", flat=True)) == {
        school_id_for(school.urn, p.mis_id) for p in snapshot_of(school).pupils if not p.future
    }

    body = text(admin.get(response["Location"]))
    assert "Finished:" in body
    assert 'data-status="applied">Applied</span>' in body
    # one line per report pulled, each with its run
    assert "2 reports pulled and processed, one run each." in body
    for run in (student_run, staff_run):
        assert f">run {run.pk}</a>" in body

    history = text(admin.get(url("upload_history", school)))
    for upload in (students, staff):
        row = _history_row(history, f"<td>{upload.asked}</td>")
        assert "<td>IRIS iSAMS</td>" in row  # source: the MIS
        assert f'<td class="num">{upload.size}</td>' in row
        assert upload.sha256[:12] in row
    conn = m.MisConnection.objects.get(school=school)
    assert (conn.state, conn.last_outcome, conn.failures) == ("connected", "applied", 0)


def test_a_second_force_run_follows_the_pull_under_way(
    world: World, admin: Client, isams: IsamsSimulator
) -> None:
    school = world.home.school
    make_connection(school, school_url(isams, school))
    first = admin.post(url("connection_pull", school), {"report": ""})
    tasks_before = m.QueuedTask.objects.count()
    second = admin.post(url("connection_pull", school), {"report": ""}, follow=True)
    assert second.redirect_chain[0][0] == first["Location"]
    assert messages_of(second) == ["A pull of the MIS is already queued or running: here it is."]
    assert m.QueuedTask.objects.count() == tasks_before
    assert seen(isams) == []  # both only queued: the worker pulls


def test_force_run_while_awaiting_approval_is_refused_with_missing_endpoint_url(
    world: World, admin: Client, arbor: ArborSimulator
) -> None:
    school = world.home.school
    make_connection(
        school,
        "",
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
    assert seen(arbor) == []


def test_force_run_without_a_connection_is_refused(world: World, admin: Client) -> None:
    before = everything()
    response = admin.post(url("connection_pull", world.home.school), {"report": ""}, follow=True)
    assert "has no MIS connection: connect it first" in messages_of(response)[0]
    assert everything() == before


def test_another_schools_pull_task_is_not_found(
    world: World, client: Client, isams: IsamsSimulator
) -> None:
    foreign = world.foreign.school
    make_connection(foreign, school_url(isams, foreign))
    operator = as_user(client, world, "region_operator")
    response = operator.post(url("connection_pull", foreign), {"report": ""})
    task_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    # The task under the home school's URL: 404 (a pull's task names its school).
    assert operator.get(url("task_progress", world.home.school, task_id=task_id)).status_code == 404
    assert operator.get(url("task_progress", foreign, task_id=task_id)).status_code == 200


# --- Arbor: the approval hand-off -----------------------------------------------------------


def _approval_link(page: Any) -> str:
    body = text(page)
    start = body.index('class="button" href="') + len('class="button" href="')
    return body[start : body.index('"', start)].replace("&amp;", "&")


def _return(location: str) -> str:
    """rollsync's return view, as the browser Arbor sent back asks for it."""
    path = reverse("web:connection_return")
    assert location.startswith(f"http://testserver{path}?"), location
    return location.removeprefix("http://testserver")


def test_arbor_link_then_missing_endpoint_url_then_approval_connects(
    world: World, admin: Client, arbor: ArborSimulator
) -> None:
    school = world.home.school
    offer = text(admin.get(url("settings", school) + "?connector=arbor"))
    assert "Get the Arbor approval link" in offer

    page = admin.post(url("connection_approval", school), {"connector": "arbor"})
    assert page.status_code == 200
    conn = m.MisConnection.objects.get(school=school)
    assert (conn.connector, conn.state) == ("arbor", "awaiting_approval")
    # The link is Arbor's (the simulator's) approve page, for this school, back to us.
    link = _approval_link(page)
    assert link.startswith(f"{arbor.url}/approve?")
    assert query_of(link) == {
        "school": school.urn,
        "redirect_uri": "http://testserver/connections/return/",
        "state": conn.approval_state,
    }
    assert seen(arbor) == []  # the link is made here; Arbor is asked nothing yet

    waiting = text(admin.get(url("settings", school)))
    assert "MISSING ENDPOINT URL" in waiting
    assert '<span class="light yellow" data-state="awaiting approval">' in waiting
    assert "Re-authorise Arbor" in waiting
    assert '<button type="submit">Force run</button>' not in waiting

    # The school admin approves at Arbor; Arbor sends the browser back with a code.
    back_to = approve_at_arbor(link)
    assert query_of(back_to)["state"] == conn.approval_state
    code = query_of(back_to)["code"]
    assert seen(arbor) == [("GET", "/approve"), ("POST", "/approve")]

    back = admin.get(_return(back_to), follow=True)
    assert back.redirect_chain[-1][0].endswith(f"/schools/{school.urn}/settings/#connection")
    assert messages_of(back) == [
        "Arbor access is approved: Hillside Primary's MIS connection is set up."
    ]
    # The code was exchanged server to server, then the credentials checked.
    assert seen(arbor)[2:] == [
        ("POST", "/approve/token"),
        ("GET", f"/schools/{school.urn}/rest-v2/students"),
    ]
    assert form_sent(arbor, 2) == {"code": code}
    assert arbor.requests[3].headers["authorization"].startswith("Basic ")
    conn.refresh_from_db()
    assert (conn.state, conn.approval_state) == ("connected", "")
    assert conn.settings == {"url": school_url(arbor, school), "username": ARBOR_USER}
    assert unseal(conn.secrets) == {"password": ARBOR_PASSWORD}
    assert ARBOR_PASSWORD not in text(back)
    assert '<span class="light green" data-state="connected">Connected</span>' in text(back)
    connected = connections()

    # The same link again: used already, nothing changes, Arbor is not asked.
    again = admin.get(_return(back_to))
    assert again.status_code == 400
    assert "not one rollsync issued, or it was used already" in text(again)
    assert len(arbor.requests) == 4 and connections() == connected

    # Re-authorise, then come back with the old code: Arbor refuses it (used once).
    admin.post(url("connection_approval", school), {"connector": "arbor"})
    state = m.MisConnection.objects.get(school=school).approval_state
    reauthorising = connections()
    reused = admin.get(
        reverse("web:connection_return") + f"?state={state}&code={code}", follow=True
    )
    assert messages_of(reused) == [
        "Arbor did not accept the approval (the code was used already or has expired): "
        "approve rollsync's access in Arbor again."
    ]
    assert seen(arbor)[4:] == [("POST", "/approve/token")]
    assert connections() == reauthorising  # still connected with what it had


def test_a_refused_or_unknown_approval_stores_nothing(
    world: World, admin: Client, client: Client, arbor: ArborSimulator
) -> None:
    school = world.home.school
    link = _approval_link(admin.post(url("connection_approval", school), {"connector": "arbor"}))
    state = query_of(link)["state"]
    code = query_of(approve_at_arbor(link))["code"]  # a good code, never spent below
    snapshot, asked = connections(), len(arbor.requests)

    # A state rollsync did not issue, even with a good code: refused before Arbor is asked.
    unknown = admin.get(reverse("web:connection_return") + f"?state=forged&code={code}")
    assert unknown.status_code == 400
    assert "This approval link is not one rollsync issued" in text(unknown)
    assert len(arbor.requests) == asked

    # A code Arbor never issued: Arbor refuses it.
    bad_code = admin.get(
        reverse("web:connection_return") + f"?state={state}&code=forged-code", follow=True
    )
    assert messages_of(bad_code) == [
        "Arbor did not accept the approval (the code was used already or has expired): "
        "approve rollsync's access in Arbor again."
    ]
    assert seen(arbor)[asked:] == [("POST", "/approve/token")]
    assert form_sent(arbor, asked) == {"code": "forged-code"}
    asked += 1

    denied = admin.get(
        reverse("web:connection_return") + f"?state={state}&error=access_denied", follow=True
    )
    assert messages_of(denied)[0].startswith("Arbor did not approve access (access denied)")
    # still awaiting approval, nothing stored; the refused link is spent
    spent = [{**c, "approval_state": ""} for c in snapshot]
    assert connections() == spent
    assert m.AuditEvent.objects.filter(action="connection_approval_refused").count() == 1
    snapshot = spent

    # A read-only user holding the link and a good code cannot complete it.
    client.logout()
    reader = as_user(client, world, "read_only_school")
    refused = reader.get(reverse("web:connection_return") + f"?state={state}&code={code}")
    assert refused.status_code == 400
    assert connections() == snapshot
    assert len(arbor.requests) == asked  # the code was never exchanged
    conn = m.MisConnection.objects.get(school=school)
    assert (conn.state, conn.settings, bytes(conn.secrets)) == ("awaiting_approval", {}, b"")


# --- schedule ------------------------------------------------------------------------------


def test_the_schedule_is_edited_and_a_bad_one_is_shown_next_to_the_field(
    world: World, admin: Client
) -> None:
    school = world.home.school
    make_connection(school, SHOWN_URL)
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
    make_connection(school, SHOWN_URL)
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


def test_approval_return_needs_a_signed_in_person(
    world: World, client: Client, arbor: ArborSimulator
) -> None:
    response = client.get(reverse("web:connection_return") + "?state=x&code=y")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert seen(arbor) == []


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
        school,
        SHOWN_URL,
        state="failing",
        failures=3,
        last_outcome="failed",
        last_error="IRIS timed out",
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
        SHOWN_URL,
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
    make_connection(
        sibling, "", connector="arbor", settings={}, secrets=b"", state="awaiting_approval"
    )
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
    world: World, admin: Client, client: Client, isams: IsamsSimulator
) -> None:
    school = world.home.school
    connected = admin.post(
        url("connection_connect", school), connect_post(school_url(isams, school))
    )
    assert connected.status_code == 302 and len(isams.requests) == 2  # checked at the MIS
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
