"""The directory's tables. Models hold data and constraints only: every write
goes through `rollsync.directory.services`, every read a page or command needs
through `rollsync.directory.selectors`."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from rollsync.domain.limits import MAX_LENGTHS
from rollsync.domain.records import Gender, GroupKind, MembershipRole, Role
from rollsync.domain.state import AccountStatus, AllocationStatus

ROLE_CHOICES = [(r.value, r.value) for r in Role]
GENDER_CHOICES = [(g.value, g.value) for g in Gender]


class Region(models.Model):
    name = models.CharField(max_length=200, unique=True)
    username_pattern = models.CharField(max_length=100, default="{given_initial}{family}")

    def __str__(self) -> str:
        return self.name


class LocalAuthority(models.Model):
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="las")
    code = models.CharField(max_length=3, unique=True)  # DfE three-digit LA code
    name = models.CharField(max_length=200, blank=True)
    # Whether a listener (a webhook endpoint of the LA or of one of its schools) may want
    # its audit events: set under the LA's lock when one is added or enabled, so a write
    # under the lock that reads False knows, without a query, that nothing is delivered.
    events_listened = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "local authorities"
        constraints = [
            models.CheckConstraint(
                condition=Q(code__regex=r"^[0-9]{3}$"), name="la_code_three_digits"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}".strip()


class School(models.Model):
    la = models.ForeignKey(LocalAuthority, on_delete=models.PROTECT, related_name="schools")
    urn = models.CharField(max_length=8, unique=True)
    estab = models.CharField(max_length=4)  # DfE establishment number; DfE number = LA code + estab
    name = models.CharField(max_length=200)
    phase = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=60, blank=True, default="Open")
    mis = models.CharField(max_length=40, blank=True)
    # The school uses a service that needs Attendance (an absence text service): without
    # it, Arbor and ScholarPack grey Attendance out (domain.mis.can_send).
    attendance_service = models.BooleanField(default=False)
    guard_unallocate_pct = models.FloatField(default=10.0)
    guard_rekey_pct = models.FloatField(default=50.0)
    leaver_grace_days = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["la", "estab"], name="school_unique_dfe_number"),
            models.CheckConstraint(
                condition=Q(estab__regex=r"^[0-9]{4}$"), name="estab_four_digits"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.urn} {self.name}"

    @property
    def dfe_number(self) -> str:
        return f"{self.la.code}{self.estab}"


class ReportAcceptance(models.Model):
    """A report the school accepts (present = accepted)."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="accepted_reports")
    report = models.CharField(max_length=30)
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["school", "report"], name="report_accepted_once")
        ]

    def __str__(self) -> str:
        return f"{self.school_id} accepts {self.report}"


class FieldOptOut(models.Model):
    """An optional field the school does not upload: dropped at ingest, never stored."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="opt_outs")
    report = models.CharField(max_length=30)
    field = models.CharField(max_length=60)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["school", "report", "field"], name="opt_out_once")
        ]

    def __str__(self) -> str:
        return f"{self.school_id} opts out of {self.report}.{self.field}"


class Account(models.Model):
    uid = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False
    )  # stable id for downstream
    username = models.CharField(max_length=64, unique=True)  # never changes once given
    role = models.CharField(max_length=10, choices=ROLE_CHOICES)
    status = models.CharField(
        max_length=10,
        choices=[(s.value, s.value) for s in AccountStatus],
        default=AccountStatus.ACTIVE.value,
    )
    legal_given_name = models.CharField(max_length=MAX_LENGTHS["legal_given_name"])
    legal_family_name = models.CharField(max_length=MAX_LENGTHS["legal_family_name"])
    preferred_given_name = models.CharField(
        max_length=MAX_LENGTHS["preferred_given_name"], null=True, blank=True
    )
    preferred_family_name = models.CharField(
        max_length=MAX_LENGTHS["preferred_family_name"], null=True, blank=True
    )
    middle_names = models.CharField(max_length=MAX_LENGTHS["middle_names"], null=True, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=1, choices=GENDER_CHOICES, null=True, blank=True)
    upn = models.CharField(max_length=MAX_LENGTHS["upn"], null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["upn"], name="account_upn"),
            models.Index(fields=["date_of_birth"], name="account_dob"),
            models.Index(fields=["legal_family_name", "legal_given_name"], name="account_name"),
        ]

    def __str__(self) -> str:
        return self.username


class Allocation(models.Model):
    """An account's link to a school: role, MIS ID there, dates, status."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="allocations")
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="allocations")
    role = models.CharField(max_length=10, choices=ROLE_CHOICES)
    mis_id = models.CharField(max_length=MAX_LENGTHS["mis_id"], blank=True, default="")
    upn = models.CharField(max_length=MAX_LENGTHS["upn"], null=True, blank=True)
    start_date = models.DateField(null=True, blank=True)
    leaving_date = models.DateField(null=True, blank=True)
    year_group = models.CharField(max_length=MAX_LENGTHS["year_group"], null=True, blank=True)
    registration_group = models.CharField(
        max_length=MAX_LENGTHS["registration_group"], null=True, blank=True
    )
    # Contact details as this school's MIS holds them (see domain.state.AllocationState).
    title = models.CharField(max_length=MAX_LENGTHS["title"], null=True, blank=True)
    staff_code = models.CharField(max_length=MAX_LENGTHS["staff_code"], null=True, blank=True)
    email = models.CharField(max_length=MAX_LENGTHS["email"], null=True, blank=True)
    phone = models.CharField(max_length=MAX_LENGTHS["phone"], null=True, blank=True)
    postcode = models.CharField(max_length=MAX_LENGTHS["postcode"], null=True, blank=True)
    address = models.CharField(max_length=MAX_LENGTHS["address"], null=True, blank=True)
    status = models.CharField(max_length=12, choices=[(s.value, s.value) for s in AllocationStatus])
    source_report = models.CharField(max_length=30, blank=True, default="")
    requested_single = models.BooleanField(default=False)
    leaver_pending_since = models.DateField(null=True, blank=True)
    unallocated_at = models.DateTimeField(null=True, blank=True)
    last_move_or_create_at = models.DateTimeField(null=True, blank=True)
    last_move_or_create_kind = models.CharField(max_length=10, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "school", "role"], name="one_allocation_per_account_school_role"
            ),
            models.UniqueConstraint(
                fields=["school", "role", "mis_id"],
                condition=~Q(mis_id=""),
                name="mis_id_unique_per_school_role",
            ),
        ]
        indexes = [
            models.Index(fields=["school", "status"], name="allocation_school_status"),
            models.Index(fields=["upn"], name="allocation_upn"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} at {self.school_id} ({self.role} {self.mis_id}, {self.status})"


class Group(models.Model):
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="groups")
    mis_id = models.CharField(max_length=MAX_LENGTHS["mis_id"])
    name = models.CharField(max_length=MAX_LENGTHS["group_name"])
    kind = models.CharField(max_length=15, choices=[(k.value, k.value) for k in GroupKind])
    # Set when the MIS stops sending the group; cleared when it comes back. Never deleted.
    ended_at = models.DateTimeField(null=True, blank=True)
    # When the group itself last changed (created, renamed, kind changed, ended,
    # reopened), never for a member: OneRoster's class `dateLastModified`.
    modified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["school", "mis_id"], name="group_mis_id_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.mis_id})"


class GroupMembership(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=[(m.value, m.value) for m in MembershipRole])
    ended_at = models.DateTimeField(null=True, blank=True)  # ended, never deleted
    # When the membership was added, ended or reopened: an enrollment's `dateLastModified`.
    modified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "account", "role"], name="membership_once")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.role} of {self.group_id}"


class ContactLink(models.Model):
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="contact_links")
    contact = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="pupils_linked")
    pupil = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts_linked")
    priority = models.PositiveSmallIntegerField(null=True, blank=True)
    parental_responsibility = models.BooleanField(default=False)
    relationship = models.CharField(max_length=MAX_LENGTHS["relationship"], null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)  # ended, never deleted

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["school", "contact", "pupil"], name="contact_link_once")
        ]

    def __str__(self) -> str:
        return f"contact {self.contact_id} of pupil {self.pupil_id}"


class AttendanceMark(models.Model):
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="attendance")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="attendance")
    date = models.DateField()
    session = models.CharField(max_length=MAX_LENGTHS["session"])
    code = models.CharField(max_length=MAX_LENGTHS["code"])

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "account", "date", "session"], name="attendance_mark_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.date} {self.session} {self.code}"


class Exclusion(models.Model):
    """'MIS names that should not be in USO': never create an account for them."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="exclusions")
    role = models.CharField(max_length=10, choices=ROLE_CHOICES, null=True, blank=True)
    mis_id = models.CharField(max_length=64, null=True, blank=True)
    given_name = models.CharField(max_length=100, null=True, blank=True)
    family_name = models.CharField(max_length=100, null=True, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(mis_id=None) | (~Q(given_name=None) & ~Q(family_name=None)),
                name="exclusion_has_mis_id_or_name",
            )
        ]

    def __str__(self) -> str:
        return f"exclusion {self.pk} at {self.school_id}"


class Upload(models.Model):
    """One file or API delivery, kept as it came: the Upload History."""

    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="uploads")
    source = models.CharField(max_length=40)  # "cli", "web", "sims-agent", "arbor", ...
    fmt = models.CharField(max_length=20)
    report = models.CharField(max_length=30, blank=True, default="")
    filename = models.CharField(max_length=255, blank=True, default="")
    asked = models.CharField(max_length=300, blank=True, default="")  # a pull: what was asked for
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    data = models.BinaryField()
    received_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=20, blank=True, default="received")
    # Retention (rollsync.ops.services): after ROLLSYNC_UPLOAD_RETENTION_DAYS the bytes go
    # (`data` emptied) and this says when; the row, its checksum, size and runs stay.
    purged_at = models.DateTimeField(null=True, blank=True)
    # Whether any run of it was ever recorded: set by the database when its first run is
    # written (a trigger, `directory.services.tallies`), never by Python (an upload is
    # saved with `update_fields` only, so a stale object never writes it back); /metrics
    # counts the uploads still waiting through a partial index on it, not every upload.
    has_run = models.BooleanField(default=False, db_default=False)

    class Meta:
        indexes = [
            models.Index(
                fields=["received_at"],
                name="upload_waiting",
                condition=Q(has_run=False, purged_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"upload {self.pk} {self.filename}"


class UploadListing(models.Model):
    """The reader's account of who an upload lists (`ImportBatch.listing`), kept once a
    run of it is applied: the next upload of the report is read in part against it
    without reading the rows of the people whose lines did not change (docs/decisions/
    0098). One a school and report (`settled.listing_keep` lets go of the others). Its
    own table, so that no read of uploads or runs carries it; gone with the upload's
    bytes (retention)."""

    upload = models.OneToOneField(
        Upload, on_delete=models.CASCADE, primary_key=True, related_name="listing"
    )
    data = models.BinaryField()

    def __str__(self) -> str:
        return f"listing of upload {self.upload_id}"


class SyncRun(models.Model):
    class Status(models.TextChoices):
        PREVIEW = "preview"
        HELD = "held"
        APPLIED = "applied"
        FAILED = "failed"
        REJECTED = "rejected"  # a held run a person turned down
        # overtaken by a newer applied run: held or waiting meanwhile, or an older upload
        # reaching the LA's lock after a newer one of its report (`sync._overtaken`)
        SUPERSEDED = "superseded"

    upload = models.ForeignKey(Upload, on_delete=models.PROTECT, related_name="runs")
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=12, choices=Status.choices)
    dry_run = models.BooleanField(default=False)
    as_of = models.DateField()
    counts = models.JSONField(default=dict)
    errors = models.JSONField(default=list)
    holds = models.JSONField(default=list)
    actions = models.JSONField(default=list)  # the plan: one dict per action, with its reason
    seconds = models.FloatField(default=0.0)
    detail = models.TextField(
        blank=True, default=""
    )  # traceback of an internal failure, for the service desk
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.CharField(max_length=150, blank=True, default="")
    # A held run that waits for the school's held people run (Groups & Classes, Attendance
    # or Contacts arriving while pupils or staff are held): planned again by itself when
    # that run is approved or rejected (`services.sync`). Null for every other run.
    waits_for = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="waiting"
    )
    # An unchanged re-import (docs/decisions/0088): an applied run records what its plan
    # stood on, so a later upload of the same bytes can be known unchanged without being
    # parsed or planned. `settled_mark`: the newest audit event when it was applied (None:
    # never skipped to); `settled_digest`: the upload's checksum and options with the
    # school's settings; `settled_until`: the first date after `as_of` its plan depended
    # on (None: none); `settled_la_wide`: records new to the school were planned against
    # the LA's accounts, so any change in the LA counts; `settled_listed_gone`: people
    # its plan unallocated though the upload lists them (a leaving date passed), whom a
    # later full plan of the same file counts unchanged.
    settled_mark = models.BigIntegerField(null=True, blank=True)
    settled_digest = models.CharField(max_length=64, blank=True, default="")
    settled_until = models.DateField(null=True, blank=True)
    settled_la_wide = models.BooleanField(default=False)
    settled_listed_gone = models.IntegerField(default=0)
    # Its plan left out people a read in part listed as unchanged (decisions 0096, 0104):
    # its actions name only the people it built, so who it lists is those over the
    # listing of the runs before it (`selectors.latest_exports`).
    read_in_part = models.BooleanField(default=False)
    # A skipped run: the planned run whose plan still holds ("same file as run N").
    same_as = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["school", "-created_at"], name="run_school_recent")]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"


# How long runs took, in seconds, as the buckets of /metrics' histogram: a small
# primary's run is well under a second, a big secondary's first import tens of seconds.
# RunTally keeps one column per bucket (`le_0` for the first); changing these needs a new
# version of the tally triggers (`directory.tallies`).
RUN_SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class RunTally(models.Model):
    """What the school's runs of one status add up to, kept by the database in the same
    transaction as each run's write (triggers, `directory.tallies`, docs/decisions/0091):
    /metrics reads these, a few rows a school, never the runs themselves. Never written
    from Python but by `tallies.tallies_recount`."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=12)
    dry_run = models.BooleanField()
    runs = models.BigIntegerField(default=0, db_default=0)
    seconds_sum = models.FloatField(default=0.0, db_default=0.0)
    # runs that took at most RUN_SECONDS_BUCKETS[i] seconds
    le_0 = models.BigIntegerField(default=0, db_default=0)
    le_1 = models.BigIntegerField(default=0, db_default=0)
    le_2 = models.BigIntegerField(default=0, db_default=0)
    le_3 = models.BigIntegerField(default=0, db_default=0)
    le_4 = models.BigIntegerField(default=0, db_default=0)
    le_5 = models.BigIntegerField(default=0, db_default=0)
    le_6 = models.BigIntegerField(default=0, db_default=0)
    le_7 = models.BigIntegerField(default=0, db_default=0)
    le_8 = models.BigIntegerField(default=0, db_default=0)
    le_9 = models.BigIntegerField(default=0, db_default=0)
    le_10 = models.BigIntegerField(default=0, db_default=0)
    le_11 = models.BigIntegerField(default=0, db_default=0)
    # the runs' `counts`, summed (domain.actions.COUNT_KEYS)
    rows_created = models.BigIntegerField(default=0, db_default=0)
    rows_updated = models.BigIntegerField(default=0, db_default=0)
    rows_unchanged = models.BigIntegerField(default=0, db_default=0)
    rows_moved_in = models.BigIntegerField(default=0, db_default=0)
    rows_unallocated = models.BigIntegerField(default=0, db_default=0)
    rows_restored = models.BigIntegerField(default=0, db_default=0)
    rows_needs_matching = models.BigIntegerField(default=0, db_default=0)
    rows_excluded = models.BigIntegerField(default=0, db_default=0)
    rows_deferred = models.BigIntegerField(default=0, db_default=0)
    rows_rejected = models.BigIntegerField(default=0, db_default=0)
    last_applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "status", "dry_run"], name="run_tally_one_per_status"
            )
        ]

    def __str__(self) -> str:
        return f"runs of school {self.school_id} {self.status}: {self.runs}"


class UploadTally(models.Model):
    """What the school's uploads add up to, kept by the database like RunTally."""

    school = models.OneToOneField(School, on_delete=models.CASCADE, related_name="+")
    uploads = models.BigIntegerField(default=0, db_default=0)
    purged = models.BigIntegerField(default=0, db_default=0)
    kept_bytes = models.BigIntegerField(default=0, db_default=0)

    def __str__(self) -> str:
        return f"uploads of school {self.school_id}: {self.uploads}"


class MatchCase(models.Model):
    """A record that looks like an existing account but not surely enough."""

    class Status(models.TextChoices):
        OPEN = "open"
        LINKED = "linked"
        CREATED = "created"
        EXCLUDED = "excluded"

    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="match_cases")
    run = models.ForeignKey(SyncRun, on_delete=models.PROTECT, related_name="match_cases")
    role = models.CharField(max_length=10, choices=ROLE_CHOICES)
    mis_id = models.CharField(max_length=64)
    record = models.JSONField()  # the incoming record as the run saw it
    candidates = models.JSONField(default=list)  # [{account_id, username, score, explanation}]
    reason = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolved_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "role", "mis_id"],
                condition=Q(status="open"),
                name="one_open_case_per_record",
            )
        ]

    def __str__(self) -> str:
        return f"case {self.pk} {self.role} {self.mis_id} ({self.status})"


class CrossSchoolCase(models.Model):
    """Identity changes (names, date of birth, gender, UPN) one school's MIS asks for on
    an account still active at another school. Nothing changes until the school that
    holds the account agrees; both schools see the case."""

    class Status(models.TextChoices):
        OPEN = "open"
        AGREED = "agreed"
        DECLINED = "declined"

    school = models.ForeignKey(  # the school whose MIS asks for the change
        School, on_delete=models.PROTECT, related_name="cross_school_cases_asked"
    )
    holding_school = models.ForeignKey(  # where the account is active: it must agree
        School, on_delete=models.PROTECT, related_name="cross_school_cases_held"
    )
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=10, choices=ROLE_CHOICES)
    mis_id = models.CharField(max_length=64, blank=True, default="")  # at the asking school
    changes = models.JSONField(default=dict)  # {field: [stored value, asked value]}
    reason = models.TextField(blank=True, default="")
    run = models.ForeignKey(
        SyncRun, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    match_case = models.ForeignKey(
        MatchCase, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "account"],
                condition=Q(status="open"),
                name="one_open_cross_school_case",
            )
        ]

    def __str__(self) -> str:
        return f"cross-school case {self.pk} {self.account_id} ({self.status})"


class AuditKind(models.TextChoices):
    """Every kind of audit event, a closed set: `services.audit.AuditLog.add` refuses
    any other, and tests/directory/test_audit_kinds.py checks that every kind written in
    src/ is listed. A new kind is one line here (alphabetical); no migration, because
    `AuditEvent.action` takes its choices from `audit_kind_choices`, a callable."""

    ACCOUNT_CREATED = "account_created"
    ACCOUNT_MOVED_IN = "account_moved_in"
    ACCOUNT_REQUESTED = "account_requested"
    ACCOUNT_RESTORED = "account_restored"
    ACCOUNT_UNALLOCATED = "account_unallocated"
    ACCOUNT_UPDATED = "account_updated"
    AGENT_LICENCE_ISSUED = "agent_licence_issued"
    AGENT_UPLOADED = "agent_uploaded"
    API_TOKEN_CREATED = "api_token_created"
    API_TOKEN_REVOKED = "api_token_revoked"
    ATTENDANCE_RECORDED = "attendance_recorded"
    ATTENDANCE_SERVICE_CHANGED = "attendance_service_changed"
    CONNECTION_APPROVAL_REFUSED = "connection_approval_refused"
    CONNECTION_APPROVAL_STARTED = "connection_approval_started"
    CONNECTION_MADE = "connection_made"
    CONNECTION_REMOVED = "connection_removed"
    CONNECTION_SCHEDULE_CHANGED = "connection_schedule_changed"
    CONTACT_LINK_UPDATED = "contact_link_updated"
    CONTACT_LINKED = "contact_linked"
    CONTACT_RELINKED = "contact_relinked"
    CONTACT_UNLINKED = "contact_unlinked"
    CROSS_SCHOOL_AGREED = "cross_school_agreed"
    CROSS_SCHOOL_CASE_OPENED = "cross_school_case_opened"
    CROSS_SCHOOL_CASE_UPDATED = "cross_school_case_updated"
    CROSS_SCHOOL_DECLINED = "cross_school_declined"
    DOWNSTREAM_CLIENT_CREATED = "downstream_client_created"
    DOWNSTREAM_CLIENT_REVOKED = "downstream_client_revoked"
    DOWNSTREAM_CLIENT_ROTATED = "downstream_client_rotated"
    EXCLUSION_ADDED = "exclusion_added"
    EXCLUSION_REMOVED = "exclusion_removed"
    EXPORT_SCHEDULE_ADDED = "export_schedule_added"
    EXPORT_SCHEDULE_FAILED = "export_schedule_failed"
    EXPORT_SCHEDULE_REMOVED = "export_schedule_removed"
    EXPORT_SCHEDULE_WRITTEN = "export_schedule_written"
    FIELD_OPTED_IN = "field_opted_in"
    FIELD_OPTED_OUT = "field_opted_out"
    FORCE_RUN_QUEUED = "force_run_queued"
    GROUP_CREATED = "group_created"
    GROUP_REMOVED = "group_removed"
    GROUP_REOPENED = "group_reopened"
    GROUP_UPDATED = "group_updated"
    IDENTITY_CHANGE_WITHHELD = "identity_change_withheld"
    LEAVER_PENDING = "leaver_pending"
    MATCH_CASE_OPENED = "match_case_opened"
    MATCH_LINKED = "match_linked"
    MEMBERSHIP_ADDED = "membership_added"
    MEMBERSHIP_REMOVED = "membership_removed"
    MEMBERSHIP_REOPENED = "membership_reopened"
    MIS_PULL_FAILED = "mis_pull_failed"
    MIS_PULL_QUEUED = "mis_pull_queued"
    MIS_PULLED = "mis_pulled"
    MIS_PUSHED = "mis_pushed"
    NON_MIS_KEPT = "non_mis_kept"
    PUSH_CREDENTIALS_ISSUED = "push_credentials_issued"
    REPORT_ACCEPTED = "report_accepted"
    REPORT_REMOVED = "report_removed"
    RUN_REJECTED = "run_rejected"
    RUN_RELEASED = "run_released"
    RUN_SUPERSEDED = "run_superseded"
    RUN_WAITING = "run_waiting"
    SCHOOL_ADDED = "school_added"
    SCHOOL_MIS_CHANGED = "school_mis_changed"
    SCHOOL_POLICY_CHANGED = "school_policy_changed"
    SCHOOL_UPDATED = "school_updated"
    TENANT_CONNECTED = "tenant_connected"
    TENANT_DISCONNECTED = "tenant_disconnected"
    TENANT_PROVISIONED = "tenant_provisioned"
    UPLOAD_ABANDONED = "upload_abandoned"
    UPLOAD_PURGED = "upload_purged"
    UPLOAD_RECEIVED = "upload_received"
    WEBHOOK_ADDED = "webhook_added"
    WEBHOOK_DELIVERIES_PRUNED = "webhook_deliveries_pruned"
    WEBHOOK_DISABLED = "webhook_disabled"
    WEBHOOK_ENABLED = "webhook_enabled"
    WEBHOOK_REMOVED = "webhook_removed"
    WEBHOOK_REPLAYED = "webhook_replayed"
    WEBHOOK_ROTATED = "webhook_rotated"
    WEBHOOK_SECRETS_RESEALED = "webhook_secrets_resealed"


def audit_kind_choices() -> list[tuple[str, str]]:
    return list(AuditKind.choices)


class AuditEvent(models.Model):
    """Every change to the directory, why, and which run or person made it."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=40, choices=audit_kind_choices)  # an AuditKind
    reason = models.TextField()
    actor = models.CharField(max_length=150)  # "run 12" or a person's username
    # No foreign-key constraints in the database (docs/decisions/0109): an event is
    # written once, with the rows it names, in their transaction; checking each of a
    # first import's 65,000 took a second of the server's time at COMMIT. Deleting a
    # run, school or account an event names is still refused (PROTECT, by Django).
    run = models.ForeignKey(
        SyncRun,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    # Indexed with the event's id (Meta), not alone: "anything touching this school
    # since event N" (`settled.skip_holds`) is then one probe per school and account.
    school = models.ForeignKey(
        School,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
        db_index=False,
        db_constraint=False,
    )
    changes = models.JSONField(default=dict)

    class Meta:
        indexes = [
            models.Index(fields=["account", "at"], name="audit_account_at"),
            models.Index(fields=["school", "id"], name="audit_school_since"),
            models.Index(fields=["account", "id"], name="audit_account_since"),
        ]

    def __str__(self) -> str:
        return f"{self.at} {self.action} by {self.actor}"


class QueuedTask(models.Model):
    """A piece of background work as rollsync sees it (a sync of an upload, or the
    approval of a held run): the id callers hold, what was asked, and where it is.
    django-q2's queue row carries only this id to the worker (`directory.tasks`)."""

    class Kind(models.TextChoices):
        SYNC = "sync"
        APPROVE = "approve"
        PULL = "pull"  # pull a school's MIS (upload_id/run_id unused; school_id set)

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.CharField(max_length=36, primary_key=True)  # a UUID, as text
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Plain ids, not foreign keys: an upload or run gone before the task ran fails the
    # task with that id, and the record of it stays.
    upload_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    run_id = models.BigIntegerField(null=True, blank=True)
    school_id = models.BigIntegerField(null=True, blank=True)  # a pull: the school pulled
    reports = models.JSONField(default=list, blank=True)  # a pull: the reports asked (all: [])
    run_ids = models.JSONField(default=list, blank=True)  # a pull: its runs, one per report
    as_of = models.DateField(null=True, blank=True)
    actor = models.CharField(max_length=150)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    lease = models.BigIntegerField(null=True, blank=True)  # django-q2's queue row of the attempt
    enqueued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)

    class Meta:
        # /metrics reads the live tasks and the failed ones, never every task (0091).
        indexes = [
            models.Index(
                fields=["kind", "status", "enqueued_at"],
                name="task_live",
                condition=Q(status__in=["queued", "running"]),
            ),
            models.Index(fields=["kind"], name="task_failed", condition=Q(status="failed")),
        ]

    def __str__(self) -> str:
        return f"task {self.id} ({self.kind}, {self.status})"


class MisConnection(models.Model):
    """A school's connection to its MIS's API: one per school. Settings are plain; secrets
    (client secret, password, token) are encrypted with a key that is not in the database
    (`directory.secrets`), never shown again, and forgotten on disconnect."""

    class State(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval"  # the school has not approved access yet
        CONNECTED = "connected"  # the last check or pull worked
        FAILING = "failing"  # the last pull or check failed (last_error says why)

    school = models.OneToOneField(School, on_delete=models.PROTECT, related_name="connection")
    connector = models.CharField(max_length=20)  # a registered connector: "isams", "arbor", ...
    settings = models.JSONField(default=dict)  # url, client_id, username, wonde_school, ...
    secrets = models.BinaryField(default=b"")  # Fernet token of a JSON object; b"" when none
    state = models.CharField(max_length=20, choices=State.choices)
    # cron expression in the LA's time (settings.TIME_ZONE): "0 2 * * *", "30 18 * * 1-5"
    schedule = models.CharField(max_length=60)
    next_pull_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # per report: {"cursor": {...}, "upload": id} of the last pull whose run applied
    cursors = models.JSONField(default=dict)
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(
        max_length=20, blank=True, default=""
    )  # applied/held/failed/preview
    last_error = models.TextField(blank=True, default="")
    failures = models.PositiveIntegerField(default=0)  # pulls failed in a row
    credentials_refused = models.BooleanField(default=False)
    # A pull holds the connection while it runs, so a school's pulls never overlap; a
    # lease older than ROLLSYNC_PULL_LEASE_MINUTES (a killed worker) may be taken over.
    pulling_since = models.DateTimeField(null=True, blank=True)
    pull_holder = models.CharField(max_length=36, blank=True, default="")
    approval_state = models.CharField(max_length=64, blank=True, default="")  # Arbor hand-off nonce
    connected_at = models.DateTimeField(auto_now_add=True)
    connected_by = models.CharField(max_length=150, blank=True, default="")
    # The rollsync agent (SIMS): its last request with a valid licence key, and the last
    # status it reported (version, host, lights, last run: `services.agent`).
    last_contact_at = models.DateTimeField(null=True, blank=True)
    agent_status = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.connector} connection of {self.school_id}"


class AgentUpload(models.Model):
    """One extract the rollsync agent is uploading in chunks (`services.agent`): kept
    while bytes arrive, then stored as an `Upload` (`upload`) and its chunks deleted.
    An unfinished one is forgotten after `services.agent.UNFINISHED_FOR`."""

    class State(models.TextChoices):
        RECEIVING = "receiving"
        STORED = "stored"

    uid = models.CharField(max_length=40, unique=True)  # "u_...": what the agent names it by
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="agent_uploads")
    report = models.CharField(max_length=30)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    offset = models.PositiveBigIntegerField(default=0)  # bytes received, in whole chunks
    filename = models.CharField(max_length=255, blank=True, default="")
    extracted_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.RECEIVING)
    upload = models.ForeignKey(Upload, on_delete=models.SET_NULL, null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True, default="")
    replayed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["school", "report", "sha256"])]

    def __str__(self) -> str:
        return f"agent upload {self.uid} ({self.state}, {self.offset}/{self.size})"


class AgentUploadChunk(models.Model):
    """The bytes of one whole chunk of an `AgentUpload`, from `offset`."""

    agent_upload = models.ForeignKey(AgentUpload, on_delete=models.CASCADE, related_name="chunks")
    offset = models.PositiveBigIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agent_upload", "offset"], name="one_agent_chunk_per_offset"
            )
        ]

    def __str__(self) -> str:
        return f"chunk of agent upload {self.agent_upload_id} at {self.offset}"
