"""The pull bundle (ingest/pulled.py): the answers as they came, packed deterministically,
read back exactly; anything damaged is refused with a clear message."""

from __future__ import annotations

import io
import zipfile

import pytest

from rollsync.ingest.errors import FileRejected
from rollsync.ingest.pulled import Answer, pack_pull, pull_report, read_pull

ANSWERS = [
    Answer("GET", "/api/students?page=1", 200, "application/json", b'{"students": [1]}'),
    Answer("GET", "/api/students?page=2", 200, "application/json", b'{"students": [2]}'),
    Answer("GET", "/api/humanresources/employees", 200, "application/json", b"{}"),
]


def _pack(**kw: object) -> bytes:
    args: dict[str, object] = {
        "vendor": "isams",
        "report": "students",
        "asked": "students (2 pages)",
        "pulled_at": "2026-11-30T18:00:00+00:00",
        "answers": ANSWERS,
        **kw,
    }
    return pack_pull(**args)  # type: ignore[arg-type]


def test_round_trip_and_determinism() -> None:
    payload = _pack(merged={"students": {"A": 1}}, incremental=True, extra={"revision": 7})
    assert payload == _pack(merged={"students": {"A": 1}}, incremental=True, extra={"revision": 7})
    bundle = read_pull(payload, vendor="isams")
    assert bundle.answers == tuple(ANSWERS)
    assert (bundle.report, bundle.asked, bundle.incremental) == (
        "students",
        "students (2 pages)",
        True,
    )
    assert bundle.merged == {"students": {"A": 1}}
    assert bundle.extra == {"revision": 7}
    assert [a.url for a in bundle.answers_for("/api/students")] == [
        "/api/students?page=1",
        "/api/students?page=2",
    ]
    assert pull_report(payload) == "students"


def test_another_vendors_pull_is_refused() -> None:
    with pytest.raises(FileRejected, match="not a pull from arbor"):
        read_pull(_pack(), vendor="arbor")


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not a zip at all",
        b"PK\x03\x04cut short",
    ],
)
def test_garbage_is_refused(payload: bytes) -> None:
    with pytest.raises(FileRejected):
        read_pull(payload, vendor="isams")
    assert pull_report(payload) is None


def test_a_truncated_pull_is_refused() -> None:
    payload = _pack()
    with pytest.raises(FileRejected):
        read_pull(payload[: len(payload) // 2], vendor="isams")


def test_a_missing_answer_is_refused() -> None:
    source = zipfile.ZipFile(io.BytesIO(_pack()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for info in source.infolist():
            if info.filename != "answers/0002.json":
                zf.writestr(info, source.read(info))
    with pytest.raises(FileRejected, match=r"answers/0002\.json"):
        read_pull(out.getvalue(), vendor="isams")


def test_an_answer_that_is_not_json_says_which() -> None:
    bundle = read_pull(
        _pack(answers=[Answer("GET", "/api/students", 200, "text/html", b"<html>")]),
        vendor="isams",
    )
    with pytest.raises(FileRejected, match="GET /api/students"):
        bundle.answers[0].json()
