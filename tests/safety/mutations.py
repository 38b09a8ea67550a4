"""Mutations of real exports, and what each leaves the export plainly stating.

A `Mutation` is a plain description (hypothesis draws it, shrinks it and prints it);
`apply_mutation` carries it out on a school's day 2 upload and returns the mutated
upload with an `Oracle`: what the mutated export still states plainly, computed from
what was done to it, never from rollsync's reading of it.

"Plainly stated" follows issue 7: a person is gone when a whole row of theirs is absent
from a complete, well-formed file; a value changes when a well-formed row carries it.
A file cut exactly at a row boundary cannot be told from a complete one (a CSV that lost
its last rows whole, newline included, is a well-formed CSV), so such rows count as
deleted; only the guard protects against that. A file cut mid-row lists nobody plainly
gone, unless the cut is inside its last row (every row is there, the last one in part:
a value cut short in it reads like any other).
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from tests.safety.exports import SchoolExports, Upload, stated_identity

NONE = "none"  # no mutation: the export as the simulator wrote it (calibrates the oracle)
ALL = "*"  # every identity field of the person: nothing about them is stated plainly
GARBLES = (
    "bad_date",  # 2015-02-31
    "far_future_date",  # 9999-12-31
    "bad_time",  # 2015-02-03T25:99
    "full_width_digits",  # 1990-01-01 in full-width digits (a date), else the value's digits
    "future_dob",  # 2031-05-01
    "over_long",  # 10,000 characters
    "control_char",  # a BEL inside the value
)
_FULL_WIDTH = {ord(d): ord(d) + 0xFEE0 for d in "0123456789"}
ROW_KINDS = (
    "truncate_byte",
    "truncate_row",
    "delete_rows",
    "duplicate_row",
    "imposter",
    "swap_fields",
    "blank_field",
    "garble",
    "encoding",
    "bom",
)
BUNDLE_KINDS = ("drop_file", "manifest_absent", "corrupt_zip", "truncate_zip")


# Identity fields a blank in a well-formed row plainly clears (the MIS removed a
# preferred or middle name); a blank never clears the others (planning.fields.NEVER_CLEARED).
CLEARABLE = frozenset({"preferred_given_name", "preferred_family_name", "middle_names"})
# Identity fields that are text as written (a swap puts another value in them plainly).
NAMES = CLEARABLE | {"legal_given_name", "legal_family_name"}


@dataclass(frozen=True)
class Mutation:
    """What to do. `target` picks the file (a report's CSV, or a bundle member);
    `at`, `rows`, `columns` and `variant` are fractions/indices folded into range."""

    kind: str
    target: int = 0
    at: float = 0.5
    rows: tuple[int, ...] = (0,)
    columns: tuple[int, int] = (0, 1)
    variant: int = 0


@dataclass
class Oracle:
    """What the mutated export states plainly."""

    upload: Upload
    intact: bool = True  # complete and well-formed: an absent row means the person is gone
    roles: frozenset[str] = frozenset()  # the roles whose absences the upload can state
    present: set[str] = field(default_factory=set)  # persons with a row in the mutated export
    tainted: dict[str, set[str]] = field(default_factory=dict)  # person -> fields not plain
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # plainly stated values
    foreign: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # imposters (given, family, dob)
    description: str = ""

    def taint(self, person: str | None, fields: set[str] | None = None) -> None:
        if person is not None:
            self.tainted.setdefault(person, set()).update(fields or {ALL})

    def override_or_taint(self, person: str, fld: str | None, value: str) -> None:
        """`value` as `fld` of `person`, plainly stated when `fld` is a name (a blank
        one only where a blank clears it); any other field is left unstated."""
        if fld in NAMES and (value or fld in CLEARABLE):
            self.overrides.setdefault(person, {})[fld] = value or None
        elif fld is not None:
            self.taint(person, {fld})

    def taint_everyone(self, ex: SchoolExports) -> None:
        for person in ex.people:
            self.taint(person)

    def allows_change(self, person: str, fld: str, value: Any, ex: SchoolExports) -> bool:
        """Does the export plainly state `value` for `fld` of `person`?"""
        taint = self.tainted.get(person, set())
        if ALL in taint or fld in taint or person not in self.present:
            return False
        if fld in self.overrides.get(person, {}):
            return _same(self.overrides[person][fld], value)
        record = _day2_record(ex, person)
        return record is not None and _same(stated_identity(record)[fld], value)

    def allows_unallocation(self, person: str, role: str, ex: SchoolExports) -> bool:
        """Is `person` plainly gone: no row of theirs in a complete, well-formed upload
        that lists people of `role`?"""
        return self.intact and role in self.roles and person not in self.present


def _same(a: Any, b: Any) -> bool:
    return (a or None) == (b or None)


def _day2_record(ex: SchoolExports, person: str) -> Any:
    for p in (*ex.day2.pupils, *ex.day2.staff, *ex.day2.contacts):
        if p.person_id == person:
            return p
    return None


# -- tables: the rows of one CSV, and who each row is ------------------------------------


@dataclass(frozen=True)
class TableSpec:
    key: str | None  # the column naming the person (None: a relation table)
    identity: dict[str, str]  # identity field -> column
    required: frozenset[str]  # columns without which the row is not well-formed
    people_table: bool  # a row absent here means the person is absent
    roles: frozenset[str] = frozenset()


_CSV_PEOPLE = {
    "legal_given_name": "legal_given_name",
    "legal_family_name": "legal_family_name",
    "preferred_given_name": "preferred_given_name",
    "preferred_family_name": "preferred_family_name",
    "middle_names": "middle_names",
    "date_of_birth": "date_of_birth",
    "gender": "gender",
    "upn": "upn",
}
_REQUIRED = frozenset({"mis_id", "legal_given_name", "legal_family_name", "date_of_birth"})
CSV_TABLES = {
    "students.csv": TableSpec("mis_id", _CSV_PEOPLE, _REQUIRED, True, frozenset({"pupil"})),
    "staff.csv": TableSpec("mis_id", _CSV_PEOPLE, _REQUIRED, True, frozenset({"staff"})),
    "contacts.csv": TableSpec(
        "mis_id",
        {"legal_given_name": "legal_given_name", "legal_family_name": "legal_family_name"},
        frozenset({"mis_id", "legal_given_name", "legal_family_name", "pupil_mis_id"}),
        True,
        frozenset({"contact"}),
    ),
    "groups.csv": TableSpec(None, {}, frozenset(), False),
    "attendance.csv": TableSpec(None, {}, frozenset(), False),
}
_BUNDLE_USERS = {
    "legal_given_name": "givenName",
    "legal_family_name": "familyName",
    "middle_names": "middleName",
    "preferred_given_name": "preferredGivenName",
    "preferred_family_name": "preferredFamilyName",
    "upn": "userIds",
}
BUNDLE_TABLES = {
    "oneroster": {
        "users.csv": TableSpec(
            "sourcedId", _BUNDLE_USERS, frozenset({"sourcedId", "givenName", "familyName"}), True
        ),
        "demographics.csv": TableSpec(
            "sourcedId",
            {"date_of_birth": "birthDate", "gender": "sex"},
            frozenset({"sourcedId", "birthDate"}),
            False,
        ),
        "roles.csv": TableSpec("userSourcedId", {}, frozenset({"userSourcedId", "role"}), False),
    },
    "sds": {
        "users.csv": TableSpec(
            "sourcedId",
            {
                "legal_given_name": "givenName",
                "legal_family_name": "familyName",
                "upn": "userNumber",
            },
            frozenset({"sourcedId", "givenName", "familyName"}),
            True,
        ),
        "demographics.csv": TableSpec(
            "userSourcedId",
            {"date_of_birth": "birthDate", "gender": "sex"},
            frozenset({"userSourcedId", "birthDate"}),
            False,
        ),
        "roles.csv": TableSpec("userSourcedId", {}, frozenset({"userSourcedId", "role"}), False),
    },
}
_ROSTER = frozenset({"users.csv", "roles.csv", "orgs.csv", "manifest.csv"})
# What a bundle member carries about people: dropping it leaves those fields unstated.
MEMBER_FIELDS = {
    "users.csv": {ALL},
    "roles.csv": {ALL},
    "demographics.csv": {"date_of_birth", "gender"},
}


def read_csv(body: bytes) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    return rows[0], rows[1:]


def unzip(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def write_csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _garble(value: str, variant: int, is_date: bool) -> str:
    kind = GARBLES[variant % len(GARBLES)]
    if kind == "bad_date":
        return "2015-02-31"
    if kind == "far_future_date":
        return "9999-12-31"
    if kind == "bad_time":
        return "2015-02-03T25:99"
    if kind == "full_width_digits":
        if is_date or not any(c.isdigit() for c in value):
            return "1990-01-01".translate(_FULL_WIDTH)
        return value.translate(_FULL_WIDTH)
    if kind == "future_dob":
        return "2031-05-01"
    if kind == "over_long":
        return (value or "X") + "X" * 10_000
    return (value or "X")[:1] + "\x07" + (value or "X")[1:]


def _pick(seq: list[Any] | tuple[Any, ...], index: int) -> Any:
    return seq[index % len(seq)]


class _TableMutator:
    """Row-level mutations of one CSV, recording in the oracle whom they touch."""

    def __init__(self, body: bytes, spec: TableSpec, key_person: dict[str, str], oracle: Oracle):
        self.header, self.rows = read_csv(body)
        self.spec = spec
        self.key_person = key_person
        self.oracle = oracle
        self.col = {name: i for i, name in enumerate(self.header)}

    def person(self, row: list[str]) -> str | None:
        if self.spec.key is None or self.spec.key not in self.col:
            return None
        key = row[self.col[self.spec.key]] if len(row) > self.col[self.spec.key] else ""
        return self.key_person.get(key)

    def field_of(self, column: str) -> str | None:
        for fld, col in self.spec.identity.items():
            if col == column:
                return fld
        return None

    def mutate(self, mut: Mutation, others: list[list[str]] | None = None) -> bytes | None:
        """Apply a row-level mutation; return the new bytes (None: byte-level, done later)."""
        rows, o = self.rows, self.oracle
        if not rows:
            return write_csv(self.header, rows)
        i = mut.rows[0] % len(rows)
        if mut.kind == "truncate_row":
            keep = int(mut.at * len(rows)) % len(rows)
            self.rows = rows[:keep]
        elif mut.kind == "delete_rows":
            drop = {r % len(rows) for r in mut.rows}
            self.rows = [row for n, row in enumerate(rows) if n not in drop]
        elif mut.kind == "duplicate_row":
            # The same row twice states the same values twice: still plain (rows that
            # share an ID but not an identity are the imposter mutation's).
            self.rows = [*rows[: i + 1], list(rows[i]), *rows[i + 1 :]]
        elif mut.kind == "imposter":
            victim = rows[i]
            other = list(_pick(rows, i + 1 + mut.variant % max(1, len(rows) - 1)))
            if self.spec.key is not None and self.spec.key in self.col:
                other[self.col[self.spec.key]] = victim[self.col[self.spec.key]]
            self.rows = [*rows[:i], other, *rows[i:]]
            o.taint(self.person(victim))
            self._note_foreign(other)
        elif mut.kind == "swap_fields":
            a, b = (c % len(self.header) for c in mut.columns)
            row = list(rows[i])
            if a != b and max(a, b) < len(row):
                before = self.person(row)
                row[a], row[b] = row[b], row[a]
                rows[i] = row
                self._swapped(row, self.header[a], self.header[b], before)
        elif mut.kind == "blank_field":
            c = mut.columns[0] % len(self.header)
            row = list(rows[i])
            if c < len(row) and row[c]:
                row[c] = ""
                rows[i] = row
                column = self.header[c]
                fld = self.field_of(column)
                if column in self.spec.required or column == self.spec.key:
                    o.taint(self.person(rows[i]))
                elif fld in CLEARABLE and self.person(rows[i]) is not None:
                    o.overrides.setdefault(self.person(rows[i]) or "", {})[fld] = None
                elif fld is not None:
                    o.taint(self.person(rows[i]), {fld})
        elif mut.kind == "garble":
            c = mut.columns[0] % len(self.header)
            dates = [n for n, h in enumerate(self.header) if "date" in h.lower()]
            if (
                GARBLES[mut.variant % len(GARBLES)]
                in ("bad_date", "far_future_date", "bad_time", "future_dob")
                and dates
            ):
                c = _pick(dates, mut.columns[0])
            row = list(rows[i])
            if c < len(row):
                row[c] = _garble(row[c], mut.variant, "date" in self.header[c].lower())
                rows[i] = row
                column = self.header[c]
                fld = self.field_of(column)
                if column in self.spec.required or column == self.spec.key or fld is not None:
                    o.taint(self.person(rows[i]))
                else:
                    # An unreadable value of a field that is not identity (a phone, an
                    # address) is unknown; the row's other values are still plain
                    # (issue 7, item 4: the rest of the row goes on, that field is kept).
                    o.taint(self.person(rows[i]), {column})
        return write_csv(self.header, self.rows)

    def _swapped(self, row: list[str], a: str, b: str, before: str | None) -> None:
        """Two values of a well-formed row swapped: the row states them plainly, wrong as
        they are (no reader tells a title in the middle names from a real one). Not so
        for a swap with the row's ID, which makes the row someone else's (whoever the
        new ID names, who states nothing) or nobody's: then the person the row was may
        still be matched to it by name and birth date (an MIS ID that changed), so it
        still stands for them, the old ID in the other column. A swap of a date of birth,
        gender or UPN states nothing about that field."""
        o, key = self.oracle, self.spec.key
        fa, fb = self.field_of(a), self.field_of(b)
        person = self.person(row)
        if a == key or b == key:
            o.taint(person)
            if person is None and before is not None:
                o.present.add(before)
                o.override_or_taint(
                    before, fa if b == key else fb, row[self.col[a if b == key else b]]
                )
            return
        for fld, column in ((fa, a), (fb, b)):
            if fld is not None and person is not None:
                o.override_or_taint(person, fld, row[self.col[column]])
            elif column in self.spec.required:
                o.taint(person)

    def _note_foreign(self, row: list[str]) -> None:
        given = self.spec.identity.get("legal_given_name")
        family = self.spec.identity.get("legal_family_name")
        if given in self.col and family in self.col:
            self.oracle.foreign.append((row[self.col[given]], row[self.col[family]], ""))

    def present(self) -> set[str]:
        return {p for row in self.rows if (p := self.person(row)) is not None}


def _byte_mutation(body: bytes, mut: Mutation, oracle: Oracle) -> tuple[bytes, bool]:
    """Byte-level mutations of a text file. Returns (bytes, still intact)."""
    if mut.kind == "truncate_byte":
        cut = max(1, int(mut.at * len(body)) % len(body))
        # Never exactly at a row end: a cut there is a complete file (see the module doc).
        while (cut > 1 and body[cut - 1 : cut] in (b"\n", b"\r")) or body[cut : cut + 1] in (
            b"\n",
            b"\r",
        ):
            cut -= 1
        # Cut inside the last row, every row is still there (the last in part): the
        # file still lists everybody; cut before it, the rows after are gone.
        lost = body[cut:].rstrip(b"\r\n")
        return body[:cut], b"\n" not in lost and b"\r" not in lost
    if mut.kind == "encoding":
        text = body.decode("utf-8")
        if mut.variant % 2 == 0:
            return text.encode("cp1252", errors="replace"), True
        return text.encode("utf-16"), False
    if mut.kind == "bom":
        if mut.variant % 2 == 0 or body.isascii():  # Windows-1252 ASCII is UTF-8 ASCII
            return b"\xef\xbb\xbf" + body.removeprefix(b"\xef\xbb\xbf"), True
        # A BOM before a Windows-1252 body: readable as Windows-1252 (the BOM aside), so
        # it states what a Windows-1252 re-encoding states, or must be refused.
        return b"\xef\xbb\xbf" + body.decode("utf-8").encode("cp1252", errors="replace"), True
    raise AssertionError(mut.kind)


def _cp1252_overrides(
    body: bytes, spec: TableSpec, key_person: dict[str, str], oracle: Oracle
) -> None:
    """Values a Windows-1252 re-encoding changed ('?' for what it cannot hold) are what
    the file now states; a reader cannot know better."""
    header, rows = read_csv(body)
    col = {h: i for i, h in enumerate(header)}
    if spec.key is None or spec.key not in col:
        return
    for row in rows:
        person = key_person.get(row[col[spec.key]])
        if person is None:
            continue
        for fld, column in spec.identity.items():
            if column in col:
                value = row[col[column]]
                lossy = value.encode("cp1252", errors="replace").decode("cp1252")
                if lossy != value:
                    oracle.overrides.setdefault(person, {})[fld] = lossy


def _mutate_text(
    body: bytes, spec: TableSpec, mut: Mutation, ex: SchoolExports, oracle: Oracle
) -> bytes:
    key_person = {k: p for (_, k), p in ex.key_person(2).items()}
    table = _TableMutator(body, spec, key_person, oracle)
    if mut.kind in ("truncate_byte", "encoding", "bom"):
        out, intact = _byte_mutation(body, mut, oracle)
        oracle.intact = oracle.intact and intact
        if mut.kind == "truncate_byte":
            # Rows wholly before the cut are intact; the row the cut falls in is not.
            kept = out.count(b"\n")
            header_and_rows = [table.header, *table.rows]
            if 1 <= kept < len(header_and_rows):
                oracle.taint(table.person(header_and_rows[kept]))
            elif kept == 0 and spec.key is not None:
                oracle.taint_everyone(ex)
        elif not intact and spec.key is not None:
            oracle.taint_everyone(ex)
        elif mut.kind in ("encoding", "bom"):
            _cp1252_overrides(body, spec, key_person, oracle)
        if spec.people_table:
            oracle.present |= table.present()
        return out
    out = table.mutate(mut) or body
    if spec.people_table:
        oracle.present |= table.present()
    return out


# -- formats -----------------------------------------------------------------------------


def apply_mutation(ex: SchoolExports, mut: Mutation) -> Oracle:
    if ex.fmt == "csv":
        return _mutate_csv_format(ex, mut)
    if ex.fmt == "ctf":
        return _mutate_ctf(ex, mut)
    return _mutate_bundle(ex, mut)


def _mutate_csv_format(ex: SchoolExports, mut: Mutation) -> Oracle:
    uploads = ex.uploads(2)
    upload = _pick(uploads, mut.target)
    spec = CSV_TABLES[upload.name]
    kind = mut.kind if mut.kind in (*ROW_KINDS, NONE) else "delete_rows"
    mut = Mutation(kind, mut.target, mut.at, mut.rows, mut.columns, mut.variant)
    oracle = Oracle(upload=upload, roles=spec.roles)
    body = _mutate_text(upload.payload, spec, mut, ex, oracle)
    oracle.upload = Upload(upload.name, body, upload.fmt, upload.report)
    oracle.description = f"{upload.name}: {mut}"
    return oracle


def _mutate_bundle(ex: SchoolExports, mut: Mutation) -> Oracle:
    (upload,) = ex.uploads(2)
    members = unzip(upload.payload)
    tables = BUNDLE_TABLES[ex.fmt]
    oracle = Oracle(upload=upload, roles=frozenset({"pupil", "staff", "contact"}))
    key_person = {k: p for (_, k), p in ex.key_person(2).items()}
    names = sorted(n for n in members if n != "manifest.csv")
    target = _pick(names, mut.target)
    spec = tables.get(target, TableSpec(None, {}, frozenset(), False))
    for name, member_spec in tables.items():
        if member_spec.people_table and name != target:
            oracle.present |= _TableMutator(
                members[name], member_spec, key_person, oracle
            ).present()
    payload: bytes
    if mut.kind in ("drop_file", "manifest_absent"):
        if mut.kind == "drop_file" or ex.fmt != "oneroster":
            del members[target]
        else:
            stem = target.removesuffix(".csv")
            members["manifest.csv"] = members["manifest.csv"].replace(
                f"file.{stem},bulk".encode(), f"file.{stem},absent".encode()
            )
        oracle.intact = target not in _ROSTER
        for person in ex.people:
            if MEMBER_FIELDS.get(target):
                oracle.taint(person, set(MEMBER_FIELDS[target]))
        if spec.people_table and target in members:  # marked absent, still in the zip
            oracle.present |= _TableMutator(members[target], spec, key_person, oracle).present()
        payload = _zip(members)
    elif mut.kind in ("corrupt_zip", "truncate_zip"):
        if spec.people_table:
            oracle.present |= _TableMutator(members[target], spec, key_person, oracle).present()
        raw = _zip(members)
        at = max(1, int(mut.at * len(raw)) % len(raw))
        if mut.kind == "truncate_zip":
            payload = raw[:at]
        else:
            span = bytes((b ^ 0x5A) for b in raw[at : at + 1 + mut.variant % 64])
            payload = raw[:at] + span + raw[at + len(span) :]
        if not _reads_as(payload, members):
            oracle.intact = False
            oracle.taint_everyone(ex)
        # else the bytes changed are ones no reader of a zip looks at (a local header's
        # version needed or flags): the members read back as they were, stating it all.
    else:
        members[target] = _mutate_text(members[target], spec, mut, ex, oracle)
        # Only the files that list people say who is gone; a cut class list does not.
        oracle.intact = oracle.intact or target not in _ROSTER
        if target == "roles.csv" or target == "demographics.csv":
            # A role or demographics row lost is not a person plainly gone.
            oracle.present |= set(ex.people) & _people_of_rows(members, key_person)
        payload = _zip(members)
    oracle.upload = Upload(upload.name, payload, upload.fmt)
    oracle.description = f"{target}: {mut}"
    return oracle


def _reads_as(payload: bytes, members: dict[str, bytes]) -> bool:
    """Whether the zip reads back as exactly these members."""
    try:
        return unzip(payload) == members
    except Exception:  # any way a damaged zip fails to read
        return False


def _people_of_rows(members: dict[str, bytes], key_person: dict[str, str]) -> set[str]:
    """Everyone users.csv lists."""
    out: set[str] = set()
    users = members.get("users.csv")
    if users is not None:
        try:
            header, rows = read_csv(users)
        except (UnicodeDecodeError, IndexError):
            return out
        if "sourcedId" in header:
            k = header.index("sourcedId")
            out |= {key_person[row[k]] for row in rows if len(row) > k and row[k] in key_person}
    return out


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 9, 2, 18, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, body)
    return out.getvalue()


# -- CTF ---------------------------------------------------------------------------------

_CTF_FIELDS = {
    "UPN": "upn",
    "Surname": "legal_family_name",
    "Forename": "legal_given_name",
    "DOB": "date_of_birth",
    "Sex": "gender",
}
_CTF_REQUIRED = frozenset({"UPN", "Surname", "Forename", "DOB"})
_BEL = "\ue000"


def _lossy(oracle: Oracle, who: str | None, el: Any) -> None:
    """Values a Windows-1252 re-encoding changed are what the file now states."""
    for tag, fld in {
        **_CTF_FIELDS,
        "BasicDetails/MiddleNames": "middle_names",
        "BasicDetails/PreferredForename": "preferred_given_name",
        "BasicDetails/PreferredSurname": "preferred_family_name",
        "PreferredForename": "preferred_given_name",
        "PreferredSurname": "preferred_family_name",
    }.items():
        value = el.findtext(tag) or ""
        lossy = value.encode("cp1252", errors="replace").decode("cp1252")
        if who and lossy != value:
            oracle.overrides.setdefault(who, {})[fld] = lossy


def _mutate_ctf(ex: SchoolExports, mut: Mutation) -> Oracle:
    (upload,) = ex.uploads(2)
    oracle = Oracle(upload=upload, roles=frozenset({"pupil", "contact"}))
    by_upn = {p.upn: p.person_id for p in ex.day2.pupils}
    contact_person = {(c.legal_given, c.legal_family): c.person_id for c in ex.day2.contacts}
    root = etree.fromstring(upload.payload)
    holder = root.find("CTFpupilData")
    pupils = list(holder)

    def person(el: Any) -> str | None:
        return by_upn.get(el.findtext("UPN"))

    def contacts_of(el: Any) -> set[str]:
        return {
            p
            for c in el.iter("Contact")
            if (p := contact_person.get((c.findtext("Forename"), c.findtext("Surname"))))
        }

    i = mut.rows[0] % len(pupils)
    kind = mut.kind if mut.kind in (*ROW_KINDS, NONE) else "delete_rows"
    row_level = True
    if kind == "delete_rows":
        for r in {r % len(pupils) for r in mut.rows}:
            holder.remove(pupils[r])
    elif kind == "duplicate_row":
        # The same pupil twice states the same values twice: still plain.
        pupils[i].addnext(etree.fromstring(etree.tostring(pupils[i])))
    elif kind == "imposter":
        other = etree.fromstring(
            etree.tostring(_pick(pupils, i + 1 + mut.variant % max(1, len(pupils) - 1)))
        )
        other.find("UPN").text = pupils[i].findtext("UPN")
        pupils[i].addprevious(other)
        oracle.taint(person(pupils[i]))
        for c in contacts_of(pupils[i]):
            oracle.taint(c)
        oracle.foreign.append(
            (other.findtext("Forename"), other.findtext("Surname"), other.findtext("DOB"))
        )
    elif kind in ("swap_fields", "blank_field", "garble"):
        tags = list(_CTF_FIELDS)
        el = pupils[i]
        a = el.find(_pick(tags, mut.columns[0]))
        b = el.find(_pick(tags, mut.columns[1]))
        who = person(el)
        if kind == "swap_fields" and a is not None and b is not None and a is not b:
            a.text, b.text = b.text, a.text
            if {a.tag, b.tag} == {"Surname", "Forename"} and who:
                oracle.overrides.setdefault(who, {}).update(
                    {_CTF_FIELDS[a.tag]: a.text, _CTF_FIELDS[b.tag]: b.text}
                )
            else:
                oracle.taint(who)
        elif kind == "blank_field" and a is not None:
            a.text = ""
            if a.tag not in _CTF_REQUIRED and _CTF_FIELDS[a.tag] in CLEARABLE and who:
                oracle.overrides.setdefault(who, {})[_CTF_FIELDS[a.tag]] = None
            else:
                oracle.taint(who, None if a.tag in _CTF_REQUIRED else {_CTF_FIELDS[a.tag]})
        elif kind == "garble" and a is not None:
            if GARBLES[mut.variant % len(GARBLES)] in (
                "bad_date",
                "far_future_date",
                "bad_time",
                "future_dob",
            ):
                a = el.find("DOB")
            # XML 1.0 cannot carry a BEL: a placeholder becomes the raw byte once written.
            a.text = _garble(a.text or "", mut.variant, a.tag == "DOB").replace("\x07", _BEL)
            oracle.taint(who)
    else:
        row_level = False
    present_pupils = list(holder)
    oracle.present = {p for el in present_pupils if (p := person(el))}
    for el in present_pupils:
        oracle.present |= contacts_of(el)
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    body = body.replace(_BEL.encode("utf-8"), b"\x07")
    if kind == "truncate_row":
        ends = [n for n in range(len(body)) if body.startswith(b"</Pupil>", n)]
        cut = _pick(ends, int(mut.at * len(ends))) + len(b"</Pupil>")
        body = body[:cut]
        oracle.intact = False
    elif not row_level and kind != NONE:
        if kind == "encoding" and mut.variant % 2 == 0:
            text = body.decode("utf-8").replace("encoding='UTF-8'", "encoding='windows-1252'")
            body = text.encode("cp1252", errors="replace")
            for el in present_pupils:
                _lossy(oracle, person(el), el)
                for c in el.iter("Contact"):
                    _lossy(
                        oracle,
                        contact_person.get((c.findtext("Forename"), c.findtext("Surname"))),
                        c,
                    )
        else:
            body, intact = _byte_mutation(body, mut, oracle)
            # An XML file that declares UTF-8 and is not: not well-formed.
            intact = intact and not (kind == "bom" and mut.variant % 2 and not body.isascii())
            oracle.intact = intact
            if not intact:
                oracle.taint_everyone(ex)
    oracle.upload = Upload(upload.name, body, upload.fmt)
    oracle.description = (
        f"students.xml: {Mutation(kind, mut.target, mut.at, mut.rows, mut.columns, mut.variant)}"
    )
    return oracle
