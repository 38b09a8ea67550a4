"""Timings of the importer's safety limits (on demand, never in CI, never asserted).

    .venv/bin/python -m bench.ingest_limits

Prints how long the CTF importer takes to refuse an XML bomb and to read 1,500
pupils, and how long a zip bomb takes to be refused. The tests assert the work
done (nothing expanded, each pupil read once, bytes unpacked); this shows the time.
"""

from __future__ import annotations

import io
import time
import zipfile

from rollsync.domain.state import SchoolRef
from rollsync.domain.upn import make_upn
from rollsync.ingest import bundles, parse_upload

SCHOOL = SchoolRef(urn="123456", la_code="202", estab="3456", name="Hillside Primary School")
HEADER = (
    "<Header><CTFversion>25.0</CTFversion><DocumentQualifier>full</DocumentQualifier>"
    "<SourceSchool><LEA>202</LEA><Estab>3456</Estab><URN>123456</URN></SourceSchool></Header>"
)


def _ctf(pupils: int) -> bytes:
    body = "".join(
        f"<Pupil><UPN>{make_upn('202', '3456', 15 + i // 1000, i % 1000)}</UPN>"
        f"<Surname>Child</Surname><Forename>N{i}</Forename><DOB>2015-02-03</DOB></Pupil>"
        for i in range(pupils)
    )
    return f"<CTfile>{HEADER}<CTFpupilData>{body}</CTFpupilData></CTfile>".encode()


def _bomb() -> bytes:
    entities = "".join(
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10 if i else "lol"}">' for i in range(10)
    )
    return f"<!DOCTYPE CTfile [{entities}]><CTfile><Header/>&l9;</CTfile>".encode()


def _zip_bomb(megabytes: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("manifest.csv", "propertyName,value\noneroster.version,1.1\n")
        z.writestr("users.csv", b"0" * (megabytes * 1024 * 1024))
    return buffer.getvalue()


def _time(label: str, payload: bytes, fmt: str) -> None:
    started = time.perf_counter()
    batch = parse_upload(payload, fmt=fmt, school=SCHOOL)
    elapsed = time.perf_counter() - started
    print(f"{label:<32} {elapsed * 1000:8.1f} ms  people={len(batch.people)} fatal={batch.fatal}")


def main() -> None:
    _time("CTF XML bomb refused", _bomb(), "ctf")
    _time("CTF 1,500 pupils", _ctf(1500), "ctf")
    _time("OneRoster zip bomb (150 MiB)", _zip_bomb(150), "oneroster")
    print(f"  bytes unpacked before refusing: {bundles.LAST_READ.bytes_unpacked:,}")


if __name__ == "__main__":
    main()
