"""Who may do what where: one row per role a user holds, at a school, an LA or region-wide."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from rollsync.access.roles import ROLE_LABEL, RoleName
from rollsync.directory.models import LocalAuthority, School

_SCHOOL_ROLES = [RoleName.SCHOOL_ADMIN.value, RoleName.HEADTEACHER.value]


class RoleGrant(models.Model):
    """A role held by a user: at one school, at one LA, or region-wide (neither set)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_grants"
    )
    role = models.CharField(max_length=20, choices=[(r.value, ROLE_LABEL[r]) for r in RoleName])
    school = models.ForeignKey(
        School, on_delete=models.CASCADE, null=True, blank=True, related_name="role_grants"
    )
    la = models.ForeignKey(
        LocalAuthority, on_delete=models.CASCADE, null=True, blank=True, related_name="role_grants"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="role_grant_scope_fits_role",
                condition=(
                    Q(role__in=_SCHOOL_ROLES, school__isnull=False, la__isnull=True)
                    | Q(role=RoleName.LA_ADMIN.value, la__isnull=False, school__isnull=True)
                    | Q(role=RoleName.REGION_OPERATOR.value, la__isnull=True, school__isnull=True)
                    | (
                        Q(role=RoleName.READ_ONLY.value)
                        & (Q(la__isnull=True) | Q(school__isnull=True))
                    )
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "role", "school"],
                condition=Q(school__isnull=False),
                name="role_grant_once_per_school",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "la"],
                condition=Q(la__isnull=False),
                name="role_grant_once_per_la",
            ),
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=Q(la__isnull=True, school__isnull=True),
                name="role_grant_once_region_wide",
            ),
        ]

    def __str__(self) -> str:
        where = self.school or self.la or "the region"
        return f"{self.user_id} {self.role} at {where}"
