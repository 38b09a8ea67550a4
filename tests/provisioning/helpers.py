"""Directories, simulators and clients for the provisioning tests (no database)."""

from __future__ import annotations

from rollsync.connectors.http import RetryPolicy
from rollsync.downsim import GoogleDirectorySimulator, MicrosoftSimulator, make_service_account
from rollsync.provisioning.google import GoogleSettings, GoogleTenant, ServiceAccount
from rollsync.provisioning.http import Pace, TenantHttp
from rollsync.provisioning.microsoft import MicrosoftSettings, MicrosoftTenant
from rollsync.provisioning.model import DesiredGroup, DesiredUser, Directory, UserKind

DOMAIN = "school.example"
FAST = RetryPolicy(attempts=6, wait_initial=0.01, wait_max=0.2, total=30.0, timeout=10.0)


def person(n: int, kind: UserKind = UserKind.PUPIL) -> DesiredUser:
    return DesiredUser(
        key=f"00000000-0000-0000-0000-{n:012d}",
        email=f"pupil{n}.123@{DOMAIN}" if kind is UserKind.PUPIL else f"staff{n}.123@{DOMAIN}",
        given_name=f"Given{n}",
        family_name=f"Family{n}",
        kind=kind,
    )


def directory(pupils: int = 6, *, owners_are_members: bool = False) -> Directory:
    """`pupils` pupils and two teachers; class A (teacher 1001, pupils 1..half), class B
    (teacher 1002, the other pupils)."""
    kids = [person(i) for i in range(1, pupils + 1)]
    t1, t2 = person(1001, UserKind.STAFF), person(1002, UserKind.STAFF)
    half = pupils // 2

    def group(name: str, teacher: DesiredUser, members: list[DesiredUser]) -> DesiredGroup:
        key = f"rs-class-{name}"
        keys = {m.key for m in members} | ({teacher.key} if owners_are_members else set())
        return DesiredGroup(
            key, f"Class {name}", f"{key}@{DOMAIN}", frozenset({teacher.key}), frozenset(keys)
        )

    return Directory(
        DOMAIN,
        tuple([*kids, t1, t2]),
        (group("a", t1, kids[:half]), group("b", t2, kids[half:])),
    )


def google_sim(**kwargs: object) -> GoogleDirectorySimulator:
    return GoogleDirectorySimulator(make_service_account(), domain=DOMAIN, **kwargs)  # type: ignore[arg-type]


def google_client(
    sim: GoogleDirectorySimulator, *, qpm: int = 100_000, pace: Pace | None = None
) -> GoogleTenant:
    from rollsync.provisioning.google import is_throttled

    key = ServiceAccount.parse(sim.account.key_json(sim.token_url))
    settings = GoogleSettings(DOMAIN, f"admin@{DOMAIN}", api_url=sim.url, queries_per_minute=qpm)
    http = TenantHttp(vendor="Google Workspace", policy=FAST, pace=pace, throttled=is_throttled)
    return GoogleTenant(settings, key, http=http)


def ms_sim(**kwargs: object) -> MicrosoftSimulator:
    return MicrosoftSimulator(domain=DOMAIN, **kwargs)  # type: ignore[arg-type]


def ms_client(sim: MicrosoftSimulator, *, secret: str | None = None) -> MicrosoftTenant:
    settings = MicrosoftSettings(
        sim.tenant_id,
        sim.client_id,
        DOMAIN,
        sim.service_principal_id,
        sim.job_id,
        graph_url=sim.url,
        login_url=sim.url,
    )
    http = TenantHttp(vendor="Microsoft 365", policy=FAST)
    return MicrosoftTenant(settings, secret or sim.client_secret, http=http, poll_wait=0.01)
