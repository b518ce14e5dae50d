"""The resident portal: apply, show and use the card, manage family cards.

Thin views: load what the account may see (healthcard.selfservice.find_managed, a 404
for anything else), call one domain function, render. Signing in is in signin.py.
"""

import secrets

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from healthcard import applications, codes, selfservice
from healthcard.applications import ApplicationError
from healthcard.clientip import client_ip
from healthcard.errors import DomainError
from healthcard.identity import IdType
from healthcard.models import (
    Application,
    ApplicationRelation,
    ApplicationStatus,
    Card,
    CardStatus,
    Guardianship,
)
from healthcard.people import PersonData
from healthcard.pii import mask_number
from healthcard.sms import SmsError
from portal import qr
from portal.resident.base import account_phone, resident_required
from portal.resident.forms import ApplyForm, CodeForm
from portal.tasks import schedule_recheck
from printing.slips import SlipError


# --- My cards --------------------------------------------------------------------------
def _entry(person, own_pk):
    card = getattr(person, "card", None)
    return {
        "person": person,
        "ref": selfservice.person_ref(person),
        "card": card,
        "is_own": person.pk == own_pk,
    }


@resident_required
def dashboard(request):
    people = selfservice.managed_people(request.user)
    own_pk = people[0].pk if people else None
    managers = []
    if people:
        managers = [
            {"link": link, "ref": selfservice.person_ref(link.guardian)}
            for link in Guardianship.objects.filter(dependant=people[0]).select_related("guardian")
        ]
    open_apps = Application.objects.filter(
        applicant=request.user,
        status__in=[ApplicationStatus.PENDING, ApplicationStatus.CONFIRMING],
    )
    return render(
        request,
        "portal/dashboard.html",
        {
            "entries": [_entry(p, own_pk) for p in people],
            "has_own": bool(people),
            "family_room": len(people) - 1 < applications.MAX_FAMILY if people else False,
            "applications": open_apps,
            "managers": managers,
            "masked_phone": request.user.otp_device.masked_phone,
        },
    )


def _managed_or_404(request, ref: str):
    person = selfservice.find_managed(request.user, ref)
    if person is None:
        raise Http404
    return person


def _card_or_404(request, ref: str) -> tuple:
    person = _managed_or_404(request, ref)
    card = Card.objects.filter(person=person).select_related("institution").first()
    if card is None:
        raise Http404
    return person, card


def _card_context(request, person, card) -> dict:
    people = selfservice.managed_people(request.user)
    own_pk = people[0].pk if people else None
    return {
        "person": person,
        "card": card,
        "ref": selfservice.person_ref(person),
        "is_own": person.pk == own_pk,
        "entries": [_entry(p, own_pk) for p in people],
        "active": card.status == CardStatus.ACTIVE,
        "ehc_groups": [card.ehc_id[i : i + 4] for i in range(0, 64, 4)],
        "lifetime": settings.HEALTHCARD_DYNAMIC_CODE_SECONDS,
    }


@resident_required
def card_detail(request, ref):
    person, card = _card_or_404(request, ref)
    context = _card_context(request, person, card)
    context["links"] = selfservice.linked_numbers(card, by=request.user)
    context["can_replace"] = selfservice.can_replace_online(card)
    return render(request, "portal/card.html", context)


@resident_required
def card_show(request, ref):
    person, card = _card_or_404(request, ref)
    if card.status != CardStatus.ACTIVE:
        return redirect("portal:card", ref=ref)
    return render(request, "portal/card_show.html", _card_context(request, person, card))


@resident_required
def card_code(request, ref):
    """A fresh dynamic code as SVG; the page's script fetches one before the last expires."""
    _person, card = _card_or_404(request, ref)
    try:
        text = codes.dynamic_code(card)
    except codes.CodeError:
        raise Http404 from None
    response = HttpResponse(qr.svg(text), content_type="image/svg+xml")
    response["X-Code-Expires-In"] = str(settings.HEALTHCARD_DYNAMIC_CODE_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


@resident_required
def card_static(request, ref):
    person, card = _card_or_404(request, ref)
    context = _card_context(request, person, card)
    if card.status == CardStatus.ACTIVE:
        context["static_svg"] = qr.data_uri(codes.static_code(card))
    return render(request, "portal/card_static.html", context)


@resident_required
def card_slip(request, ref):
    _person, card = _card_or_404(request, ref)
    try:
        pdf = selfservice.download_slip(card, by=request.user, ip=client_ip(request))
    except SlipError as exc:
        messages.error(request, str(exc))
        return redirect("portal:card", ref=ref)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="health-card.pdf"'
    response["Cache-Control"] = "no-store"
    return response


@resident_required
def card_lost(request, ref):
    person, card = _card_or_404(request, ref)
    if request.method == "POST":
        try:
            selfservice.report_lost(card, by=request.user, ip=client_ip(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("The card is frozen: its codes no longer work. Replace it to get a new code."),
            )
        return redirect("portal:card", ref=ref)
    return render(request, "portal/card_lost.html", _card_context(request, person, card))


@resident_required
@require_POST
def card_replace(request, ref):
    _person, card = _card_or_404(request, ref)
    try:
        selfservice.replace_lost(card, by=request.user, ip=client_ip(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("The card was replaced. Old printed codes no longer work; print a new one.")
        )
    return redirect("portal:card", ref=ref)


@resident_required
def card_history(request, ref):
    person, card = _card_or_404(request, ref)
    context = _card_context(request, person, card)
    context["history"] = selfservice.history(card, by=request.user)
    return render(request, "portal/card_history.html", context)


@resident_required
def family_remove(request, ref):
    """The account stops managing a family member's card (`ref` is the member), or the
    holder ends someone's management of their own card (`ref` is that manager). A page
    asks first; the form on it does it."""
    link = selfservice.find_family_link(request.user, ref)
    if link is None:
        raise Http404
    if request.method != "POST":
        own = link.guardian.user_id == request.user.pk
        other = link.dependant if own else link.guardian
        return render(
            request, "portal/family_remove.html", {"other": other, "i_manage": own, "ref": ref}
        )
    selfservice.remove_manager(link, by=request.user, ip=client_ip(request))
    messages.success(request, _("The family link was removed."))
    return redirect("portal:dashboard")


# --- Applying --------------------------------------------------------------------------
def _person_data(cleaned: dict) -> PersonData:
    derived = cleaned["id_type"] == IdType.RESIDENT_ID  # sex and birth date come from it
    return PersonData(
        name=cleaned["name"],
        id_type=cleaned["id_type"],
        id_number=cleaned["id_number"],
        sex=None if derived else (cleaned.get("sex") or None),
        birth_date=None if derived else cleaned.get("birth_date"),
        nation=cleaned.get("nation") or "",
        phone=(cleaned.get("phone") or "").strip()
        if cleaned["relation"] != ApplicationRelation.SELF
        else "",
        address=cleaned.get("address") or "",
    )


@resident_required
def apply(request):
    has_own = selfservice.managed_people(request.user) != []
    initial = {
        "form_token": secrets.token_urlsafe(24),
        "relation": ApplicationRelation.CHILD if has_own else ApplicationRelation.SELF,
    }
    form = ApplyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            app = applications.apply(
                request.user,
                _person_data(form.cleaned_data),
                relation=form.cleaned_data["relation"],
                form_token=form.cleaned_data["form_token"],
                account_phone=account_phone(request),
                ip=client_ip(request),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        except (ApplicationError, SmsError) as exc:
            form.add_error(None, exc.message)
        else:
            if app.status == ApplicationStatus.PENDING and app.next_check_at:
                schedule_recheck(app)
            if app.status == ApplicationStatus.ISSUED:
                messages.success(request, _("The card is ready."))
                return redirect("portal:card", ref=selfservice.person_ref(app.person))
            return redirect("portal:application", ref=app.ref)
    return render(request, "portal/apply.html", {"form": form, "has_own": has_own})


def _application_or_404(request, ref: str) -> Application:
    app = Application.objects.filter(applicant=request.user, ref=ref).first()
    if app is None:
        raise Http404
    return app


@resident_required
def application(request, ref):
    app = _application_or_404(request, ref)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and "resend" in request.POST:
        try:
            applications.resend_confirmation(app, ip=client_ip(request))
        except (DomainError, SmsError) as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("A new code has been sent to the family member."))
        return redirect("portal:application", ref=ref)
    if request.method == "POST" and form.is_valid():
        try:
            app = applications.confirm_family(app, form.cleaned_data["code"], ip=client_ip(request))
        except ApplicationError as exc:
            form.add_error("code", exc.message)
    card_ref = None
    if app.status == ApplicationStatus.ISSUED and app.person_id:
        person = selfservice.find_managed(request.user, selfservice.person_ref(app.person))
        card_ref = selfservice.person_ref(person) if person else None
        if card_ref and request.method == "POST":
            return redirect("portal:card", ref=card_ref)
    until = applications.locked_until(request.user)
    mismatches = applications.failed_attempts(request.user)
    return render(
        request,
        "portal/application.html",
        {
            "app": app,
            "form": form,
            "card_ref": card_ref,
            "counter_message": applications.COUNTER_MESSAGE,
            "locked_until": until,
            "attempts_left": max(0, applications.MAX_MISMATCHES - mismatches),
            "masked_member_phone": mask_number(app.phone, 3, 4) if app.phone else "",
        },
    )
