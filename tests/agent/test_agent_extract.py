"""Reading CommandReporter's output: captions decoded as .NET does, the filter, and the
checks made before anything is queued."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from rollsync_agent.extract import (
    ExtractError,
    check_ids,
    decode_caption,
    filter_report,
    parse_report,
    plain_sims_error,
    sims_error,
)

from rollsync.missim.commandreporter import encode_name, error_xml


@pytest.mark.parametrize(
    ("name", "caption"),
    [
        ("Legal_x0020_Surname", "Legal Surname"),
        ("Middle_x0020_Name_x0028_s_x0029_", "Middle Name(s)"),
        ("_x0031_st_x002F_2nd", "1st/2nd"),
        ("a_x005F_x0020_b", "a_x0020_b"),
        ("Reg_Group", "Reg_Group"),
        ("_x0001F600_", "\U0001f600"),
        ("_xD83D__xDE00_", "\U0001f600"),
        ("_x12_", "_x12_"),
        ("_xZZZZ_", "_xZZZZ_"),
    ],
)
def test_decode_caption(name: str, caption: str) -> None:
    assert decode_caption(name) == caption


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30))
def test_decode_undoes_encode(caption: str) -> None:
    assert decode_caption(encode_name(caption)) == caption


REPORT = b"""<?xml version="1.0" encoding="utf-8"?>
<SuperStarReport>
  <Record><ID>1</ID><Legal_x0020_Surname>Ng</Legal_x0020_Surname><Primary_x0020_Email>a@x</Primary_x0020_Email><Postcode>AB1</Postcode></Record>
  <Record><ID>2</ID><Legal_x0020_Surname>Ho</Legal_x0020_Surname><Primary_x0020_Email/><Postcode>AB2</Postcode></Record>
  <Stray>x</Stray>
</SuperStarReport>"""


def test_filter_keeps_only_the_fields_sent_and_counts_the_rest() -> None:
    out = filter_report(parse_report(REPORT), {"ID", "Legal Surname"})
    assert out.records == 2
    assert out.dropped == {"Postcode": 2, "Primary Email": 2, "Stray": 1}
    root = etree.fromstring(out.xml)
    assert [[(f.tag, f.text) for f in r] for r in root] == [
        [("ID", "1"), ("Legal_x0020_Surname", "Ng")],
        [("ID", "2"), ("Legal_x0020_Surname", "Ho")],
    ]
    assert b"a@x" not in out.xml and b"AB1" not in out.xml


def test_filter_drops_nothing_when_every_field_is_sent() -> None:
    data = REPORT.replace(b"<Stray>x</Stray>", b"")
    out = filter_report(parse_report(data), {"ID", "Legal Surname", "Primary Email", "Postcode"})
    assert out.dropped == {} and out.records == 2
    assert [len(r) for r in etree.fromstring(out.xml)] == [4, 4]


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><SuperStarReport>&a;</SuperStarReport>',
        b'<!DOCTYPE SuperStarReport SYSTEM "http://example.invalid/x.dtd"><SuperStarReport/>',
    ],
)
def test_doctype_and_entities_are_refused(data: bytes) -> None:
    with pytest.raises(ExtractError, match="DOCTYPE"):
        parse_report(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"Object reference not set <SuperStarReport><Rec",
            "SIMS wrote something that is not a report",
        ),
        (b"", "SIMS wrote something that is not a report"),
        (
            b"<Report/>",
            "SIMS wrote something that is not a report (<Report>, not <SuperStarReport>)",
        ),
    ],
)
def test_not_a_report(data: bytes, message: str) -> None:
    with pytest.raises(ExtractError) as caught:
        parse_report(data)
    assert str(caught.value) == message


def test_empty_ids_are_refused_and_one_id_is_enough() -> None:
    empty = b"<SuperStarReport><Record><ID/><Name>a</Name></Record><Record><ID></ID></Record></SuperStarReport>"
    with pytest.raises(ExtractError, match="lacks the Third Party Reporting permission group"):
        check_ids(parse_report(empty))
    one = b"<SuperStarReport><Record><ID/></Record><Record><Pupil_x0020_ID>7</Pupil_x0020_ID></Record></SuperStarReport>"
    check_ids(parse_report(one))
    check_ids(parse_report(b"<SuperStarReport/>"))  # no record: nothing to judge


def test_sims_error_message() -> None:
    text = b"noise\n" + error_xml("Login failed. The user name or password is incorrect.")
    assert sims_error(text) == "Login failed. The user name or password is incorrect."
    assert sims_error(b"<SuperStarReport/>") is None
    assert sims_error(b"<CommandReporterError><Message>cut") == "(SIMS gave no message)"
    assert plain_sims_error("Login failed. x") == "SIMS refused the login: Login failed. x"
    assert plain_sims_error("Report not found: 'a'.") == (
        "SIMS does not know the report: Report not found: 'a'."
    )
    assert plain_sims_error("Disk full") == "SIMS reported an error: Disk full"
