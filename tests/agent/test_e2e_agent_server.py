"""The real `rollsync-agent` (a separate process) against the real rollsync server (the
web app on a socket: pytest-django's live server), through a relay that keeps every byte
the agent sent, with the fake SIMS (CommandReporter and CommandReportImporter) holding a
simulated school: a full first run, an opted-out field never on the wire, a connection
cut mid-upload, the server down, a wrong licence key, a SIMS user without the ID
permission, and SIMS's own error."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.directory.services.agent import agent_licence_issue
from rollsync.directory.services.schools import school_add, school_field_opt_out_set
from rollsync.directory.tasks import run_queued
from rollsync.missim.fake_sims import DEFAULT_USERS, install_fake_sims
from rollsync.simulate import SchoolSnapshot, make_school_truth
from rollsync.simulate.mis_data import dump_snapshot

from .wire import Cut, Relay

pytestmark = [pytest.mark.slow]

AGENT = shutil.which("rollsync-agent", path=str(Path(sys.executable).parent))
REPO = Path(__file__).resolve().parents[2]


def _python39() -> str | None:
    """A Python 3.9 on this machine (the oldest the agent supports), if there is one."""
    pyenv = sorted((Path.home() / ".pyenv" / "versions").glob("3.9*/bin/python3.9"))
    for found in [*map(str, pyenv), shutil.which("python3.9")]:
        if found and subprocess.run([found, "-c", "pass"], capture_output=True).returncode == 0:
            return found  # (a pyenv shim for a version not selected does not run)
    return None


ACCEPTED = ("students", "staff", "contacts", "groups")
SOURCE = "SIMS agent"


@functools.cache
def _truth() -> SchoolSnapshot:
    return make_school_truth(pupils=30, phase="Primary")


@dataclass
class Setup:
    school: m.School
    snap: SchoolSnapshot
    licence_key: str
    relay: Relay
    home: Path
    reporter: Path
    env: dict[str, str]

    exe: str | None = AGENT

    def agent(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        assert self.exe, "rollsync-agent is not installed in this venv (./dev installs it)"
        return subprocess.run(
            [self.exe, *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def configure(
        self, *, user: str = "rollsync", password: str | None = None, key: str = ""
    ) -> None:
        done = self.agent(
            "configure",
            "--server",
            self.relay.url,
            "--licence-key",
            key or self.licence_key,
            "--command-reporter",
            str(self.reporter),
            "--sims-user",
            user,
            "--sims-password-stdin",
            "--server-name",
            r"SIMS-SRV\SIMS2019",
            "--database-name",
            "SIMS",
            stdin=(password if password is not None else DEFAULT_USERS[user]["password"]) + "\n",
        )
        assert done.returncode == 0, done

    def run(self, *args: str) -> tuple[int, dict[str, Any]]:
        done = self.agent("run", "--json", *args)
        try:
            summary = json.loads(done.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"run --json printed no JSON: {done}")
        return done.returncode, summary

    def uploads(self) -> list[m.Upload]:
        return list(m.Upload.objects.filter(school=self.school, source=SOURCE).order_by("pk"))


def _setup(live_server: Any, tmp_path: Path, snap: SchoolSnapshot | None = None) -> Setup:
    school = school_add(
        urn="100801",
        la_code="208",
        estab="2801",
        name="Hillside Primary",
        la_name="Testshire",
        mis="SIMS",
        accept_reports=ACCEPTED,
        actor="setup",
    )
    snap = dataclasses.replace(
        snap or _truth(),
        urn=school.urn,
        la_code=school.la.code,
        la_name=school.la.name,
        estab=school.estab,
        school_name=school.name,
    )
    issued = agent_licence_issue(school=school, actor="setup")
    day = tmp_path / "mis-data.json"
    day.write_bytes(dump_snapshot(snap))
    reporter = install_fake_sims(tmp_path / "SIMS", school_day=day)
    host, port = live_server.thread.host, live_server.thread.port
    relay = Relay(target=(host, port)).start()
    home = tmp_path / "agent-home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ROLLSYNC_")},
        "ROLLSYNC_AGENT_HOME": str(home),
        "ROLLSYNC_AGENT_KEYRING": "off",
        "ROLLSYNC_AGENT_RETRY_WAIT": "0.05",
        "NO_COLOR": "1",
    }
    return Setup(school, snap, issued.licence_key, relay, home, reporter, env)


@pytest.fixture
def sims_school(transactional_db: Any, live_server: Any, tmp_path: Path) -> Iterator[Setup]:
    setup = _setup(live_server, tmp_path)
    yield setup
    setup.relay.stop()


def _stored_reports(setup: Setup) -> list[str]:
    return sorted(u.report for u in setup.uploads())


def test_a_first_run_extracts_filters_uploads_and_syncs(sims_school: Setup) -> None:
    s = sims_school
    s.configure()
    hello = s.agent("test-connection")
    assert hello.returncode == 0, hello
    assert "licence key accepted for Hillside Primary" in hello.stdout + hello.stderr

    code, summary = s.run()
    assert code == 0, summary
    assert _stored_reports(s) == sorted(ACCEPTED)
    tasks = m.QueuedTask.objects.filter(kind=m.QueuedTask.Kind.SYNC)
    # queued on arrival, one sync per extract
    assert sorted(t.upload_id for t in tasks) == [u.pk for u in s.uploads()]

    run_queued()
    runs = m.SyncRun.objects.filter(school=s.school)
    assert sorted(r.upload.report for r in runs) == sorted(ACCEPTED)
    assert {r.status for r in runs} == {m.SyncRun.Status.APPLIED}
    on_roll = [p for p in s.snap.pupils if not p.future]
    pupils = m.Allocation.objects.filter(school=s.school, role="pupil", status="active")
    assert sorted(pupils.values_list("mis_id", flat=True)) == sorted(p.mis_id for p in on_roll)
    # the agent's secrets never left its home in a form anyone can read back
    assert s.licence_key not in (s.agent("status").stdout + s.agent("reports").stdout)
    conn = m.MisConnection.objects.get(school=s.school)
    assert conn.agent_status["agent_version"]  # the agent reported itself
    assert conn.agent_status["lights"]["upload"]["light"] == "green"


def test_an_opted_out_field_never_goes_over_the_wire(sims_school: Setup) -> None:
    s = sims_school
    school_field_opt_out_set(
        school=s.school, report="students", field_name="upn", opted_out=True, actor="admin"
    )
    upns = [p.upn for p in s.snap.pupils if p.upn]
    assert upns, "the simulated school must have pupils' UPNs for this test to mean anything"
    s.configure()
    code, _ = s.run("--report", "students")
    assert code == 0
    wire = bytes(s.relay.sent)
    assert b"<SuperStarReport" in wire  # the extract did go over this wire
    assert b"<UPN>" not in wire and b"<UPN />" not in wire
    for upn in upns:
        assert upn.encode() not in wire
    assert b"<Legal_x0020_Surname>" in wire  # what was not opted out did go
    (upload,) = s.uploads()
    assert b"<UPN" not in bytes(upload.data)
    tree = json.loads(s.agent("reports", "--json").stdout)
    students = next(r for r in tree["reports"] if r["report"] == "students")
    upn = next(f for f in students["fields"] if f["field"] == "upn")
    assert upn["state"] == "Not uploaded"


def test_a_connection_cut_mid_upload_resumes_and_stores_once(sims_school: Setup) -> None:
    s = sims_school
    cut = Cut(marker=b"PATCH /agent/v1/uploads/", after=700)
    s.relay.cuts.append(cut)
    s.configure()
    code, summary = s.run("--report", "students")
    assert code == 0, summary
    assert cut.done == 1  # the connection really was cut mid-chunk
    (upload,) = s.uploads()
    assert upload.report == "students"
    assert b"</SuperStarReport>" in bytes(upload.data)  # whole, not the cut half


def test_a_large_extract_cut_in_its_second_chunk_resumes_from_there(
    transactional_db: Any, live_server: Any, tmp_path: Path
) -> None:
    big = make_school_truth(pupils=900, phase="Secondary")
    s = _setup(live_server, tmp_path, snap=big)
    chunk = 256 * 1024
    cut = Cut(marker=b"PATCH /agent/v1/uploads/", after=100_000, skip=1)
    s.relay.cuts.append(cut)
    s.configure()
    code, summary = s.run("--report", "students")
    assert code == 0, summary
    assert cut.done == 1
    (upload,) = s.uploads()
    assert upload.size > 2 * chunk  # three chunks at least: the cut one is in the middle
    wire = bytes(s.relay.sent)
    # the first chunk went once; the second was cut, then sent again from its offset
    assert wire.count(b"Upload-Offset: 0\r\n") == 1
    assert wire.count(f"Upload-Offset: {chunk}\r\n".encode()) == 2
    assert hashlib.sha256(bytes(upload.data)).hexdigest() == upload.sha256
    s.relay.stop()


def test_the_server_down_queues_and_the_next_run_sends(sims_school: Setup) -> None:
    s = sims_school
    s.configure()
    assert s.agent("reports").returncode == 0  # the tree is known from an earlier day
    s.relay.stop()
    code, _ = s.run("--report", "students")
    assert code == 1
    assert s.uploads() == []
    status = json.loads(s.agent("status", "--json").stdout)
    assert status["lights"]["upload"]["light"] == "red"
    assert "queued" in status["lights"]["upload"]["message"]
    assert len(list((s.home / "queue").glob("*.xml"))) == 1

    s.relay.start()  # the same port: the server is back
    code, summary = s.run("--report", "students")
    assert code == 0, summary
    # two extracts of the same day, the same bytes: stored once
    assert _stored_reports(s) == ["students"]
    assert list((s.home / "queue").glob("*.xml")) == []


def test_a_wrong_licence_key_is_refused_and_nothing_is_stored(sims_school: Setup) -> None:
    s = sims_school
    s.configure(key="RSA-AAAAA-BBBBB-CCCCC-DDDDD-EEEEE-FFFFF")
    hello = s.agent("test-connection")
    assert hello.returncode == 1
    assert "licence key" in (hello.stdout + hello.stderr).lower()
    code, _ = s.run()
    assert code == 1
    assert s.uploads() == []
    conn = m.MisConnection.objects.get(school=s.school)
    assert conn.agent_status == {} and conn.last_contact_at is None


def test_a_sims_user_without_the_id_permission_uploads_nothing(sims_school: Setup) -> None:
    s = sims_school
    s.configure(user="clerk")
    code, _ = s.run("--report", "students")
    assert code == 1
    status = json.loads(s.agent("status", "--json").stdout)
    assert status["lights"]["extract"]["light"] == "red"
    assert "Third Party Reporting" in status["lights"]["extract"]["message"]
    assert s.uploads() == []


def test_commandreportererror_is_reported_in_plain_words(sims_school: Setup) -> None:
    s = sims_school
    s.configure(password="not-the-password")
    code, _ = s.run("--report", "students")
    assert code == 1
    status = json.loads(s.agent("status", "--json").stdout)
    assert status["lights"]["extract"]["light"] == "red"
    assert "Login failed" in status["lights"]["extract"]["message"]
    assert "not-the-password" not in json.dumps(status)
    assert s.uploads() == []


@pytest.fixture(scope="session")
def agent_on_python39(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The agent package AutoUpdate Settings offers for download, `pip install`ed alone into
    a fresh Python 3.9 venv (no rollsync, no Django): what a school technician does on an
    old server."""
    from rollsync.directory.agent_package import build_package

    python = _python39()
    if python is None:
        pytest.skip("no Python 3.9 on this machine (pyenv's or python3.9 on PATH)")
    folder = tmp_path_factory.mktemp("py39")
    package = build_package(REPO / "agent")
    assert package is not None
    tarball = folder / package.filename
    tarball.write_bytes(package.data)
    venv = folder / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(tarball)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if pip.returncode != 0 and "Could not find a version" in pip.stderr:
        pytest.skip(f"the package registry cannot be reached: {pip.stderr.strip()[-200:]}")
    assert pip.returncode == 0, pip.stderr
    django = subprocess.run([str(venv / "bin" / "python"), "-c", "import django"], check=False)
    assert django.returncode != 0  # the agent brought no Django with it
    return str(venv / "bin" / "rollsync-agent")


def test_the_agent_installed_alone_on_python_3_9_runs_end_to_end(
    sims_school: Setup, agent_on_python39: str
) -> None:
    s = dataclasses.replace(sims_school, exe=agent_on_python39)
    version = s.agent("--version")
    assert version.returncode == 0, version
    s.configure()
    code, summary = s.run()
    assert code == 0, summary
    assert _stored_reports(s) == sorted(ACCEPTED)
    conn = m.MisConnection.objects.get(school=s.school)
    assert conn.agent_status["python"].startswith("3.9.")


def test_two_runs_at_once_one_runs_the_other_does_nothing(sims_school: Setup) -> None:
    s = sims_school
    s.configure()
    assert s.exe
    slow = {**s.env, "ROLLSYNC_FAKE_SIMS_FAULTS": "slow=4"}  # SIMS takes its time
    first = subprocess.Popen(
        [s.exe, "run", "--json", "--report", "students"],
        env=slow,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (s.home / "run.lock").exists() or "running" not in _last_run(s):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        code, second = s.run("--report", "students")
        assert code == 1
        assert second["outcome"] == "busy"
        assert "another run" in second["message"]
    finally:
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, (out, err)
    assert json.loads(out)["outcome"] == "uploaded"
    assert _stored_reports(s) == ["students"]  # the second run sent nothing beside it


def _last_run(s: Setup) -> str:
    status = s.home / "status.json"
    return status.read_text("utf-8") if status.exists() else ""
