"""DfE Common Transfer File (CTF) XML, versions 15 onwards.

Read with lxml, streamed pupil by pupil, matching elements by local name so
files with and without a namespace read alike. Layout differences between
versions (names directly under <Pupil> or inside <BasicDetails>, Sex or
Gender) are absorbed by looking in both places. See docs/formats/ctf.md.

Safety: a CTF never has a DOCTYPE, so any DOCTYPE or ENTITY declaration is
refused before parsing (that is where XML bombs and external entities live),
and the parser itself never resolves entities, loads DTDs, touches the network
or accepts huge nodes.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from lxml import etree

from rollsync.domain.limits import MAX_LENGTHS
from rollsync.domain.records import ContactLink, Gender, ImportBatch, PersonRecord, Role
from rollsync.domain.reports import CONTACTS, STUDENTS
from rollsync.domain.state import SchoolRef

from . import values as v
from .collect import BatchCollector, mandatory_for
from .csvtable import bom_but_not_utf8
from .ctf_changes import CtfListing, Element, PartPlan, Split, split_pupils
from .errors import BadValue, FileRejected, rejected_batch
from .schools import check_declared, same_number

# Every text read from an element is cleaned once, here. `clean` is idempotent, so a
# cleaned text is its own `v.name` / `v.optional_text` (the text, or None when blank)
# and is not cleaned again (tests/ingest/test_value_fast_paths.py checks both).
clean = v.clean

_T = TypeVar("_T")
FORMAT = "ctf"
OLDEST_VERSION = 15

PUPIL_SKIPPED = "the pupil was skipped"
PUPIL_KEPT = "the pupil was imported without it"
CONTACT_SKIPPED = "the contact was skipped"
CONTACT_KEPT = "the contact was imported without it"

_UNSAFE = (b"<!DOCTYPE", b"<!ENTITY")
# lxml never resolves an entity, loads a DTD, touches the network or builds a huge node;
# comments and processing instructions are dropped (every XML reader of an export).
SAFE_XML_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
_DECLARED_ENCODING = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*\bencoding\s*=", re.ASCII)

# CBDS contact relationship codes, in words; unknown codes are kept as sent.
RELATIONSHIPS = {
    "PAM": "Mother",
    "PAF": "Father",
    "PAO": "Parent",
    "STM": "Step-mother",
    "STF": "Step-father",
    "FOM": "Foster mother",
    "FOF": "Foster father",
    "CAR": "Carer",
    "CHM": "Childminder",
    "DOC": "Doctor",
    "REL": "Relative",
    "SWR": "Social worker",
    "RLG": "Religious contact",
    "OTH": "Other",
}

_ADDRESS_PARTS = (
    "SAON",
    "PAON",
    "Street",
    "Locality",
    "Town",
    "AdministrativeArea",
    "PostTown",
    "AddressLine1",
    "AddressLine2",
    "AddressLine3",
    "AddressLine4",
    "AddressLine5",
)
_POSTCODE_NAMES = ("Postcode", "PostCode")

# How a CTF names each field, for messages.
LABELS = {
    "legal_given_name": "Forename",
    "legal_family_name": "Surname",
    "preferred_given_name": "PreferredForename",
    "preferred_family_name": "PreferredSurname",
    "middle_names": "MiddleNames",
    "date_of_birth": "DOB",
    "gender": "Sex",
    "upn": "UPN",
    "start_date": "EntryDate",
    "leaving_date": "LeavingDate",
    "year_group": "NCyearActual",
    "email": "Email",
    "phone": "PhoneNo",
    "postcode": "Postcode",
    "address": "Address",
    "title": "Title",
}


class CtfReader:
    format = FORMAT
    label = "Common Transfer File (CTF XML)"
    needs_report = False

    def parse(
        self,
        payload: bytes,
        *,
        school: SchoolRef,
        report: str | None,
        today: date | None = None,
    ) -> ImportBatch:
        try:
            return _CtfReader(school, today).read(payload)
        except FileRejected as problem:
            return rejected_batch(FORMAT, problem)

    def parse_changed(
        self,
        earlier: bytes,
        payload: bytes,
        *,
        school: SchoolRef,
        refused: Iterable[tuple[str | None, int]],
        also: Iterable[str] = (),
        listing: bytes | None = None,
        today: date | None = None,
        report: str | None = None,
    ) -> ImportBatch | None:
        """`payload` as a partial batch against `earlier` (an export of the same school
        whose plan the directory stands on, read with `listing`): only the <Pupil>
        elements that differ from `earlier`'s, those the earlier run reported on
        (`refused`: its row errors' rows), those naming anyone in `also`, and every
        element naming a person one of them names are read; everyone the others name
        is in `unchanged_keys`. None when the files cannot be compared element for
        element (`ctf_changes`) or there is no listing: parse in full. The batch equals
        the full parse's but for the unchanged people's records and links
        (tests/ingest/test_partial_ctf.py)."""
        known = CtfListing.decode(listing)
        if known is None:
            return None
        if b"\x00" in payload:
            return None  # the full parse says why
        try:
            # A file split holds no "<!": no DOCTYPE or ENTITY (`_refuse_unsafe`).
            before = split_pupils(as_parseable(earlier))
            after = split_pupils(as_parseable(payload))
        except FileRejected:
            return None  # the full parse says why
        if before is None or after is None:
            return None
        plan = PartPlan.make(
            earlier=before,
            later=after,
            listing=known,
            refused_rows=[row for _, row in refused],
            also=also,
        )
        if plan is None:
            return None
        while True:
            reader = _CtfReader(school, today, plan=plan)
            try:
                batch = reader.read(after.without(plan.built()), whole=after)
            except FileRejected:
                return None  # the full parse says why
            if not plan.closure(reader.touched()):
                batch.listing = plan.listing(reader.elements(batch)).encode()
                return batch


def localname(element: Any) -> str | None:
    """The element's name without its namespace; None for comments and PIs."""
    tag = element.tag
    if not isinstance(tag, str):
        return None
    return tag[tag.rfind("}") + 1 :]


class _Children:
    """An element's direct children by local name (the first of each name wins)."""

    __slots__ = ("by_name",)

    def __init__(self, element: Any) -> None:
        self.by_name: dict[str, Any] = {}
        if element is None:
            return
        for child in element:
            name = localname(child)
            if name is not None and name not in self.by_name:
                self.by_name[name] = child

    def element(self, *names: str) -> Any:
        for name in names:
            found = self.by_name.get(name)
            if found is not None:
                return found
        return None

    def text(self, *names: str) -> str:
        found = self.element(*names)
        return v.clean(found.text) if found is not None else ""


@dataclass(frozen=True, slots=True)
class _Header:
    version: int
    full: bool
    generated_at: str | None
    urn: str | None
    la_code: str | None
    estab: str | None


class _CtfReader:
    def __init__(
        self, school: SchoolRef, today: date | None = None, *, plan: PartPlan | None = None
    ) -> None:
        self.school = school
        self.out = BatchCollector(FORMAT, row_noun="pupil", today=today)
        self.header: _Header | None = None
        self.contacts_seen = False
        self.contact_pupils: dict[str, set[str]] = {}  # contact ID -> pupils it is linked to
        # Mandatory or not as the report catalogue says for pupils (once a file).
        self.dob_mandatory = mandatory_for(Role.PUPIL, "date_of_birth")
        # A read in part: the pupils of the whole file this one holds (`PartPlan.built`).
        self.plan = plan
        self.positions = plan.built() if plan is not None else None
        # Each <Pupil> read: (its row, the pupil's MIS ID or "", the contacts it links).
        self.named: list[tuple[int, str, tuple[str, ...]]] = []

    def read(self, payload: bytes, *, whole: Split | None = None) -> ImportBatch:
        """The batch of `payload`; in a read in part (`plan`), a copy of `whole` with
        only the pupils the plan reads."""
        _refuse_unsafe(payload)
        root_name = self._parse(as_parseable(payload))
        if root_name != "CTfile":
            raise FileRejected(
                f"this is XML but not a Common Transfer File: its root element is <{root_name}>, "
                "not <CTfile>"
            )
        header = self.header
        if header is None:
            raise FileRejected("the CTF has no <Header>, so rollsync cannot tell whose it is")
        plan = self.plan
        if plan is not None:
            assert whole is not None
            self.out.rows_read = len(whole.bodies)
            self.out.unchanged_all(plan.unchanged_keys())
            self.contacts_seen = self.contacts_seen or plan.names_contacts()
        reports = {STUDENTS, CONTACTS} if self.contacts_seen else {STUDENTS}
        batch = self.out.build(
            reports=reports,
            # Only a full CTF lists every pupil; a partial one is a selection. A full
            # CTF is one full list of pupils even with none in it: an empty export is
            # then held by the planner's guard instead of silently changing nothing.
            complete_for={Role.PUPIL} if header.full else set(),
            complete_when_empty=True,
            declared_urn=header.urn,
            declared_la_code=header.la_code,
            declared_estab=header.estab,
            generated_at=header.generated_at,
        )
        if plan is None:
            batch.listing = CtfListing(tuple(self.elements(batch).values())).encode()
        return batch

    def elements(self, batch: ImportBatch) -> dict[int, Element]:
        """What this read made of each <Pupil> it read, by 0-based position."""
        reported = {e.row for e in batch.errors}
        people: dict[Role, set[str]] = {Role.PUPIL: set(), Role.CONTACT: set()}
        for person in batch.people:
            people[person.role].add(person.mis_id)
        pupils, contacts_kept = people[Role.PUPIL], people[Role.CONTACT]
        return {
            row - 1: Element(
                row not in reported and pupil in pupils and contacts_kept.issuperset(contacts),
                pupil,
                contacts,
            )
            for row, pupil, contacts in self.named
        }

    def touched(self) -> Iterator[tuple[Role, str]]:
        """The (role, MIS ID) of everyone the <Pupil> elements read named."""
        for _, pupil, contacts in self.named:
            if pupil:
                yield (Role.PUPIL, pupil)
            for contact in contacts:
                yield (Role.CONTACT, contact)

    def _parse(self, payload: bytes) -> str | None:
        context = etree.iterparse(
            io.BytesIO(payload),
            events=("end",),
            tag=("{*}Header", "{*}Pupil"),
            **SAFE_XML_OPTIONS,
        )
        try:
            for _event, element in context:
                self._take(element)
                _forget(element)
        except etree.XMLSyntaxError as exc:
            raise FileRejected(
                "the file is cut short or damaged: it is not complete, well-formed XML "
                f"({exc}); nothing in it was used"
            ) from None
        root = context.root
        if root is None:
            raise FileRejected("the file holds no XML elements")
        if root.getroottree().docinfo.doctype:
            raise _unsafe_refusal()
        return localname(root)

    def _take(self, element: Any) -> None:
        if localname(element) == "Header":
            if self.header is None:
                self.header = _read_header(element, self.school)
            return
        out = self.out
        out.rows_read += 1
        row = out.rows_read if self.positions is None else self.positions[out.rows_read - 1] + 1
        links = len(out.contact_links)
        pupil = _PupilReader(self, element, row)
        pupil.read()
        linked = tuple(link.contact_mis_id for link in out.contact_links[links:])
        self.named.append((row, pupil.mis_id, linked))


def _refuse_unsafe(payload: bytes) -> None:
    if b"\x00" in payload:
        raise FileRejected(
            "the file is not UTF-8 or Windows-1252 text (it looks like UTF-16 or a binary "
            "file): export the CTF again as XML"
        )
    # Each marker holds a "!": one pass of memchr, a few of a file without one.
    if b"!" in payload and any(marker in payload for marker in _UNSAFE):
        raise _unsafe_refusal()


def _unsafe_refusal() -> FileRejected:
    return FileRejected(
        "the file declares a DOCTYPE or ENTITY: a CTF never does, and rollsync refuses them "
        "because they can hide an XML bomb or read other files"
    )


def as_parseable(payload: bytes) -> bytes:
    """Bytes lxml reads right: a file that declares no encoding must be UTF-8, so
    undeclared Windows-1252 is re-encoded (a declared encoding is left to lxml)."""
    if _DECLARED_ENCODING.match(payload[:512]):
        return payload
    try:
        payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if payload.startswith(codecs.BOM_UTF8):
            raise FileRejected(bom_but_not_utf8("the file", payload, exc)) from None
        try:
            return payload.decode("cp1252").encode("utf-8")
        except UnicodeDecodeError:
            raise FileRejected("the file is neither UTF-8 nor Windows-1252 (cp1252) text") from None
    return payload


def _forget(element: Any) -> None:
    """Free what has been read, so a large file streams in little memory."""
    element.clear(keep_tail=True)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _read_header(element: Any, school: SchoolRef) -> _Header:
    header = _Children(element)
    source = _Children(header.element("SourceSchool"))
    urn = source.text("URN") or None
    la_code = source.text("LEA") or None
    estab = source.text("Estab") or None
    check_declared(school, urn=urn, la_code=la_code, estab=estab, field="SourceSchool")
    return _Header(
        version=_version(header.text("CTFversion", "CTFVersion")),
        full=header.text("DocumentQualifier").casefold() == "full",
        generated_at=header.text("DateTime") or None,
        urn=urn,
        la_code=la_code,
        estab=estab,
    )


def _version(text: str) -> int:
    if not text:
        raise FileRejected("the CTF Header has no CTFversion", field="CTFversion")
    major = text.split(".", 1)[0]
    if not v.ascii_digits(major):
        raise FileRejected(f"CTFversion '{text}' is not a CTF version number", field="CTFversion")
    if int(major) < OLDEST_VERSION:
        raise FileRejected(
            f"this is a CTF version {text} file; rollsync reads CTF {OLDEST_VERSION} and later: "
            "export it again from an up-to-date MIS",
            field="CTFversion",
        )
    return int(major)


class _PupilReader:
    """One <Pupil>: its values are looked up under <Pupil> first, then under
    <BasicDetails> (the first child of each local name wins in each)."""

    __slots__ = (
        "basic",
        "direct",
        "mis_id",
        "out",
        "reader",
        "refused",
        "row",
        "school",
        "unknown",
    )

    def __init__(self, reader: _CtfReader, pupil: Any, position: int) -> None:
        self.reader = reader
        self.out = reader.out
        self.school = reader.school
        self.direct = _children(pupil)
        basic = self.direct.get("BasicDetails")
        self.basic = _children(basic) if basic is not None else {}
        self.row = position  # the <Pupil> element's 1-based position in the file
        self.refused = False  # a mandatory value is missing or unreadable
        self.unknown: set[str] = set()  # optional values that could not be read
        self.mis_id = ""  # the MIS ID the pupil is named by, once read

    def text(self, name: str) -> str:
        """The value under <Pupil>, or when that is absent or blank, under <BasicDetails>."""
        return _child_text(self.direct, name) or _child_text(self.basic, name)

    def element(self, name: str) -> Any:
        found = self.direct.get(name)
        return found if found is not None else self.basic.get(name)

    def read(self) -> None:
        upn = self._upn()
        mis_id = self.mis_id = upn or self.text("ApplicationReference")
        given = self._mandatory("Forename", "LegalForename")
        family = self._mandatory("Surname", "LegalSurname")
        born = self._date_of_birth()
        if not mis_id:
            self.out.error(
                self.row,
                "UPN",
                "the pupil has neither a valid UPN nor an ApplicationReference, so rollsync "
                f"cannot identify them; {PUPIL_SKIPPED}",
            )
            return
        if given is None or family is None or self.refused or self._damaged():
            # Still in the file: a full CTF must not make them look like a leaver.
            self.out.reject_person(Role.PUPIL, mis_id)
            return
        record = self._record(mis_id, upn, given, family, born)
        id_field = "UPN" if upn else "ApplicationReference"
        if self.out.add_person(record, id_field=id_field, labels=LABELS):
            self._contacts(record)

    def _damaged(self) -> bool:
        """A value of the pupil's own (under <Pupil> or <BasicDetails>) that no MIS
        writes (a control character, a digit from another script, thousands of
        characters): none of their values is trusted, so the pupil is refused before a
        damaged <Sex> can pass for an unknown one."""
        for children in (self.direct, self.basic):
            for name, element in children.items():
                if len(element):
                    continue  # a group of values (contacts, addresses)
                text = element.text
                if not text:
                    continue
                if len(text) <= v.LONGEST_CELL and text.isascii() and text.isprintable():
                    continue  # `check_text`'s own first test (cleaning only shortens)
                try:
                    v.check_text(clean(text), name, v.LONGEST_CELL)
                except BadValue as problem:
                    self.out.error(self.row, name, f"{problem.message}; {PUPIL_SKIPPED}")
                    return True
        return False

    def _record(
        self, mis_id: str, upn: str | None, given: str, family: str, born: date | None
    ) -> PersonRecord:
        start, leaving = self._school_history()
        postcode, address = _address(self.element("Address"))
        return PersonRecord(
            role=Role.PUPIL,
            mis_id=mis_id,
            legal_given_name=given,
            legal_family_name=family,
            preferred_given_name=self.text("PreferredForename") or None,
            preferred_family_name=self.text("PreferredSurname") or None,
            middle_names=self.text("MiddleNames") or None,
            date_of_birth=born,
            gender=self._gender(),
            upn=upn,
            start_date=start,
            leaving_date=leaving,
            year_group=v.year_group(self.text("NCyearActual")),
            email=self.text("Email") or None,
            phone=_first_phone(self.element("Phones")),
            postcode=postcode,
            address=address,
            row=self.row,
            unknown_fields=frozenset(self.unknown),
        )

    def _upn(self) -> str | None:
        raw = self.text("UPN")
        if not raw:
            return None
        try:
            return v.parse_upn(raw, "UPN")
        except BadValue as problem:
            self.unknown.add("upn")
            self.out.error(
                self.row,
                "UPN",
                f"{problem.message}; the pupil was imported without a UPN (rollsync keeps "
                "the UPN it holds)",
            )
            return None

    def _mandatory(self, name: str, other: str) -> str | None:
        # The first of the two names present under <Pupil> gives the value; when that
        # is blank, the first present under <BasicDetails>.
        value = (
            _first_text(self.direct, name, other) or _first_text(self.basic, name, other) or None
        )
        if value is None:
            self.refused = True
            self.out.error(
                self.row, name, f"{name} is missing, but it is mandatory; {PUPIL_SKIPPED}"
            )
        return value

    def _date_of_birth(self) -> date | None:
        mandatory = self.reader.dob_mandatory
        raw = self.text("DOB")
        if not raw:
            if mandatory:
                self.refused = True
                self.out.error(
                    self.row, "DOB", f"DOB is missing, but it is mandatory; {PUPIL_SKIPPED}"
                )
            return None
        try:
            return v.parse_date(raw, "DOB", v.ISO_DATES)
        except BadValue as problem:
            self.refused = self.refused or mandatory
            if not mandatory:
                self.unknown.add("date_of_birth")
            outcome = PUPIL_SKIPPED if mandatory else PUPIL_KEPT
            self.out.error(self.row, "DOB", f"{problem.message}; {outcome}")
            return None

    def _gender(self) -> Gender | None:
        for name in ("Sex", "Gender"):
            raw = self.text(name)
            if raw:
                try:
                    return v.parse_gender(raw, name)
                except BadValue as problem:
                    self.unknown.add("gender")
                    self.out.error(self.row, name, f"{problem.message}; {PUPIL_KEPT}")
                    return None
        return None

    def _school_history(self) -> tuple[date | None, date | None]:
        """Admission and leaving dates from this school's latest SchoolHistory entry."""
        history = self.element("SchoolHistory")
        if history is None:
            return None, None
        best: tuple[date | None, date | None] | None = None
        for entry in history.iterchildren("{*}School"):
            fields = _children(entry)
            if not self._is_this_school(fields):
                continue
            dates = (
                self._history_date(fields, "EntryDate", "start_date"),
                self._history_date(fields, "LeavingDate", "leaving_date"),
            )
            if best is None or (dates[0] or date.min) >= (best[0] or date.min):
                best = dates
        return best or (None, None)

    def _is_this_school(self, fields: dict[str, Any]) -> bool:
        urn = _child_text(fields, "URN")
        if urn:
            return same_number(urn, self.school.urn)
        la_code, estab = _child_text(fields, "LEA"), _child_text(fields, "Estab")
        return (
            bool(la_code and estab)
            and same_number(la_code, self.school.la_code)
            and same_number(estab, self.school.estab)
        )

    def _history_date(self, fields: dict[str, Any], name: str, field_name: str) -> date | None:
        raw = _child_text(fields, name)
        if not raw:
            return None
        try:
            return v.parse_date(raw, name, v.ISO_DATES)
        except BadValue as problem:
            self.unknown.add(field_name)
            self.out.error(self.row, name, f"{problem.message}; {PUPIL_KEPT}")
            return None

    def _contacts(self, pupil: PersonRecord) -> None:
        contacts = self.element("Contacts")
        if contacts is None:
            return
        for number, contact in enumerate(contacts.iterchildren("{*}Contact"), start=1):
            self.reader.contacts_seen = True
            _read_contact(self, pupil, _children(contact), number)


def _read_contact(
    pupil_reader: _PupilReader, pupil: PersonRecord, contact: dict[str, Any], number: int
) -> None:
    """One <Contact> of a kept pupil: the contact (once per upload, however many
    pupils list them) and its link to the pupil."""
    out = pupil_reader.out
    reader = pupil_reader.reader
    row = pupil_reader.row

    def error(field: str, message: str) -> None:
        out.error(row, field, f"contact {number}: {message}")

    given = _child_text(contact, "Forename") or None
    family = _child_text(contact, "Surname") or None
    if given is None:
        error("Forename", f"Forename is missing, but it is mandatory; {CONTACT_SKIPPED}")
    if family is None:
        error("Surname", f"Surname is missing, but it is mandatory; {CONTACT_SKIPPED}")
    if given is None or family is None:
        return
    address = contact.get("Address")
    if address is None:
        postcode = text = None
        if _child_text(contact, "AddressAsPupil").casefold() in ("true", "1"):
            postcode, text = pupil.postcode, pupil.address
    else:
        postcode, text = _address(address)
    email = _child_text(contact, "Email") or None
    phone = _first_phone(contact.get("Phones"))
    mis_id = _contact_id(pupil.mis_id, f"{family}:{given}".casefold(), email or phone or postcode)
    linked = reader.contact_pupils.get(mis_id)
    if linked is not None:
        # The same person (same name and contact detail) listed for a sibling: one
        # contact with a second link, not a second contact.
        if pupil.mis_id in linked:
            error("Contact", f"{given} {family} is listed twice for this pupil; the first was kept")
            return
    else:
        record = PersonRecord(
            role=Role.CONTACT,
            mis_id=mis_id,
            legal_given_name=given,
            legal_family_name=family,
            title=_child_text(contact, "Title") or None,
            email=email,
            phone=phone,
            postcode=postcode,
            address=text,
            row=row,
        )
        if not out.add_person(record, id_field="Contact", labels=LABELS):
            return
        linked = reader.contact_pupils[mis_id] = set()
    linked.add(pupil.mis_id)
    out.contact_links.append(
        ContactLink(
            contact_mis_id=mis_id,
            pupil_mis_id=pupil.mis_id,
            priority=_priority(contact, error),
            parental_responsibility=_responsibility(contact, error),
            relationship=_relationship(_child_text(contact, "Relationship")),
            row=row,
        )
    )


def _priority(contact: dict[str, Any], error: Callable[[str, str], None]) -> int | None:
    return _optional(contact, "Order", v.parse_positive_int, None, error)


def _responsibility(contact: dict[str, Any], error: Callable[[str, str], None]) -> bool:
    return _optional(contact, "Responsibility", v.parse_bool, False, error)


def _optional(
    contact: dict[str, Any],
    name: str,
    parse: Callable[[str, str], _T],
    default: _T,
    error: Callable[[str, str], None],
) -> _T:
    """A contact's optional value: `default` when absent, or when it cannot be read (the
    contact is kept, and the error names the field)."""
    raw = _child_text(contact, name)
    if not raw:
        return default
    try:
        return parse(raw, name)
    except BadValue as problem:
        error(name, f"{problem.message}; {CONTACT_KEPT}")
        return default


def contact_mis_id(pupil_mis_id: str, family: str, given: str, detail: str | None = None) -> str:
    """CTF contacts have no ID of their own: derive a stable one from the contact's
    name and first contact detail (email, else phone, else postcode), so a parent
    listed for two siblings is one contact. With no detail there is no telling two
    people of one name apart, so the ID is scoped to the pupil. The detail is hashed:
    an ID is shown on screens and in logs, an email address should not be."""
    return _contact_id(pupil_mis_id, f"{v.clean(family)}:{v.clean(given)}".casefold(), detail)


def _contact_id(pupil_mis_id: str, name: str, detail: str | None) -> str:
    """`contact_mis_id` of clean names, given as "family:given", case-folded."""
    if detail:
        digest = hashlib.sha256(detail.strip().casefold().encode()).hexdigest()[:10]
        found = f"ctf:{name}:{digest}"
    else:
        found = f"ctf:{pupil_mis_id.casefold()}:{name}"
    if len(found) <= MAX_LENGTHS["mis_id"]:
        return found
    # Long names would make an ID longer than rollsync stores: hash the whole of it
    # (IDs of ordinary length are unchanged, so existing contacts keep theirs).
    return "ctf:" + hashlib.sha256(found.encode()).hexdigest()[:40]


def _relationship(code: str) -> str | None:
    return RELATIONSHIPS.get(code.upper(), code) if code else None


# Local names by tag as lxml spells it ("{namespace}name" or "name"): a file repeats a
# few dozen tags thousands of times. Bounded, so no file can make it grow without end.
_LOCAL_NAMES: dict[str, str] = {}
_MAX_LOCAL_NAMES = 1000


def _local_name(tag: str) -> str:
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag[tag.rfind("}") + 1 :]
        if len(_LOCAL_NAMES) < _MAX_LOCAL_NAMES:
            _LOCAL_NAMES[tag] = name
    return name


def _children(element: Any) -> dict[str, Any]:
    """An element's direct children by local name (the first of each name wins), in
    the order the names first appear."""
    found: dict[str, Any] = {}
    names = _LOCAL_NAMES
    for child in element.iterchildren(etree.Element):
        tag = child.tag
        name = names.get(tag) or _local_name(tag)
        if name not in found:
            found[name] = child
    return found


def _child_text(children: dict[str, Any], name: str) -> str:
    found = children.get(name)
    if found is None:
        return ""
    raw: str | None = found.text
    if raw and "  " not in raw and raw.isprintable():
        return raw.strip(" ")  # `clean`'s own short way, without the call
    return clean(raw)


def _first_text(children: dict[str, Any], name: str, other: str) -> str:
    """The text of the first of two names present (the second only when the first is
    absent, not when it is blank)."""
    return _child_text(children, name if name in children else other)


# Where each name an <Address> may hold goes: an address part's place in its text,
# then the postcode's two spellings (the first spelling found first).
_ADDRESS_RANKS = {name: rank for rank, name in enumerate((*_ADDRESS_PARTS, *_POSTCODE_NAMES))}
_POSTCODE_RANK = len(_ADDRESS_PARTS)
# The same by tag as lxml spells it, -1 for no part of an address (bounded, as above).
_TAG_RANKS: dict[str, int] = {}


def _tag_rank(tag: str) -> int:
    rank = _ADDRESS_RANKS.get(_local_name(tag), -1)
    if len(_TAG_RANKS) < _MAX_LOCAL_NAMES:
        _TAG_RANKS[tag] = rank
    return rank


def _address(address: Any) -> tuple[str | None, str | None]:
    """An <Address>'s postcode and its parts as one text: each is the first descendant
    of its name, at any depth, with any text; the parts in the order of
    `_ADDRESS_PARTS`, whatever their order in the file."""
    if address is None:
        return None, None
    texts: dict[int, str] = {}  # by rank
    ranks = _TAG_RANKS
    for node in address.iter(etree.Element):
        tag = node.tag
        rank = ranks.get(tag)
        if rank is None:
            rank = _tag_rank(tag)
        if rank < 0 or rank in texts:
            continue
        raw = node.text
        if not raw:
            continue
        if "  " not in raw and raw.isprintable():
            # `clean`'s own short way: a printable text's only white space is the space
            text = raw.strip(" ")
            if text:
                texts[rank] = text
        elif raw.strip():
            texts[rank] = clean(raw)
    if not texts:
        return None, None
    postcode = texts.pop(_POSTCODE_RANK, None)
    other_spelling = texts.pop(_POSTCODE_RANK + 1, None)
    if postcode is None:
        postcode = other_spelling
    # `v.postcode` of a cleaned text: upper-cased (`clean` is idempotent).
    return (
        postcode.upper() if postcode is not None else None,
        ", ".join(map(texts.__getitem__, sorted(texts))) or None,
    )


def _first_phone(phones: Any) -> str | None:
    if phones is None:
        return None
    for node in phones.iter("{*}PhoneNo"):
        raw = node.text
        if raw and raw.strip():
            return clean(raw)
    return None
