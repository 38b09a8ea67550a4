"""Two nights' OneRoster bundles of one school imported at the same moment by two real
`rollsync import` processes on PostgreSQL, after night 1 (docs/decisions/0096): each may
be read in part against night 1 outside the lock, then the other applies first. Whatever
the order, the run of the upload received last decides, as if it alone had followed
night 1, and nothing fails: a run that finds its earlier run overtaken under the lock is
parsed in full, and the older upload, if it comes second, is superseded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.concurrency.conftest import (
    database_is_postgres,
    import_at_once,
    one_school_plan,
    people_of,
    prepared,
    renamed_ctf,
)
from tests.zips import members_of, zip_members

pytestmark = pytest.mark.skipif(
    not database_is_postgres(), reason="row locks and a real server: PostgreSQL only"
)


def _renamed(payload: bytes, renames: dict[str, str]) -> bytes:
    """The bundle with the family names of these users (sourcedId -> name) changed."""
    members = members_of(payload)
    lines = members["users.csv"].splitlines(keepends=True)
    header = lines[0].decode().rstrip("\r\n").split(",")
    at = [c.strip().lower() for c in header].index("familyname")
    for i, line in enumerate(lines[1:], 1):
        cells = line.split(b",")
        name = renames.get(cells[0].decode())
        if name is not None:
            cells[at] = name.encode()
            lines[i] = b",".join(cells)
    members["users.csv"] = b"".join(lines)
    return zip_members(members)


@pytest.fixture(scope="module", params=["oneroster", "ctf"])
def nights(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, scratch_pg: Any
) -> tuple[Path, str]:
    """A plan of one simulated OneRoster (or CTF) school: chain 0 night 1, chain 1 night
    2 (pupil A renamed), chain 2 night 3 (A and B renamed); and a migrated template with
    the school set up. Both formats are read in part, each its own way."""
    from rollsync.simulate import make_school_truth, write_school_export

    fmt: str = request.param
    home = tmp_path_factory.mktemp("partialrace")
    truth = make_school_truth(pupils=60, seed=9)
    [entry] = write_school_export(truth, 1, fmt, home / "d1")
    night1 = (home / "d1" / entry.path).read_bytes()
    if fmt == "ctf":
        payloads = (night1, renamed_ctf(night1, {0: "Arnold"}))
        payloads += (renamed_ctf(night1, {0: "Arnold", 1: "Bell"}),)
    else:
        a, b = (p.mis_id for p in truth.pupils[:2])
        payloads = (night1, _renamed(night1, {a: "Arnold"}))
        payloads += (_renamed(night1, {a: "Arnold", b: "Bell"}),)
    paths = []
    for n, payload in enumerate(payloads, 1):
        path = home / f"night{n}.{'xml' if fmt == 'ctf' else 'zip'}"
        path.write_bytes(payload)
        paths.append(path)
    job = {"urn": truth.urn, "format": fmt, "report": entry.report or "", "date": str(truth.date)}
    plan_path = one_school_plan(truth, [[{**job, "path": str(path)}] for path in paths], home)
    template = scratch_pg("")
    prepared(template, home, plan_path)
    return plan_path, template


def _upload_order(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            name for (name,) in conn.execute("SELECT filename FROM directory_upload ORDER BY id")
        ]


def _read_in_part(url: str) -> list[bool]:
    """Whether each run after night 1's was read in part, in the order they ran."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT read_in_part FROM directory_syncrun ORDER BY id").fetchall()
    return [flag for (flag,) in rows[1:]]


@pytest.mark.parametrize("attempt", range(3))
def test_two_nights_at_once_end_as_the_one_received_last(
    tmp_path: Path, scratch_pg: Any, nights: tuple[Path, str], attempt: int
) -> None:
    plan_path, template = nights
    raced = scratch_pg(template)
    first, err = import_at_once(plan_path, raced, tmp_path, [[0]])
    assert [r["status"] for r in first] == ["applied"], (first, err)
    runs, errors = import_at_once(plan_path, raced, tmp_path, [[1], [2]], barrier=tmp_path / "go")
    assert all("Traceback" not in e for e in errors), errors
    by_night = {Path(r["path"]).name: r for r in runs}
    last = _upload_order(raced)[-1]  # the upload received last decides
    assert by_night[last]["status"] == "applied", runs
    other = next(name for name in by_night if name != last)
    assert by_night[other]["status"] in ("applied", "superseded"), runs
    # Not vacuous: a night was read in part (in the race, or after it, in full).
    assert _read_in_part(raced) in ([True, False], [False, True], [True, True])
    # The same as night 1 then that night alone, one after the other.
    alone = scratch_pg(template)
    index = {"night2": 1, "night3": 2}[Path(last).stem]
    done, _ = import_at_once(plan_path, alone, tmp_path, [[0, index]])
    assert [r["status"] for r in done] == ["applied", "applied"], done
    assert people_of(raced, tmp_path) == people_of(alone, tmp_path)
