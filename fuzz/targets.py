"""One fuzz target per parser: mutated real exports, and random bytes, fed to
`parse_upload`, which must never raise for bad input and must only return batches
that keep the importers' promises (`check`).

Seeds are the simulator's exports of one small school in every format (and, per
CSV report, each report's file) plus the test fixtures and the malformed corpus.
Mutations are byte-level (flip, delete, insert, repeat, cut, splice in tokens
that break CSV, XML, dates and encodings); a bundle is mutated either as raw
zip bytes or member by member and zipped again, so the parsers behind a valid
zip are reached too. Hypothesis draws them (see docs/decisions/0050).
"""

from __future__ import annotations

import copy
import io
import json
import os
import pathlib
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from hypothesis import strategies as st

from rollsync.domain.limits import EARLIEST_BIRTH_YEAR, MAX_LENGTHS
from rollsync.domain.records import ImportBatch, Role
from rollsync.domain.state import SchoolRef
from rollsync.ingest import parse_changed, parse_upload, reads_in_part
from rollsync.ingest.values import _CONTROLS

if TYPE_CHECKING:
    from rollsync.connectors.base import Pulled
    from rollsync.simulate.snapshot import SchoolSnapshot

ROOT = pathlib.Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 30)
PULLED_AT = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
FIXTURE_SCHOOL = SchoolRef(urn="123456", la_code="202", estab="3456", name="Hillside")

TOKENS = [
    b",",
    b"\n",
    b"\r\n",
    b'"',
    b"\x00",
    b"\xef\xbb\xbf",
    b"\xe1",
    b"\xff\xfe",
    b"<",
    b">",
    b"</Pupil>",
    b"<Pupil>",
    b"&amp;",
    b"&#x1b;",
    b"<!DOCTYPE x>",
    b"9999-12-31",
    b"2031-01-01",
    b"1899-12-31",
    b"2015-02-03T25:99",
    "\uff11\uff19\uff19\uff10-\uff10\uff11-\uff10\uff11".encode(),
    b"\x1b",
    "\u0085".encode(),
    "\u00a0".encode(),
    "\u2028".encode(),
    b"A" * 300,
    b"9" * 80,
    b"tobedeleted",
    b"absent",
    b"PK\x03\x04",
]


@dataclass(frozen=True)
class Target:
    name: str
    fmt: str
    report: str | None
    school: SchoolRef
    seeds: tuple[bytes, ...]
    # Read each input in part against the (one) seed, and hold it to the full parse
    # (`check_in_part`), as well as to `check`.
    in_part: bool = False

    @property
    def is_zip(self) -> bool:
        return self.fmt in ("oneroster", "sds") or self.fmt.endswith("-api")  # pulls: zips


def _simulated() -> tuple[SchoolRef, dict[tuple[str, str | None], bytes]]:
    """One small simulated school's exports in every format, and what the fake SIMS
    CommandReporter extracts of it for each report."""
    from rollsync.directory.agent_reports import DEFINITIONS, definition_with_every_field
    from rollsync.missim.commandreporter import extract
    from rollsync.simulate import make_school_truth, write_school_export

    snap = make_school_truth(pupils=40, phase="Primary", seed=7)
    school = SchoolRef(urn=snap.urn, la_code=snap.la_code, estab=snap.estab, name=snap.school_name)
    found: dict[tuple[str, str | None], bytes] = {}
    with tempfile.TemporaryDirectory() as folder:
        out = pathlib.Path(folder)
        for fmt in ("ctf", "oneroster", "sds", "csv"):
            for entry in write_school_export(snap, 1, fmt, out / fmt):
                report = entry.report if fmt == "csv" else None
                found[(fmt, report)] = (out / fmt / entry.path).read_bytes()
        for report in DEFINITIONS:
            found[("sims-superstar", report)] = extract(snap, definition_with_every_field(report))
    found.update(_pulled(snap))
    return school, found


def _pulled(snap: SchoolSnapshot) -> dict[tuple[str, str | None], bytes]:
    """What each vendor API connector pulls of the school from its simulator (over
    sockets on 127.0.0.1): the pull bundles the API readers read, one per report."""
    from rollsync.connectors import connector_for
    from rollsync.connectors.base import Connection, PullRequest
    from rollsync.connectors.scholarpack import API as SCHOLARPACK
    from rollsync.connectors.scholarpack import ScholarpackConnector
    from rollsync.domain.reports import CATALOGUE
    from rollsync.missim import SimData, demo_settings, scholarpack, simulator_class

    request = PullRequest(frozenset(CATALOGUE), {}, today=snap.date, now=PULLED_AT)
    found: dict[tuple[str, str | None], bytes] = {}

    def keep(fmt: str, pulled: list[Pulled]) -> None:
        for one in pulled:
            found[(fmt, one.report)] = one.payload

    for vendor in ("isams", "arbor", "wonde"):
        with simulator_class(vendor)(SimData([snap])) as sim:
            connection = Connection(snap.urn, *demo_settings(vendor, sim, snap.urn))
            keep(f"{vendor}-api", connector_for(vendor).pull(connection, request))
    with (
        scholarpack.ScholarpackSimulator(SimData([snap])) as sim,
        patch.dict(
            os.environ,
            {
                SCHOLARPACK.url_env: sim.url,
                SCHOLARPACK.client_id_env: scholarpack.DEMO_CLIENT_ID,
                SCHOLARPACK.client_secret_env: scholarpack.DEMO_CLIENT_SECRET,
            },
        ),
    ):  # the region's OAuth client and ScholarPack's address: the simulator's
        code = sim.approve(snap.urn)
        connector = ScholarpackConnector()
        done = connector.complete_approval(Connection(snap.urn, {}, {}), code=code)
        connection = Connection(snap.urn, dict(done.settings), dict(done.secrets))
        keep("scholarpack-api", connector.pull(connection, request))
    return found


def _fixtures() -> dict[tuple[str, str | None], list[bytes]]:
    from rollsync.ingest import bundle_folder

    fixtures = ROOT / "tests" / "ingest" / "fixtures"
    found: dict[tuple[str, str | None], list[bytes]] = {}
    for path in sorted((fixtures / "csv").glob("*.csv")):
        found.setdefault(("csv", path.stem), []).append(path.read_bytes())
    for path in sorted((fixtures / "ctf").glob("*.xml")):
        found.setdefault(("ctf", None), []).append(path.read_bytes())
    for name in ("oneroster11", "oneroster12", "oneroster12_delta"):
        found.setdefault(("oneroster", None), []).append(bundle_folder(fixtures / name))
    found.setdefault(("sds", None), []).append(bundle_folder(fixtures / "sds"))
    return found


def targets() -> list[Target]:
    """A target per parser: CTF, OneRoster, SDS, and the rollsync CSV and the SIMS
    CommandReporter extract of each report.
    Simulated exports are for the simulated school; fixtures for theirs: each seed
    goes with its own school, so mutations reach past the school check."""
    school, simulated = _simulated()
    fixtures = _fixtures()
    result: list[Target] = []
    for (fmt, report), payload in sorted(simulated.items(), key=lambda kv: str(kv[0])):
        result.append(Target(f"{fmt}:{report or 'bundle'}:sim", fmt, report, school, (payload,)))
        if reads_in_part(fmt, report):
            name = f"{fmt}:{report or 'bundle'}:in-part"
            result.append(Target(name, fmt, report, school, (payload,), in_part=True))
    for (fmt, report), payloads in sorted(fixtures.items(), key=lambda kv: str(kv[0])):
        name = f"{fmt}:{report or 'bundle'}:fixtures"
        result.append(Target(name, fmt, report, FIXTURE_SCHOOL, tuple(payloads)))
    return result


def mutate_bytes(draw: Callable[..., object], data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(int(draw(st.integers(1, 6)))):  # type: ignore[call-overload]
        op = draw(st.sampled_from(["flip", "delete", "insert", "token", "repeat", "cut"]))
        pos = int(draw(st.integers(0, len(buf))))  # type: ignore[call-overload]
        if op == "flip" and buf:
            pos = min(pos, len(buf) - 1)
            buf[pos] ^= 1 << int(draw(st.integers(0, 7)))  # type: ignore[call-overload]
        elif op == "delete":
            del buf[pos : pos + int(draw(st.integers(1, 64)))]  # type: ignore[call-overload]
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))  # type: ignore[index]
        elif op == "token":
            buf[pos:pos] = draw(st.sampled_from(TOKENS))  # type: ignore[index]
        elif op == "repeat":
            size = int(draw(st.integers(1, 200)))  # type: ignore[call-overload]
            buf[pos:pos] = buf[pos : pos + size]
        elif op == "cut":
            del buf[pos:]
    return bytes(buf)


def _rezip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@st.composite
def payloads(draw: Callable[..., object], target: Target) -> bytes:
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "random"]))
    if kind == "random":
        return bytes(draw(st.binary(max_size=2048)))  # type: ignore[call-overload]
    seed = bytes(draw(st.sampled_from(target.seeds)))  # type: ignore[call-overload]
    if target.is_zip and draw(st.booleans()):
        with zipfile.ZipFile(io.BytesIO(seed)) as archive:
            members = {info.filename: archive.read(info) for info in archive.infolist()}
        name = str(draw(st.sampled_from(sorted(members))))
        if name.endswith(".json") and draw(st.booleans()):
            members[name] = mutate_json(draw, members[name])
        else:
            members[name] = mutate_bytes(draw, members[name])
        return _rezip(members)
    return mutate_bytes(draw, seed)


# Values a hostile API may send where another was due: absent, empty, blank, control
# characters, impossible and edge dates, numbers for text, huge or odd numbers, nesting.
ODD_VALUES: list[object] = [
    None,
    "",
    " ",
    "\x1b",
    "\u2028",
    "A" * 300,
    "\uff11\uff19",
    "9999-12-31",
    "1899-12-31",
    "2015-02-30",
    "2015-02-03T25:99:00Z",
    "tobedeleted",
    -1,
    0,
    10**20,
    1.5,
    float("nan"),
    True,
    [],
    {},
    [None],
    {"": None},
]


def _slots(node: object) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a JSON document, depth first."""
    found: list[tuple[Any, Any]] = []
    pending = [node]
    while pending:
        at = pending.pop()
        keys = list(at) if isinstance(at, dict) else range(len(at)) if isinstance(at, list) else []
        for key in keys:
            found.append((at, key))
            pending.append(at[key])  # type: ignore[index]
    return found


def mutate_json(draw: Callable[..., object], data: bytes) -> bytes:
    """A vendor's answer changed as a hostile API might, and still valid JSON: values
    replaced by odd ones or by another value of the answer (an ID of someone else),
    keys and list items dropped or repeated (the same record twice)."""
    try:
        document = json.loads(data)
    except ValueError:
        return mutate_bytes(draw, data)
    for _ in range(int(draw(st.integers(1, 4)))):  # type: ignore[call-overload]
        slots = _slots(document)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))  # type: ignore[misc]
        op = draw(st.sampled_from(["odd", "other", "drop", "repeat"]))
        if op == "odd":
            container[key] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))  # ours to change
        elif op == "other":
            other, other_key = draw(st.sampled_from(slots))  # type: ignore[misc]
            container[key] = copy.deepcopy(other[other_key])
        elif op == "drop":
            del container[key]
        elif isinstance(container, list):
            container.insert(key, copy.deepcopy(container[key]))
    return json.dumps(document).encode()


def parse(target: Target, payload: bytes) -> ImportBatch:
    return parse_upload(
        payload, fmt=target.fmt, school=target.school, report=target.report, today=TODAY
    )


def check_in_part(target: Target, payload: bytes) -> None:
    """`payload` read in part against the target's seed, from the seed's full read's
    listing and errors, must be its full parse less the people it leaves out, or not
    be read in part at all (raises AssertionError)."""
    [earlier] = target.seeds
    before = parse(target, earlier)
    full = parse(target, payload)
    part = parse_changed(
        earlier,
        payload,
        fmt=target.fmt,
        school=target.school,
        refused=[(e.source, e.row) for e in before.errors if e.row is not None],
        listing=before.listing,
        today=TODAY,
        report=target.report,
    )
    if part is None:
        return
    check(part)
    assert not full.fatal, "read in part, but the full parse refuses the file"
    unchanged = part.unchanged_keys
    if target.report == "groups":  # it lists no people: those left out are members
        assert not (part.people or full.people)
        assert unchanged <= {(m.person_role, m.person_mis_id) for m in full.memberships}
    else:
        assert {p.key for p in full.people} == {p.key for p in part.people} | unchanged
        # Each person left out is the earlier file's, with the same contact links.
        earlier_people = {p.key: replace(p, row=None) for p in before.people}
        for person in full.people:
            if person.key in unchanged:
                assert earlier_people.get(person.key) == replace(person, row=None), person.key
        assert links_of(before, unchanged) == links_of(full, unchanged)
    assert memberships_of(before, unchanged) == memberships_of(full, unchanged)
    assert part.people == [p for p in full.people if p.key not in unchanged]
    assert part.memberships == [
        m for m in full.memberships if (m.person_role, m.person_mis_id) not in unchanged
    ]
    assert part.contact_links == [
        x for x in full.contact_links if (Role.CONTACT, x.contact_mis_id) not in unchanged
    ]
    for name in ("errors", "rejected_keys", "rows_read", "complete_for", "reports", "groups"):
        assert getattr(part, name) == getattr(full, name), name


def check(batch: ImportBatch) -> None:
    """What every batch must be, however bad its file (raises AssertionError)."""
    for error in batch.errors:
        assert isinstance(error.message, str) and error.message, error
    if batch.fatal:
        assert not (batch.people or batch.contact_links or batch.groups or batch.memberships)
        assert not (batch.attendance or batch.deletions or batch.rejected_keys)
        assert batch.complete_for == frozenset()
        return
    keys = [p.key for p in batch.people]
    assert len(keys) == len(set(keys)), "a person twice in one batch"
    assert not (set(keys) & batch.rejected_keys), "a person both kept and refused"
    for person in batch.people:
        for name, limit in MAX_LENGTHS.items():
            value = getattr(person, name, None)
            if isinstance(value, str):
                assert len(value) <= limit, (name, len(value))
                assert not _CONTROLS.search(value), (name, value)
        assert person.mis_id and person.legal_given_name and person.legal_family_name
        born = person.date_of_birth
        if born is not None:
            assert born.year >= EARLIEST_BIRTH_YEAR and born <= TODAY, born
    for group in batch.groups:
        assert len(group.mis_id) <= MAX_LENGTHS["group_mis_id"]
        assert len(group.name) <= MAX_LENGTHS["group_name"]
    for link in batch.contact_links:
        if link.relationship is not None:
            assert len(link.relationship) <= MAX_LENGTHS["relationship"], link.relationship


def memberships_of(batch: ImportBatch, keys: frozenset[tuple[Role, str]]) -> list[object]:
    """The memberships of the people of `keys`, in a comparable order."""
    return sorted(
        (m.person_role.value, m.person_mis_id, m.group_mis_id, m.role.value)
        for m in batch.memberships
        if (m.person_role, m.person_mis_id) in keys
    )


def links_of(batch: ImportBatch, keys: frozenset[tuple[Role, str]]) -> list[object]:
    """The contact links with an end among `keys`, in a comparable order."""
    return sorted(
        (
            x.contact_mis_id,
            x.pupil_mis_id,
            x.relationship or "",
            x.priority or 0,
            x.parental_responsibility,
        )
        for x in batch.contact_links
        if (Role.CONTACT, x.contact_mis_id) in keys or (Role.PUPIL, x.pupil_mis_id) in keys
    )
