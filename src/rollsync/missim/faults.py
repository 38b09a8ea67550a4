"""`--faults`: what a simulator does wrong, and when.

A SPEC is a comma-separated list of items. Requests are numbered from 1 in the order the
server receives them (every request, token requests included), per server:

    401@3        answer request 3 with 401
    403@2        403 (access not granted)
    429@2        429 with Retry-After: 1;  429@2:5  with Retry-After: 5
    500@4        a 5xx (500, 502, 503 or 504)
    slow@2:1.5   wait 1.5 s before answering request 2
    drop@5       send the headers and half the body of request 5, then close the socket
    bad@3        a 200 whose body is not what the vendor documents (the vendor decides how)
    N+           from request N on, every request (429@3+);  Nx2: requests N and N+1
    *            every request (500@*)
    token-expiry=60   vendor options, key=value (iSAMS: a token lasts 60 s)

An unknown item is refused with a message saying which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KINDS = ("401", "403", "429", "500", "502", "503", "504", "slow", "drop", "bad")
_ITEM = re.compile(r"^(?P<kind>[a-z0-9]+)@(?P<at>\*|\d+)(?P<more>\+|x\d+)?(?::(?P<arg>[0-9.]+))?$")


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    first: int  # 1-based request number; 0 for every request
    last: int | None  # None: open-ended
    arg: float | None = None

    def hits(self, n: int) -> bool:
        if self.first == 0:
            return True
        return n >= self.first and (self.last is None or n <= self.last)


@dataclass(slots=True)
class FaultPlan:
    faults: list[Fault] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        plan = cls()
        for raw in (spec or "").split(","):
            item = raw.strip()
            if not item:
                continue
            if "=" in item:
                key, _, value = item.partition("=")
                plan.options[key.strip()] = value.strip()
                continue
            m = _ITEM.match(item)
            if not m or m["kind"] not in KINDS:
                raise FaultSpecError(
                    f"fault {item!r} is not understood; kinds: {', '.join(KINDS)} "
                    "(e.g. 429@2, 500@3x2, drop@4, slow@2:1.5, 401@*)"
                )
            at = 0 if m["at"] == "*" else int(m["at"])
            if m["at"] != "*" and at < 1:
                raise FaultSpecError(f"fault {item!r}: requests are numbered from 1")
            more = m["more"] or ""
            last: int | None = at
            if at == 0 or more == "+":
                last = None
            elif more.startswith("x"):
                last = at + max(1, int(more[1:])) - 1
            arg = float(m["arg"]) if m["arg"] else None
            if m["kind"] == "slow" and arg is None:
                raise FaultSpecError(f"fault {item!r}: say how slow, e.g. slow@2:1.5")
            plan.faults.append(Fault(m["kind"], at, last, arg))
        return plan

    def for_request(self, n: int) -> list[Fault]:
        return [f for f in self.faults if f.hits(n)]

    def option(self, key: str, default: str | None = None) -> str | None:
        return self.options.get(key, default)
