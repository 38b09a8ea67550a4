"""A Bromcom-style sender: push a simulated school's reports to rollsync's push endpoint,
as Bromcom does every evening after 18:00 (docs/push-api.md).

Each report Bromcom sends (Students, Staff and their Future reports, Contacts,
Attendance: never Groups & Classes) is rendered as a rollsync CSV by the simulator's
writer and pushed with the school's licence key, supplier ID and supplier password, one
request per report, people first. `--faults` makes the sender misbehave on purpose:

| item | effect |
|---|---|
| `replay@2` | push 2 is sent twice (a sender that lost its answer and retried) |
| `wrong-password@1`, `wrong-key@1`, `wrong-id@1` | push 1 with a wrong credential |
| `truncate@3` | push 3 carries only the first half of its file (its `X-Content-SHA256` is the whole file's) |
| `garbage@3` | push 3 carries bytes that are no CSV (with their own checksum) |
| `*` for N | every push (`replay@*`) |

`rollsync mis-sim bromcom-push --data DIR --to URL --licence-key K --supplier-id S
--password-stdin [--school URN] [--day N] [--faults SPEC]` runs it; `push_school` is the
same for tests and the demo. Only loopback addresses or HTTPS are pushed to.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import click
import httpx

from rollsync.domain.mis import can_send
from rollsync.domain.reports import CATALOGUE
from rollsync.simulate.snapshot import SchoolSnapshot
from rollsync.simulate.writers import rollsync_csv

MIS = "Bromcom"
PUSH_PATH = "/push/v1/"
FAULT_KINDS = ("replay", "wrong-password", "wrong-key", "wrong-id", "truncate", "garbage")


@dataclass(frozen=True, slots=True)
class PushCredentials:
    licence_key: str
    supplier_id: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class PushResult:
    """One request: the report, the HTTP status and the JSON answer (or the text)."""

    report: str
    status: int
    answer: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == 202

    def line(self) -> str:
        if self.ok:
            again = " (replayed: stored once)" if self.answer.get("replayed") else ""
            return (
                f"{self.report}: 202 upload {self.answer.get('upload')} "
                f"task {self.answer.get('task')}{again}"
            )
        return f"{self.report}: {self.status} {self.answer.get('detail', '')}".rstrip()


class SenderFaultError(ValueError):
    """A `--faults` item the sender does not know."""


def parse_faults(spec: str | None) -> dict[str, set[int] | None]:
    """{"replay": {2}, "garbage": None (every push)} from "replay@2,garbage@*"."""
    out: dict[str, set[int] | None] = {}
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        kind, sep, at = item.partition("@")
        if kind not in FAULT_KINDS or not sep:
            raise SenderFaultError(
                f"unknown fault {item!r}: give KIND@N or KIND@* with KIND one of "
                + ", ".join(FAULT_KINDS)
            )
        if at == "*":
            out[kind] = None
            continue
        try:
            n = int(at)
        except ValueError:
            raise SenderFaultError(f"{item!r}: the push number must be a whole number") from None
        known = out.setdefault(kind, set())
        if known is not None:
            known.add(n)
    return out


def _hits(faults: dict[str, set[int] | None], kind: str, n: int) -> bool:
    if kind not in faults:
        return False
    numbers = faults[kind]
    return numbers is None or n in numbers


def bromcom_reports(snapshot: SchoolSnapshot) -> list[str]:
    """The reports Bromcom sends for the school: what its MIS holds, but Groups & Classes."""
    return [r for r in CATALOGUE if r in snapshot.reports and can_send(MIS, r)]


def render_reports(snapshot: SchoolSnapshot, reports: Iterable[str]) -> dict[str, bytes]:
    """{report: rollsync CSV} for each report asked that Bromcom can send (a header-only
    file when the school has nobody for it, as a nightly export is)."""
    asked = frozenset(r for r in reports if can_send(MIS, r))
    files = rollsync_csv.render(dataclasses.replace(snapshot, reports=asked))
    return {r: files[f"{r}.csv"] for r in CATALOGUE if f"{r}.csv" in files}


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{url!r} is not a URL: give the rollsync address, e.g. https://host")
    if parts.scheme == "http" and not loopback:
        raise ValueError(f"{url!r}: push over HTTPS (plain http only to a loopback address)")
    return url.rstrip("/")


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:300]}
    return body if isinstance(body, dict) else {"detail": str(body)[:300]}


def push_school(
    snapshot: SchoolSnapshot,
    url: str,
    credentials: PushCredentials,
    reports: Iterable[str] | None = None,
    *,
    faults: str | dict[str, set[int] | None] | None = None,
    client: httpx.Client | None = None,
    timeout: float = 120.0,
) -> list[PushResult]:
    """Push the school's reports (default: every one Bromcom sends) to rollsync at `url`
    (its base address), one request per report, people first; returns each answer."""
    base = _check_url(url)
    plan = faults if isinstance(faults, dict) else parse_faults(faults)
    wanted = bromcom_reports(snapshot) if reports is None else list(reports)
    files = render_reports(snapshot, wanted)
    own = client is None
    http = client or httpx.Client(trust_env=False, timeout=timeout)
    results: list[PushResult] = []
    try:
        for n, report in enumerate((r for r in wanted if r in files), start=1):
            body = files[report]
            checksum = hashlib.sha256(body).hexdigest()  # of the whole file, as Bromcom sent it
            if _hits(plan, "truncate", n):
                body = body[: len(body) // 2]
            if _hits(plan, "garbage", n):
                body = b"\x00\xff\x00 not a CSV \x89PNG\r\n\x1a\n" * 8
                checksum = hashlib.sha256(body).hexdigest()
            password = credentials.password
            supplier = credentials.supplier_id
            key = credentials.licence_key
            if _hits(plan, "wrong-password", n):
                password += "x"
            if _hits(plan, "wrong-id", n):
                supplier += "x"
            if _hits(plan, "wrong-key", n):
                key = "WRONG-" + key
            times = 2 if _hits(plan, "replay", n) else 1
            for _ in range(times):
                response = http.post(
                    f"{base}{PUSH_PATH}{report}",
                    content=body,
                    auth=(supplier, password),
                    headers={
                        "X-Licence-Key": key,
                        "X-Content-SHA256": checksum,
                        "Content-Type": "text/csv; charset=utf-8",
                    },
                )
                results.append(PushResult(report, response.status_code, _answer(response)))
    finally:
        if own:
            http.close()
    return results


@click.command("bromcom-push")
@click.option(
    "--data", "data_dir", required=True, help="A simulated LA (`rollsync simulate --mis-data`)."
)
@click.option("--to", "url", required=True, help="rollsync's address, e.g. http://127.0.0.1:8000")
@click.option("--licence-key", required=True)
@click.option("--supplier-id", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the supplier password from stdin.")
@click.option("--school", "urn", default=None, help="The school to push (default: the first).")
@click.option("--day", type=int, default=None, help="Push this day (default: the last).")
@click.option(
    "--report",
    "reports",
    multiple=True,
    help="Push only this report (repeatable); default: every report Bromcom sends.",
)
@click.option("--faults", default=None, help="e.g. replay@2,wrong-password@1 (see the module).")
def push_command(
    data_dir: str,
    url: str,
    licence_key: str,
    supplier_id: str,
    password_stdin: bool,
    urn: str | None,
    day: int | None,
    reports: tuple[str, ...],
    faults: str | None,
) -> None:
    """Push a simulated school's reports to rollsync as Bromcom does every evening."""
    from rollsync.missim.data import SimData

    def fail(message: str, code: int) -> None:
        click.echo(f"error: {message}", err=True)
        sys.exit(code)

    if not password_stdin:
        fail("give --password-stdin and the supplier password on standard input", 2)
    password = sys.stdin.readline().rstrip("\r\n")
    if not password.strip():
        fail("the supplier password was asked for on standard input, but none came", 2)
    try:
        data = SimData.from_dir(data_dir, day=day)
        plan = parse_faults(faults)
        _check_url(url)
    except (FileNotFoundError, SenderFaultError, ValueError) as exc:
        fail(str(exc), 2)
    school = urn or (data.urns() or [""])[0]
    snapshot = data.school(school)
    if snapshot is None:
        fail(f"the simulated LA has no school {school} on day {data.day}", 2)
    assert snapshot is not None
    unknown = [r for r in reports if r not in CATALOGUE]
    if unknown:
        fail(f"unknown report {unknown[0]!r}; known: {', '.join(CATALOGUE)}", 2)
    creds = PushCredentials(licence_key, supplier_id, password)
    try:
        results = push_school(snapshot, url, creds, list(reports) or None, faults=plan)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {url}: {exc}", 1)
    click.echo(f"pushed {snapshot.urn} {snapshot.school_name}, day {data.day}, to {url}")
    for result in results:
        click.echo(f"  {result.line()}")
    sys.exit(0 if all(r.ok for r in results) else 1)
