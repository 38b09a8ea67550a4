"""Forms: input parsing and field validation only. Decisions are the services'."""

from __future__ import annotations

from typing import Any

from django import forms

from rollsync.access.roles import MIS_CATALOGUE
from rollsync.directory.services.uploads import too_large_message, upload_limit
from rollsync.domain.reports import CATALOGUE
from rollsync.ingest import FORMATS, format_label, reader_for

FORMAT_CHOICES = [(fmt, format_label(fmt)) for fmt in FORMATS]
ROLE_CHOICES = [("pupil", "Pupils"), ("staff", "Staff"), ("contact", "Contacts")]
STATUS_CHOICES = [("active", "Active"), ("future", "Future"), ("unallocated", "Unallocated")]


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + "."


class UploadForm(forms.Form):
    file = forms.FileField(label="File", help_text="The export as the MIS wrote it.")
    fmt = forms.ChoiceField(label="Format", choices=FORMAT_CHOICES)
    report = forms.ChoiceField(
        label="Report (a file of one report)",
        required=False,
        choices=[("", "Not a CSV: the file says"), *((c, s.label) for c, s in CATALOGUE.items())],
    )

    def clean_file(self) -> Any:
        f = self.cleaned_data["file"]
        if f.size > upload_limit():  # the upload handler stops sooner; this is a backstop
            raise forms.ValidationError(_sentence(too_large_message(f.size)))
        return f

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        fmt = data.get("fmt")
        one_report = fmt in FORMATS and reader_for(fmt).needs_report
        if one_report and not data.get("report"):
            self.add_error("report", "This format holds one report per file: choose which.")
        elif not one_report:
            data["report"] = ""  # a bundle or a CTF says which reports it holds
        return data


class MisForm(forms.Form):
    mis = forms.ChoiceField(
        label="MIS in use", choices=[("", "Not set"), *((n, n) for n in MIS_CATALOGUE)]
    )


class ReportForm(forms.Form):
    accepted = forms.TypedChoiceField(
        label="Accept",
        choices=[("1", "Accept"), ("0", "Remove")],
        coerce=lambda v: v == "1",
    )


class FieldOptOutForm(forms.Form):
    uploaded = forms.TypedChoiceField(
        label="Upload this field",
        choices=[("1", "Uploaded"), ("0", "Not uploaded")],
        coerce=lambda v: v == "1",
    )


class PolicyForm(forms.Form):
    guard_unallocate_pct = forms.FloatField(
        label="Guard threshold (% of one role's active accounts, or of groups, memberships or contact links, a run may remove before it is held)",
        min_value=0,
        max_value=100,
    )
    leaver_grace_days = forms.IntegerField(
        label="Leaver grace period (days a leaver keeps access)", min_value=0, max_value=366
    )


class ForceRunForm(forms.Form):
    feed = forms.CharField(label="Report", max_length=80)


class CaseDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label="Decision",
        choices=[
            ("link", "Match to this account"),
            ("create", "Create new"),
            ("exclude", "Never create"),
        ],
    )
    account = forms.IntegerField(label="Account", required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") == "link" and data.get("account") is None:
            self.add_error("account", "Choose the account to match to.")
        return data


class ExclusionForm(forms.Form):
    mis_id = forms.CharField(label="MIS ID", required=False, max_length=64)
    given_name = forms.CharField(label="Forename", required=False, max_length=100)
    family_name = forms.CharField(label="Surname", required=False, max_length=100)
    date_of_birth = forms.DateField(
        label="Date of birth (YYYY-MM-DD)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    role = forms.ChoiceField(
        label="Role",
        required=False,
        choices=[("", "Any"), *ROLE_CHOICES[:2], ("contact", "Contact")],
    )
    note = forms.CharField(label="Note", required=False, max_length=300)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("mis_id") and not (data.get("given_name") and data.get("family_name")):
            raise forms.ValidationError("Give an MIS ID, or a forename and a surname.")
        return data


class RequestSingleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=[("pupil", "Pupil"), ("staff", "Staff")])
    legal_given_name = forms.CharField(label="Legal forename", max_length=100)
    legal_family_name = forms.CharField(label="Legal surname", max_length=100)
    preferred_given_name = forms.CharField(
        label="Preferred forename", required=False, max_length=100
    )
    date_of_birth = forms.DateField(
        label="Date of birth", widget=forms.DateInput(attrs={"type": "date"})
    )
    start_date = forms.DateField(
        label="Start date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class UserFilterForm(forms.Form):
    q = forms.CharField(label="Name, username or MIS ID", required=False, max_length=100)
    role = forms.ChoiceField(label="Role", required=False, choices=[("", "All"), *ROLE_CHOICES])
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "All"), *STATUS_CHOICES]
    )
    year_group = forms.ChoiceField(label="Year group", required=False)
    registration_group = forms.ChoiceField(label="Registration group", required=False)
    latest = forms.ChoiceField(
        label="Latest move or create",
        required=False,
        choices=[("", "Any time"), ("7", "In the last 7 days"), ("30", "In the last 30 days")],
    )

    def __init__(self, *args: Any, years: list[str], regs: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["year_group"].choices = [("", "All"), *((y, y) for y in years)]
        self.fields["registration_group"].choices = [("", "All"), *((r, r) for r in regs)]


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Six-digit code from your authenticator app",
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*"}
        ),
    )


class DashboardFilterForm(forms.Form):
    attention = forms.BooleanField(label="Only schools that need attention", required=False)


# --- MIS connection ------------------------------------------------------------------------

SECRET_KEPT = "A value is stored: leave blank to keep the stored one."


class ConnectionForm(forms.Form):
    """Connect a school's MIS: one field per `SettingField` of the connector. Secrets are
    password inputs, never filled in again; which ones are stored is said in their help.
    Whether a value is required, and whether it works, is the service's decision (it
    names the field at fault)."""

    connector = forms.CharField(widget=forms.HiddenInput, max_length=20)

    def __init__(
        self,
        *args: Any,
        fields: tuple[Any, ...],
        secrets_set: list[str] | tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("auto_id", "conn_%s")
        super().__init__(*args, **kwargs)
        self.setting_fields = fields
        for f in fields:
            help_parts = [f.help] if f.help else []
            if f.secret and f.name in secrets_set:
                help_parts.append(SECRET_KEPT)
            elif f.required:
                help_parts.append("Required.")
            else:
                help_parts.append("Optional.")
            widget: forms.Widget = (
                forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
                if f.secret
                else forms.TextInput(attrs={"autocomplete": "off"})
            )
            self.fields[f.name] = forms.CharField(
                label=f.label,
                required=False,
                max_length=500,
                strip=True,
                widget=widget,
                help_text=" ".join(help_parts),
            )

    def values(self) -> tuple[dict[str, str], dict[str, str]]:
        """(settings, secrets) as entered."""
        data = self.cleaned_data
        settings = {f.name: data.get(f.name) or "" for f in self.setting_fields if not f.secret}
        secrets = {f.name: data.get(f.name) or "" for f in self.setting_fields if f.secret}
        return settings, secrets


class ConnectorChoiceForm(forms.Form):
    connector = forms.ChoiceField(label="MIS to connect")

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "choose_%s")
        super().__init__(*args, **kwargs)
        self.fields["connector"].choices = choices


class ScheduleForm(forms.Form):
    schedule = forms.CharField(
        label="Schedule (five cron fields, in the LA's time)",
        max_length=60,
        help_text="For example 0 2 * * * (every day at 02:00) or 30 18 * * 1-5 (weekday evenings at 18:30).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "schedule_%s")
        super().__init__(*args, **kwargs)


class PullForm(forms.Form):
    """Force run through the MIS connection: every accepted report, or one."""

    report = forms.ChoiceField(
        label="Report to run",
        required=False,
        choices=[("", "Every accepted report"), *((c, s.label) for c, s in CATALOGUE.items())],
    )

    def __init__(
        self, *args: Any, reports: list[tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("auto_id", "pull_%s")
        super().__init__(*args, **kwargs)
        if reports is not None:
            self.fields["report"].choices = [("", "Every accepted report"), *reports]
