"""The report tree the rollsync agent asks for (`GET /agent/v1/reports`, docs/agent.md):
for every report rollsync knows, its state for the school, its fields with their
CommandReporter captions and states, and for an accepted report the definition file the
agent imports into SIMS (CommandReportImporter), naming only the fields the school takes.

The captions are the SIMS reader's (`ingest.superstar.CAPTIONS`): what a definition names
a field is what the reader maps back, so an extract reads as the definition asked. The
definition format is rollsync's own (the real .RptDef format is not public):
`<ReportDefinition name=".." recordset=".." filter=".."><Field caption=".."/>...`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from rollsync.domain import reports as r
from rollsync.domain.mis import can_send
from rollsync.ingest.superstar import CAPTIONS

MIS = "SIMS"
ACCEPTED = "accepted"
AVAILABLE = "available"
NOT_AVAILABLE = "not_available"
MANDATORY = "Mandatory"
UPLOADED = "Uploaded"
NOT_UPLOADED = "Not uploaded"


@dataclass(frozen=True, slots=True)
class Definition:
    name: str  # what CommandReporter's /REPORT: names it
    recordset: str
    filter: str  # "current" or "future" for people; "" otherwise


DEFINITIONS: Mapping[str, Definition] = {
    r.STUDENTS: Definition("rollsync Students", "Students", "current"),
    r.STUDENTS_FUTURE: Definition("rollsync Students (Future)", "Students", "future"),
    r.STAFF: Definition("rollsync Staff", "Staff", "current"),
    r.STAFF_FUTURE: Definition("rollsync Staff (Future)", "Staff", "future"),
    r.CONTACTS: Definition("rollsync Contacts", "Contacts", ""),
    r.GROUPS: Definition("rollsync Groups", "Groups", ""),
    r.ATTENDANCE: Definition("rollsync Attendance", "Attendance", ""),
}


def caption_of(report: str, field: str) -> str | None:
    """The caption rollsync's definition gives a field (the first the reader knows it
    by), or None when the field has none (then it is never extracted)."""
    return next((c for c, f in CAPTIONS.get(report, {}).items() if f == field), None)


def definition_xml(definition: Definition, captions: Collection[str]) -> bytes:
    """The definition file for CommandReportImporter: the report's name, record set,
    filter and one <Field> per caption, in the order given."""
    root = etree.Element("ReportDefinition", name=definition.name, recordset=definition.recordset)
    if definition.filter:
        root.set("filter", definition.filter)
    for caption in captions:
        etree.SubElement(root, "Field", caption=caption)
    return bytes(etree.tostring(root, encoding="utf-8", xml_declaration=True))


def definition_with_every_field(report: str) -> bytes:
    """The definition of `report` naming every field the reader knows a caption for:
    what a school taking them all imports (the fuzzer's seeds, the sync bench)."""
    captions = (caption_of(report, f.name) for f in r.CATALOGUE[report].fields)
    return definition_xml(DEFINITIONS[report], [c for c in captions if c is not None])


def report_tree(
    *,
    accepted: Collection[str],
    opted_out: Mapping[str, Collection[str]],
    attendance_service: bool,
) -> list[dict[str, Any]]:
    """The tree for a SIMS school, in the catalogue's order (see the module's docstring)."""
    tree: list[dict[str, Any]] = []
    for code, spec in r.CATALOGUE.items():
        sendable = code in DEFINITIONS and can_send(
            MIS, code, attendance_service=attendance_service
        )
        state = NOT_AVAILABLE if not sendable else ACCEPTED if code in accepted else AVAILABLE
        dropped = set(opted_out.get(code, ()))
        fields = []
        for f in spec.fields:
            caption = caption_of(code, f.name)
            if caption is None:
                continue  # SIMS is never asked for it
            fields.append(
                {
                    "caption": caption,
                    "field": f.name,
                    "label": f.label,
                    "state": MANDATORY
                    if f.mandatory
                    else NOT_UPLOADED
                    if f.name in dropped
                    else UPLOADED,
                }
            )
        definition = None
        if state == ACCEPTED:
            d = DEFINITIONS[code]
            xml = definition_xml(d, [f["caption"] for f in fields if f["state"] != NOT_UPLOADED])
            definition = {
                "name": d.name,
                "recordset": d.recordset,
                "filter": d.filter,
                "sha256": hashlib.sha256(xml).hexdigest(),
                "xml": xml.decode("utf-8"),
            }
        tree.append(
            {
                "report": code,
                "label": spec.label,
                "state": state,
                "definition": definition,
                "fields": fields,
            }
        )
    return tree
