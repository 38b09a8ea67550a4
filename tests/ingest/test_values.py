"""Single values and school identifiers."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollsync.domain.upn import make_upn
from rollsync.ingest import values as v
from rollsync.ingest.errors import BadValue
from rollsync.ingest.schools import Match, identifier_match

from .helpers import BAD_CHECK_UPN, SCHOOL, TEMP_UPN, UPN_1


class TestDates:
    @pytest.mark.parametrize(
        ("raw", "forms"),
        [
            ("2024-02-29", v.ISO_DATES),
            ("20240229", v.ISO_DATES),
            ("29/02/2024", v.ANY_DATE),
            ("2024-02-29T13:45:00Z", v.ISO_DATES),
            ("2024-02-29 00:00:00", v.ANY_DATE),
        ],
    )
    def test_accepted(self, raw, forms):
        assert v.parse_date(raw, "d", forms) == date(2024, 2, 29)

    @pytest.mark.parametrize("raw", ["2023-02-29", "31/04/2015", "20151301", "00/01/2015"])
    def test_impossible(self, raw):
        with pytest.raises(BadValue, match=f"d '{raw}' is not a real date"):
            v.parse_date(raw, "d")

    def test_slashes_not_allowed_where_the_format_is_iso(self):
        with pytest.raises(BadValue, match=r"is not a date written as YYYY-MM-DD or YYYYMMDD$"):
            v.parse_date("02/03/2015", "birthDate", v.ISO_DATES)

    @given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
    def test_every_written_form_reads_back(self, day):
        for text in (day.isoformat(), day.strftime("%d/%m/%Y"), day.strftime("%Y%m%d")):
            assert v.parse_date(text, "d") == day


class TestUpn:
    def test_good_and_temporary(self):
        assert v.parse_upn(f" {UPN_1.lower()} ", "upn") == UPN_1
        assert v.parse_upn(TEMP_UPN, "upn") == TEMP_UPN

    def test_bad_check_letter(self):
        with pytest.raises(
            BadValue, match="upn: A202345615009 has check letter A but its digits give"
        ):
            v.parse_upn(BAD_CHECK_UPN, "upn")

    @given(st.integers(0, 99), st.integers(0, 999))
    def test_any_made_upn_passes(self, year, serial):
        upn = make_upn("202", "3456", year, serial)
        assert v.parse_upn(upn, "upn") == upn


class TestNamesAndText:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("  O'Brien ", "O'Brien"),
            ("Smith-Jones", "Smith-Jones"),
            ("Zoë", "Zoë"),
            ("Mary   Anne", "Mary Anne"),
            ("\tNí\u00a0Bhriain ", "Ní Bhriain"),
            ("   ", None),
            ("", None),
        ],
    )
    def test_names(self, raw, expected):
        assert v.name(raw) == expected

    def test_postcode_and_year(self):
        assert v.postcode(" sw1a   1aa ") == "SW1A 1AA"
        assert (v.year_group("07"), v.year_group("r"), v.year_group("N2"), v.year_group("")) == (
            "7",
            "R",
            "N2",
            None,
        )

    @pytest.mark.parametrize("code", ["/", "\\", "L", "c1", "Y7", "#", "-"])
    def test_attendance_codes(self, code):
        assert v.parse_attendance_code(code, "code") == code.upper()

    def test_unknown_attendance_code(self):
        with pytest.raises(BadValue, match="not a DfE attendance code"):
            v.parse_attendance_code("A", "code")


class TestSchoolIdentifiers:
    @pytest.mark.parametrize(
        ("identifier", "match"),
        [
            ("123456", Match.URN),
            ("2023456", Match.DFE),
            ("202/3456", Match.DFE),
            ("202-3456", Match.DFE),
            ("202 3456", Match.DFE),
            ("2033456", None),
            ("abc", None),
            ("", None),
        ],
    )
    def test_identifier_match(self, identifier, match):
        assert identifier_match(identifier, SCHOOL) is match


@pytest.mark.parametrize("text", ["\u00b2", "\u2460", "1\u00b2", "\u0663", "\uff11"])
def test_digits_other_than_0_to_9_are_no_number_and_no_crash(text: str) -> None:
    # Found by ./dev fuzz: "²" passed `str.isdigit`, then `int` raised, and a file's
    # import crashed on a contact's priority. Only 0-9 read as a number.
    assert not v.ascii_digits(text)
    with pytest.raises(BadValue, match="is not a whole number of 1 or more"):
        v.parse_positive_int(text, "priority")
    assert v.year_group(text) == text.upper()
    from rollsync.ingest.schools import same_number

    assert same_number(text, text) and not same_number(text, "2")
    assert v.ascii_digits("0123") and v.year_group("07") == "7" and same_number("0123", "123")


def test_a_bundle_with_a_nameless_member_is_no_crash() -> None:
    # Found by ./dev fuzz: zipfile's `is_dir` raises IndexError on a member named "".
    import io
    import zipfile

    from rollsync.ingest import parse_upload

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo(""), b"x")
        archive.writestr("manifest.csv", b"propertyName,value\r\n")
    for fmt in ("oneroster", "sds"):
        batch = parse_upload(buffer.getvalue(), fmt=fmt, school=SCHOOL)
        assert batch.fatal and not batch.people
