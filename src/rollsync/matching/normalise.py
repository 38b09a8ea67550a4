"""Normalisation for UK school data: names, dates of birth, postcodes, contact details.

Values are kept as the MIS sent them; these functions only make comparison keys.
Two spellings of one name get the same key when they differ in case, accents,
apostrophes, hyphens or spacing: "Zoë O'Brien-Smith" and "ZOE OBRIEN SMITH" compare
equal, so one MIS typing a curly apostrophe and another a straight one, or one
dropping the hyphen of a double-barrelled surname, does not split a person in two.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

import jellyfish

# Letters that Unicode does not decompose into a base letter plus an accent.
_FOLD_TABLE = str.maketrans(
    {"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}  # noqa: RUF001
)
# Typographic apostrophes and their look-alikes: O'Brien, O’Brien, Oʼbrien, O`Brien.  # noqa: RUF003
APOSTROPHES = "'’‘ʼ`´′"  # noqa: RUF001 - the typographic variants are the point
_APOSTROPHE_RE = re.compile(f"[{re.escape(APOSTROPHES)}]")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")

# Words that join a multi-part surname but do not tell families apart on their own
# ("van der Berg", "de la Cruz", "St John", "bin Hassan", "ap Rhys").
SURNAME_PARTICLES = frozenset(
    {
        "al",
        "ap",
        "bin",
        "binti",
        "da",
        "das",
        "de",
        "del",
        "della",
        "den",
        "der",
        "des",
        "di",
        "do",
        "dos",
        "du",
        "el",
        "ibn",
        "la",
        "le",
        "lo",
        "st",
        "ste",
        "saint",
        "ten",
        "ter",
        "van",
        "von",
        "y",
    }
)
# Titles that sometimes arrive inside a name field ("Dr Sam Jones").
TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sir", "dame"})


@lru_cache(maxsize=131_072)
def fold(text: str) -> str:
    """Casefold and strip accents: "Zoë" -> "zoe", "Łukasz" -> "lukasz", "Straße" -> "strasse"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.translate(_FOLD_TABLE)


@lru_cache(maxsize=131_072)
def name_tokens(text: str | None) -> tuple[str, ...]:
    """The words of a name, folded: apostrophes join ("O'Brien" -> "obrien"), hyphens,
    spaces, dots and other marks separate ("Smith-Jones" -> "smith", "jones")."""
    if not text:
        return ()
    folded = _APOSTROPHE_RE.sub("", fold(text))
    return tuple(t for t in _NOT_ALNUM.split(folded) if t)


@lru_cache(maxsize=131_072)
def name_key(text: str | None) -> str:
    """One name as one key: its words run together ("O'Brien-Smith" -> "obriensmith")."""
    return "".join(name_tokens(text))


NameKey = tuple[str, str]  # (given, family)


def full_name_key(given: str | None, family: str | None) -> NameKey:
    """A person's legal name as one comparable key: ("Zoë", "O'Brien-Smith") and
    ("ZOE", "obrien smith") are equal (the planner's exact-name and exclusion checks)."""
    return (name_key(given), name_key(family))


def given_tokens(text: str | None) -> tuple[str, ...]:
    """Given-name words without a title that slipped in ("Dr Sam" -> "sam")."""
    tokens = name_tokens(text)
    if len(tokens) > 1 and tokens[0] in TITLES:
        return tokens[1:]
    return tokens


@lru_cache(maxsize=131_072)
def surname_core(text: str | None) -> tuple[str, ...]:
    """The distinctive parts of a surname: "van der Berg" -> ("berg",), "Smith-Jones" ->
    ("smith", "jones"), "O'Brien" -> ("obrien",). A surname made only of particles
    ("De La") keeps them all."""
    tokens = name_tokens(text)
    core = tuple(t for t in tokens if t not in SURNAME_PARTICLES)
    return core or tokens


@lru_cache(maxsize=131_072)
def phonetic(token: str) -> str:
    """A phonetic key of one folded word (Metaphone): "smith" and "smyth" -> "SM0"."""
    if not token:
        return ""
    return jellyfish.metaphone(token) or token


def swapped_day_month(dob: date) -> date | None:
    """The date with day and month swapped (a common keying slip), when that is a
    different valid date: 3 April -> 4 March."""
    if dob.day > 12 or dob.day == dob.month:
        return None
    return date(dob.year, dob.day, dob.month)


def one_slip_dates(a: date, b: date) -> bool:
    """Two dates one keying slip apart: one of day, month or year differs, by a single
    digit or by one ("2015-03-14" / "2015-03-15", "2015-03-04" / "2016-03-04")."""
    same = (a.year == b.year, a.month == b.month, a.day == b.day)
    if sum(same) != 2:
        return False
    if not same[0]:
        return _one_digit(a.year, b.year) or abs(a.year - b.year) == 1
    if not same[1]:
        return _one_digit(a.month, b.month) or abs(a.month - b.month) == 1
    return _one_digit(a.day, b.day) or abs(a.day - b.day) == 1


@lru_cache(maxsize=65_536)
def near_dates(dob: date) -> frozenset[date]:
    """Every real date one keying slip from `dob` (`one_slip_dates`) or with day and
    month swapped: where a mistyped date of birth may be found."""
    out: set[date] = set()
    swapped = swapped_day_month(dob)
    if swapped is not None:
        out.add(swapped)
    for part, value, width in ((0, dob.year, 4), (1, dob.month, 2), (2, dob.day, 2)):
        text = f"{value:0{width}d}"
        tries = {value - 1, value + 1}
        for i in range(width):
            tries.update(int(text[:i] + d + text[i + 1 :]) for d in "0123456789")
        for v in tries - {value}:
            parts = [dob.year, dob.month, dob.day]
            parts[part] = v
            try:
                out.add(date(parts[0], parts[1], parts[2]))
            except ValueError:
                continue  # not a real date
    return frozenset(out)


def _one_digit(x: int, y: int) -> bool:
    sx, sy = f"{x:04d}", f"{y:04d}"
    return sum(c != d for c, d in zip(sx, sy, strict=True)) == 1


_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][0-9A-Z]?)([0-9][A-Z]{2})$")


def postcode_key(raw: str | None) -> str | None:
    """Upper case without spaces: "mk21 3yj" -> "MK213YJ"; None when blank."""
    cleaned = re.sub(r"[^0-9A-Za-z]", "", raw or "").upper()
    return cleaned or None


def postcode_parts(key: str) -> tuple[str, str]:
    """(district, sector) of a postcode key: "MK213YJ" -> ("MK21", "MK213"). A value
    that is not shaped like a UK postcode is its own district and sector."""
    found = _POSTCODE.match(key)
    if found is None:
        return key, key
    outward, inward = found.groups()
    return outward, outward + inward[0]


_ADDRESS_WORDS = {
    "rd": "road",
    "st": "street",
    "ave": "avenue",
    "av": "avenue",
    "ln": "lane",
    "cl": "close",
    "ct": "court",
    "cres": "crescent",
    "dr": "drive",
    "gdns": "gardens",
    "gr": "grove",
    "pl": "place",
    "sq": "square",
    "ter": "terrace",
    "terr": "terrace",
    "flat": "flat",
}


@lru_cache(maxsize=65_536)
def address_key(raw: str | None) -> str | None:
    """An address as sorted, folded words with common abbreviations written out
    ("12, Primrose Ave" -> "12 avenue primrose"); None when blank."""
    tokens = [_ADDRESS_WORDS.get(t, t) for t in name_tokens(raw)]
    if not tokens:
        return None
    return " ".join(sorted(tokens))


@lru_cache(maxsize=65_536)
def email_key(email: str | None) -> str | None:
    cleaned = (email or "").strip().casefold()
    return cleaned if "@" in cleaned else None


@lru_cache(maxsize=65_536)
def phone_key(phone: str | None) -> str | None:
    """Digits only, with a UK international prefix turned national: "+44 7700 900123" ->
    "07700900123". Too short to tell people apart -> None."""
    raw = (phone or "").strip()
    digits = "".join(ch for ch in raw if ch.isdigit())
    if raw.startswith("+44") or digits.startswith("0044"):
        digits = "0" + digits.removeprefix("00").removeprefix("44").lstrip("0")
    return digits if len(digits) >= 6 else None
