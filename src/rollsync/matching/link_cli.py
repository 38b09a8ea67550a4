"""`rollsync link LEFT.csv RIGHT.csv --map ...`: the matching engine on two spreadsheets.

    rollsync link pupils.csv directory.csv \\
        --map given_name=Forename,family_name=Surname,dob=DOB,upn=UPN --id-right AccountID

For every left row it writes one row: the left ID, the decision (link, candidates,
new, or error), the right ID(s) (the linked one, or the candidates best first,
separated by ";") and the score (the probability of the best right row). m and u
are estimated from the two files themselves (u from random pairs, m by EM),
starting from the shipped model; the decisions follow the same thresholds and
guards as a sync run. Pure: no Django, no database.

Files: CSV with a header row, in UTF-8 (with or without a byte-order mark) or
Windows-1252; comma, semicolon or tab separated. Dates: YYYY-MM-DD, DD/MM/YYYY or
YYYYMMDD. A row that cannot be used gets an error naming the file, row and column
(on standard error, and in the output as decision "error"); the other rows go on,
and the exit status is 1. A mapped column missing from a file's header stops the
command before any matching (status 1); bad options are a usage error (status 2).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import click

from rollsync.domain.upn import InvalidUPN, normalise_upn
from rollsync.matching.blocking import CandidateIndex
from rollsync.matching.engine import Decision, MatchEngine, Outcome
from rollsync.matching.estimate import estimate_model
from rollsync.matching.model import default_model
from rollsync.matching.subject import Subject

REQUIRED = ("given_name", "family_name", "dob")
OPTIONAL = (
    "gender",
    "postcode",
    "upn",
    "address",
    "middle_names",
    "preferred_given_name",
    "preferred_family_name",
    "email",
    "phone",
)
_GENDERS = {"m": "M", "male": "M", "f": "F", "female": "F", "x": "X", "u": "U", "unknown": "U"}


@dataclass(frozen=True, slots=True)
class RowError:
    file: str
    row: int | None  # the line in the file (the header is line 1); None for the whole file
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file} row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "row": self.row, "column": self.column, "message": self.message}


class FileError(click.ClickException):
    """A whole file cannot be used (unreadable, no header, a mapped column missing)."""


def parse_mapping(text: str) -> dict[str, str]:
    """ "given_name=Forename,family_name=Surname,dob=DOB" -> {field: column}."""
    mapping: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        field, sep, column = part.partition("=")
        field, column = field.strip(), column.strip()
        if not sep or not column:
            raise click.BadParameter(f"{part!r} is not FIELD=COLUMN", param_hint="--map")
        if field not in REQUIRED + OPTIONAL:
            known = ", ".join(REQUIRED + OPTIONAL)
            raise click.BadParameter(
                f"unknown field {field!r}; fields: {known}", param_hint="--map"
            )
        if field in mapping:
            raise click.BadParameter(f"{field} is mapped twice", param_hint="--map")
        mapping[field] = column
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        raise click.BadParameter(f"map {', '.join(missing)} too", param_hint="--map")
    return mapping


def decode(data: bytes) -> str:
    """UTF-8 (a byte-order mark is dropped) or, failing that, Windows-1252."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def parse_date(raw: str) -> date:
    """YYYY-MM-DD, DD/MM/YYYY or YYYYMMDD; ValueError says which forms are accepted."""
    text = raw.strip()
    try:
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            return date(int(text[:4]), int(text[5:7]), int(text[8:]))
        if len(text) == 10 and text[2] == "/" and text[5] == "/":
            return date(int(text[6:]), int(text[3:5]), int(text[:2]))
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a real date ({exc})") from None
    raise ValueError(f"{text!r} is not a date in YYYY-MM-DD, DD/MM/YYYY or YYYYMMDD")


@dataclass
class Sheet:
    name: str
    subjects: list[Subject]
    rows: list[int]  # the file line of each subject
    errors: list[RowError]
    refused: list[tuple[str, int]]  # (ID, line) of rows that could not be used


def read_sheet(path: Path, mapping: dict[str, str], id_column: str | None) -> Sheet:
    name = path.name
    try:
        text = decode(path.read_bytes())
    except OSError as exc:
        raise FileError(f"{name}: cannot be read ({exc.strerror})") from exc
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:4096], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise FileError(f"{name}: the file is empty (a header row is needed)")
    reader.fieldnames = header
    wanted = {**mapping, **({"id": id_column} if id_column else {})}
    missing = [f"{col!r} (for {field})" for field, col in wanted.items() if col not in header]
    if missing:
        raise FileError(
            f"{name}: no column {', '.join(missing)}; the header has {', '.join(header)}"
        )
    sheet = Sheet(name, [], [], [], [])
    seen: dict[str, int] = {}
    for n, row in enumerate(reader, start=2):
        line = reader.line_num if reader.line_num else n
        row_id = (row.get(id_column) or "").strip() if id_column else str(n - 1)
        problems: list[RowError] = []
        if not row_id:
            problems.append(RowError(name, line, id_column, "the ID is empty"))
        elif row_id in seen:
            problems.append(
                RowError(name, line, id_column, f"ID {row_id!r} is also on row {seen[row_id]}")
            )
        subject = _subject(row, mapping, row_id, name, line, problems)
        if problems or subject is None:
            sheet.errors.extend(problems)
            sheet.refused.append((row_id or f"row {line}", line))
            continue
        seen[row_id] = line
        sheet.subjects.append(subject)
        sheet.rows.append(line)
    return sheet


def _subject(
    row: dict[str, str | None],
    mapping: dict[str, str],
    row_id: str,
    name: str,
    line: int,
    problems: list[RowError],
) -> Subject | None:
    def value(field: str) -> str:
        column = mapping.get(field)
        return (row.get(column) or "").strip() if column else ""

    given, family = value("given_name"), value("family_name")
    if not given:
        problems.append(RowError(name, line, mapping["given_name"], "the forename is empty"))
    if not family:
        problems.append(RowError(name, line, mapping["family_name"], "the surname is empty"))
    dob: date | None = None
    if value("dob"):
        try:
            dob = parse_date(value("dob"))
        except ValueError as exc:
            problems.append(RowError(name, line, mapping["dob"], str(exc)))
    gender = None
    if value("gender"):
        gender = _GENDERS.get(value("gender").casefold())
        if gender is None:
            problems.append(
                RowError(name, line, mapping["gender"], f"{value('gender')!r} is not M, F, X or U")
            )
    upn = None
    if value("upn"):
        try:
            upn = normalise_upn(value("upn"))
        except InvalidUPN as exc:
            problems.append(RowError(name, line, mapping["upn"], str(exc)))
    if problems:
        return None
    return Subject(
        id=row_id,
        given=given,
        family=family,
        preferred_given=value("preferred_given_name") or None,
        preferred_family=value("preferred_family_name") or None,
        middle=value("middle_names") or None,
        dob=dob,
        gender=gender,
        upn=upn,
        postcodes=(value("postcode"),) if value("postcode") else (),
        addresses=(value("address"),) if value("address") else (),
        emails=(value("email"),) if value("email") else (),
        phones=(value("phone"),) if value("phone") else (),
    )


def link_sheets(left: Sheet, right: Sheet) -> tuple[list[Decision], dict[str, Any]]:
    """Estimate m and u on the two sheets, then decide every left row."""
    index = CandidateIndex(right.subjects)
    estimation = estimate_model(left.subjects, right.subjects, start=default_model(), index=index)
    engine = MatchEngine(estimation.model)
    return engine.decide(left.subjects, index), dict(estimation.model.about)


def _result(left_id: Hashable, decision: Decision) -> dict[str, Any]:
    if decision.outcome is Outcome.LINK:
        right_ids = [decision.target]
    else:
        right_ids = (
            [c.id for c in decision.candidates] if decision.outcome is Outcome.CANDIDATES else []
        )
    return {
        "left_id": left_id,
        "decision": decision.outcome.value,
        "right_ids": right_ids,
        "score": round(decision.score, 4),
        "explanation": decision.explanation,
        "candidates": [
            {"right_id": c.id, "score": round(c.probability, 4), "explanation": c.explain()}
            for c in decision.candidates
        ],
    }


@click.command("link")
@click.argument("left", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("right", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "mapping_text",
    required=True,
    metavar="FIELD=COL,...",
    help="Columns to compare, the same in both files: given_name, family_name and dob; "
    "optionally gender, postcode, upn, address, middle_names, preferred_given_name, "
    "preferred_family_name, email, phone.",
)
@click.option("--id-left", metavar="COL", help="The left file's ID column (default: row number).")
@click.option("--id-right", metavar="COL", help="The right file's ID column (default: row number).")
@click.option("--json", "as_json", is_flag=True, help="JSON with explanations, not CSV.")
def link_command(
    left: Path,
    right: Path,
    mapping_text: str,
    id_left: str | None,
    id_right: str | None,
    as_json: bool,
) -> None:
    """Match the people of LEFT.csv to those of RIGHT.csv with rollsync's matching engine.

    One output row per left row: left_id, decision (link, candidates, new or error),
    right_ids (";"-separated, best first) and score (the best probability).
    """
    mapping = parse_mapping(mapping_text)
    left_sheet = read_sheet(left, mapping, id_left)
    right_sheet = read_sheet(right, mapping, id_right)
    decisions, about = link_sheets(left_sheet, right_sheet)
    errors = left_sheet.errors + right_sheet.errors
    by_line: dict[int, dict[str, Any]] = {}
    for subject, line, decision in zip(
        left_sheet.subjects, left_sheet.rows, decisions, strict=True
    ):
        by_line[line] = _result(subject.id, decision)
    for refused_id, line in left_sheet.refused:
        messages = [e.message for e in left_sheet.errors if e.row == line]
        by_line[line] = {
            "left_id": refused_id,
            "decision": "error",
            "right_ids": [],
            "score": None,
            "explanation": "; ".join(messages),
            "candidates": [],
        }
    results = [by_line[line] for line in sorted(by_line)]
    for error in errors:
        click.echo(f"error: {error}", err=True)
    if as_json:
        out = {"results": results, "errors": [e.as_dict() for e in errors], "model": about}
        click.echo(json.dumps(out, indent=1, ensure_ascii=False, default=str))
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["left_id", "decision", "right_ids", "score"])
        for r in results:
            writer.writerow(
                [
                    r["left_id"],
                    r["decision"],
                    ";".join(str(x) for x in r["right_ids"]),
                    "" if r["score"] is None else f"{r['score']:.4f}",
                ]
            )
        click.echo(buffer.getvalue(), nl=False)
    if errors:
        sys.exit(1)
