"""Common short forms of given names, as schools meet them.

A pupil is "William" in one MIS and "Bill" in a spreadsheet; a Polish "Małgorzata"
is "Gosia" at school. Each line below is one family of forms of one name; two
given names are short forms of each other when some family holds both. Folded
spellings (no accents, lower case) only: `normalise.name_tokens` folds before
looking up. The list is deliberately conservative: a pairing that is merely
plausible ("Jack"/"James") is left out, because an alias counts as evidence for
an automatic link.
"""

from __future__ import annotations

from functools import lru_cache

_FAMILIES = """
abigail abbie abby abi
alexander alex alec xander sandy sasha
alexandra alex lexi sasha sandra
aleksander olek aleks
aleksandra ola
aleksandr sasha sanya
andrew andy drew
anthony tony ant
benjamin ben benji benny
catherine cath cathy kate katie kat kitty
katherine kath kathy kate katie kat kitty
kathryn kath kathy kate katie
charles charlie chas chuck
charlotte charlie lottie lotte
christopher chris kit topher
christine chris tina chrissie
christina chris tina
daniel dan danny
danielle dani
david dave davey
deborah debbie deb
dmitri dima
dmitry dima
edward ed eddie ted teddy ned
ekaterina katya
eleanor ellie nell nora
elizabeth liz lizzie beth betty eliza libby bess
frederick fred freddie freddy
gabriel gabe
gabriella gabby ella
gabrielle gabby
giovanni gianni
giuseppe beppe peppe
gregory greg
harold harry
henry harry hal hank
isabel izzy issy bella
isabella izzy issy bella
isabelle izzy issy bella
jacob jake
james jim jimmy jamie
jennifer jen jenny
jessica jess jessie
john johnny jon
johannes hannes johann
jonathan jon jonny
jose pepe
joseph joe joey
josephine jo josie
katarzyna kasia
kenneth ken kenny
lawrence larry laurie
laurence larry laurie
leonard len lenny leo
malgorzata gosia
margaret maggie meg peggy
matthew matt
michael mike mikey mick mickey
mohammed mohammad muhammad mohamed muhammed mohamad mo
nathaniel nathan nate nat
nicholas nick nicky
nicola nicky nikki
oliver ollie olly
olivia liv livvy
oluwaseun seun
oluwatobi tobi
oluwadamilare dami
oluwafemi femi
patrick pat paddy
patricia pat patty trish
peter pete
philip phil pip
phillip phil pip
rebecca becky becca
richard rich richie rick ricky dick
robert rob robbie bob bobby bert
samantha sam sammy
samuel sam sammy
stephen steve
steven steve
susan sue suzie
theodore theo ted
thomas tom tommy
timothy tim timmy
victoria vicky tori
william will bill billy liam willie
wojciech wojtek
zachary zach zack
"""


@lru_cache(maxsize=1)
def _families() -> dict[str, frozenset[int]]:
    out: dict[str, set[int]] = {}
    for number, line in enumerate(_FAMILIES.strip().splitlines()):
        for name in line.split():
            out.setdefault(name, set()).add(number)
    return {name: frozenset(ids) for name, ids in out.items()}


def name_families(token: str) -> frozenset[int]:
    """The families a folded given name belongs to (empty when none)."""
    return _families().get(token, frozenset())


def are_short_forms(one: str, other: str) -> bool:
    """True when one folded given name is a listed short form of the other ("william",
    "bill"), or one is the other with a Yoruba "Oluwa-" prefix ("oluwaseun", "seun")."""
    if one == other:
        return True
    if name_families(one) & name_families(other):
        return True
    for long, short in ((one, other), (other, one)):
        if long.startswith("oluwa") and len(short) >= 3 and long[5:] == short:
            return True
    return False
