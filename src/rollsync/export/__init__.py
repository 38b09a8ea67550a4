"""Writers of downstream CSV bundles from the directory: OneRoster 1.2 and
Microsoft SDS v2.1. Pure: they take a `Roster` (what the Django side read from
the directory) and return zip bytes. See docs/downstream.md "Exports"."""

from rollsync.export.model import Group, Link, Membership, Org, Person, Placement, Roster
from rollsync.export.oneroster import write_oneroster
from rollsync.export.sds import write_sds

WRITERS = {"oneroster": write_oneroster, "sds": write_sds}

__all__ = [
    "WRITERS",
    "Group",
    "Link",
    "Membership",
    "Org",
    "Person",
    "Placement",
    "Roster",
    "write_oneroster",
    "write_sds",
]
