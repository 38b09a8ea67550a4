"""MIS simulators: local HTTP servers that serve a simulated LA in each vendor's documented
shapes, auth, paging and errors, with `--faults` to make them misbehave. The connectors'
tests and the demo run against them; `rollsync mis-sim VENDOR --port P --data DIR` runs one.

What each vendor publishes, and what is assumed where it publishes nothing, is in
docs/connectors.md; the simulators assume the same, from the same one place per vendor.
"""

from __future__ import annotations

from .data import SimData
from .faults import FaultPlan, FaultSpecError
from .server import SimRequest, SimResponse, SimServer


def simulator_class(vendor: str) -> type[SimServer]:
    """The simulator of a vendor by connector name ("isams", "arbor", "wonde")."""
    from .arbor import ArborSimulator
    from .isams import IsamsSimulator
    from .scholarpack import ScholarpackSimulator
    from .wonde import WondeSimulator

    sims: dict[str, type[SimServer]] = {
        s.vendor: s for s in (IsamsSimulator, ArborSimulator, WondeSimulator, ScholarpackSimulator)
    }
    try:
        return sims[vendor]
    except KeyError:
        raise ValueError(f"no simulator for {vendor!r}; simulators: {', '.join(sims)}") from None


def demo_settings(vendor: str, sim: SimServer, urn: str) -> tuple[dict[str, str], dict[str, str]]:
    """The settings and secrets that connect a school to its simulator: iSAMS, Arbor,
    and Wonde (Pupil Asset comes through Wonde too) (docs/connectors/*.md)."""
    from . import arbor, isams, wonde

    if vendor == "isams":
        return (
            {"url": f"{sim.url}/schools/{urn}", "client_id": isams.client_id_for(urn)},
            {"client_secret": isams.client_secret_for(urn)},
        )
    if vendor == "arbor":
        user, password = arbor.credentials_for(urn)
        return {"url": f"{sim.url}/schools/{urn}", "username": user}, {"password": password}
    settings = {"url": f"{sim.url}{wonde.PREFIX}", "wonde_school": wonde.wonde_school_id(urn)}
    if vendor == "pupil_asset":
        settings["school_reference"] = f"PA-{urn}"
    return settings, {"token": wonde.DEMO_TOKEN}


__all__ = [
    "FaultPlan",
    "FaultSpecError",
    "SimData",
    "SimRequest",
    "SimResponse",
    "SimServer",
    "demo_settings",
    "simulator_class",
]
