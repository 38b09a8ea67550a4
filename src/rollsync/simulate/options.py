"""Realism knobs: school sizes, family shapes, and daily churn rates.

Rates are per school day. The defaults are small, as in a real school (a
1,000-pupil school gains or loses a pupil most days: about 10% a year);
`guarantee_examples` makes sure a short simulation still holds at least one of
every case the matcher must handle (see `churn.py`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Realism:
    # --- the LA and its schools
    scale: float = 1.0  # multiplies school sizes; tests use 0.05-0.1 for tiny schools
    primary_size: tuple[int, int] = (200, 400)
    secondary_size: tuple[int, int] = (900, 1500)
    secondary_share: float = 0.2  # an LA has about four primaries to each secondary
    # the schools' URNs are drawn from this range (end excluded); a region of many LAs
    # gives each LA its own range, so URNs stay unique across it (bench.region)
    urn_range: tuple[int, int] = (100000, 150000)
    # --- people and families
    middle_name_share: float = 0.55
    preferred_name_share: float = 0.08  # legal "William", preferred "Bill"
    preferred_surname_share: float = 0.02  # known by the other parent's surname
    temporary_upn_share: float = 0.01
    twin_share: float = 0.04  # of households with two or more children
    separated_parents_share: float = 0.12  # second parent at another address
    grandparent_contact_share: float = 0.10
    staff_multi_school: int = 2  # people on the staff of two schools
    # --- mistakes present on day 1, fixed on `typo_fix_day`
    initial_name_typo_share: float = 0.002
    initial_dob_swap_share: float = 0.001
    typo_fix_day: int = 3
    # --- daily churn (per school day)
    pupil_starter_rate: float = 0.0006  # per pupil on roll: about 10% a year
    pupil_leaver_rate: float = 0.0005
    future_start_share: float = 0.4  # starters whose start date is still ahead
    leaving_date_share: float = 0.5  # leavers shown with a leaving date (else just removed)
    mover_rate: float = 0.00015  # per pupil in the LA: moves between its schools
    mover_overlap_share: float = 0.3  # new school lists the mover a day before the old drops them
    staff_starter_rate: float = 0.0005
    staff_leaver_rate: float = 0.0005
    pupil_surname_change_rate: float = 0.0001
    staff_surname_change_rate: float = 0.0003  # e.g. after marriage
    preferred_change_rate: float = 0.0002
    starter_typo_share: float = 0.05  # a starter's name misspelt, fixed two days later
    starter_temporary_upn_share: float = 0.08  # arrivals from abroad
    sibling_starter_share: float = 0.25  # starters joining a family already in the LA
    mis_change: bool = True  # one school changes MIS (and format) on some day
    guarantee_examples: bool = True
    # --- the hard cases (off by default: other tests rely on the default output). On,
    # the LA also holds twins with similar names (one of each pair arriving later at
    # another school), siblings born a year apart to the day, blended families with two
    # surnames at one address, and movers whose new school's record carries a slip
    # (one letter, a dropped accent, a short form, day and month swapped, one digit of
    # the date) or a new surname, often without the UPN. See `hard.py`.
    hard_cases: bool = False
    hard_twin_pairs: int = 4
    hard_birthday_siblings: int = 4
    hard_blended_families: int = 4
    hard_movers_per_day: float = 3.0
    hard_mover_without_upn_share: float = 0.5
