"""Limits on what an upload may hold: one table, read by the importers.

`MAX_LENGTHS` gives the longest value rollsync stores for each field: the column
sizes of `directory/models.py`, which take them from here. The importers check
every value against it per row, before anything reaches a database, so an
over-long value is a row error naming row and field on SQLite and PostgreSQL
alike, never a failed run.

`MAX_UPLOAD_BYTES` is the one size limit of an upload, the same at every door (web
form, JSON API, `rollsync import`, the directory service, which check it while
reading the file, before anything is stored): the bytes as they come, and for a zip
the total of its members as actually unpacked.
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # 100 MiB: far beyond any school's export

# Field name (as in `PersonRecord`, `GroupRecord`, `ContactLink`) -> longest value.
MAX_LENGTHS: Mapping[str, int] = {
    # Account
    "legal_given_name": 100,
    "legal_family_name": 100,
    "preferred_given_name": 100,
    "preferred_family_name": 100,
    "middle_names": 200,
    "upn": 13,
    # Allocation
    "mis_id": 64,
    "year_group": 10,
    "registration_group": 30,
    "title": 30,
    "staff_code": 20,
    "email": 254,
    "phone": 40,
    "postcode": 10,
    "address": 300,
    # Group, GroupMembership, ContactLink, AttendanceMark
    "group_mis_id": 64,
    "group_name": 200,
    "pupil_mis_id": 64,
    "person_mis_id": 64,
    "relationship": 40,
    "session": 2,
    "code": 2,
}

# The oldest date of birth rollsync believes.
EARLIEST_BIRTH_YEAR = 1900
