"""The format list is the ingest registry's: the command's --format, the web upload form,
the web pages' labels and the JSON API's Format enum are all built from
`ingest.registered_formats()` and each reader's label, and no door spells the list out.
The formats of pulls from MIS APIs are registered too (their uploads are read like any
other and shown with their labels) but no person may upload one."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import click

from rollsync import ingest
from rollsync.api.schemas import Format, UploadFormat
from rollsync.cli import main
from rollsync.web.forms import FORMAT_CHOICES, UploadForm
from rollsync.web.selectors import FORMAT_LABEL

SRC = Path(__file__).resolve().parent.parent / "src" / "rollsync"


def test_every_door_lists_the_registered_formats() -> None:
    formats = ingest.FORMATS
    assert formats == ("ctf", "oneroster", "sds", "csv", "sims-superstar")
    assert ingest.PULLED_FORMATS == ("isams-api", "arbor-api", "wonde-api", "scholarpack-api")
    assert ingest.registered_formats() == formats + ingest.PULLED_FORMATS
    labels = {f: ingest.reader_for(f).label for f in formats}
    assert labels == {
        "ctf": "Common Transfer File (CTF XML)",
        "oneroster": "OneRoster 1.2 CSV bundle (zip)",
        "sds": "School Data Sync (SDS) CSV bundle (zip)",
        "csv": "rollsync CSV (one report per file)",
        "sims-superstar": "SIMS CommandReporter report",
    }
    assert [f for f in formats if ingest.reader_for(f).needs_report] == ["csv", "sims-superstar"]
    import_command = main.commands["import"]
    option = next(p for p in import_command.params if p.name == "fmt")
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == formats
    assert list(labels.items()) == FORMAT_CHOICES
    assert UploadForm().fields["fmt"].choices == list(labels.items())
    assert {f: FORMAT_LABEL[f] for f in formats} == labels
    assert set(FORMAT_LABEL) == set(ingest.registered_formats())
    assert typing.get_args(UploadFormat) == formats
    assert typing.get_args(Format) == ingest.registered_formats()


def test_no_door_spells_the_list_out() -> None:
    # Two format names side by side in a literal is a copy of the list.
    copy = re.compile(
        r"""["'](ctf|oneroster|sds|csv)["']\s*[,:]\s*(\(?["'][^"']*["']\)?,\s*)?["'](ctf|oneroster|sds|csv)["']"""
    )
    found = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if p.relative_to(SRC).parts[0] not in ("simulate", "ingest") and copy.search(p.read_text())
    ]
    assert found == []


def test_pulled_formats_are_named_as_the_guard_knows_them() -> None:
    from rollsync.planning.guard import PULLED_FORMAT_SUFFIX

    assert all(f.endswith(PULLED_FORMAT_SUFFIX) for f in ingest.PULLED_FORMATS)
    assert not any(f.endswith(PULLED_FORMAT_SUFFIX) for f in ingest.FORMATS)
