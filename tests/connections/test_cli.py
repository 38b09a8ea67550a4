"""`rollsync mis ...` as an operator or a script uses it: secrets on standard input, JSON
answers in the documented shape, exit codes."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from rollsync.cli import main
from rollsync.directory import models as m
from tests.connections.conftest import Isams


def _mis(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(main, ["mis", *args], input=stdin, catch_exceptions=False)


def _connect_args(isams: Isams) -> list[str]:
    return [
        "connect",
        "--school",
        isams.snap.urn,
        "--mis",
        "isams",
        "--url",
        isams.url,
        "--client-id",
        isams.settings["client_id"],
        "--client-secret-stdin",
        "--json",
    ]


def test_connect_status_run_disconnect(isams: Isams) -> None:
    secret = isams.secrets["client_secret"]
    done = _mis(*_connect_args(isams), stdin=secret + "\n")
    assert done.exit_code == 0, done.output
    assert secret not in done.output
    status = json.loads(done.stdout)
    assert (status["connector"], status["state"], status["light"]) == (
        "isams",
        "connected",
        "green",
    )

    shown = _mis("status", "--school", isams.snap.urn, "--json")
    body = json.loads(shown.stdout)
    assert set(body) >= {
        "mis",
        "state",
        "last_pull",
        "next_pull",
        "light",
        "last_error",
        "schedule",
    }
    assert body["last_pull"] is None and body["mis"] == "IRIS iSAMS"

    ran = _mis("run", "--school", isams.snap.urn, "--json")
    assert ran.exit_code == 0, ran.output
    out = json.loads(ran.stdout)
    assert (out["school"], out["status"]) == (isams.snap.urn, "applied")
    assert [r["status"] for r in out["runs"]] == ["applied", "applied"]
    # one object per report, exactly as `import --json` prints a run
    assert set(out["runs"][0]) == {
        "run",
        "school",
        "status",
        "status_detail",
        "counts",
        "errors",
        "holds",
        "seconds",
    }

    preview = json.loads(_mis("run", "--school", isams.snap.urn, "--dry-run", "--json").stdout)
    assert preview["status"] == "preview"

    gone = _mis("disconnect", "--school", isams.snap.urn, "--json")
    assert gone.exit_code == 0 and json.loads(gone.stdout) == {
        "school": isams.snap.urn,
        "disconnected": True,
    }
    assert not m.MisConnection.objects.exists()


def test_a_failed_pull_exits_1_with_the_reason(isams: Isams) -> None:
    _mis(*_connect_args(isams), stdin=isams.secrets["client_secret"] + "\n")
    isams.sim.set_faults("503@*")
    ran = _mis("run", "--school", isams.snap.urn, "--json")
    assert ran.exit_code == 1
    out = json.loads(ran.stdout)
    assert (out["status"], out["runs"]) == ("failed", [])
    assert "did not answer" in out["error"]


def test_bad_input_exits_2_and_stores_nothing(isams: Isams) -> None:
    args = _connect_args(isams)
    args[args.index(isams.url)] = "http://mis.example.org"
    refused = _mis(*args, stdin="x\n")
    assert refused.exit_code == 2
    assert "https" in json.loads(refused.stdout)["error"]
    no_secret = _mis(*_connect_args(isams), stdin="\n")
    assert no_secret.exit_code == 2
    wrong = _mis(*_connect_args(isams), stdin="wrong\n")
    assert wrong.exit_code == 1
    assert not m.MisConnection.objects.exists()
    assert isams.sim.requests and all(r.path.endswith("/connect/token") for r in isams.sim.requests)


def test_an_approval_link_for_arbor(isams: Isams, monkeypatch: Any) -> None:
    monkeypatch.setenv("ROLLSYNC_ARBOR_APPROVAL_URL", "https://arbor.example/rollsync")
    done = _mis(
        "approval-link",
        "--school",
        isams.snap.urn,
        "--mis",
        "arbor",
        "--return-url",
        "https://rollsync.example/connections/return/",
        "--json",
    )
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    conn = m.MisConnection.objects.get(school=isams.school)
    assert out["link"].startswith("https://arbor.example/rollsync/approve?")
    assert f"state={conn.approval_state}" in out["link"]
    assert (conn.connector, conn.state) == ("arbor", "awaiting_approval")
    status = json.loads(_mis("status", "--school", isams.snap.urn, "--json").stdout)
    assert (status["state"], status["light"]) == ("awaiting approval", "yellow")
    refused = _mis("approval-link", "--school", isams.snap.urn, "--mis", "isams")
    assert refused.exit_code == 2 and "entering its credentials" in refused.output
