"""What belongs to one school or to one LA (every school of it), never both nor neither:
API tokens, downstream clients, export schedules, tenant connections, webhook endpoints.
Each is a principal at the tenancy chokepoint, and this is the one place its scope's
fields, their rule and its label are written."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from rollsync.access.roles import RoleName
from rollsync.access.selectors import Grant
from rollsync.directory.models import LocalAuthority, School


def one_scope(name: str) -> models.CheckConstraint:
    """The database's own refusal of a row with both a school and an LA, or neither."""
    return models.CheckConstraint(
        condition=(Q(school__isnull=False) & Q(la__isnull=True))
        | (Q(school__isnull=True) & Q(la__isnull=False)),
        name=name,
    )


def scope_given(*, school: School | None, la: LocalAuthority | None) -> bool:
    """Exactly one of a school or an LA: what every service checks before it creates a
    scoped row (the constraint would refuse it too, but as a database error)."""
    return (school is None) != (la is None)


class SchoolOrLaScoped(models.Model):
    """One school, or every school of one LA. Subclasses add `one_scope(name)` to their
    `Meta.constraints`."""

    school = models.ForeignKey(
        School, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    la = models.ForeignKey(
        LocalAuthority, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        abstract = True

    @property
    def scope_label(self) -> str:
        """ "school URN" or "LA code", as commands and audit lines name the scope."""
        if self.school is not None:
            return f"school {self.school.urn}"
        assert self.la is not None
        return f"LA {self.la.code}"

    def read_only_grants(self) -> tuple[Grant, ...]:
        """What a read-only person of its school (or LA) may read: no more."""
        return (Grant(RoleName.READ_ONLY.value, school_id=self.school_id, la_id=self.la_id),)
