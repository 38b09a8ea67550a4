"""`simulate_region`: write a whole simulated LA, day by day, with its truth.

Layout under `out`:

    la.json                      the LA and its schools (URN, LA code, estab, name,
                                 phase, MIS and format on day 1, and their history)
    gias.csv                     a GIAS "edubasealldata"-style extract, cp1252
    day-01/<URN>/students.csv    rollsync CSV: one file per report the MIS sends
    day-01/<URN>/students.xml    CTF: pupils with their contacts
    day-01/<URN>/oneroster.zip   OneRoster 1.2 CSV bundle
    day-01/<URN>/sds.zip         SDS v2.1 CSV set
    ...
    truth.json                   who every record is (see truth.py)
    manifest.json                every file: day, date, urn, format, report, path, sha256

Same seed and arguments, same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from rollsync.domain import reports as r
from rollsync.simulate.build import build_world
from rollsync.simulate.churn import apply_day
from rollsync.simulate.mis_data import MIS_DATA_FILE, dump_snapshot
from rollsync.simulate.model import School, World
from rollsync.simulate.options import Realism
from rollsync.simulate.snapshot import SchoolSnapshot, build_snapshot
from rollsync.simulate.truth import TruthRecorder
from rollsync.simulate.writers import render, reports_in

GIAS_COLUMNS = (
    "URN",
    "LA (code)",
    "LA (name)",
    "EstablishmentNumber",
    "EstablishmentName",
    "TypeOfEstablishment (name)",
    "EstablishmentStatus (name)",
    "PhaseOfEducation (name)",
    "Town",
    "Postcode",
)


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    day: int
    date: str
    urn: str
    format: str
    report: str  # a catalogue report for a CSV; "students" for a CTF; "bundle" for a zip
    path: str  # relative to the output directory, with "/"
    reports: tuple[str, ...]  # the catalogue reports the file carries
    sha256: str
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "date": self.date,
            "urn": self.urn,
            "format": self.format,
            "report": self.report,
            "path": self.path,
            "reports": list(self.reports),
            "sha256": self.sha256,
            "size": self.size,
        }


@dataclass(frozen=True, slots=True)
class SchoolInfo:
    urn: str
    la_code: str
    estab: str
    name: str
    phase: str
    mis: str  # on day 1
    format: str  # on day 1
    mis_history: tuple[tuple[int, str, str], ...]  # (from day, mis, format)

    def format_on(self, day: int) -> str:
        return [fmt for start, _, fmt in self.mis_history if start <= day][-1]

    def mis_on(self, day: int) -> str:
        return [mis for start, mis, _ in self.mis_history if start <= day][-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "la_code": self.la_code,
            "estab": self.estab,
            "name": self.name,
            "phase": self.phase,
            "mis": self.mis,
            "format": self.format,
            "mis_history": [{"from_day": d, "mis": m, "format": f} for d, m, f in self.mis_history],
        }


@dataclass(slots=True)
class SimulationManifest:
    out_dir: Path
    seed: int
    la_code: str
    la_name: str
    dates: tuple[date, ...]
    schools: tuple[SchoolInfo, ...]
    files: list[ManifestEntry] = field(default_factory=list)

    @property
    def truth_path(self) -> Path:
        return self.out_dir / "truth.json"

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / "manifest.json"

    @property
    def la_path(self) -> Path:
        return self.out_dir / "la.json"

    @property
    def gias_path(self) -> Path:
        return self.out_dir / "gias.csv"

    def files_for(self, *, day: int | None = None, urn: str | None = None) -> list[ManifestEntry]:
        return [
            f for f in self.files if (day is None or f.day == day) and (urn is None or f.urn == urn)
        ]

    def school(self, urn: str) -> SchoolInfo:
        return next(s for s in self.schools if s.urn == urn)

    def summary(self) -> str:
        formats = sorted({f.format for f in self.files})
        return (
            f"LA {self.la_code} {self.la_name}: {len(self.schools)} schools, {len(self.dates)} days, "
            f"{len(self.files)} files ({', '.join(formats)})"
        )


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _json_lines_bytes(data: dict[str, Any]) -> bytes:
    """Big JSON, one record per line: readable, diffable, and written by the fast encoder."""

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))

    parts = []
    for key, value in data.items():
        if isinstance(value, list) and value:
            body = "[\n" + ",\n".join("  " + dump(v) for v in value) + "\n ]"
        elif isinstance(value, dict) and value and key != "mis_change":
            body = "{\n" + ",\n".join(f"  {dump(k)}: {dump(v)}" for k, v in value.items()) + "\n }"
        else:
            body = dump(value)
        parts.append(f" {dump(key)}: {body}")
    return ("{\n" + ",\n".join(parts) + "\n}\n").encode("utf-8")


def write_snapshot(
    snap: SchoolSnapshot, out_dir: Path, *, fmt: str | None = None, day: int | None = None
) -> list[ManifestEntry]:
    """Write one school's export for one day under out_dir/day-NN/<URN>/."""
    fmt = fmt or snap.fmt
    day = snap.day if day is None else day
    folder = out_dir / f"day-{day:02d}" / snap.urn
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, body in sorted(render(snap, fmt).items()):
        (folder / name).write_bytes(body)
        report, carried = reports_in(fmt, name, snap)
        entries.append(
            ManifestEntry(
                day=day,
                date=snap.date.isoformat(),
                urn=snap.urn,
                format=fmt,
                report=report,
                path=f"day-{day:02d}/{snap.urn}/{name}",
                reports=carried,
                sha256=hashlib.sha256(body).hexdigest(),
                size=len(body),
            )
        )
    return entries


def _school_info(s: School) -> SchoolInfo:
    first = s.mis_history[0]
    return SchoolInfo(
        urn=s.urn,
        la_code=s.la_code,
        estab=s.estab,
        name=s.name,
        phase=s.phase,
        mis=first[1],
        format=first[2],
        mis_history=tuple(s.mis_history),
    )


def _establishment_type(name: str, phase: str) -> str:
    if "Catholic" in name:
        return "Voluntary aided school"
    if "C of E" in name:
        return "Voluntary controlled school"
    if "Academy" in name:
        return "Academy converter" if phase == "Primary" else "Academy sponsor led"
    return "Community school"


def _gias_bytes(world: World) -> bytes:
    """The LA's schools as GIAS lists them, plus what a real extract also holds:
    a closed school of this LA and two schools of a neighbouring LA."""
    rng = random.Random(f"rollsync.simulate:{world.seed}:gias")
    rows = []
    for s in world.schools:
        town, district = world.towns[0]
        postcode = f"{world.postcode_area}{district} {rng.randint(1, 9)}AB"
        rows.append(
            (
                s.urn,
                s.la_code,
                world.la_name,
                s.estab,
                s.name,
                _establishment_type(s.name, s.phase),
                "Open",
                s.phase,
                town,
                postcode,
            )
        )
    taken = {s.urn for s in world.schools}

    def fresh_urn() -> str:
        while True:
            urn = str(rng.randint(100000, 149999))
            if urn not in taken:
                taken.add(urn)
                return urn

    estabs = {s.estab for s in world.schools}
    closed_estab = next(str(e) for e in range(3999, 1999, -1) if str(e) not in estabs)
    rows.append(
        (
            fresh_urn(),
            world.la_code,
            world.la_name,
            closed_estab,
            "Old Mill Infant School",
            "Community school",
            "Closed",
            "Primary",
            world.towns[0][0],
            "",
        )
    )
    neighbour = str(int(world.la_code) + 1 if int(world.la_code) < 938 else int(world.la_code) - 1)
    for i, (name, phase) in enumerate(
        (("Kingsway Primary School", "Primary"), ("Hillcrest Academy", "Secondary"))
    ):
        rows.append(
            (
                fresh_urn(),
                neighbour,
                "Neighbouring Borough",
                str(2100 + i),
                name,
                _establishment_type(name, phase),
                "Open",
                phase,
                "",
                "",
            )
        )
    rows.sort(key=lambda row: row[0])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(GIAS_COLUMNS)
    writer.writerows(rows)
    return buf.getvalue().encode("cp1252")


def simulate_region(
    out: Path,
    *,
    schools: int,
    seed: int,
    days: int,
    start: date = date(2026, 9, 1),
    scale: float | None = None,
    realism: Realism | None = None,
    la_code: str | None = None,
    mis_data: bool = False,
) -> SimulationManifest:
    """Simulate an LA of `schools` schools for `days` school days from `start`.

    `mis_data` also writes each school's day as its MIS holds it, every report
    (`day-NN/<URN>/mis-data.json`, see mis_data.py), for the MIS simulators.

    `scale` shrinks or grows every school (0.05 makes tiny schools for tests);
    `realism` sets every other knob (see options.Realism).
    """
    if schools < 1:
        raise ValueError("schools must be at least 1")
    if days < 1:
        raise ValueError("days must be at least 1")
    opts = realism or Realism()
    if scale is not None:
        opts = replace(opts, scale=scale)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rec = TruthRecorder()
    world, gen = build_world(
        seed=seed, n_schools=schools, days=days, start=start, opts=opts, rec=rec, la_code=la_code
    )
    files: list[ManifestEntry] = []
    for day in range(1, days + 1):
        if day > 1:
            apply_day(gen, day)
        for school in world.schools:
            snap = build_snapshot(world, school, day)
            files.extend(write_snapshot(snap, out))
            if mis_data:
                whole = build_snapshot(world, school, day, reports=frozenset(r.CATALOGUE))
                folder = out / f"day-{day:02d}" / school.urn
                folder.mkdir(parents=True, exist_ok=True)
                (folder / MIS_DATA_FILE).write_bytes(dump_snapshot(whole))
            rec.observe(day, school.urn, snap.truth_keys())

    infos = tuple(_school_info(s) for s in world.schools)
    manifest = SimulationManifest(
        out_dir=out,
        seed=seed,
        la_code=world.la_code,
        la_name=world.la_name,
        dates=tuple(world.dates),
        schools=infos,
        files=files,
    )
    la = {
        "la_code": world.la_code,
        "la_name": world.la_name,
        "schools": [i.as_dict() for i in infos],
    }
    (out / "la.json").write_bytes(_json_bytes(la))
    (out / "gias.csv").write_bytes(_gias_bytes(world))
    truth = rec.finalize(world, world.dates, [i.as_dict() for i in infos])
    (out / "truth.json").write_bytes(_json_lines_bytes(truth))
    (out / "manifest.json").write_bytes(
        _json_lines_bytes(
            {
                "seed": seed,
                "start": start.isoformat(),
                "la_code": world.la_code,
                "schools": len(infos),
                "days": [{"day": i + 1, "date": d.isoformat()} for i, d in enumerate(world.dates)],
                "files": [f.as_dict() for f in files],
            }
        )
    )
    return manifest


def make_school_truth(
    *, pupils: int = 1500, phase: str = "Secondary", seed: int = 0, start: date = date(2026, 9, 1)
) -> SchoolSnapshot:
    """One school of about `pupils` pupils on day 1, carrying every report: for
    benchmarks, with `write_school_export` in each format."""
    opts = Realism(
        primary_size=(pupils, pupils),
        secondary_size=(pupils, pupils),
        mis_change=False,
        staff_multi_school=0,
    )
    world, _ = build_world(
        seed=seed,
        n_schools=1,
        days=1,
        start=start,
        opts=opts,
        rec=TruthRecorder(),
        phases=[phase],
        formats=["csv"],
    )
    return build_snapshot(world, world.schools[0], 1, reports=frozenset(r.CATALOGUE))


def write_school_export(
    school_truth: SchoolSnapshot, day: int, fmt: str, out_dir: Path
) -> list[ManifestEntry]:
    """Write one school's export in `fmt` (ctf, oneroster, sds, csv) as day `day`."""
    return write_snapshot(school_truth, Path(out_dir), fmt=fmt, day=day)
