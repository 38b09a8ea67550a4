"""`rollsync-agent run` as a real process: the fake SIMS behind CommandReporter's name, the
protocol test server on a real socket."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lxml import etree

from rollsync.missim.commandreporter import encode_name
from tests.agent.conftest import LICENCE_KEY, PASSWORD, Agent, make_tree, snapshot
from tests.agent.protocol_server import ProtocolServer


def _records(xml: bytes) -> list[dict[str, str]]:
    root = etree.fromstring(xml)
    return [{f.tag: f.text or "" for f in rec} for rec in root.iterchildren("Record")]


def _current_pupils() -> int:
    return sum(1 for p in snapshot().pupils if not p.future)


def test_run_extracts_filters_and_uploads(agent: Agent, server: ProtocolServer) -> None:
    server.state.tree = make_tree(stale_students=True)
    agent.configure(server.url)
    done = agent("run", "--json")
    assert done.returncode == 0, done
    summary = json.loads(done.stdout)
    assert summary["ok"] is True and summary["outcome"] == "uploaded"
    by_report = {r["report"]: r for r in summary["reports"]}
    pupils = _current_pupils()
    assert by_report["students"]["rows"] == pupils > 0
    assert by_report["students"]["dropped"] == {"Primary Email": pupils}
    assert by_report["students"]["state"] == "stored"
    assert by_report["staff"]["dropped"] == {}
    assert [r for r, _ in server.state.stored] == ["students", "staff"]
    students = _records(server.state.stored[0][1])
    assert len(students) == pupils
    tags = set(students[0])
    assert encode_name("Primary Email") not in tags
    assert {"ID", "UPN", encode_name("Legal Surname")} <= tags
    assert all(r["ID"] for r in students)
    lights = agent.status()["lights"]
    assert {k: v["light"] for k, v in lights.items()} == {
        "configuration": "green",
        "extract": "green",
        "filter": "yellow",
        "upload": "green",
    }
    assert "Primary Email" in lights["filter"]["message"]
    assert f"students: dropped {pupils} values of field Primary Email (not uploaded)" in agent.log()
    assert agent.queued() == []
    # The secrets are nowhere: not in the log, the output, nor what the server was told.
    posted = json.dumps(server.state.statuses)
    for text in (agent.log(), done.stdout, done.stderr, posted):
        assert PASSWORD not in text and LICENCE_KEY not in text
    assert "/PASSWORD:***" in agent.log()
    assert server.state.statuses[-1]["lights"]["upload"]["light"] == "green"
    assert server.state.statuses[-1]["queued"] == 0
    assert server.state.headers[0]["User-Agent"].startswith("rollsync-agent/0.1.0 (")


def test_second_run_imports_no_definition_again(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    assert agent("run").returncode == 0
    assert agent("run").returncode == 0
    log = agent.log()
    assert log.count("students: report definition imported into SIMS") == 1
    assert log.count("staff: report definition imported into SIMS") == 1
    # The same bytes twice: the server says it stored them already, nothing is sent twice.
    assert len(server.state.stored) == 2
    assert agent.queued() == []
    # A changed definition is imported again.
    server.state.tree = make_tree(stale_students=True)
    assert agent("run").returncode == 0
    assert agent.log().count("students: report definition imported into SIMS") == 2
    defn = (agent.home / "definitions" / "students.RptDef").read_text("utf-8")
    assert 'caption="Primary Email"' in defn


def test_extract_filter_only_leaves_the_queue_alone(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    done = agent("run", "--extract-filter-only", "--report", "staff")
    assert done.returncode == 0, done
    assert f"Extracts written to {agent.home / 'extracts'}" in done.stdout
    files = agent.queued("extracts")
    assert len(files) == 2 and files[0].endswith("-staff.json") and files[1].endswith("-staff.xml")
    rows = _records((agent.home / "extracts" / files[1]).read_bytes())
    assert len(rows) == sum(1 for s in snapshot().staff if not s.future)
    assert encode_name("Phone") not in rows[0]
    meta = json.loads((agent.home / "extracts" / files[0]).read_text())
    assert set(meta) == {"report", "sha256", "size", "filename", "extracted_at"}
    assert meta["report"] == "staff" and meta["filename"] == files[1]
    assert agent.queued() == []
    assert server.state.uploads == {} and server.state.stored == []


def test_a_report_not_accepted_is_named(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    done = agent("run", "--report", "contacts", "--report", "nosuch")
    assert done.returncode == 1
    message = agent.status()["lights"]["extract"]["message"]
    assert message == (
        "not accepted by the school, so not extracted: contacts (not available), "
        "nosuch (no such report)"
    )
    assert not (agent.home / "queue").exists() or agent.queued() == []
    assert server.state.uploads == {}


def _failed_run(agent: Agent, server: ProtocolServer, **env: str) -> str:
    done = agent("run", "--report", "students", **env)
    assert done.returncode == 1, done
    assert server.state.uploads == {} and agent.queued() == []
    lights = agent.status()["lights"]
    assert lights["extract"]["light"] == "red"
    assert LICENCE_KEY not in agent.log() and PASSWORD not in agent.log()
    return str(lights["extract"]["message"])


def test_sims_refuses_the_login(agent: Agent, server: ProtocolServer, tmp_path: Path) -> None:
    agent.configure(server.url)
    (tmp_path / "users.json").write_text(json.dumps({"office": {"password": "other"}}))
    message = _failed_run(agent, server)
    assert message == (
        "students: SIMS did not import the report definition: "
        "SIMS refused the login: Login failed. The user name or password is incorrect."
    )


def test_sims_error_when_reporting(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    assert agent("run", "--extract-filter-only").returncode == 0  # definitions imported
    message = _failed_run(agent, server, ROLLSYNC_FAKE_SIMS_DATA="/nonexistent/mis-data.json")
    assert message.startswith("students: SIMS reported an error: ")
    assert "/nonexistent/mis-data.json" in message


def test_crash_names_the_exit_code_and_stderr(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    assert agent("run", "--extract-filter-only").returncode == 0
    message = _failed_run(agent, server, ROLLSYNC_FAKE_SIMS_FAULTS="crash")
    assert message == (
        "students: CommandReporter stopped with exit code 3: "
        "Unhandled Exception: System.NullReferenceException (fake crash)"
    )


def test_garbage_is_not_a_report(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    assert agent("run", "--extract-filter-only").returncode == 0
    message = _failed_run(agent, server, ROLLSYNC_FAKE_SIMS_FAULTS="garbage")
    assert message == "students: SIMS wrote something that is not a report"


def test_empty_ids_mean_a_missing_permission_group(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url, user="clerk")
    message = _failed_run(agent, server)
    assert message == (
        "students: the SIMS user lacks the Third Party Reporting permission group: "
        "SIMS leaves ID fields empty"
    )


def test_timeout(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    assert agent("run", "--extract-filter-only").returncode == 0
    message = _failed_run(
        agent, server, ROLLSYNC_FAKE_SIMS_FAULTS="slow=5", ROLLSYNC_AGENT_EXTRACT_TIMEOUT="1"
    )
    assert message == "students: CommandReporter did not finish within 1 s"


def test_queue_survives_a_server_that_is_down(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    assert agent("reports").returncode == 0  # the tree is cached
    server.stop()
    done = agent("run", "--json", ROLLSYNC_AGENT_RETRIES="2")
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert summary["tree"].startswith("cached at ")
    assert summary["lights"]["upload"] == {
        "light": "red",
        "message": "could not reach 127.0.0.1: 2 extracts queued, sent on the next run",
    }
    queued = agent.queued()
    assert len(queued) == 4 and queued[1].endswith("-students.xml")
    assert "using the report tree cached at" in agent.log()
    assert server.state.requests == [("GET", "/agent/v1/reports"), ("POST", "/agent/v1/status")]
    server.start()
    done = agent("run", "--report", "students")
    assert done.returncode == 0, done
    assert agent.queued() == []
    assert [r for r, _ in server.state.stored] == ["students", "staff"]
    begun = [p for m, p in server.state.requests if m == "POST" and p.endswith("/uploads")]
    assert len(begun) == 3  # the two queued (oldest first), then this run's students
    assert server.state.statuses[-1]["queued"] == 0


def test_resume_after_a_chunk_is_cut(agent: Agent, server: ProtocolServer) -> None:
    server.state.chunk_size = 1024
    server.state.drop_patch = 1
    agent.configure(server.url)
    done = agent("run", "--report", "students")
    assert done.returncode == 0, done
    assert [r for r, _ in server.state.stored] == ["students"]
    stored = server.state.stored[0][1]
    assert len(_records(stored)) == _current_pupils()
    calls = server.state.requests
    first_patch = next(i for i, c in enumerate(calls) if c[0] == "PATCH")
    assert calls[first_patch + 1] == ("GET", "/agent/v1/uploads/u_1")
    assert calls[first_patch + 2] == ("PATCH", "/agent/v1/uploads/u_1")
    patches = [c for c in calls if c[0] == "PATCH"]
    assert len(patches) == -(-len(stored) // 1024) + 1
    assert "retry 1 of 5" in agent.log()


def test_5xx_is_retried(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    assert agent("reports").returncode == 0
    server.state.fail_5xx = 2
    done = agent("run", "--report", "staff")
    assert done.returncode == 0, done
    assert [r for r, _ in server.state.stored] == ["staff"]


def test_licence_key_refused(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    server.state.licence_key = "RSA-OTHER"
    done = agent("run")
    assert done.returncode == 1
    assert agent.status()["lights"]["upload"] == {
        "light": "red",
        "message": "the licence key was refused: enter the one AutoUpdate Settings shows",
    }
    assert server.state.uploads == {}


def test_a_refused_upload_is_moved_aside(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    assert agent("reports").returncode == 0
    # The server no longer takes Staff (the school withdrew it) but the agent's tree is stale.
    server.state.tree["reports"][1]["state"] = "available"
    server.stop()
    assert agent("run", "--report", "staff", ROLLSYNC_AGENT_RETRIES="0").returncode == 1
    server.start()
    done = agent("run", "--report", "students")
    assert done.returncode == 1
    upload = agent.status()["lights"]["upload"]
    assert upload["light"] == "red"
    assert "The school has not accepted staff." in upload["message"]
    rejected = agent.queued("rejected")
    assert len(rejected) == 2 and rejected[1].endswith("-staff.xml")
    assert agent.queued() == []
    assert [r for r, _ in server.state.stored] == ["students"]


def test_lost_answer_then_409_resumes_from_the_servers_offset(
    agent: Agent, server: ProtocolServer
) -> None:
    server.state.chunk_size = 1024
    server.state.lose_answer = 1
    server.state.then_5xx = 1  # the agent cannot ask where the upload stands, so it guesses
    agent.configure(server.url)
    done = agent("run", "--report", "staff")
    assert done.returncode == 0, done
    calls = [c for c in server.state.requests if c[1].startswith("/agent/v1/uploads")]
    assert calls[:5] == [
        ("POST", "/agent/v1/uploads"),
        ("PATCH", "/agent/v1/uploads/u_1"),  # kept, answer lost
        ("GET", "/agent/v1/uploads/u_1"),  # 503
        ("PATCH", "/agent/v1/uploads/u_1"),  # from the old offset: 409 with offset 1024
        ("PATCH", "/agent/v1/uploads/u_1"),  # from 1024
    ]
    assert "the server holds 1024 bytes; sending from there" in agent.log()
    stored = server.state.stored[0][1]
    assert len(_records(stored)) == sum(1 for s in snapshot().staff if not s.future)


def test_reports_lists_the_tree_and_falls_back_to_the_cache(
    agent: Agent, server: ProtocolServer
) -> None:
    agent.configure(server.url)
    done = agent("reports")
    assert done.returncode == 0, done
    lines = done.stdout.splitlines()
    assert lines[0] == "[accepted] Students (Current) (students)"
    assert lines[1].split() == ["Mandatory", "ID"]
    assert "    Not uploaded  Primary Email" in lines
    assert "[available] Contacts (contacts)" in lines
    assert "[not available] Attendance (attendance)" in lines
    server.stop()
    done = agent("reports")
    assert done.returncode == 0, done
    assert done.stdout.startswith("offline (could not reach 127.0.0.1: ")
    assert done.stdout.splitlines()[1] == "[cached]"
    assert done.stdout.splitlines()[2:] == lines
    as_json = json.loads(agent("reports", "--json").stdout)
    assert as_json["cached"] is True and as_json["reports"] == make_tree()["reports"]


def test_reports_offline_with_nothing_cached(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    server.stop()
    done = agent("reports")
    assert done.returncode == 1 and done.stdout == ""
    assert "no report tree cached yet" in done.stderr
    done = agent("run", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["lights"]["extract"]["message"].startswith(
        "no report tree: could not reach 127.0.0.1"
    )


def test_definitions_imported_again_when_sims_lost_them(
    agent: Agent, server: ProtocolServer, tmp_path: Path
) -> None:
    agent.configure(server.url)
    assert agent("run", "--report", "staff").returncode == 0
    shutil.rmtree(tmp_path / "sims-db")  # a SIMS database restored from before the import
    done = agent("run", "--report", "staff")
    assert done.returncode == 0, done
    log = agent.log()
    assert log.count("staff: SIMS no longer knows the report; importing it again") == 1
    assert log.count("staff: report definition imported into SIMS") == 2


def test_lights_left_in_progress_turn_red(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    server.state.licence_key = "RSA-OTHER"
    assert agent("run").returncode == 1
    assert agent.status()["lights"] == {
        "configuration": {
            "light": "green",
            "message": f"SIMS SCHOOL-SRV\\SIMS2008/sims, server {server.url}",
        },
        "extract": {"light": "red", "message": "not done: licence key refused"},
        "filter": {"light": "red", "message": "not done: licence key refused"},
        "upload": {
            "light": "red",
            "message": "the licence key was refused: enter the one AutoUpdate Settings shows",
        },
    }


def test_a_connection_that_breaks_now_and_then_still_gets_through(
    agent: Agent, server: ProtocolServer
) -> None:
    server.state.chunk_size = 1024
    server.state.drop_every = 2
    agent.configure(server.url)
    # One retry at a time is enough while each retry moves the upload on.
    done = agent("run", "--report", "students", ROLLSYNC_AGENT_RETRIES="1")
    assert done.returncode == 0, done
    stored = server.state.stored[0][1]
    chunks = -(-len(stored) // 1024)
    assert chunks >= 4
    assert server.state.patches == 2 * chunks - 1  # every other PATCH was cut
    assert len(_records(stored)) == _current_pupils()
