"""CommandReporter's output: read safely, checked, and cut down to the fields the school
sends, before anything is written to the queue."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

from lxml import etree

ID_CAPTIONS = frozenset({"ID", "Pupil ID", "Group ID", "Member ID"})
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_|_x([0-9A-Fa-f]{8})_")


class ExtractError(Exception):
    """SIMS's output cannot be sent; the message is for the technician."""


def decode_caption(name: str) -> str:
    """An element name back to its caption, as .NET's XmlConvert.DecodeName reads `_xHHHH_`
    (and `_xHHHHHHHH_`); a pair of escaped surrogates makes one character."""

    def one(m: re.Match[str]) -> str:
        code = int(m.group(1) or m.group(2), 16)
        return chr(code) if code <= 0x10FFFF else m.group(0)

    decoded = _ESCAPE.sub(one, name)
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def sims_error(text: bytes) -> str | None:
    """The Message of a <CommandReporterError>, or None when there is none."""
    start = text.find(b"<CommandReporterError")
    if start < 0:
        return None
    end = text.find(b"</CommandReporterError>", start)
    chunk = text[start : end + len(b"</CommandReporterError>")] if end >= 0 else b""
    try:
        root = etree.fromstring(chunk, _parser()) if chunk else None
    except etree.XMLSyntaxError:
        root = None
    message = root.findtext("Message") if root is not None else None
    if message is None:
        m = re.search(rb"<Message>(.*?)</Message>", text[start:], re.DOTALL)
        message = m.group(1).decode("utf-8", "replace") if m else ""
    return " ".join(message.split()) or "(SIMS gave no message)"


def plain_sims_error(message: str) -> str:
    lowered = message.lower()
    if "login failed" in lowered or "password" in lowered or "trusted" in lowered:
        return f"SIMS refused the login: {message}"
    if "report not found" in lowered:
        return f"SIMS does not know the report: {message}"
    return f"SIMS reported an error: {message}"


def parse_report(data: bytes) -> etree._Element:
    """A SuperStarReport document, read without DTDs, entities or network."""
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
        raise ExtractError("SIMS wrote a report that declares a DOCTYPE or entities: refused")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError:
        raise ExtractError("SIMS wrote something that is not a report") from None
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise ExtractError("SIMS wrote a report that declares a DOCTYPE: refused")
    if root.tag != "SuperStarReport":
        raise ExtractError(
            f"SIMS wrote something that is not a report (<{root.tag}>, not <SuperStarReport>)"
        )
    return root


@dataclass
class Filtered:
    xml: bytes
    records: int
    dropped: dict[str, int] = field(default_factory=dict)  # caption -> values dropped


def check_ids(root: etree._Element) -> None:
    """SIMS leaves ID fields empty for a user outside Third Party Reporting: such a report
    cannot be matched to anyone, so it is refused here rather than uploaded."""
    seen = False
    for record in root.iterchildren("Record"):
        for child in record:
            if isinstance(child.tag, str) and decode_caption(child.tag) in ID_CAPTIONS:
                seen = True
                if (child.text or "").strip():
                    return
    if seen:
        raise ExtractError(
            "the SIMS user lacks the Third Party Reporting permission group: "
            "SIMS leaves ID fields empty"
        )


def filter_report(root: etree._Element, allowed: Collection[str]) -> Filtered:
    """Keep only the elements whose caption the school sends; count what is dropped."""
    dropped: Counter[str] = Counter()
    records = 0
    for child in list(root):
        if child.tag != "Record":
            dropped[decode_caption(str(child.tag))] += 1
            root.remove(child)
            continue
        records += 1
        for item in list(child):
            caption = decode_caption(str(item.tag))
            if caption not in allowed:
                dropped[caption] += 1
                child.remove(item)
    xml = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return Filtered(xml=xml, records=records, dropped=dict(sorted(dropped.items())))
