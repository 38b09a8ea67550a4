"""Tenant connections and provisioning runs through the services, on the database
(SQLite or PostgreSQL, as DATABASE_URL says) against the simulators on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from rollsync.directory import models as m
from rollsync.directory.secrets import unseal
from rollsync.directory.services.accounts import account_restore
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.sync import allocation_unallocate
from rollsync.downsim import GoogleDirectorySimulator, MicrosoftSimulator, make_service_account
from rollsync.tenants.models import ProvisionRun, TenantConnection
from rollsync.tenants.selectors import connection_view, run_view
from rollsync.tenants.services import TenantError, provision_run, tenant_connect, tenant_disconnect
from tests.provisioning.conftest import google_settings, ms_settings, placed

pytestmark = pytest.mark.django_db


def planned(connection: TenantConnection, plan: bool) -> TenantConnection:
    """The dry run an operator makes before the first push (unless `plan` is False)."""
    if plan:
        assert (
            provision_run(connection=connection, dry_run=True, actor="operator").status == "planned"
        )
        connection.refresh_from_db()
    return connection


def connect_google(
    sim: GoogleDirectorySimulator, *, plan: bool = True, **scope: Any
) -> TenantConnection:
    made = tenant_connect(
        kind="google",
        settings=google_settings(sim),
        secret=sim.account.key_json(sim.token_url),
        actor="operator",
        **scope,
    )
    return planned(made, plan)


def connect_ms(sim: MicrosoftSimulator, *, plan: bool = True, **scope: Any) -> TenantConnection:
    made = tenant_connect(
        kind="microsoft",
        settings=ms_settings(sim),
        secret=sim.client_secret,
        actor="operator",
        **scope,
    )
    return planned(made, plan)


def keys_in(sim: Any) -> set[str]:
    if isinstance(sim, GoogleDirectorySimulator):
        return {e["value"] for u in sim.users.values() for e in u["externalIds"]}
    return {u["employeeId"] for u in sim.users.values()}


@pytest.mark.parametrize("kind", ["google", "microsoft"])
def test_a_school_is_pushed_once_and_only_its_own_people(
    kind: str,
    school: m.School,
    neighbour: m.School,
    far_school: m.School,
    gsim: Any,
    msim: Any,
) -> None:
    sim = gsim if kind == "google" else msim
    connection = (connect_google if kind == "google" else connect_ms)(sim, school=school)
    run = provision_run(connection=connection, dry_run=False, actor="operator")
    assert run.status == "applied", (run.error, [a for a in run.actions if not a["ok"]])
    assert keys_in(sim) == placed(school)
    assert len(placed(neighbour)) == 10 and placed(far_school)
    assert not keys_in(sim) & (placed(neighbour) | placed(far_school))
    classes = m.Group.objects.filter(school=school, kind="class", ended_at__isnull=True).count()
    assert classes and run.counts["create_group"] == classes
    assert run.pushed == len(run.actions) and run.failed == 0
    assert run.requests > 0 and run.throttled == 0
    event = m.AuditEvent.objects.get(action="tenant_provisioned")
    assert f"run {run.pk}" in event.reason and event.school == school
    again = provision_run(connection=connection, dry_run=False, actor="operator")
    assert (again.status, again.actions, again.pushed) == ("applied", [], 0)
    assert not any(again.counts.values())


def test_an_la_connection_pushes_its_schools_and_no_other_las(
    school: m.School, neighbour: m.School, far_school: m.School, gsim: GoogleDirectorySimulator
) -> None:
    connection = connect_google(gsim, la=school.la)
    run = provision_run(connection=connection, dry_run=False, actor="operator")
    assert run.status == "applied"
    assert keys_in(gsim) == placed(school) | placed(neighbour)
    assert not keys_in(gsim) & placed(far_school)
    # An LA's classes carry their school's URN in their names.
    assert all(f"({school.urn})" in g["name"] for g in gsim.groups.values())


def test_a_dry_run_stores_the_plan_and_sends_nothing(
    school: m.School, gsim: GoogleDirectorySimulator
) -> None:
    connection = connect_google(gsim, school=school, plan=False)
    with pytest.raises(TenantError, match="make a dry run of this Google Workspace") as first:
        provision_run(connection=connection, dry_run=False, actor="operator")
    assert first.value.code == "refused" and gsim.api_requests() == []
    connection.refresh_from_db()
    assert connection.running_since is None and not ProvisionRun.objects.exists()
    run = provision_run(connection=connection, dry_run=True, actor="operator")
    assert run.status == "planned" and run.dry_run
    assert run.counts["create_user"] == len(placed(school))
    assert {a["ok"] for a in run.actions} == {None}
    assert gsim.writes() == [] and gsim.users == {}
    assert not m.AuditEvent.objects.filter(action="tenant_provisioned").exists()


def test_unallocated_then_restored_in_the_directory_is_suspended_then_restored_in_the_tenant(
    school: m.School, gsim: GoogleDirectorySimulator
) -> None:
    connection = connect_google(gsim, school=school)
    provision_run(connection=connection, dry_run=False, actor="operator")
    allocation = (
        m.Allocation.objects.filter(school=school, role="pupil", status="active")
        .select_related("account", "school")
        .order_by("account__uid")
        .first()
    )
    assert allocation is not None
    key = str(allocation.account.uid)
    with transaction.atomic():
        audit = AuditLog(actor="test", school=school)
        allocation_unallocate(allocation=allocation, audit=audit, reason="left", now=timezone.now())
        audit.flush()
    run = provision_run(connection=connection, dry_run=False, actor="operator")
    assert [a["kind"] for a in run.actions if a["kind"].endswith("_user")] == ["suspend_user"]
    assert gsim.user_by_key(key)[0]["suspended"] is True
    account_restore(
        username=allocation.account.username, school=school, actor="test", keep_non_mis=False
    )
    run = provision_run(connection=connection, dry_run=False, actor="operator")
    assert [a["kind"] for a in run.actions if a["kind"].endswith("_user")] == ["restore_user"]
    assert gsim.user_by_key(key)[0]["suspended"] is False
    assert len(gsim.user_by_key(key)) == 1


def test_the_credential_is_sealed_never_shown_and_replaceable(
    school: m.School, gsim: GoogleDirectorySimulator, msim: MicrosoftSimulator
) -> None:
    google = connect_google(gsim, school=school)
    microsoft = connect_ms(msim, school=school)
    key_json = gsim.account.key_json(gsim.token_url)
    assert b"PRIVATE KEY" not in bytes(google.secrets)
    assert msim.client_secret.encode() not in bytes(microsoft.secrets)
    assert unseal(google.secrets) == {"service_account": key_json}
    for connection, secret in ((google, gsim.account.private_pem), (microsoft, msim.client_secret)):
        shown = str(connection_view(connection))
        assert secret not in shown and "PRIVATE KEY" not in shown
    assert connection_view(google)["credential"] == f"service account {gsim.account.client_email}"
    assert "PRIVATE KEY" not in str(list(m.AuditEvent.objects.values()))
    # Connecting again replaces it: still one connection, the new key in it.
    again = connect_google(gsim, school=school)
    assert again.pk == google.pk and again.secret_replaced_at is not None
    assert TenantConnection.objects.filter(kind="google").count() == 1


def test_a_refused_credential_stores_nothing(
    school: m.School, gsim: GoogleDirectorySimulator, msim: MicrosoftSimulator
) -> None:
    stranger = make_service_account("stranger")
    with pytest.raises(TenantError, match="refused the service account") as refused:
        tenant_connect(
            kind="google",
            school=school,
            settings=google_settings(gsim),
            secret=stranger.key_json(gsim.token_url),
            actor="operator",
        )
    assert refused.value.code == "refused"
    with pytest.raises(TenantError, match="AADSTS7000215"):
        tenant_connect(
            kind="microsoft", school=school, settings=ms_settings(msim), secret="wrong", actor="x"
        )
    assert not TenantConnection.objects.exists()
    assert not m.AuditEvent.objects.filter(action="tenant_connected").exists()


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"domain": "not a domain", "admin_email": "a@b.c"}, "domain"),
        ({"domain": "school.example", "admin_email": "nobody"}, "admin_email"),
        (
            {"domain": "school.example", "admin_email": "a@b.c", "api_url": "http://10.1.2.3"},
            "api_url",
        ),
        ({"domain": "school.example"}, "domain"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    settings: dict[str, str], field: str, school: m.School, gsim: GoogleDirectorySimulator
) -> None:
    with pytest.raises(TenantError) as refused:
        tenant_connect(
            kind="google",
            school=school,
            settings=settings,
            secret=gsim.account.key_json(gsim.token_url),
            actor="operator",
        )
    assert (refused.value.code, refused.value.field) == ("invalid", field)
    assert gsim.requests == [] and not TenantConnection.objects.exists()


def test_disconnect_forgets_the_credential_and_stops_runs(
    school: m.School, gsim: GoogleDirectorySimulator
) -> None:
    connection = connect_google(gsim, school=school)
    tenant_disconnect(connection=connection, actor="operator")
    connection.refresh_from_db()
    assert bytes(connection.secrets) == b"" and not connection.enabled
    assert connection.access_grants() == ()
    before = len(gsim.requests)
    with pytest.raises(TenantError, match="disconnected"):
        provision_run(connection=connection, dry_run=False, actor="operator")
    assert len(gsim.requests) == before
    assert ProvisionRun.objects.count() == 1  # the report stays
    with pytest.raises(TenantError, match="already disconnected"):
        tenant_disconnect(connection=connection, actor="operator")


def test_two_runs_of_one_connection_never_overlap(
    school: m.School, gsim: GoogleDirectorySimulator
) -> None:
    connection = connect_google(gsim, school=school, plan=False)
    TenantConnection.objects.filter(pk=connection.pk).update(running_since=timezone.now())
    with pytest.raises(TenantError, match="already going") as refused:
        provision_run(connection=connection, dry_run=False, actor="operator")
    assert refused.value.code == "conflict"
    assert not ProvisionRun.objects.exists() and gsim.api_requests() == []
    # A hold older than the lease (a killed run) is taken over.
    TenantConnection.objects.filter(pk=connection.pk).update(
        running_since=timezone.now() - timezone.timedelta(hours=1)
    )
    assert provision_run(connection=connection, dry_run=True, actor="operator").status == "planned"


def test_a_tenant_that_stops_answering_is_a_stopped_run_the_next_run_finishes(
    school: m.School, gsim: GoogleDirectorySimulator
) -> None:
    connection = connect_google(gsim, school=school)
    gsim.set_faults("503@10+")
    run = provision_run(connection=connection, dry_run=False, actor="operator")
    assert run.status == "stopped" and "did not answer" in run.error
    assert run.pushed > 0 and any(a["ok"] is None for a in run.actions)
    gsim.set_faults(None)
    done = provision_run(connection=connection, dry_run=False, actor="operator")
    assert done.status == "applied"
    assert keys_in(gsim) == placed(school)
    assert all(len(gsim.user_by_key(k)) == 1 for k in placed(school))
    view = run_view(run)
    assert view["status"] == "stopped" and view["actions"]


def test_refused_records_are_in_the_report(school: m.School, msim: MicrosoftSimulator) -> None:
    connection = connect_ms(msim, school=school)
    bad = sorted(placed(school))[0]
    msim.refuse.add(bad)
    run = provision_run(connection=connection, dry_run=False, actor="operator")
    assert run.status == "partial" and run.failed >= 1
    failed = [a for a in run.actions if a["ok"] is False]
    assert failed[0]["kind"] == "create_user" and failed[0]["key"] == bad
    assert "AzureActiveDirectoryInvalidAttribute" in failed[0]["error"]
    assert all(a["user"] == bad or a["key"] == bad for a in failed)
    assert keys_in(msim) == placed(school) - {bad}


def test_a_scheduled_connection_is_queued_once_a_period_and_run_by_the_queue(
    school: m.School, gsim: GoogleDirectorySimulator
) -> None:
    from django_q.models import OrmQ, Schedule

    from rollsync.directory.tasks import run_queued
    from rollsync.tenants.services import provisions_queue_due

    assert Schedule.objects.filter(func="rollsync.tenants.tasks.provision_due").count() == 1
    with pytest.raises(TenantError, match="not a schedule") as bad:
        tenant_connect(
            kind="google",
            school=school,
            settings=google_settings(gsim),
            secret=gsim.account.key_json(gsim.token_url),
            actor="operator",
            schedule="every night",
        )
    assert bad.value.field == "schedule" and not TenantConnection.objects.exists()
    connection = tenant_connect(
        kind="google",
        school=school,
        settings=google_settings(gsim),
        secret=gsim.account.key_json(gsim.token_url),
        actor="operator",
        schedule="30 5 * * *",
    )
    assert connection.next_run_at is not None and connection.next_run_at > timezone.now()
    assert provisions_queue_due() == []  # not yet due
    provision_run(connection=connection, dry_run=True, actor="operator")  # before the first push
    later = connection.next_run_at + timezone.timedelta(seconds=1)
    assert provisions_queue_due(now=later) == [connection.pk]
    assert provisions_queue_due(now=later) == []  # once a period
    assert OrmQ.objects.count() == 1
    assert run_queued() == 1
    (run,) = ProvisionRun.objects.filter(dry_run=False)
    assert (run.actor, run.status, run.dry_run) == ("schedule", "applied", False)
    assert keys_in(gsim) == placed(school)


def test_a_retry_after_is_obeyed_as_the_wait(
    school: m.School,
    msim: MicrosoftSimulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROLLSYNC_MIS_RETRY_MAX_WAIT", "5")  # the cap, above what it asks
    connection = connect_ms(msim, school=school)
    msim.set_faults("429@3:1")  # 1 token, 2 groups list, 3 users list: wait 1 s, it says
    with caplog.at_level("INFO", logger="rollsync.connectors"):
        run = provision_run(connection=connection, dry_run=True, actor="operator")
    assert run.status == "planned" and run.throttled == 1
    waits = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retry ")]
    assert waits == ["retry 1 in 1.0 s: 429 to GET /v1.0/users"]


@pytest.mark.django_db(transaction=True)
def test_two_runs_started_at_once_one_runs_one_is_refused(
    transactional_db: Any, school: m.School, gsim: GoogleDirectorySimulator
) -> None:
    import threading
    import time

    from django.db import connection as db

    if db.vendor == "sqlite" and "memory" in str(db.settings_dict["NAME"]):
        pytest.skip("threads need a shared database (PostgreSQL or a SQLite file)")
    tenant = connect_google(gsim, school=school)
    gsim.set_faults("slow@1:1.5")  # the first run's token request takes 1.5 s
    results: dict[str, Any] = {}

    def go(name: str) -> None:
        try:
            results[name] = provision_run(connection=tenant, dry_run=False, actor=name).status
        except TenantError as exc:
            results[name] = exc.code
        finally:
            db.close()

    first = threading.Thread(target=go, args=("first",))
    first.start()
    for _ in range(1000):  # until the first run holds the connection (or it ended)
        if (
            "first" in results
            or TenantConnection.objects.filter(pk=tenant.pk, running_since__isnull=False).exists()
        ):
            break
        time.sleep(0.01)
    go("second")
    first.join(30)
    assert results == {"first": "applied", "second": "conflict"}
    assert ProvisionRun.objects.filter(dry_run=False).count() == 1
    assert all(len(gsim.user_by_key(k)) == 1 for k in placed(school))


@pytest.mark.django_db(transaction=True)
def test_a_run_killed_midway_is_finished_by_the_next_without_duplicates(
    transactional_db: Any,
    school: m.School,
    gsim: GoogleDirectorySimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real `rollsync provision run` process, SIGKILLed while it writes to the tenant."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from django.db import connection as db

    if db.vendor != "postgresql":
        pytest.skip("the command's own process needs the test database: PostgreSQL")
    tenant = connect_google(gsim, school=school)
    gsim.set_faults("slow@15+:0.05")
    settings = db.settings_dict
    url = f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rollsync", "provision", "run", "google", "--school", school.urn],
        env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
    )
    for _ in range(3000):
        if len(gsim.writes()) >= 10 or proc.poll() is not None:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.5)  # a request in flight when it died is still served (its answer lost)
    made = len(gsim.users)
    assert 0 < made < len(placed(school))
    (killed,) = ProvisionRun.objects.filter(dry_run=False)
    assert killed.status == "running"
    gsim.set_faults(None)
    monkeypatch.setenv("ROLLSYNC_PROVISION_LEASE_MINUTES", "0")  # the hold is a dead one
    done = provision_run(connection=tenant, dry_run=False, actor="operator")
    assert done.status == "applied"
    assert done.counts["create_user"] == len(placed(school)) - made
    assert keys_in(gsim) == placed(school)
    assert all(len(gsim.user_by_key(k)) == 1 for k in placed(school))
    killed.refresh_from_db()
    assert killed.status == "stopped" and "killed midway" in killed.error


def test_one_tenant_takes_one_connection(school: m.School, gsim: GoogleDirectorySimulator) -> None:
    connect_google(gsim, school=school)
    with pytest.raises(TenantError, match=f"already connected for school {school.urn}") as refused:
        connect_google(gsim, la=school.la)
    assert (refused.value.code, refused.value.field) == ("conflict", "domain")
    assert TenantConnection.objects.count() == 1
    assert m.AuditEvent.objects.filter(action="tenant_connected").count() == 1


def test_an_internal_error_stops_the_run_and_releases_the_connection(
    school: m.School, gsim: GoogleDirectorySimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rollsync.tenants import services

    connection = connect_google(gsim, school=school)
    real = services.provision

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "provision", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        provision_run(connection=connection, dry_run=False, actor="operator")
    run = ProvisionRun.objects.filter(dry_run=False).get()
    assert (run.status, run.error) == ("stopped", "stopped by an internal error (RuntimeError)")
    connection.refresh_from_db()
    assert connection.running_since is None
    monkeypatch.setattr(services, "provision", real)
    assert provision_run(connection=connection, dry_run=False, actor="operator").status == "applied"
