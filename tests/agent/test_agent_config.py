"""`rollsync-agent configure`: the URL rule, the importer found beside the reporter, the
secrets kept out of argv, the config file, the log and every output."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from rollsync_agent.config import ConfigError, check_server_url, find_importer
from rollsync_agent.redact import Redactor
from rollsync_agent.secret_store import SecretStore
from rollsync_agent.sims import _win_arg

from tests.agent.conftest import LICENCE_KEY, PASSWORD, Agent, write_wrappers
from tests.agent.protocol_server import ProtocolServer


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://rollsync.example.org/", "https://rollsync.example.org"),
        ("https://rollsync.example.org:8443/la", "https://rollsync.example.org:8443/la"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.8.9.10", "http://127.8.9.10"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
        ("http://localhost:8000", "http://localhost:8000"),
    ],
)
def test_url_rule_accepts(url: str, base: str) -> None:
    assert check_server_url(url) == base


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://rollsync.example.org", "uses plain http:// to rollsync.example.org"),
        ("http://10.0.0.5", "uses plain http:// to 10.0.0.5"),
        ("http://128.0.0.1", "uses plain http:// to 128.0.0.1"),
        ("http://localhost.example.org", "uses plain http:// to localhost.example.org"),
        ("ftp://rollsync.example.org", "is not an https:// address"),
        ("rollsync.example.org", "is not an https:// address"),
        ("https://user:pw@rollsync.example.org", "must not carry"),
    ],
)
def test_url_rule_refuses(url: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words.replace(".", r"\.").replace("/", "/")):
        check_server_url(url)


def test_importer_found_beside_the_reporter(tmp_path: Path) -> None:
    (tmp_path / "CommandReporter.exe").write_text("")
    (tmp_path / "commandreportimporter.EXE").write_text("")
    assert find_importer(tmp_path / "CommandReporter.exe") == tmp_path / "commandreportimporter.EXE"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "CommandReporter").write_text("")
    assert find_importer(tmp_path / "other" / "CommandReporter") is None


def test_redactor_masks_secrets_and_password_switches() -> None:
    r = Redactor()
    r.add(LICENCE_KEY, None, "")
    line = f'key {LICENCE_KEY} /USER:a /PASSWORD:hunter2 /PASSWORD:"a b" Bearer tok'
    assert r(line) == "key *** /USER:a /PASSWORD:*** /PASSWORD:*** Bearer ***"


def test_configure_keeps_secrets_in_a_0600_file(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    secrets = agent.home / "secrets.json"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert stat.S_IMODE(agent.home.stat().st_mode) == 0o700
    assert json.loads(secrets.read_text()) == {
        "licence_key": LICENCE_KEY,
        "sims_password": PASSWORD,
    }
    config = json.loads((agent.home / "config.json").read_text())
    assert config == {
        "server": server.url,
        "command_reporter": str(agent.reporter),
        "command_report_importer": "",
        "auth": "user",
        "sims_user": "office",
        "server_name": r"SCHOOL-SRV\SIMS2008",
        "database_name": "sims",
    }
    for path in agent.home.rglob("*"):
        if path.is_file() and path != secrets:
            text = path.read_text("utf-8", "replace")
            assert PASSWORD not in text and LICENCE_KEY not in text, path
    # A run's output, its log and the status page's data carry no secret either.
    done = agent("test-connection")
    assert done.returncode == 0, done
    assert (
        "connected to 127.0.0.1 over plain HTTP (loopback): licence key accepted for Hillside Primary"
        in done.stderr
    )
    for text in (done.stdout, done.stderr, agent.log(), agent("status", "--json").stdout):
        assert PASSWORD not in text and LICENCE_KEY not in text
    assert SecretStore(agent.home, use_keyring=False).get("sims_password") == PASSWORD


def test_reconfigure_changes_only_what_is_given(agent: Agent, server: ProtocolServer) -> None:
    agent.configure(server.url)
    before = json.loads((agent.home / "config.json").read_text())
    done = agent("configure", "--database-name", "sims2")
    assert done.returncode == 0, done
    after = json.loads((agent.home / "config.json").read_text())
    assert after == {**before, "database_name": "sims2"}
    assert json.loads((agent.home / "secrets.json").read_text())["sims_password"] == PASSWORD
    done = agent("configure", "--trusted")
    assert done.returncode == 0, done
    after = json.loads((agent.home / "config.json").read_text())
    assert after == {**before, "database_name": "sims2", "auth": "trusted", "sims_user": ""}
    assert json.loads((agent.home / "secrets.json").read_text()) == {"licence_key": LICENCE_KEY}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "http://example.org"], "uses plain http:// to example.org"),
        (["--command-reporter", "/nonexistent/CommandReporter.exe"], "no such file"),
        (["--trusted", "--sims-user", "office"], "either --trusted or --sims-user"),
        (["--sims-user", "office"], "--sims-user needs --sims-password-stdin"),
    ],
)
def test_configure_refuses_and_changes_nothing(
    agent: Agent, server: ProtocolServer, args: list[str], message: str
) -> None:
    agent.configure(server.url)
    files = {p: p.read_bytes() for p in (agent.home / "config.json", agent.home / "secrets.json")}
    done = agent("configure", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert {p: p.read_bytes() for p in files} == files


def test_first_configure_needs_everything(agent: Agent) -> None:
    done = agent("configure", "--server", "https://rollsync.example.org", "--trusted")
    assert done.returncode == 2
    assert "still needed: the licence key (--licence-key); the CommandReporter path" in done.stderr
    assert not (agent.home / "config.json").exists()


def test_importer_not_beside_the_reporter(agent: Agent, tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    write_wrappers(alone, ("CommandReporter", "SomethingElse"))
    base = ["configure", "--server", "https://r.example.org", "--licence-key", "K", "--trusted"]
    base += ["--server-name", "s", "--database-name", "d"]
    done = agent(*base, "--command-reporter", str(alone / "CommandReporter"))
    assert done.returncode == 2
    assert "CommandReportImporter was not found beside" in done.stderr
    done = agent(
        *base,
        "--command-reporter",
        str(alone / "CommandReporter"),
        "--command-report-importer",
        str(alone / "SomethingElse"),
    )
    assert done.returncode == 0, done


def test_not_configured_run_is_red(agent: Agent) -> None:
    done = agent("run")
    assert done.returncode == 1
    light = agent.status()["lights"]["configuration"]
    assert light["light"] == "red"
    assert light["message"].startswith(
        "not configured: run rollsync-agent configure with the server URL"
    )


class _MemoryKeyring(KeyringBackend):
    """A keyring backend as a real OS store would be seen (priority >= 1), in memory."""

    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[_MemoryKeyring]:
    monkeypatch.delenv("ROLLSYNC_AGENT_KEYRING", raising=False)
    before = keyring.get_keyring()
    ring = _MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(before)


def test_secrets_go_to_a_real_keyring(memory_keyring: _MemoryKeyring, tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    assert store.use_keyring and store.where == "the OS keyring"
    store.set(licence_key=LICENCE_KEY, sims_password=PASSWORD)
    service = f"rollsync-agent:{tmp_path}"
    assert memory_keyring.items == {
        (service, "licence_key"): LICENCE_KEY,
        (service, "sims_password"): PASSWORD,
    }
    assert not (tmp_path / "secrets.json").exists()
    store.set(sims_password="")
    assert SecretStore(tmp_path).get("sims_password") is None
    assert SecretStore(tmp_path).get("licence_key") == LICENCE_KEY


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()], ids=["fail", "null"])
def test_no_real_keyring_means_the_file(
    backend: KeyringBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ROLLSYNC_AGENT_KEYRING", raising=False)
    before = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        store = SecretStore(tmp_path)
        assert not store.use_keyring
        store.set(licence_key=LICENCE_KEY)
    finally:
        keyring.set_keyring(before)
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "secrets.json").read_text()) == {"licence_key": LICENCE_KEY}


def test_keyring_off_forces_the_file(
    memory_keyring: _MemoryKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ROLLSYNC_AGENT_KEYRING", "off")
    SecretStore(tmp_path).set(licence_key=LICENCE_KEY)
    assert memory_keyring.items == {}
    assert (tmp_path / "secrets.json").exists()


@pytest.mark.parametrize(
    ("arg", "shown"),
    [
        ("/PASSWORD:two words", '/PASSWORD:"two words"'),
        ('/REPORT:"C:\\SIMS data\\x.RptDef"', '/REPORT:"C:\\SIMS data\\x.RptDef"'),
        ("/SERVERNAME:SRV\\SIMS", "/SERVERNAME:SRV\\SIMS"),
        ("/QUIET", "/QUIET"),
    ],
)
def test_windows_switch_values_with_spaces_are_quoted(arg: str, shown: str) -> None:
    assert _win_arg(arg) == shown
