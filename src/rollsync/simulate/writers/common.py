"""Byte-exact building blocks shared by the writers: CSV text, deterministic
zip bundles, and the code lists several formats share."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date

from rollsync.domain.records import Gender

SUBJECT_NAMES = {
    "Ma": "Mathematics", "En": "English", "Sc": "Science", "Hi": "History", "Gg": "Geography",
    "Fr": "French", "Ar": "Art", "Pe": "Physical Education", "Cp": "Computing",
    "Bi": "Biology", "Ch": "Chemistry", "Ph": "Physics", "Ps": "Psychology", "Ec": "Economics",
}  # fmt: skip


def iso(d: date | None) -> str:
    return d.isoformat() if d else ""


def opt(value: str | None) -> str:
    return value or ""


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """RFC 4180 CSV (CRLF line ends, quotes only where needed), UTF-8 without BOM."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def zip_bytes(files: dict[str, bytes], when: date) -> bytes:
    """A zip whose bytes depend only on its contents: sorted names, fixed times."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(when.year, when.month, when.day, 18, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # the same on every platform
            info.external_attr = 0o644 << 16
            bundle.writestr(info, files[name])
    return buf.getvalue()


def grade_code(year_group: str | None) -> str:
    """Year group as the CEDS grade both OneRoster and SDS use: R -> KG, 7 -> 07."""
    if not year_group:
        return ""
    return "KG" if year_group == "R" else f"{int(year_group):02d}"


def sex_word(gender: Gender) -> str:
    return {
        Gender.MALE: "male",
        Gender.FEMALE: "female",
        Gender.OTHER: "other",
        Gender.UNKNOWN: "unspecified",
    }[gender]


def e164(phone: str | None) -> str:
    """'07700 900123' -> '+447700900123' (SDS wants E.164)."""
    if not phone:
        return ""
    digits = "".join(c for c in phone if c.isdigit())
    return "+44" + digits[1:] if digits.startswith("0") else "+" + digits


def contact_role_word(relationship: str) -> str:
    """A contact's relationship as OneRoster and SDS roles: parent, guardian or relative."""
    if relationship in ("Mother", "Father", "Step-father", "Step-mother"):
        return "parent"
    if relationship in ("Carer", "Foster carer"):
        return "guardian"
    return "relative"
