"""Resident forms: plain fields; every rule is checked by the domain they call."""

from django import forms
from django.utils.translation import gettext_lazy as _

from healthcard.identity import NATIONS, IdType, Sex
from healthcard.models import ApplicationRelation


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=20,
        help_text=_("The 11-digit number of your mobile phone."),
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("6-digit code from the text message"),
        max_length=6,
        min_length=6,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]*"}
        ),
    )


class ApplyForm(forms.Form):
    relation = forms.ChoiceField(
        label=_("Whose card is this?"),
        choices=ApplicationRelation.choices,
        widget=forms.RadioSelect,
        initial=ApplicationRelation.SELF,
    )
    name = forms.CharField(label=_("Full name"), max_length=60)
    id_type = forms.ChoiceField(
        label=_("Identity document"), choices=IdType.CHOICES, initial=IdType.RESIDENT_ID
    )
    id_number = forms.CharField(
        label=_("Document number"),
        max_length=40,
        help_text=_("For a child without an identity card: the birth certificate number."),
    )
    nation = forms.ChoiceField(label=_("Nation"), choices=[("", "—"), *NATIONS], required=False)
    sex = forms.ChoiceField(
        label=_("Sex"),
        choices=[("", "—"), *Sex.CHOICES],
        required=False,
        help_text=_("Taken from the number for a resident identity card."),
    )
    birth_date = forms.DateField(
        label=_("Birth date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Taken from the number for a resident identity card."),
    )
    address = forms.CharField(label=_("Address (optional)"), max_length=200, required=False)
    phone = forms.CharField(
        label=_("Family member's own mobile number"),
        max_length=20,
        required=False,
        help_text=_("Only for a family member aged 16 or over: they get a code to confirm."),
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )
    form_token = forms.CharField(widget=forms.HiddenInput, max_length=64)
