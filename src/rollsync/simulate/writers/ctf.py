"""A DfE Common Transfer File (CTF 25 shape), built with lxml.

A "full" CTF from the school to its LA: every pupil on roll, with contacts.
Element paths written (relative to the root `CTfile`):

    Header/DocumentName, Header/CTFversion ("25.0"), Header/DateTime,
    Header/DocumentQualifier ("full"), Header/SupplierID,
    Header/SourceSchool/{LEA, Estab, URN, SchoolName, AcademicYear},
    Header/DestSchool/{LEA, Estab ("LLLL": the LA)}
    CTFpupilData/Pupil/{UPN, Surname, Forename, DOB, Sex}
    CTFpupilData/Pupil/BasicDetails/{PreferredSurname, PreferredForename, MiddleNames,
                                     NCyearActual}           (preferred and middle only when set)
    CTFpupilData/Pupil/Address/BS7666Address/{SAON, PAON, Street, Town}, Address/Postcode
    CTFpupilData/Pupil/Phones/Phone/{TelephoneType, PhoneNo}, Pupil/Email
    CTFpupilData/Pupil/Contacts/Contact/{Order, Title, Surname, Forename, Gender,
        Relationship (DfE code: PAM, PAF, STF, CAR, REL), Responsibility (true/false),
        Address/..., Phones/Phone/..., Email}
    CTFpupilData/Pupil/SchoolHistory/School/{LEA, Estab, URN, SchoolName, EntryDate, LeavingDate}

A CTF carries no MIS IDs: pupils are known by UPN (see truth.py for the keys).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from rollsync.simulate.model import Address
from rollsync.simulate.snapshot import ExportLink, SchoolSnapshot


def _text(parent: Any, tag: str, value: str) -> Any:
    el = etree.SubElement(parent, tag)
    el.text = value
    return el


def _address(parent: Any, a: Address | None) -> None:
    if a is None:
        return
    addr = etree.SubElement(parent, "Address")
    bs = etree.SubElement(addr, "BS7666Address")
    if a.saon:
        _text(bs, "SAON", a.saon)
    _text(bs, "PAON", a.paon)
    _text(bs, "Street", a.street)
    _text(bs, "Town", a.town)
    _text(addr, "Postcode", a.postcode)


def _phone(parent: Any, kind: str, number: str | None) -> None:
    if not number:
        return
    phone = etree.SubElement(etree.SubElement(parent, "Phones"), "Phone")
    _text(phone, "TelephoneType", kind)
    _text(phone, "PhoneNo", number)


def render(snap: SchoolSnapshot) -> dict[str, bytes]:
    root = etree.Element("CTfile")
    header = etree.SubElement(root, "Header")
    _text(header, "DocumentName", "Common Transfer File")
    _text(header, "CTFversion", "25.0")
    _text(header, "DateTime", f"{snap.date.isoformat()}T18:00:00")
    _text(header, "DocumentQualifier", "full")
    _text(header, "SupplierID", snap.mis)
    source = etree.SubElement(header, "SourceSchool")
    _text(source, "LEA", snap.la_code)
    _text(source, "Estab", snap.estab)
    _text(source, "URN", snap.urn)
    _text(source, "SchoolName", snap.school_name)
    _text(source, "AcademicYear", str(snap.academic_year))
    dest = etree.SubElement(header, "DestSchool")
    _text(dest, "LEA", snap.la_code)
    _text(dest, "Estab", "LLLL")

    contacts = {c.mis_id: c for c in snap.contacts}
    links: dict[str, list[ExportLink]] = {}
    for link in snap.links:
        links.setdefault(link.pupil_mis_id, []).append(link)

    data = etree.SubElement(root, "CTFpupilData")
    for p in snap.pupils:
        if p.future:
            continue  # a CTF lists pupils on roll
        pupil = etree.SubElement(data, "Pupil")
        _text(pupil, "UPN", p.upn or "")
        _text(pupil, "Surname", p.legal_family)
        _text(pupil, "Forename", p.legal_given)
        _text(pupil, "DOB", p.dob.isoformat())
        _text(pupil, "Sex", p.gender.value)
        basic = etree.SubElement(pupil, "BasicDetails")
        if p.preferred_family:
            _text(basic, "PreferredSurname", p.preferred_family)
        if p.preferred_given:
            _text(basic, "PreferredForename", p.preferred_given)
        if p.middle:
            _text(basic, "MiddleNames", p.middle)
        _text(basic, "NCyearActual", p.year_group or "")
        _address(pupil, p.address)
        pupil_links = sorted(links.get(p.mis_id, []), key=lambda x: x.priority)
        home = next(
            (
                contacts[x.contact_mis_id].phone
                for x in pupil_links
                if contacts[x.contact_mis_id].phone
            ),
            None,
        )
        _phone(pupil, "H", home)
        if p.email:
            _text(pupil, "Email", p.email)
        if pupil_links:
            block = etree.SubElement(pupil, "Contacts")
            for link in pupil_links:
                c = contacts[link.contact_mis_id]
                contact = etree.SubElement(block, "Contact")
                _text(contact, "Order", str(link.priority))
                if c.title:
                    _text(contact, "Title", c.title)
                _text(contact, "Surname", c.legal_family)
                _text(contact, "Forename", c.legal_given)
                _text(contact, "Gender", c.gender.value)
                _text(contact, "Relationship", link.ctf_code)
                _text(
                    contact, "Responsibility", "true" if link.parental_responsibility else "false"
                )
                _address(contact, c.address)
                _phone(contact, "M", c.phone)
                if c.email:
                    _text(contact, "Email", c.email)
        school = etree.SubElement(etree.SubElement(pupil, "SchoolHistory"), "School")
        _text(school, "LEA", snap.la_code)
        _text(school, "Estab", snap.estab)
        _text(school, "URN", snap.urn)
        _text(school, "SchoolName", snap.school_name)
        _text(school, "EntryDate", p.start_date.isoformat() if p.start_date else "")
        if p.leaving_date:
            _text(school, "LeavingDate", p.leaving_date.isoformat())

    body: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return {"students.xml": body}
