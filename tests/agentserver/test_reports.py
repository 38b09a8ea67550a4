"""The report definitions the server gives the agent: every report SIMS sends has one,
every mandatory field has a caption the SIMS reader maps back, and the fake
CommandReportImporter takes each as it is."""

from __future__ import annotations

import pytest

from rollsync.directory.agent_reports import DEFINITIONS, caption_of, definition_xml, report_tree
from rollsync.domain.mis import mis_info
from rollsync.domain.reports import CATALOGUE
from rollsync.ingest.superstar import CAPTIONS
from rollsync.missim.commandreporter import parse_definition

SIMS_REPORTS = sorted(mis_info("SIMS").reports)  # type: ignore[union-attr]


@pytest.mark.parametrize("report", SIMS_REPORTS)
def test_every_mandatory_field_has_a_caption(report: str) -> None:
    missing = [f for f in CATALOGUE[report].mandatory_fields if caption_of(report, f) is None]
    assert missing == []
    for f in CATALOGUE[report].mandatory_fields:
        assert CAPTIONS[report][caption_of(report, f)] == f  # type: ignore[index]


def test_the_definitions_names_record_sets_and_filters() -> None:
    assert sorted(DEFINITIONS) == SIMS_REPORTS
    assert {(d.name, d.recordset, d.filter) for d in DEFINITIONS.values()} == {
        ("rollsync Students", "Students", "current"),
        ("rollsync Students (Future)", "Students", "future"),
        ("rollsync Staff", "Staff", "current"),
        ("rollsync Staff (Future)", "Staff", "future"),
        ("rollsync Contacts", "Contacts", ""),
        ("rollsync Groups", "Groups", ""),
        ("rollsync Attendance", "Attendance", ""),
    }


@pytest.mark.parametrize("report", SIMS_REPORTS)
def test_the_fake_importer_takes_every_definition(report: str) -> None:
    tree = {
        r["report"]: r
        for r in report_tree(accepted=SIMS_REPORTS, opted_out={}, attendance_service=False)
    }
    entry = tree[report]
    parsed = parse_definition(entry["definition"]["xml"].encode("utf-8"))
    d = DEFINITIONS[report]
    assert (parsed.name, parsed.recordset, parsed.filter) == (d.name, d.recordset, d.filter)
    assert parsed.captions == tuple(f["caption"] for f in entry["fields"])
    # one caption per field (the reader refuses a field under two captions)
    assert len({CAPTIONS[report][c] for c in parsed.captions}) == len(parsed.captions)
    assert [f["field"] for f in entry["fields"]] == [
        f.name for f in CATALOGUE[report].fields if caption_of(report, f.name)
    ]


def test_definition_xml_escapes_and_orders_captions() -> None:
    xml = definition_xml(DEFINITIONS["contacts"], ["ID", 'A "quoted" & <odd>'])
    assert xml.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert b'<Field caption="A &quot;quoted&quot; &amp; &lt;odd&gt;"/>' in xml
