"""A fake SIMS CommandReporter.exe and CommandReportImporter.exe, for testing a SIMS agent
without SIMS: the same switches, the same output and error shapes (docs: mis-apis.md 8.1).

    python -m rollsync.missim.commandreporter /USER:u /PASSWORD:p /SERVERNAME:h\\i
        /DATABASENAME:db /REPORT:"rollsync Students" [/OUTPUT:file.xml] [/QUIET]
        [/PARAMFILE:params.xml]
    python -m rollsync.missim.commandreporter importer /USER:u /PASSWORD:p
        /SERVERNAME:h\\i /DATABASENAME:db /REPORT:"C:\\path\\def.RptDef"

(`reporter_main` and `importer_main` are the two entry functions.)

Environment:

    ROLLSYNC_FAKE_SIMS_DATA    a school's day: `mis-data.json` (`rollsync simulate --mis-data`)
    ROLLSYNC_FAKE_SIMS_USERS   JSON {"user": {"password": "...", "groups": ["..."]}};
                               an entry named "trusted" lets `/TRUSTED` in, with its groups
    ROLLSYNC_FAKE_SIMS_STATE   a folder: the imported report definitions
    ROLLSYNC_FAKE_SIMS_ERROR_EXIT   the exit code with a <CommandReporterError> (default 0:
                               the real one's exit code is not documented [?])
    ROLLSYNC_FAKE_SIMS_FAULTS  "slow=2,crash,garbage": sleep 2 s first; exit 3 with nothing
                               on stdout; write text that is not XML

A report definition (the fake's stand-in for a .RptDef; the real format is not public):

    <ReportDefinition name="rollsync Students" recordset="Students" filter="current">
      <Field caption="ID"/><Field caption="Legal Surname"/>...
    </ReportDefinition>

`filter` (Students and Staff only): "current" gives the people on roll, "future" the
starters not yet started; without it, both.

`recordset` is one of Students, Staff, Contacts, Groups, Attendance; each caption must be
one of `CAPTIONS[recordset]`. Contacts give one row per contact-pupil link, Groups one row
per group member, Attendance one row per session mark (the "cross-product of record sets").
ID fields (`ID_CAPTIONS`) are empty unless the user is in the Third Party Reporter group.

Assumed [I], not documented by Capita: the error wording, `<CommandReporterError>` holding a
`<Message>`, the exit code, the date format (`2026-09-01T00:00:00`), booleans as
`true`/`false`, the captions, and that `/QUIET` and a `/PARAMFILE`'s values change nothing here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from rollsync.simulate.mis_data import load_snapshot
from rollsync.simulate.snapshot import ExportPerson, SchoolSnapshot

ENV_DATA = "ROLLSYNC_FAKE_SIMS_DATA"
ENV_USERS = "ROLLSYNC_FAKE_SIMS_USERS"
ENV_STATE = "ROLLSYNC_FAKE_SIMS_STATE"
ENV_ERROR_EXIT = "ROLLSYNC_FAKE_SIMS_ERROR_EXIT"
ENV_FAULTS = "ROLLSYNC_FAKE_SIMS_FAULTS"

# The reference names the group "Third Party Reporter"; the brief "Third Party Reporting".
ID_GROUPS = frozenset({"Third Party Reporter", "Third Party Reporting"})

IMPORTED = "Report Definition Successfully Imported"
NOT_FOUND = "Report not found"

Row = dict[str, str]


class ReporterError(Exception):
    """Written to stdout as <CommandReporterError>."""


# --- XmlConvert.EncodeName -------------------------------------------------------------

_ESCAPE_LOOKALIKE = re.compile(r"_x[0-9A-Fa-f]{4}_")


def _name_char(ch: str, first: bool) -> bool:
    if ch == "_" or ("A" <= ch <= "Z") or ("a" <= ch <= "z"):
        return True
    if ord(ch) < 128:
        return not first and (ch.isdigit() or ch in "-.")
    return ch.isalpha() or (not first and ch.isalnum())


def encode_name(caption: str) -> str:
    """A caption as an XML element name, as .NET's XmlConvert.EncodeName writes it: each
    character not allowed there as `_xHHHH_` (a space: `_x0020_`), and a `_` that would read
    as such an escape as `_x005F_`. A colon is escaped too (EncodeLocalName does so)."""
    out: list[str] = []
    for i, ch in enumerate(caption):
        if ch == "_" and _ESCAPE_LOOKALIKE.match(caption, i):
            out.append("_x005F_")
        elif _name_char(ch, i == 0):
            out.append(ch)
        elif ord(ch) > 0xFFFF:
            out.append(f"_x{ord(ch):08X}_")
        else:
            out.append(f"_x{ord(ch):04X}_")
    return "".join(out)


# --- the record sets -------------------------------------------------------------------


def _d(value: date | None) -> str:
    return f"{value.isoformat()}T00:00:00" if value else ""


def _s(value: object) -> str:
    return "" if value is None else str(value)


def _person_fields() -> dict[str, Callable[[ExportPerson], str]]:
    return {
        "Legal Surname": lambda p: p.legal_family,
        "Legal Forename": lambda p: p.legal_given,
        "Preferred Surname": lambda p: _s(p.preferred_family or p.legal_family),
        "Preferred Forename": lambda p: _s(p.preferred_given or p.legal_given),
        "Middle Name(s)": lambda p: _s(p.middle),
        "Gender": lambda p: p.gender.value,
        "Date of Birth": lambda p: _d(p.dob),
    }


_STUDENT: dict[str, Callable[[ExportPerson], str]] = {
    "ID": lambda p: p.mis_id,
    "UPN": lambda p: _s(p.upn),
    **_person_fields(),
    "Year": lambda p: _s(p.year_group),
    "Reg Group": lambda p: _s(p.reg_group),
    "Admission Date": lambda p: _d(p.start_date),
    "Leaving Date": lambda p: _d(p.leaving_date),
    "Enrolment Status": lambda p: "Future" if p.future else "On Roll",
    "Primary Email": lambda p: _s(p.email),
    "Postcode": lambda p: p.address.postcode if p.address else "",
    "Address": lambda p: p.address.one_line(postcode=False) if p.address else "",
}

_STAFF: dict[str, Callable[[ExportPerson], str]] = {
    "ID": lambda p: p.mis_id,
    "Staff Code": lambda p: _s(p.staff_code),
    "Title": lambda p: _s(p.title),
    **_person_fields(),
    "Role": lambda p: _s(p.staff_role),
    "Contract Start Date": lambda p: _d(p.start_date),
    "Contract End Date": lambda p: _d(p.leaving_date),
    "Primary Email": lambda p: _s(p.email),
    "Phone": lambda p: _s(p.phone),
    "Postcode": lambda p: p.address.postcode if p.address else "",
}

CAPTIONS: dict[str, tuple[str, ...]] = {
    "Students": tuple(_STUDENT),
    "Staff": tuple(_STAFF),
    "Contacts": (
        "ID",
        "Pupil ID",
        "Pupil UPN",
        "Title",
        "Surname",
        "Forename",
        "Gender",
        "Relationship",
        "Priority",
        "Parental Responsibility",
        "Primary Email",
        "Phone",
        "Address",
        "Postcode",
    ),
    "Groups": (
        "Group ID",
        "Group Name",
        "Group Type",
        "Year",
        "Subject",
        "Member ID",
        "Member Type",
        "Membership",
    ),
    "Attendance": ("Pupil ID", "UPN", "Date", "Session", "Mark"),
}

ID_CAPTIONS = frozenset({"ID", "Pupil ID", "Group ID", "Member ID"})


def _wanted(p: ExportPerson, kind: str) -> bool:
    return not kind or p.future == (kind == "future")


def _rows(snap: SchoolSnapshot, recordset: str, kind: str = "") -> Iterator[Row]:
    """Every caption's value for every row of a record set (people: of `kind`)."""
    if recordset == "Students":
        for p in snap.pupils:
            if _wanted(p, kind):
                yield {c: f(p) for c, f in _STUDENT.items()}
    elif recordset == "Staff":
        for p in snap.staff:
            if _wanted(p, kind):
                yield {c: f(p) for c, f in _STAFF.items()}
    elif recordset == "Contacts":
        contacts = {c.mis_id: c for c in snap.contacts}
        upns = {p.mis_id: _s(p.upn) for p in snap.pupils}
        for x in snap.links:
            c = contacts[x.contact_mis_id]
            yield {
                "ID": c.mis_id,
                "Pupil ID": x.pupil_mis_id,
                "Pupil UPN": upns.get(x.pupil_mis_id, ""),
                "Title": _s(c.title),
                "Surname": c.legal_family,
                "Forename": c.legal_given,
                "Gender": c.gender.value,
                "Relationship": x.relationship,
                "Priority": str(x.priority),
                "Parental Responsibility": "true" if x.parental_responsibility else "false",
                "Primary Email": _s(c.email),
                "Phone": _s(c.phone),
                "Address": c.address.one_line(postcode=False) if c.address else "",
                "Postcode": c.address.postcode if c.address else "",
            }
    elif recordset == "Groups":
        for g in snap.groups:
            for role, mis_id, mrole in g.members:
                yield {
                    "Group ID": g.mis_id,
                    "Group Name": g.name,
                    "Group Type": g.kind.value,
                    "Year": g.year,
                    "Subject": _s(g.subject),
                    "Member ID": mis_id,
                    "Member Type": role.value,
                    "Membership": mrole.value,
                }
    elif recordset == "Attendance":
        upns = {p.mis_id: _s(p.upn) for p in snap.pupils}
        for m in snap.attendance:
            yield {
                "Pupil ID": m.pupil_mis_id,
                "UPN": upns.get(m.pupil_mis_id, ""),
                "Date": _d(m.date),
                "Session": m.session,
                "Mark": m.code,
            }


# --- definitions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    recordset: str
    captions: tuple[str, ...]
    filter: str = ""  # people: "current" (on roll) or "future" (starters); "" is both


def parse_definition(payload: bytes) -> Definition:
    """A definition file; ValueError when it is not one."""
    try:
        root = ET.fromstring(payload)
    except ET.ParseError as exc:
        raise ValueError(f"not XML: {exc}") from None
    if root.tag != "ReportDefinition":
        raise ValueError(f"root element is <{root.tag}>, not <ReportDefinition>")
    name = (root.get("name") or "").strip()
    recordset = root.get("recordset") or ""
    if not name:
        raise ValueError("the definition has no name")
    if recordset not in CAPTIONS:
        raise ValueError(f"record set {recordset!r} is not one of {', '.join(CAPTIONS)}")
    captions = tuple(f.get("caption") or "" for f in root.findall("Field"))
    if not captions:
        raise ValueError("the definition has no fields")
    unknown = [c for c in captions if c not in CAPTIONS[recordset]]
    if unknown:
        raise ValueError(f"fields not in {recordset}: {', '.join(unknown)}")
    kind = root.get("filter") or ""
    if kind not in FILTERS:
        raise ValueError(f"filter {kind!r} is not one of current, future or empty")
    if kind and recordset not in ("Students", "Staff"):
        raise ValueError(f"record set {recordset} takes no filter")
    return Definition(name, recordset, captions, kind)


FILTERS = ("", "current", "future")


def definition_xml(name: str, recordset: str, captions: Sequence[str], filter: str = "") -> bytes:
    """A definition file the importer takes (what a server would ship to a school).
    `filter`: people on roll ("current") or future starters ("future"); "" is both."""
    root = ET.Element("ReportDefinition", name=name, recordset=recordset)
    if filter:
        root.set("filter", filter)
    for c in captions:
        ET.SubElement(root, "Field", caption=c)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _state() -> Path:
    folder = os.environ.get(ENV_STATE)
    if not folder:
        raise ReporterError(f"{ENV_STATE} is not set (the fake's SIMS database)")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stored(name: str) -> Path:
    # Report names are matched case-insensitively, as SQL Server's default collation does [I].
    key = hashlib.sha256(name.strip().casefold().encode("utf-8")).hexdigest()
    return _state() / f"{key}.xml"


# --- switches, users ------------------------------------------------------------------


def parse_switches(argv: Sequence[str]) -> dict[str, str]:
    """`/NAME:value` and `/FLAG` switches, names upper-cased, quotes around a value dropped."""
    out: dict[str, str] = {}
    for arg in argv:
        if not arg.startswith("/") or len(arg) < 2:
            raise ReporterError(f"Unrecognised argument: {arg}")
        name, sep, value = arg[1:].partition(":")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        out[name.upper()] = value if sep else ""
    return out


def _load_users() -> dict[str, Any]:
    raw = os.environ.get(ENV_USERS)
    if not raw:
        raise ReporterError(f"{ENV_USERS} is not set (the fake's SIMS users)")
    text = Path(raw).read_text("utf-8") if not raw.lstrip().startswith("{") else raw
    users = json.loads(text)
    if not isinstance(users, dict):
        raise ReporterError(f"{ENV_USERS} is not a JSON object")
    return users


def login(switches: dict[str, str]) -> frozenset[str]:
    """The user's permission groups, or ReporterError as SIMS refuses a login."""
    for needed in ("SERVERNAME", "DATABASENAME"):
        if not switches.get(needed):
            raise ReporterError(f"The /{needed} switch must be specified.")
    users = _load_users()
    if "TRUSTED" in switches:
        entry = users.get("trusted")
        if not isinstance(entry, dict):
            raise ReporterError(
                "Login failed. Trusted (Windows) authentication is not enabled for this user."
            )
    else:
        user = switches.get("USER", "")
        if not user or "PASSWORD" not in switches:
            raise ReporterError("The /USER and /PASSWORD switches (or /TRUSTED) must be specified.")
        entry = users.get(user)
        if (
            user == "trusted"
            or not isinstance(entry, dict)
            or entry.get("password") != switches["PASSWORD"]
        ):
            raise ReporterError("Login failed. The user name or password is incorrect.")
    return frozenset(str(g) for g in entry.get("groups", []))


# --- output ----------------------------------------------------------------------------


def error_xml(message: str) -> bytes:
    root = ET.Element("CommandReporterError")
    ET.SubElement(root, "Message").text = message
    return bytes(ET.tostring(root, encoding="utf-8"))


def report_xml(definition: Definition, rows: Iterator[Row], ids: bool) -> bytes:
    seen: set[str] = set()
    for caption in definition.captions:
        if caption in seen:
            raise ReporterError(
                f"Report '{definition.name}' cannot run: "
                f"the caption '{caption}' is used more than once."
            )
        seen.add(caption)
    tags = [(c, encode_name(c)) for c in definition.captions]
    root = ET.Element("SuperStarReport")
    for row in rows:
        rec = ET.SubElement(root, "Record")
        for caption, tag in tags:
            value = row[caption]
            ET.SubElement(rec, tag).text = "" if caption in ID_CAPTIONS and not ids else value
    return bytes(ET.tostring(root, encoding="utf-8"))


def extract(snap: SchoolSnapshot, definition: bytes, *, ids: bool = True) -> bytes:
    """What CommandReporter writes for `definition` (a definition file) on this school:
    the report the agent would upload."""
    found = parse_definition(definition)
    return report_xml(found, _rows(snap, found.recordset, found.filter), ids)


def _write(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    if not data.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()


def _error_exit() -> int:
    try:
        return int(os.environ.get(ENV_ERROR_EXIT, "0"))
    except ValueError:
        return 0


def _faults() -> tuple[float, bool, bool]:
    slow, crash, garbage = 0.0, False, False
    for raw in os.environ.get(ENV_FAULTS, "").split(","):
        item = raw.strip()
        if item.startswith("slow="):
            slow = float(item[5:])
        elif item == "crash":
            crash = True
        elif item == "garbage":
            garbage = True
        elif item:
            raise ReporterError(f"{ENV_FAULTS}: {item!r} is not slow=N, crash nor garbage")
    return slow, crash, garbage


def _run_report(switches: dict[str, str]) -> bytes:
    groups = login(switches)
    name = switches.get("REPORT", "")
    if not name:
        raise ReporterError("The /REPORT switch must be specified.")
    stored = _stored(name)
    if not stored.is_file():
        raise ReporterError(f"Report not found: '{name}'.")
    definition = parse_definition(stored.read_bytes())
    if "PARAMFILE" in switches:
        try:
            params = ET.parse(switches["PARAMFILE"]).getroot()
        except (OSError, ET.ParseError) as exc:
            raise ReporterError(f"The parameter file could not be read: {exc}") from None
        if params.tag != "ReportParameters":
            raise ReporterError("The parameter file is not a <ReportParameters> document.")
    data = os.environ.get(ENV_DATA)
    if not data:
        raise ReporterError(f"{ENV_DATA} is not set (the fake's school)")
    snap = load_snapshot(Path(data).read_bytes())
    return report_xml(
        definition, _rows(snap, definition.recordset, definition.filter), bool(groups & ID_GROUPS)
    )


def reporter_main(argv: Sequence[str] | None = None) -> int:
    """CommandReporter.exe: the report as XML on stdout or into /OUTPUT:."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        slow, crash, garbage = _faults()
        if slow:
            time.sleep(slow)
        if crash:
            sys.stderr.write("Unhandled Exception: System.NullReferenceException (fake crash)\n")
            return 3
        if garbage:
            _write(b"Object reference not set <SuperStarReport><Rec")
            return 0
        switches = parse_switches(args)
        output = _run_report(switches)
    except (ReporterError, ValueError, OSError) as exc:
        _write(error_xml(str(exc)))
        return _error_exit()
    if switches.get("OUTPUT"):
        Path(switches["OUTPUT"]).write_bytes(output)
    else:
        _write(output)
    return 0


def importer_main(argv: Sequence[str] | None = None) -> int:
    """CommandReportImporter.exe: store a definition; "Report not found" when there is none."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        switches = parse_switches(args)
        login(switches)
        path = Path(switches.get("REPORT", ""))
        if not switches.get("REPORT") or not path.is_file():
            _write(NOT_FOUND.encode())
            return _error_exit()
        payload = path.read_bytes()
        try:
            definition = parse_definition(payload)
        except ValueError:
            _write(NOT_FOUND.encode())
            return _error_exit()
        _stored(definition.name).write_bytes(payload)
    except (ReporterError, ValueError, OSError) as exc:
        _write(error_xml(str(exc)))
        return _error_exit()
    _write(IMPORTED.encode())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0].lower() == "importer":
        return importer_main(args[1:])
    return reporter_main(args)


if __name__ == "__main__":
    sys.exit(main())
