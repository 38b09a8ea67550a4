"""Writes the malformed-input corpus in this folder (run once; the files are kept).

    .venv/bin/python -m tests.corpus.ingest.build

Each family of defect in issue 7 has one small file (or bundle folder); what each
must produce is in expected.json, checked by tests/ingest/test_corpus.py.
"""

from __future__ import annotations

import io
import json
import pathlib
import shutil
import zipfile

HERE = pathlib.Path(__file__).parent
FIXTURES = HERE.parent.parent / "ingest" / "fixtures"
H = "mis_id,legal_given_name,legal_family_name,date_of_birth"

CTF_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<CTfile><Header><CTFversion>25.0</CTFversion>'
    "<DocumentQualifier>full</DocumentQualifier><SourceSchool><LEA>202</LEA><Estab>3456</Estab>"
    "<URN>123456</URN></SourceSchool></Header><CTFpupilData>\n"
)
CTF_TAIL = "</CTFpupilData></CTfile>\n"


def pupil(upn: str, forename: str, dob: str = "2015-02-03") -> str:
    return (
        f"<Pupil><UPN>{upn}</UPN><Surname>O'Sullivan</Surname><Forename>{forename}</Forename>"
        f"<DOB>{dob}</DOB></Pupil>\n"
    )


def zipped(folder: pathlib.Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.writestr(
                zipfile.ZipInfo(path.name, date_time=(1980, 1, 1, 0, 0, 0)), path.read_bytes()
            )
    return buffer.getvalue()


def bundle(name: str, source: str, change) -> None:
    target = HERE / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(FIXTURES / source, target)
    change(target)


def main() -> None:
    text = {
        "csv_duplicate_mis_id.csv": f"{H}\n2159,Imposter,Person,2019-01-01\n2159,Seán,O'Sullivan,2015-06-01\n",
        "csv_unreadable_optional.csv": f"{H},start_date\n1,Ann,Lee,2015-01-01,03-02-2015\n",
        "csv_short_row.csv": f"{H}\n1,Ann,Lee\n2,Bob,Lee,2015-01-02\n",
        "csv_ends_mid_row.csv": f"{H}\n1,Ann,Lee,2015-01-01\n2,Bob,Le",
        "csv_dob_future.csv": f"{H}\n1,Ann,Lee,2031-01-01\n",
        "csv_dob_placeholder.csv": f"{H}\n1,Ann,Lee,9999-12-31\n",
        "csv_dob_before_1900.csv": f"{H}\n1,Ann,Lee,1899-12-31\n",
        "csv_dob_full_width.csv": f"{H}\n1,Ann,Lee,\uff11\uff19\uff19\uff10-\uff10\uff11-\uff10\uff11\n",
        "csv_dob_impossible_time.csv": f"{H}\n1,Ann,Lee,2015-02-03T25:99\n",
        "csv_control_character.csv": f"{H}\n1,An\x1bn,Lee,2015-01-01\n",
        "csv_long_name.csv": f"{H}\n1,{'A' * 10_000},Lee,2015-01-01\n",
        "csv_long_mis_id.csv": f"{H}\n{'9' * 10_000},Ann,Lee,2015-01-01\n",
        "csv_long_registration_group.csv": f"{H},registration_group\n1,Ann,Lee,2015-01-01,{'R' * 200}\n",
        "ctf_duplicate_upn.xml": CTF_HEAD
        + pupil("Z202345615001", "Imposter")
        + pupil("Z202345615001", "Seán")
        + CTF_TAIL,
        "ctf_dob_future.xml": CTF_HEAD + pupil("Z202345615001", "Seán", "2031-01-01") + CTF_TAIL,
    }
    for name, content in text.items():
        (HERE / name).write_bytes(content.encode("utf-8"))
    (HERE / "csv_bom_then_cp1252.csv").write_bytes(
        b"\xef\xbb\xbf" + f"{H}\n1,Siobh\xe1n,Lee,2015-01-01\n".encode("latin-1")
    )
    full = (CTF_HEAD + pupil("Z202345615001", "Seán") + CTF_TAIL).encode()
    (HERE / "ctf_cut_short.xml").write_bytes(full[: len(full) * 2 // 3])
    (HERE / "ctf_bom_then_cp1252.xml").write_bytes(
        b"\xef\xbb\xbf"
        + (
            CTF_HEAD.replace(' encoding="UTF-8"', "") + pupil("Z202345615001", "Seán") + CTF_TAIL
        ).encode("cp1252")
    )

    def drop_demographics(folder: pathlib.Path) -> None:
        (folder / "demographics.csv").unlink()
        manifest = folder / "manifest.csv"
        manifest.write_text(
            manifest.read_text().replace("file.demographics,bulk", "file.demographics,absent")
        )

    def duplicate_user(folder: pathlib.Path) -> None:
        users = folder / "users.csv"
        first = users.read_text().splitlines()[1]
        users.write_text(users.read_text() + first.replace("Zoë", "Mallory") + "\n")

    def cut_users(folder: pathlib.Path) -> None:
        users = folder / "users.csv"
        users.write_text(users.read_text().rstrip("\n")[:-12])

    bundle("oneroster_demographics_absent", "oneroster12", drop_demographics)
    bundle("oneroster_duplicate_user", "oneroster12", duplicate_user)
    bundle("oneroster_users_cut_short", "oneroster12", cut_users)
    bundle("sds_users_cut_short", "sds", cut_users)

    def sds_duplicate(folder: pathlib.Path) -> None:
        users = folder / "users.csv"
        users.write_text(users.read_text() + "s-1,x,Mallory,Imposter,,,,,\n")

    bundle("sds_duplicate_user", "sds", sds_duplicate)

    def long_relationship(folder: pathlib.Path) -> None:  # found by ./dev fuzz
        relations = folder / "relationships.csv"
        relations.write_text(
            relations.read_text().replace("s-1,g-1,parent", "s-1,g-1," + "A" * 300)
        )

    bundle("sds_long_relationship", "sds", long_relationship)

    good = zipped(FIXTURES / "oneroster12")
    damaged = bytearray(good)
    local = damaged.find(b"PK\x03\x04")
    start = local + 30 + int.from_bytes(damaged[local + 26 : local + 28], "little")
    damaged[start : start + 8] = b"\xff" * 8
    (HERE / "zip_corrupt_stream.zip").write_bytes(bytes(damaged))
    (HERE / "zip_cut_short.zip").write_bytes(good[: len(good) // 2])
    lying = bytearray(good)
    central = lying.find(b"PK\x01\x02")
    while central != -1:
        lying[central + 24 : central + 28] = (1).to_bytes(4, "little")
        central = lying.find(b"PK\x01\x02", central + 4)
    (HERE / "zip_header_lies_about_size.zip").write_bytes(bytes(lying))
    json.loads((HERE / "expected.json").read_text())  # kept by hand: must stay valid


if __name__ == "__main__":
    main()
