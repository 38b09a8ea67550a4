"""One provisioning run: read the tenant back, plan, and (unless a dry run) apply.
Pure of Django: the service (rollsync.tenants.services) stores what this returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .errors import TenantRefused, TenantUnavailable
from .model import Directory, Outcome, ProvisionPlan, TenantState
from .plan import plan as make_plan


class Tenant(Protocol):
    vendor: str

    def read(self) -> TenantState: ...

    def apply(
        self, plan: ProvisionPlan, directory: Directory, tenant: TenantState
    ) -> tuple[list[Outcome], str]: ...


@dataclass(slots=True)
class RunResult:
    plan: ProvisionPlan
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str = ""  # why the run stopped before the end ("" when it did not)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def status(self) -> str:
        if self.dry_run:
            return "planned"
        if self.stopped:
            return "stopped"
        return "partial" if self.failed else "applied"


def provision(tenant: Tenant, directory: Directory, *, dry_run: bool) -> RunResult:
    """`TenantRefused`/`TenantUnavailable` while reading: nothing was changed, raised on."""
    state = tenant.read()
    planned = make_plan(directory, state)
    if dry_run or planned.is_empty:
        return RunResult(planned, dry_run)
    outcomes, stopped = tenant.apply(planned, directory, state)
    return RunResult(planned, False, outcomes, stopped)


__all__ = ["RunResult", "Tenant", "TenantRefused", "TenantUnavailable", "provision"]
