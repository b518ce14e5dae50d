"""Forms of the counter console. They only shape input; every rule is in the domain."""

from django import forms
from django.utils.translation import gettext_lazy as _

from healthcard.identity import NATIONS, IdType, Sex
from printing.jobs import MAX_COPIES
from printing.models import new_idempotency_key

CODE = forms.CharField(
    label=_("6-digit code"),
    required=False,
    max_length=10,
    widget=forms.TextInput(
        attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*"}
    ),
)


def phone_field(label) -> forms.CharField:
    """Optional; the domain (identity.validate_phone) says what a valid number is."""
    return forms.CharField(
        label=label,
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )


class SignInForm(forms.Form):
    username = forms.CharField(
        label=_("User name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    password = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    otp_token = CODE
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class EnrolForm(forms.Form):
    otp_token = forms.CharField(
        label=_("6-digit code from the app"),
        max_length=10,
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "one-time-code", "inputmode": "numeric"}
        ),
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class ScanForm(forms.Form):
    code = forms.CharField(
        label=_("Scan a health card code"),
        max_length=2000,
        strip=True,
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "off", "spellcheck": "false"}
        ),
    )


class IdSearchForm(forms.Form):
    id_type = forms.ChoiceField(
        label=_("ID document type"), choices=IdType.CHOICES, initial=IdType.RESIDENT_ID
    )
    id_number = forms.CharField(
        label=_("ID document number"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class EhcIdSearchForm(forms.Form):
    ehc_id = forms.RegexField(
        label=_("EHC ID (64 characters)"),
        regex=r"^[0-9A-Fa-f]{64}$",
        error_messages={"invalid": _("An EHC ID is 64 hexadecimal characters.")},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class RegisterForm(forms.Form):
    id_type = forms.ChoiceField(label=_("ID document type"), choices=IdType.CHOICES)
    id_number = forms.CharField(
        label=_("ID document number"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    name = forms.CharField(label=_("Full name"), max_length=50)
    sex = forms.ChoiceField(
        label=_("Sex"),
        required=False,
        choices=[("", _("From the ID number")), *Sex.CHOICES],
        help_text=_("Needed for documents other than the resident identity card."),
    )
    birth_date = forms.DateField(
        label=_("Birth date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Needed for documents other than the resident identity card."),
    )
    nation = forms.ChoiceField(label=_("Nation"), required=False, choices=[("", "—"), *NATIONS])
    phone = phone_field(_("Mobile phone (optional)"))
    address = forms.CharField(label=_("Address (optional)"), required=False, max_length=200)
    checked_in_person = forms.BooleanField(
        label=_("I checked the ID document in person"),
        error_messages={"required": _("Check the ID document in person before registering.")},
    )

    def focus(self) -> "RegisterForm":
        """Put the focus where the clerk types on: the first field in error, else the
        name after a search that found nobody (the document is filled in), else the
        first field. Call it last, once the domain has added its errors."""
        first = next((name for name in self.fields if name in self.errors), None)
        if first is None:
            first = "name" if self.initial.get("id_number") else "id_type"
        for name, field in self.fields.items():
            field.widget.attrs.pop("autofocus", None)
            if name == first:
                field.widget.attrs["autofocus"] = True
        return self


class PrintForm(forms.Form):
    printer = forms.ModelChoiceField(label=_("Printer"), queryset=None, empty_label=None)
    copies = forms.IntegerField(label=_("Copies"), min_value=1, max_value=MAX_COPIES, initial=1)
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, printers, initial_printer=None, **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("key", new_idempotency_key())
        if initial_printer is not None:
            kwargs["initial"].setdefault("printer", initial_printer)
        super().__init__(*args, **kwargs)
        self.fields["printer"].queryset = printers


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)


class StatusForm(ReasonForm):
    status = forms.ChoiceField(choices=[])  # filled with the card's allowed next states


class ContactForm(forms.Form):
    phone = phone_field(_("Mobile phone"))
    address = forms.CharField(label=_("Address"), required=False, max_length=200)


class ActivityFilter(forms.Form):
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    clerk = forms.ModelChoiceField(label=_("Clerk"), queryset=None, required=False)
    status = forms.ChoiceField(label=_("Print status"), required=False, choices=[])

    def __init__(self, *args, staff, statuses, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clerk"].queryset = staff
        self.fields["status"].choices = [("", _("Any")), *statuses]
