"""Write the safety corpus: one malformed input per defect of issue 7, made from the
simulator's real exports, and the expectations file that states each one's outcome.

    .venv/bin/python -m tests.safety.make_corpus      # rewrites tests/safety/corpus/

Deterministic: the same code writes the same bytes. Every input is a day 1 export of
one small school with one thing wrong, synced on top of that same day 1 (the baseline),
so nothing in it but the defect could change anyone: the named people must come out of
the run exactly as they went in. Rows are numbered as rollsync numbers them: the
line in a CSV (the header is line 1), the pupil's place in a CTF. The expectations say what the issue asks for, so on
today's code several of them fail (docs/safety.md lists which).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from tests.safety.exports import school_exports
from tests.safety.mutations import read_csv, unzip, write_csv

CORPUS = Path(__file__).parent / "corpus"


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 9, 1, 18, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()


def _cut_mid_row(body: bytes, fraction: float) -> bytes:
    """Cut inside a row (never at a row end), as a copy or transfer that stopped."""
    cut = int(len(body) * fraction)
    while body[cut - 1 : cut] in (b"\n", b"\r") or body[cut : cut + 1] in (b"\n", b"\r"):
        cut -= 1
    return body[:cut]


def build(out: Path = CORPUS) -> dict[str, dict[str, Any]]:
    """name -> expectation, writing each input under `out`."""
    out.mkdir(exist_ok=True)
    cases: dict[str, dict[str, Any]] = {}

    def add(name: str, body: bytes, **expect: Any) -> None:
        (out / name).write_bytes(body)
        cases[name] = expect

    csv_ex = school_exports("csv")
    students = csv_ex.files1["students.csv"]
    header, rows = read_csv(students)
    col = {h: i for i, h in enumerate(header)}
    victim = rows[3]
    vid = victim[col["mis_id"]]

    # 1. Duplicate MIS ID, the imposter row first: every format.
    imposter = list(victim)
    imposter[col["legal_given_name"]], imposter[col["legal_family_name"]] = "Imposter", "Person"
    imposter[col["date_of_birth"]] = "2019-01-01"
    for c in ("upn", "address", "postcode", "middle_names"):
        imposter[col[c]] = ""
    add(
        "01-csv-duplicate-id-imposter-first.csv",
        write_csv(header, [*rows[:3], imposter, *rows[3:]]),
        issue=1,
        fmt="csv",
        report="students",
        status=["applied"],
        errors=[{"row": 5, "field": "mis_id"}],  # line 5: the imposter
        unchanged=[vid],
        unallocated=0,
        about=f"a row giving pupil {vid}'s MIS ID to 'Imposter Person' comes before the real row",
    )

    ctf_ex = school_exports("ctf")
    xml = ctf_ex.files1["students.xml"].decode("utf-8")
    first = xml.index("<Pupil>")
    second = xml.index("<Pupil>", first + 1)
    third = xml.index("<Pupil>", second + 1)
    real = xml[second:third]
    upn = real.split("<UPN>")[1].split("</UPN>")[0]
    other = xml[first:second].replace(
        xml[first:second].split("<UPN>")[1].split("</UPN>")[0], upn, 1
    )
    add(
        "01-ctf-duplicate-upn-imposter-first.xml",
        (xml[:second] + other + xml[second:]).encode("utf-8"),
        issue=1,
        fmt="ctf",
        report="",
        status=["applied"],
        errors=[{"row": 2, "field": "UPN"}],
        unchanged=[upn],
        unchanged_contacts_of=upn,
        unallocated=0,
        about="pupil 1's record carrying pupil 2's UPN comes before pupil 2",
    )

    for fmt in ("oneroster", "sds"):
        ex = school_exports(fmt)
        members = unzip(ex.files1[f"{fmt}.zip"])
        uh, urows = read_csv(members["users.csv"])
        uc = {h: i for i, h in enumerate(uh)}
        target = next(r for r in urows if r[uc["sourcedId"]] in {p.mis_id for p in ex.day1.pupils})
        fake = list(target)
        fake[uc["givenName"]], fake[uc["familyName"]] = "Imposter", "Person"
        at = urows.index(target)
        members["users.csv"] = write_csv(uh, [*urows[:at], fake, *urows[at:]])
        add(
            f"01-{fmt}-duplicate-sourcedid-imposter-first.zip",
            _zip(members),
            issue=1,
            fmt=fmt,
            report="",
            status=["applied"],
            errors=[{"row": at + 2, "field": "sourcedId"}],
            unchanged=[target[uc["sourcedId"]]],
            unallocated=0,
            about="users.csv gives a pupil's sourcedId to 'Imposter Person' first",
        )

    # 2. A UPN held by an active pupil in another LA, under another name and DOB.
    foreign = ctf_ex.day1.pupils[0]
    newcomer = list(rows[0])
    newcomer[col["mis_id"]] = "990001"
    newcomer[col["legal_given_name"]], newcomer[col["legal_family_name"]] = "Mohammex", "Patel"
    newcomer[col["date_of_birth"]] = "2018-03-04"
    newcomer[col["upn"]] = foreign.upn or ""
    add(
        "02-csv-upn-of-a-pupil-in-another-la.csv",
        write_csv(header, [*rows, newcomer]),
        issue=2,
        fmt="csv",
        report="students",
        status=["applied"],
        errors=[],
        other_school="ctf",
        unchanged_elsewhere=[foreign.upn],
        not_offered=[foreign.upn],
        unallocated=0,
        about="a new pupil carries the UPN of a pupil active at a school of another LA",
    )

    # 4. An unreadable optional value must not null a good one.
    bad_start = [list(r) for r in rows]
    bad_start[5][col["start_date"]] = "03-02-2015"
    add(
        "04-csv-bad-optional-start-date.csv",
        write_csv(header, bad_start),
        issue=4,
        fmt="csv",
        report="students",
        status=["applied"],
        errors=[{"row": 7, "field": "start_date"}],
        unchanged=[rows[5][col["mis_id"]]],
        unallocated=0,
        about="start_date '03-02-2015' on a pupil whose start date is stored",
    )
    # 4/5. A truncated last row: its pupil keeps UPN, year group and address.
    last = rows[-1]
    cut_last = write_csv(header, rows)
    cut_last = cut_last[: cut_last.rindex(last[col["date_of_birth"]].encode()) + 10]
    add(
        "04-csv-truncated-last-row.csv",
        cut_last,
        issue=4,
        fmt="csv",
        report="students",
        status=["applied", "held", "failed"],
        errors_any=True,
        unchanged=[last[col["mis_id"]]],
        unallocated=0,
        about="the file ends inside its last row, just after the date of birth",
    )

    # 5. Cut at a byte: a truncated file claims no leavers.
    for report, fraction in (("students", 0.93), ("staff", 0.8)):
        body = csv_ex.files1[f"{report}.csv"]
        add(
            f"05-csv-{report}-cut-at-a-byte.csv",
            _cut_mid_row(body, fraction),
            issue=5,
            fmt="csv",
            report=report,
            status=["applied", "held", "failed"],
            errors_any=True,
            unchanged="all",
            unallocated=0,
            about=f"{report}.csv cut at byte {len(_cut_mid_row(body, fraction))} of {len(body)}",
        )

    # 6. Groups & Classes cut short: nothing deleted.
    groups = csv_ex.files1["groups.csv"]
    add(
        "06-csv-groups-cut-short.csv",
        _cut_mid_row(groups, 0.4),
        issue=6,
        fmt="csv",
        report="groups",
        status=["applied", "held", "failed"],
        errors_any=True,
        no_relations_deleted=True,
        unallocated=0,
        about="groups.csv cut at 40%: groups and memberships may end, never be deleted",
    )

    # 7. OneRoster demographics marked absent.
    or_ex = school_exports("oneroster")
    members = unzip(or_ex.files1["oneroster.zip"])
    members["manifest.csv"] = members["manifest.csv"].replace(
        b"file.demographics,bulk", b"file.demographics,absent"
    )
    del members["demographics.csv"]
    add(
        "07-oneroster-demographics-absent.zip",
        _zip(members),
        issue=7,
        fmt="oneroster",
        report="",
        status=["applied", "held"],
        errors_any=False,
        unchanged="all",
        no_relations_deleted=True,
        unallocated=0,
        about="the manifest marks demographics absent: no DOB or gender is claimed",
    )

    # 9. Dates of birth no pupil has, and control characters.
    bad = [list(r) for r in rows]
    dobs = [
        "9999-12-31",
        "1990-01-01".translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"}),
        "2015-02-03T25:99",
        "2031-05-01",
    ]
    for n, value in enumerate(dobs):
        bad[n][col["date_of_birth"]] = value
    add(
        "09-csv-bad-dates-of-birth.csv",
        write_csv(header, bad),
        issue=9,
        fmt="csv",
        report="students",
        status=["applied"],
        errors=[{"row": n + 2, "field": "date_of_birth"} for n in range(len(dobs))],
        unchanged=[rows[n][col["mis_id"]] for n in range(len(dobs))],
        unallocated=0,
        about="9999-12-31, full-width digits, 2015-02-03T25:99 and a birth in 2031",
    )
    ctl = [list(r) for r in rows]
    ctl[2][col["legal_given_name"]] = (
        ctl[2][col["legal_given_name"]][:2] + "\x07" + ctl[2][col["legal_given_name"]][2:]
    )
    ctl[4][col["legal_family_name"]] = ctl[4][col["legal_family_name"]] + "\x1b[2J"
    add(
        "09-csv-control-characters-in-names.csv",
        write_csv(header, ctl),
        issue=9,
        fmt="csv",
        report="students",
        status=["applied"],
        errors=[{"row": 4, "field": "legal_given_name"}, {"row": 6, "field": "legal_family_name"}],
        unchanged=[rows[2][col["mis_id"]], rows[4][col["mis_id"]]],
        unallocated=0,
        about="a BEL inside a given name, an ANSI escape after a family name",
    )

    # 10. Over-long values: a row error with its field, the same on both databases.
    long = [list(r) for r in rows]
    long[1][col["legal_family_name"]] = "X" * 10_000
    long[2][col["registration_group"]] = "R" * 200
    newcomer = list(rows[0])
    newcomer[col["mis_id"]] = "M" * 10_000
    newcomer[col["upn"]] = ""
    long.append(newcomer)
    add(
        "10-csv-over-long-values.csv",
        write_csv(header, long),
        issue=10,
        fmt="csv",
        report="students",
        status=["applied"],
        errors=[
            {"row": 3, "field": "legal_family_name"},
            {"row": 4, "field": "registration_group"},
            {"row": len(long) + 1, "field": "mis_id"},
        ],
        unchanged=[rows[1][col["mis_id"]], rows[2][col["mis_id"]]],
        unallocated=0,
        about="a 10,000-character family name and MIS ID, a 200-character registration group",
    )

    # 10. A 10,000-digit MIS ID: a number too long to convert is a row error too.
    digits = list(rows[0])
    digits[col["mis_id"]] = "9" * 10_000
    digits[col["upn"]] = ""
    add(
        "10-csv-over-long-numeric-mis-id.csv",
        write_csv(header, [*rows, digits]),
        issue=10,
        fmt="csv",
        report="students",
        status=["applied"],
        errors=[{"row": len(rows) + 2, "field": "mis_id"}],
        unchanged=[rows[0][col["mis_id"]]],
        unallocated=0,
        about="a new pupil whose MIS ID is 10,000 digits",
    )

    # 12. Damaged zips and a BOM before a Windows-1252 body.
    whole = or_ex.files1["oneroster.zip"]
    add(
        "12-oneroster-zip-truncated.zip",
        whole[: len(whole) // 2],
        issue=12,
        fmt="oneroster",
        report="",
        status=["failed"],
        errors=[{"row": None, "field": None}],
        message_contains="damaged",
        unchanged="all",
        unallocated=0,
        about="the zip's second half is missing (its central directory too)",
    )
    damaged = bytearray(whole)
    start = whole.index(b"users.csv") + 40  # inside users.csv's deflated data
    for n in range(start, start + 24):
        damaged[n] ^= 0x5A
    add(
        "12-oneroster-zip-corrupt-member.zip",
        bytes(damaged),
        issue=12,
        fmt="oneroster",
        report="",
        status=["failed"],
        errors=[{"row": None, "field": None}],
        message_contains="damaged",
        unchanged="all",
        unallocated=0,
        about="24 bytes of users.csv's compressed data are flipped",
    )
    latin = b"\xef\xbb\xbf" + students.decode("utf-8").encode("cp1252", errors="replace")
    add(
        "12-csv-bom-before-windows-1252.csv",
        latin,
        issue=12,
        fmt="csv",
        report="students",
        status=["failed", "applied"],
        message_excludes="no mis_id column",
        unchanged="all_names",
        unallocated=0,
        about="a UTF-8 byte order mark before a Windows-1252 body",
    )
    return cases


def main() -> None:
    cases = build()
    (CORPUS / "expectations.json").write_text(
        json.dumps(cases, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"wrote {len(cases)} inputs and expectations.json to {CORPUS}")


if __name__ == "__main__":
    main()
