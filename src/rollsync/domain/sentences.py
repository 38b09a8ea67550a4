"""Messages people read start with a capital letter, like any sentence."""

from __future__ import annotations

import re

# Lower-case words that stay as they are at the start of a message: the product's name.
_KEEP = frozenset({"rollsync"})
_PLAIN_WORD = re.compile(r"[a-z]+(?=[\s,:;]|$)")


def sentence_case(text: str) -> str:
    """ "this is not a zip file" -> "This is not a zip file". A message that starts with
    a name or an identifier (a username, `manifest.csv`, `date_of_birth`, a digit) or
    with rollsync's own name is left as it is."""
    found = _PLAIN_WORD.match(text)
    if found is None or found.group(0) in _KEEP:
        return text
    return text[:1].upper() + text[1:]
