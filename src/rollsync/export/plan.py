"""What both writers derive from a roster: each person's status, grade, contact role
and the people linked to them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from rollsync.domain.records import Role

from .common import contact_role
from .model import Placement, Roster


@dataclass(frozen=True, slots=True)
class Derived:
    placements: dict[str, list[Placement]]  # uid -> their places, in roster order
    agents: dict[str, list[str]]  # uid -> linked uids (a pupil's contacts, a contact's pupils)
    contact_roles: dict[str, str]  # contact uid -> parent | guardian | relative

    def active(self, uid: str) -> bool:
        """Still placed somewhere in the roster: a delta writes the others to be deleted."""
        return any(p.active for p in self.placements.get(uid, ()))

    def grade_of(self, uid: str) -> str | None:
        for p in self.placements.get(uid, ()):
            if p.role is Role.PUPIL and p.active and p.year_group:
                return p.year_group
        return None


def derive(roster: Roster) -> Derived:
    placements: dict[str, list[Placement]] = defaultdict(list)
    for placement in roster.placements:
        placements[placement.uid].append(placement)
    agents: dict[str, list[str]] = defaultdict(list)
    contact_roles: dict[str, str] = {}
    for link in roster.links:
        agents[link.pupil_uid].append(link.contact_uid)
        agents[link.contact_uid].append(link.pupil_uid)
        contact_roles.setdefault(link.contact_uid, contact_role(link.relationship))
    return Derived(dict(placements), dict(agents), contact_roles)
