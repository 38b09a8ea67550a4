"""The output as a whole: determinism, layout, la.json, GIAS, manifest, truth."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

from rollsync.simulate import Realism, simulate_region, truth_index, truth_lookup
from tests.simulate.conftest import DAYS, Sim
from tests.simulate.readers import entries, listed, load_json

TINY = Realism(scale=0.05)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    a = simulate_region(tmp_path / "a", schools=4, seed=5, days=3, realism=TINY)
    b = simulate_region(tmp_path / "b", schools=4, seed=5, days=3, realism=TINY)
    c = simulate_region(tmp_path / "c", schools=4, seed=6, days=3, realism=TINY)
    tree_a, tree_b, tree_c = _tree(a.out_dir), _tree(b.out_dir), _tree(c.out_dir)
    assert tree_a == tree_b
    assert len(tree_a) == len(a.files) + 4  # la.json, gias.csv, truth.json, manifest.json
    assert tree_a["truth.json"] != tree_c["truth.json"]
    assert a.schools != c.schools


def test_layout_and_la_json(sim: Sim) -> None:
    la = sim.la
    assert len(la["la_code"]) == 3 and la["la_code"].isdigit()
    assert len(la["schools"]) == 5
    phases = {s["phase"] for s in la["schools"]}
    assert phases == {"Primary", "Secondary"}
    assert {s["format"] for s in la["schools"]} == {"ctf", "oneroster", "sds", "csv"}
    for s in la["schools"]:
        assert len(s["urn"]) == 6 and s["urn"].isdigit()
        assert len(s["estab"]) == 4 and s["estab"].isdigit()
        assert s["la_code"] == la["la_code"]
        assert s["mis_history"][0] == {"from_day": 1, "mis": s["mis"], "format": s["format"]}
        for day in range(1, DAYS + 1):
            assert (sim.out / f"day-{day:02d}" / s["urn"]).is_dir()
    expected_names = {"ctf": {"students.xml"}, "oneroster": {"oneroster.zip"}, "sds": {"sds.zip"}}
    for e in entries(sim.out, day=1):
        fmt = e["format"]
        name = e["path"].rsplit("/", 1)[1]
        if fmt == "csv":
            assert name == f"{e['report']}.csv"
        else:
            assert {name} <= expected_names[fmt]


def test_gias_is_cp1252_with_every_school(sim: Sim) -> None:
    raw = (sim.out / "gias.csv").read_bytes()
    rows = list(csv.DictReader(io.StringIO(raw.decode("cp1252"), newline="")))
    for column in (
        "URN",
        "LA (code)",
        "LA (name)",
        "EstablishmentNumber",
        "EstablishmentName",
        "PhaseOfEducation (name)",
        "EstablishmentStatus (name)",
    ):
        assert column in rows[0]
    by_urn = {r["URN"]: r for r in rows}
    for s in sim.la["schools"]:
        row = by_urn[s["urn"]]
        assert row["LA (code)"] == s["la_code"]
        assert row["EstablishmentNumber"] == s["estab"]
        assert row["EstablishmentName"] == s["name"]
        assert row["PhaseOfEducation (name)"] == s["phase"]
        assert row["EstablishmentStatus (name)"] == "Open"
        assert row["LA (name)"] == sim.la["la_name"]
    # A real extract also holds schools that are not ours: one closed, two next door.
    assert len(rows) == len(sim.la["schools"]) + 3
    assert sum(r["EstablishmentStatus (name)"] == "Closed" for r in rows) == 1
    assert sum(r["LA (code)"] != sim.la["la_code"] for r in rows) == 2


def test_manifest_lists_every_file_with_its_checksum(sim: Sim) -> None:
    listed_paths = set()
    for e in entries(sim.out):
        body = (sim.out / e["path"]).read_bytes()
        assert hashlib.sha256(body).hexdigest() == e["sha256"]
        assert len(body) == e["size"]
        assert e["date"] == sim.manifest.dates[e["day"] - 1].isoformat()
        assert e["format"] == sim.format_on(e["urn"], e["day"])
        listed_paths.add(e["path"])
    on_disk = {p.relative_to(sim.out).as_posix() for p in sim.out.glob("day-*/*/*")}
    assert on_disk == listed_paths
    manifest = load_json(sim.out / "manifest.json")
    assert [d["day"] for d in manifest["days"]] == list(range(1, DAYS + 1))
    assert all(d.weekday() < 5 for d in sim.manifest.dates)  # school days only
    assert "5 schools, 5 days" in sim.manifest.summary()


def test_truth_allocations_say_exactly_who_each_file_lists(sim: Sim) -> None:
    """Every record in every file maps to one person, and truth lists nothing the files do not."""
    idx = truth_index(sim.truth)
    for day in range(1, DAYS + 1):
        for s in sim.la["schools"]:
            in_files = {(p.role, p.key) for p in listed(sim.out, day, s["urn"])}
            in_truth = {
                (a["role"], a["mis_id"])
                for a in sim.truth["allocations"]
                if a["urn"] == s["urn"] and a["first_day"] <= day <= a["last_day"]
            }
            assert in_files == in_truth, (day, s["urn"])
            for _, key in in_files:
                assert (s["urn"], day, key) in idx
    a = sim.truth["allocations"][0]
    assert truth_lookup(sim.truth, a["urn"], a["first_day"], a["mis_id"]) == a["person_id"]
    assert truth_lookup(sim.truth, a["urn"], DAYS + 1, a["mis_id"]) is None


def test_truth_documents_itself(sim: Sim) -> None:
    about = sim.truth["about"]
    for word in ("allocations", "twins", "movers", "mis_change", "UPN"):
        assert word in about
    assert sim.truth["days"][0] == {"day": 1, "date": "2026-09-01"}
    assert set(sim.truth["people"]) >= {a["person_id"] for a in sim.truth["allocations"]}
