"""Small text helpers: ASCII folding for e-mail addresses and codes, and the
plausible mistakes a school office makes when typing a name."""

from __future__ import annotations

import random
import unicodedata

# Letters NFKD does not decompose into an ASCII base letter.
_FOLD = str.maketrans(
    {
        "Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "ß": "ss", "Đ": "D", "đ": "d",
        "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "ı": "i",  # noqa: RUF001
    }
)  # fmt: skip


def ascii_fold(text: str) -> str:
    """'Łukasz Ó Briain' -> 'Lukasz O Briain' (what a careless system keeps)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c) and c.isascii())


def slug(text: str) -> str:
    """Lower-case ASCII letters and digits only: for e-mail local parts and domains."""
    return "".join(c for c in ascii_fold(text).lower() if c.isalnum())


def surname_form(forms: str, *, female: bool, married: bool = False) -> str:
    """Pick the right form of a gendered surname written 'male|daughter|married'."""
    parts = forms.split("|")
    if not female or len(parts) == 1:
        return parts[0]
    if married and len(parts) == 3:
        return parts[2]
    return parts[1]


def misspell(name: str, rng: random.Random) -> str:
    """A typing mistake: a dropped accent, two letters swapped, one dropped or doubled."""
    folded = ascii_fold(name)
    if folded != name and len(folded) == len(name):
        return folded  # the most common one: the accent lost on the way in
    positions = [i for i in range(1, len(name) - 1) if name[i].isalpha() and name[i + 1].isalpha()]
    for _ in range(20):
        if not positions:
            break
        i = rng.choice(positions)
        op = rng.randrange(3)
        if op == 0 and name[i] != name[i + 1]:
            wrong = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        elif op == 1 and len(name) > 3:
            wrong = name[:i] + name[i + 1 :]
        else:
            wrong = name[: i + 1] + name[i] + name[i + 1 :]
        if wrong != name:
            return wrong
    return name + name[-1]
