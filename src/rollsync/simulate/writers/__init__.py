"""One writer per format; each turns a `SchoolSnapshot` into named files."""

from __future__ import annotations

from collections.abc import Callable

from rollsync.domain import reports as r
from rollsync.simulate.snapshot import SchoolSnapshot
from rollsync.simulate.writers import ctf, oneroster, rollsync_csv, sds

RENDERERS: dict[str, Callable[[SchoolSnapshot], dict[str, bytes]]] = {
    "csv": rollsync_csv.render,
    "ctf": ctf.render,
    "oneroster": oneroster.render,
    "sds": sds.render,
}


def render(snap: SchoolSnapshot, fmt: str) -> dict[str, bytes]:
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(RENDERERS)}") from None
    return renderer(snap)


def reports_in(fmt: str, filename: str, snap: SchoolSnapshot) -> tuple[str, tuple[str, ...]]:
    """(the manifest's report name, the catalogue reports the file carries)."""
    if fmt == "csv":
        report = filename.removesuffix(".csv")
        return report, (report,)
    if fmt == "ctf":
        return r.STUDENTS, tuple(sorted({r.STUDENTS, r.CONTACTS} & snap.reports))
    return "bundle", tuple(sorted(snap.reports))
