"""What a connector is: a registered class that checks a connection and pulls reports.

A connector knows one vendor's API and nothing of Django: it is given the connection as
plain values (`Connection`) and what to pull (`PullRequest`), talks to the vendor through
`VendorHttp` (connectors/http.py: the URL rule, retries, 401/403/429/5xx), and returns
one `Pulled` per report: the raw answers packed as a bundle (`ingest.pulled`), which is
stored as the upload and read by the vendor's format reader in `rollsync.ingest` like
any file. So every pull is kept as it came and can be replayed.

A connector never asks for a report the school has not accepted, and where the API lets
it choose (an `include=`, a field list) never asks for an opted-out field.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class SettingField:
    """One thing a person enters to connect: shown on the form and the command line."""

    name: str  # "url", "client_id", "client_secret", "username", "password", "token", ...
    label: str  # "MIS URL"
    secret: bool = False  # encrypted at rest, never shown again
    required: bool = True
    help: str = ""


@dataclass(frozen=True, slots=True)
class Connection:
    """A school's connection as a connector sees it."""

    school_urn: str
    settings: Mapping[str, str]  # the non-secret fields, e.g. url, client_id, wonde_school
    secrets: Mapping[str, str]  # decrypted for this call only: client_secret, password, token
    # Secrets the vendor renewed during the call (an OAuth refresh token rotated): the
    # connector puts them here and the service seals and stores them after the call,
    # whether the pull succeeded or not (the old refresh token may be spent already).
    renewed: dict[str, str] = field(default_factory=dict)

    def setting(self, name: str) -> str:
        return self.settings.get(name, "") or ""

    def secret(self, name: str) -> str:
        return self.secrets.get(name, "") or ""


@dataclass(frozen=True, slots=True)
class PullRequest:
    """What to pull now."""

    reports: frozenset[str]  # accepted reports this MIS can send, and asked for now
    opted_out: Mapping[str, frozenset[str]]  # report -> fields the school opted out of
    # per report: the cursor saved from the last pull whose run applied (None: pull in
    # full), and that pull's bundle, which an incremental pull merges its changes into
    cursors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    previous: Mapping[str, bytes] = field(default_factory=dict)
    today: date | None = None
    now: datetime | None = None  # for cursors (`updated_after`); None: the real time


@dataclass(frozen=True, slots=True)
class Pulled:
    """One report's pull: the bundle to store as the upload and parse with `fmt`."""

    report: str
    fmt: str  # the ingest format that reads `payload`
    payload: bytes
    asked: str  # what was asked for, in a line: "students (3 pages) and applicants (1 page)"
    cursor: Mapping[str, Any] = field(default_factory=dict)  # saved when the run applies
    incremental: bool = False


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A connection that works, in a sentence: "Token issued; 742 students visible"."""

    summary: str
    settings: Mapping[str, str] = field(default_factory=dict)  # values learnt (an endpoint)


class Connector(ABC):
    """One vendor. Subclasses set the class attributes and implement `check` and `pull`,
    and are registered with `connectors.registry.register`."""

    name: ClassVar[str]  # "isams": what `--mis` takes
    mis: ClassVar[str]  # the MIS name in `domain.mis.MIS_CATALOGUE` ("IRIS iSAMS")
    label: ClassVar[str]  # "IRIS iSAMS / Ed:gen"
    fmt: ClassVar[str]  # the ingest format of its bundles ("isams-api")
    fields: ClassVar[tuple[SettingField, ...]]
    # how the school approves access, if not by entering credentials (Arbor): see services
    needs_approval: ClassVar[bool] = False
    # weekday evenings only ("18:30 Mon-Fri") or daily ("02:00"): the default schedule
    default_schedule: ClassVar[str] = "daily 02:00"
    # the MIS pushes to rollsync (Bromcom): nothing is pulled; see services.push
    push: ClassVar[bool] = False
    # the deliverer is the rollsync agent on the school's server (SIMS), which reports
    # its own status: see services.agent
    agent: ClassVar[bool] = False

    @abstractmethod
    def check(self, connection: Connection) -> CheckResult:
        """Prove the connection works: credentials accepted and one page read.
        Raises a `ConnectorError` that says what is wrong."""

    @abstractmethod
    def pull(self, connection: Connection, request: PullRequest) -> list[Pulled]:
        """Pull every report in `request.reports`, one `Pulled` each. Raises a
        `ConnectorError` when any of it fails: then nothing of the pull is used."""

    def approval_url(self, connection: Connection, *, return_url: str, state: str) -> str | None:
        """Where the school signs in to its MIS and approves access (Arbor), or None when the
        connection is made by entering credentials. The MIS sends the browser back to
        `return_url` with `state` and a one-time `code`."""
        return None

    def complete_approval(self, connection: Connection, *, code: str) -> Approved:
        """Exchange the one-time `code` from the approval for the connection's endpoint and
        credentials (server to server, so no secret ever travels through a browser)."""
        raise NotImplementedError(f"{self.label} is connected by entering credentials")


@dataclass(frozen=True, slots=True)
class Approved:
    """What an approval hands rollsync: settings (the endpoint URL) and secrets."""

    settings: Mapping[str, str]
    secrets: Mapping[str, str]
