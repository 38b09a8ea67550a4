"""`rollsync link`: the engine on two spreadsheets (click's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from rollsync.domain.upn import make_upn
from rollsync.matching.link_cli import link_command, parse_date

UPN = make_upn("202", "2001", 15, 1)
MAP = "given_name=Forename,family_name=Surname,dob=DOB,gender=Sex,postcode=Postcode,upn=UPN"
HEADER = "ID,Forename,Surname,DOB,Sex,Postcode,UPN\n"


def _files(tmp_path: Path, left: str, right: str, encoding: str = "utf-8") -> tuple[str, str]:
    (tmp_path / "left.csv").write_bytes(left.encode(encoding))
    (tmp_path / "right.csv").write_bytes(right.encode(encoding))
    return str(tmp_path / "left.csv"), str(tmp_path / "right.csv")


RIGHT = HEADER + (
    "R1,Zoë,O'Brien,2015-03-04,F,AB1 2CD,\n"
    f"R2,Amara,Okafor,2014-09-01,F,MK21 3YJ,{UPN}\n"
    "R3,Jonathan,Khan,2016-01-20,M,WD9 7FH,\n"
    "R4,Ben,Reyes,2013-05-05,M,WD9 7FA,\n"
)


def test_one_row_per_left_record_link_candidates_and_new(tmp_path: Path) -> None:
    left = HEADER + (
        "L1,ZOE,O’Brien,04/03/2015,F,ab1 2cd,\n"  # noqa: RUF001 - case, accent, apostrophe
        f"L2,Amara,Okafor-Reid,20140901,F,,{UPN}\n"  # a new surname; the UPN decides
        "L3,Jonathon,Khan,2016-01-20,M,WD9 7FH,\n"  # a twin's pattern, one slip apart
        "L4,Nia,Evans,2012-02-02,F,SW1A 1AA,\n"  # nobody like her
    )
    args = [*_files(tmp_path, left, RIGHT), "--map", MAP, "--id-left", "ID", "--id-right", "ID"]
    result = CliRunner().invoke(link_command, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "left_id,decision,right_ids,score"
    rows = [line.split(",") for line in lines[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("L1", "link", "R1"),
        ("L2", "link", "R2"),
        ("L3", "candidates", "R3"),
        ("L4", "new", ""),
    ]
    assert float(rows[0][3]) >= 0.9999
    assert rows[3][3] == "0.0000"


def test_json_explains_field_by_field(tmp_path: Path) -> None:
    left = HEADER + "L1,Zoe,OBrien,2015-03-04,F,AB1 2CD,\n"
    args = [*_files(tmp_path, left, RIGHT), "--map", MAP, "--id-left", "ID", "--json"]
    result = CliRunner().invoke(link_command, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    (row,) = out["results"]
    assert (row["left_id"], row["decision"], row["right_ids"]) == ("L1", "link", ["1"])
    assert "forename same (Zoe / Zoë), surname same (OBrien / O'Brien)" in row["explanation"]
    assert "date of birth same (2015-03-04)" in row["explanation"]
    assert out["errors"] == []
    assert out["model"]["method"].startswith("u from random pairs")


def test_row_numbers_are_the_default_ids(tmp_path: Path) -> None:
    left = HEADER + "x,Ben,Reyes,2013-05-05,M,WD9 7FA,\n"
    result = CliRunner().invoke(link_command, [*_files(tmp_path, left, RIGHT), "--map", MAP])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split(",")[:3] == ["1", "link", "4"]


def test_utf8_with_bom_and_cp1252_files_read_alike(tmp_path: Path) -> None:
    left = HEADER + "L1,Zoë,O'Brien,2015-03-04,F,AB1 2CD,\n"
    outputs = []
    for encoding in ("utf-8-sig", "cp1252"):
        files = _files(tmp_path, left, RIGHT, encoding)
        result = CliRunner().invoke(
            link_command, [*files, "--map", MAP, "--id-left", "ID", "--id-right", "ID"]
        )
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert outputs[0] == outputs[1]
    assert outputs[0].splitlines()[1].startswith("L1,link,R1,")


def test_bad_rows_get_errors_naming_row_and_column_and_the_rest_go_on(tmp_path: Path) -> None:
    left = HEADER + (
        "L1,Zoë,O'Brien,31/02/2015,F,AB1 2CD,\n"
        "L2,,Okafor,2014-09-01,F,,\n"
        "L3,Ben,Reyes,2013-05-05,Q,WD9 7FA,\n"
        "L4,Ben,Reyes,2013-05-05,M,WD9 7FA,A12345\n"
        "L5,Ben,Reyes,2013-05-05,M,WD9 7FA,\n"
    )
    args = [*_files(tmp_path, left, RIGHT), "--map", MAP, "--id-left", "ID", "--id-right", "ID"]
    result = CliRunner().invoke(link_command, args)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1:] == [
        "L1,error,,",
        "L2,error,,",
        "L3,error,,",
        "L4,error,,",
        "L5,link,R4," + result.stdout.splitlines()[5].rsplit(",", 1)[1],
    ]
    assert result.stderr.splitlines() == [
        "error: left.csv row 2, column 'DOB': '31/02/2015' is not a real date "
        "(day is out of range for month)",
        "error: left.csv row 3, column 'Forename': the forename is empty",
        "error: left.csv row 4, column 'Sex': 'Q' is not M, F, X or U",
        "error: left.csv row 5, column 'UPN': 'A12345' is not a UPN: expected a letter, "
        "11 digits and a digit or letter (13 characters)",
    ]


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    left = HEADER + "L1,Ben,Reyes,2013-05-05,M,,\nL1,Amy,Smith,2013-05-06,F,,\n"
    args = [*_files(tmp_path, left, RIGHT), "--map", MAP, "--id-left", "ID"]
    result = CliRunner().invoke(link_command, args)
    assert result.exit_code == 1
    assert "error: left.csv row 3, column 'ID': ID 'L1' is also on row 2" in result.stderr


def test_a_missing_column_stops_before_matching(tmp_path: Path) -> None:
    args = [
        *_files(tmp_path, HEADER, RIGHT),
        "--map",
        "given_name=First,family_name=Surname,dob=DOB",
    ]
    result = CliRunner().invoke(link_command, args)
    assert result.exit_code == 1
    assert "left.csv: no column 'First' (for given_name)" in result.stderr
    assert result.stdout == ""


def test_bad_map_is_a_usage_error(tmp_path: Path) -> None:
    files = _files(tmp_path, HEADER, RIGHT)
    for bad, words in (
        ("given_name=Forename,family_name=Surname", "map dob too"),
        ("given_name=Forename,family_name=Surname,dob=DOB,shoe=Size", "unknown field 'shoe'"),
        ("given_name,family_name=Surname,dob=DOB", "'given_name' is not FIELD=COLUMN"),
    ):
        result = CliRunner().invoke(link_command, [*files, "--map", bad])
        assert result.exit_code == 2
        assert words in result.output


def test_semicolon_separated_files(tmp_path: Path) -> None:
    left = "ID;Forename;Surname;DOB;Postcode\nL1;Ben;Reyes;2013-05-05;WD9 7FA\n"
    right = "ID;Forename;Surname;DOB;Postcode\nR1;Ben;Reyes;2013-05-05;WD9 7FA\n"
    files = _files(tmp_path, left, right)
    mapping = "given_name=Forename,family_name=Surname,dob=DOB,postcode=Postcode"
    result = CliRunner().invoke(
        link_command, [*files, "--map", mapping, "--id-left", "ID", "--id-right", "ID"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].startswith("L1,link,R1,")


def test_dates_in_the_three_accepted_forms() -> None:
    assert parse_date("2015-03-04") == parse_date("04/03/2015") == parse_date("20150304")
    for bad in ("4/3/2015", "2015/03/04", "tomorrow"):
        try:
            parse_date(bad)
        except ValueError as exc:
            assert "YYYY-MM-DD, DD/MM/YYYY or YYYYMMDD" in str(exc)
        else:
            raise AssertionError(bad)
