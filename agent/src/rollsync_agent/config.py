"""The agent's configuration (`config.json` in the home; the secrets live apart)."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rollsync_agent.home import read_json, write_json

CONFIG_FILE = "config.json"


class ConfigError(ValueError):
    """A configuration a person must fix; the message says what and how."""


@dataclass
class Config:
    server: str = ""
    command_reporter: str = ""
    command_report_importer: str = ""
    auth: str = ""  # "user" or "trusted"
    sims_user: str = ""
    server_name: str = ""
    database_name: str = ""

    @classmethod
    def load(cls, home: Path) -> Config:
        raw = read_json(home / CONFIG_FILE, {})
        known = {f.name for f in fields(cls)}
        return cls(**{k: str(v) for k, v in raw.items() if k in known})

    def save(self, home: Path) -> None:
        write_json(home / CONFIG_FILE, asdict(self))

    def auth_switches(self, password: str | None, *, masked: bool = False) -> list[str]:
        """CommandReporter's switches for the login and the SIMS database."""
        if self.auth == "trusted":
            auth = ["/TRUSTED"]
        else:
            shown = "***" if masked else (password or "")
            auth = [f"/USER:{self.sims_user}", f"/PASSWORD:{shown}"]
        return [*auth, f"/SERVERNAME:{self.server_name}", f"/DATABASENAME:{self.database_name}"]

    def missing(self, *, licence_key: str | None, password: str | None) -> list[str]:
        """What a run needs and does not have, in words for the technician."""
        out: list[str] = []
        if not self.server:
            out.append("the server URL (--server)")
        if not licence_key:
            out.append("the licence key (--licence-key)")
        if not self.command_reporter:
            out.append("the CommandReporter path (--command-reporter)")
        elif not Path(self.command_reporter).is_file():
            out.append(f"CommandReporter at {self.command_reporter} (not found)")
        if self.command_report_importer and not Path(self.command_report_importer).is_file():
            out.append(f"CommandReportImporter at {self.command_report_importer} (not found)")
        if self.auth not in ("user", "trusted"):
            out.append("the SIMS login (--sims-user with --sims-password-stdin, or --trusted)")
        elif self.auth == "user" and not (self.sims_user and password):
            out.append("the SIMS user and password (--sims-user, --sims-password-stdin)")
        if not self.server_name:
            out.append("the SIMS server name (--server-name)")
        if not self.database_name:
            out.append("the SIMS database name (--database-name)")
        return out


LOOPBACK_NAMES = ("localhost",)


def check_server_url(url: str) -> str:
    """The server's base URL, or ConfigError: https always; http only to a loopback address."""
    text = url.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("https", "http") or not host:
        raise ConfigError(
            f"the server URL {text!r} is not an https:// address (for example "
            "https://rollsync.example.org)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"the server URL {text!r} must not carry a query, a fragment or a login")
    if scheme == "http" and not is_loopback(host):
        raise ConfigError(
            f"the server URL {text!r} uses plain http:// to {host}: only https:// is allowed "
            "(plain http is for a rollsync on this same machine, 127.0.0.1 or localhost)"
        )
    return text.rstrip("/")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def find_importer(reporter: Path) -> Path | None:
    """CommandReportImporter beside CommandReporter: the same name with "Reporter" replaced by
    "ReportImporter" (any extension kept), matched case-insensitively."""
    folder = reporter.parent
    wanted = re.sub("reporter", "ReportImporter", reporter.name, count=1, flags=re.IGNORECASE)
    if wanted.casefold() == reporter.name.casefold():
        return None
    try:
        for entry in os.scandir(folder):
            if entry.name.casefold() == wanted.casefold() and entry.is_file():
                return folder / entry.name
    except OSError:
        return None
    return None


def describe(cfg: Config) -> dict[str, Any]:
    return {k: v for k, v in asdict(cfg).items() if v}
