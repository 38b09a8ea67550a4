"""`rollsync provision ...` as an operator or a script runs it: connect (the key from a
file, the secret from stdin; neither ever printed), plan, run, report, status,
disconnect; exit codes 0, 1, 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rollsync import provision_cli
from rollsync.cli import main
from rollsync.directory import models as m
from rollsync.downsim import GoogleDirectorySimulator, MicrosoftSimulator
from rollsync.tenants.models import TenantConnection
from tests.doors.test_no_writes_outside_services import _hits
from tests.provisioning.conftest import placed
from tests.provisioning.helpers import DOMAIN

pytestmark = pytest.mark.django_db


def cli(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


def google_connect(sim: GoogleDirectorySimulator, tmp_path: Path, *scope: str) -> Any:
    key = tmp_path / "key.json"
    key.write_text(sim.account.key_json(sim.token_url))
    return cli(
        "provision",
        "connect",
        "google",
        *scope,
        "--domain",
        DOMAIN,
        "--admin-email",
        f"admin@{DOMAIN}",
        "--api-url",
        sim.url,
        "--key-file",
        str(key),
        "--json",
    )


def test_connect_plan_run_report_status_disconnect_google(
    school: m.School, gsim: GoogleDirectorySimulator, tmp_path: Path
) -> None:
    made = google_connect(gsim, tmp_path, "--school", school.urn)
    assert made.exit_code == 0, made.output
    view = json.loads(made.output)
    assert view["credential"] == f"service account {gsim.account.client_email}"
    assert "PRIVATE KEY" not in made.output

    plan = cli("provision", "plan", "google", "--school", school.urn)
    assert plan.exit_code == 0, plan.output
    assert "dry run (nothing sent)" in plan.output and "planned:" in plan.output
    assert f"create_user {len(placed(school))}" in plan.output
    assert gsim.writes() == []

    run = cli("provision", "run", "google", "--school", school.urn, "--json")
    assert run.exit_code == 0, run.output
    report = json.loads(run.output)
    assert (report["status"], report["failed"], report["dry_run"]) == ("applied", 0, False)
    assert report["pushed"] == len(report["actions"]) > len(placed(school))

    again = cli("provision", "run", "google", "--school", school.urn)
    assert "nothing to change" in again.output and "0 pushed" in again.output

    last = cli("provision", "report", "google", "--school", school.urn, "--json")
    assert json.loads(last.output)["id"] == report["id"] + 1
    by_id = cli("provision", "report", "--run", str(report["id"]), "--json")
    assert json.loads(by_id.output)["actions"] == report["actions"]

    status = cli("provision", "status", "--json")
    (row,) = json.loads(status.output)
    assert row["school"] == school.urn and row["last_run"]["status"] == "applied"
    assert "PRIVATE KEY" not in status.output

    gone = cli("provision", "disconnect", "google", "--school", school.urn)
    assert gone.exit_code == 0 and "forgotten" in gone.output
    refused = cli("provision", "run", "google", "--school", school.urn)
    assert refused.exit_code == 1 and "disconnected" in refused.output


def test_microsoft_secret_from_stdin_never_printed(
    school: m.School, msim: MicrosoftSimulator
) -> None:
    args = [
        "provision",
        "connect",
        "microsoft",
        "--school",
        school.urn,
        "--domain",
        DOMAIN,
        "--tenant-id",
        msim.tenant_id,
        "--client-id",
        msim.client_id,
        "--service-principal-id",
        msim.service_principal_id,
        "--job-id",
        msim.job_id,
        "--graph-url",
        msim.url,
        "--login-url",
        msim.url,
        "--client-secret-stdin",
    ]
    made = cli(*args, stdin=msim.client_secret + "\n")
    assert made.exit_code == 0, made.output
    assert msim.client_secret not in made.output
    first = cli("provision", "run", "microsoft", "--school", school.urn)
    assert first.exit_code == 1 and "make a dry run" in first.output
    assert cli("provision", "run", "microsoft", "--school", school.urn, "--dry-run").exit_code == 0
    run = cli("provision", "run", "microsoft", "--school", school.urn)
    assert run.exit_code == 0 and "applied" in run.output
    assert msim.client_secret not in run.output
    no_secret = cli(*args, stdin="\n")
    assert no_secret.exit_code == 2 and "none came" in no_secret.output


def test_bad_input_exits_2_refusals_1_and_nothing_is_stored(
    school: m.School, gsim: GoogleDirectorySimulator, tmp_path: Path
) -> None:
    bad_key = tmp_path / "bad.json"
    bad_key.write_text('{"type": "service_account"}')
    out = cli(
        "provision",
        "connect",
        "google",
        "--school",
        school.urn,
        "--domain",
        DOMAIN,
        "--admin-email",
        f"admin@{DOMAIN}",
        "--api-url",
        gsim.url,
        "--key-file",
        str(bad_key),
    )
    assert out.exit_code == 2 and "has no client_email" in out.output
    both = cli("provision", "plan", "google", "--school", school.urn, "--la", "871")
    assert both.exit_code == 2
    unknown = cli("provision", "plan", "google", "--school", "999999")
    assert unknown.exit_code == 1 and "no google tenant connection" in unknown.output
    assert not TenantConnection.objects.exists()


def test_a_connection_is_found_only_at_its_own_scope(
    school: m.School, far_school: m.School, gsim: GoogleDirectorySimulator, tmp_path: Path
) -> None:
    assert google_connect(gsim, tmp_path, "--school", school.urn).exit_code == 0
    other = cli("provision", "report", "google", "--la", far_school.la.code)
    assert other.exit_code == 1 and "no google tenant connection" in other.output
    assert cli("provision", "status", "--la", far_school.la.code, "--json").output.strip() == "[]"


def test_the_command_writes_no_model_itself() -> None:
    assert _hits(Path(provision_cli.__file__)) == []


@pytest.mark.django_db(False)
def test_downstream_sim_runs_as_its_own_process_and_accepts_its_key(tmp_path: Path) -> None:
    import os
    import re
    import subprocess
    import sys

    from rollsync.provisioning.google import GoogleSettings, GoogleTenant, ServiceAccount

    key = tmp_path / "sa.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rollsync", "downstream-sim", "google", "--key-out", str(key)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert url, first
        assert key.stat().st_mode & 0o777 == 0o600
        client = GoogleTenant(
            GoogleSettings(DOMAIN, f"admin@{DOMAIN}", api_url=url.group(0)),
            ServiceAccount.parse(key.read_text()),
        )
        assert client.token().startswith("ya29.sim-")
        assert client.read().users == ()
        client.close()
    finally:
        os.kill(proc.pid, 15)
        proc.wait(timeout=10)
