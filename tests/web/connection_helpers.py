"""The MIS simulators the connection tests run against: each world school's MIS served by
the project's simulator over a real socket on 127.0.0.1, with the simulators' demo
credentials. Nothing here replaces a connector, a reader or a service."""

from __future__ import annotations

import dataclasses
import functools
import html
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from rollsync.directory import models as m
from rollsync.missim import SimData, SimServer
from rollsync.simulate import SchoolSnapshot, make_school_truth


@functools.cache
def _truth() -> SchoolSnapshot:
    return make_school_truth(pupils=20, phase="Primary")


def snapshot_of(school: m.School) -> SchoolSnapshot:
    """A simulated school's MIS data, as the world's `school` (its URN, LA and name)."""
    return dataclasses.replace(
        _truth(),
        urn=school.urn,
        la_code=school.la.code,
        la_name=school.la.name,
        estab=school.estab,
        school_name=school.name,
    )


def mis_data(*schools: m.School) -> SimData:
    return SimData([snapshot_of(s) for s in schools])


def current_pupils(school: m.School) -> int:
    return sum(1 for p in snapshot_of(school).pupils if not p.future)


def current_staff(school: m.School) -> int:
    return sum(1 for p in snapshot_of(school).staff if not p.future)


def school_url(sim: SimServer, school: m.School) -> str:
    """The school's MIS URL (iSAMS) or Arbor endpoint at the simulator."""
    return f"{sim.url}/schools/{school.urn}"


def seen(sim: SimServer) -> list[tuple[str, str]]:
    """Every request the simulator received: (method, path)."""
    return [(r.method, r.path) for r in sim.requests]


def form_sent(sim: SimServer, n: int) -> dict[str, str]:
    """The form body of the simulator's request `n` (0-based)."""
    return sim.requests[n].form()


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_ACTION = re.compile(r'<form method="post" action="([^"]+)">')


def approve_at_arbor(link: str) -> str:
    """What a school admin's browser does at Arbor's approval page: open the link, then
    submit its form (Approve). Returns where Arbor sends the browser back (the redirect's
    Location, not followed: that is rollsync's return view)."""
    with httpx.Client(trust_env=False, follow_redirects=False) as browser:
        page = browser.get(link)
        assert page.status_code == 200, page.text
        action = _ACTION.search(page.text)
        assert action is not None, page.text
        fields = {k: html.unescape(v) for k, v in _HIDDEN.findall(page.text)}
        answer = browser.post(urljoin(link, html.unescape(action[1])), data=fields)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]
