"""Minimal readers for the simulator's output, written for the tests only (the
real importers live in rollsync.ingest): enough to see who each file lists."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree


@dataclass(frozen=True)
class Listed:
    role: str  # pupil, staff, contact
    key: str  # as the file shows it (MIS ID; UPN or "UPN#Order" in a CTF)
    given: str
    family: str
    dob: str  # ISO, "" when the format has none for the role
    upn: str


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def entries(out: Path, *, day: int | None = None, urn: str | None = None) -> list[dict[str, Any]]:
    files = load_json(out / "manifest.json")["files"]
    return [
        f for f in files if (day is None or f["day"] == day) and (urn is None or f["urn"] == urn)
    ]


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def bundle(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def listed(out: Path, day: int, urn: str) -> list[Listed]:
    """Everyone one school's export of one day lists."""
    people: list[Listed] = []
    for e in entries(out, day=day, urn=urn):
        path = out / e["path"]
        fmt = e["format"]
        if fmt == "csv":
            report = e["report"]
            if report in ("students", "students_future", "staff", "staff_future", "contacts"):
                role = {"students": "pupil", "staff": "staff", "contacts": "contact"}[
                    report.split("_")[0]
                ]
                seen = set()
                for row in csv_rows(path.read_bytes()):
                    if row["mis_id"] in seen:
                        continue
                    seen.add(row["mis_id"])
                    people.append(
                        Listed(
                            role,
                            row["mis_id"],
                            row["legal_given_name"],
                            row["legal_family_name"],
                            row.get("date_of_birth", ""),
                            row.get("upn", ""),
                        )
                    )
        elif fmt == "ctf":
            root = etree.fromstring(path.read_bytes())
            for pupil in root.iterfind("CTFpupilData/Pupil"):
                upn = pupil.findtext("UPN")
                people.append(
                    Listed(
                        "pupil",
                        upn,
                        pupil.findtext("Forename"),
                        pupil.findtext("Surname"),
                        pupil.findtext("DOB"),
                        upn,
                    )
                )
                for c in pupil.iterfind("Contacts/Contact"):
                    people.append(
                        Listed(
                            "contact",
                            f"{upn}#{c.findtext('Order')}",
                            c.findtext("Forename"),
                            c.findtext("Surname"),
                            "",
                            "",
                        )
                    )
        else:
            files = bundle(path)
            users = csv_rows(files["users.csv"])
            roles = {row["userSourcedId"]: row["role"] for row in csv_rows(files["roles.csv"])}
            demo_key = "sourcedId" if fmt == "oneroster" else "userSourcedId"
            dobs = {row[demo_key]: row["birthDate"] for row in csv_rows(files["demographics.csv"])}
            for u in users:
                role = roles.get(u["sourcedId"], "")
                kind = (
                    "pupil"
                    if role == "student"
                    else "contact"
                    if role in ("", "parent", "guardian", "relative")
                    else "staff"
                )
                if fmt == "oneroster":
                    upn = u["userIds"].removeprefix("{UPN:").removesuffix("}")
                else:
                    upn = u["userNumber"] if kind == "pupil" else ""
                people.append(
                    Listed(
                        kind,
                        u["sourcedId"],
                        u["givenName"],
                        u["familyName"],
                        dobs.get(u["sourcedId"], ""),
                        upn,
                    )
                )
    return people


def pupil_keys(out: Path, day: int, urn: str) -> set[str]:
    return {p.key for p in listed(out, day, urn) if p.role == "pupil"}
