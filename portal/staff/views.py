"""The counter: search, the person's page, registration, printing and job actions.

Thin views: load what the clerk may see (404 outside their institution), call one
domain function, show the result. Personal data is never put into a URL: searches by
ID number are POSTed and answered in the same response.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from healthcard import access, cards, codes, people
from healthcard.clientip import client_ip
from healthcard.errors import DomainError
from healthcard.models import Card, CardStatus, Channel, Person
from portal.staff.auth import staff_required
from portal.staff.forms import (
    ContactForm,
    EhcIdSearchForm,
    IdSearchForm,
    PrintForm,
    ReasonForm,
    RegisterForm,
    ScanForm,
    StatusForm,
)
from printing import jobs
from printing.jobs import PrintError
from printing.models import Printer, PrintJob

#: What the console may refuse with a message (domain refusals of any area).
REFUSED = (DomainError, PrintError)


# --- scope -------------------------------------------------------------------------------


def home_institution(user):
    """The institution a staff member works for: where they register and print."""
    profile = getattr(user, "staff_profile", None)
    return profile.institution if profile is not None else None


def scoped(user, qs, condition):
    """`qs` limited to what `user` may see: `condition(institution)` for staff of one
    institution, everything for a province admin, nothing without a staff profile."""
    institution = access.staff_institution(user)
    if institution is None:
        return qs
    if institution is False:
        return qs.none()
    return qs.filter(condition(institution))


def visible_people(user):
    return scoped(user, Person.objects.all(), access.person_scope).distinct()


def visible_jobs(user):
    qs = PrintJob.objects.select_related("printer__institution", "card__person", "requested_by")
    return scoped(user, qs, lambda institution: Q(printer__institution=institution))


def counter_printers(user):
    """The printers a clerk may print on: their own institution's active ones."""
    return Printer.objects.filter(institution=home_institution(user), is_active=True)


def person_or_404(request, pk: int) -> Person:
    return get_object_or_404(visible_people(request.user).select_related("card"), pk=pk)


def job_or_404(request, pk: int) -> PrintJob:
    return get_object_or_404(visible_jobs(request.user), pk=pk)


def person_url(person: Person) -> str:
    return reverse("portal:staff:person", args=[person.pk])


def card_of(person: Person) -> Card | None:
    return Card.objects.filter(person=person).select_related("institution").first()


# --- search ------------------------------------------------------------------------------


def search_page(request, status=200, **context):
    context.setdefault("scan_form", ScanForm())
    context.setdefault("id_form", IdSearchForm())
    context.setdefault("ehc_form", EhcIdSearchForm())
    return render(request, "portal/staff/search.html", context, status=status)


@staff_required(perm="healthcard.view_person")
def home(request):
    return search_page(request)


@staff_required(perm="healthcard.view_person")
@require_POST
def search(request):
    mode = request.POST.get("mode")
    if mode == "scan":
        return _search_scan(request)
    if mode == "id":
        return _search_id(request)
    if mode == "ehc":
        return _search_ehc(request)
    return redirect("portal:staff:home")


#: Refusals that come after the signature check: the code is ours, the card is real.
SIGNED_REFUSALS = {
    codes.Reason.SUPERSEDED,
    codes.Reason.CARD_FROZEN,
    codes.Reason.CARD_CANCELLED,
    codes.Reason.EXPIRED,
}


def _search_scan(request):
    form = ScanForm(request.POST)
    if not form.is_valid():
        # Empty, too long, or with characters no code has (a NUL byte from a scanner).
        error = form["code"].value() and str(codes.Reason.MESSAGES[codes.Reason.MALFORMED])
        return search_page(request, scan_error=error or _("Scan or type a code."))
    result = codes.verify_code(form.cleaned_data["code"])
    card = None
    # Only a code whose signature held names its card (not an altered or forged one).
    ehc_id = result.card.ehc_id if result.ok else result.ehc_id
    if ehc_id and (result.ok or result.reason in SIGNED_REFUSALS):
        card = (
            Card.objects.filter(ehc_id=ehc_id, person__in=visible_people(request.user))
            .select_related("person")
            .first()
        )
    if result.ok and card is not None:
        return redirect(person_url(card.person))
    if result.ok:
        message = _("This card was issued by another institution; it is valid.")
    else:
        message = result.message
    # A known card (frozen, superseded ...) of this institution can still be opened.
    return search_page(request, scan_error=message, scan_reason=result.reason, scan_card=card)


def _search_id(request):
    form = IdSearchForm(request.POST)
    if not form.is_valid():
        return search_page(request, id_form=form)
    data = form.cleaned_data
    person, elsewhere = people.lookup_person(
        data["id_type"], data["id_number"], by=request.user, ip=client_ip(request)
    )
    if person is not None:
        return redirect(person_url(person))
    if elsewhere:
        return search_page(request, id_form=form, id_error=ELSEWHERE)
    # Not registered: the registration form, in this same response (no number in a URL).
    register = RegisterForm(initial={"id_type": data["id_type"], "id_number": data["id_number"]})
    return render(
        request, "portal/staff/register.html", {"form": register.focus(), "not_found": True}
    )


ELSEWHERE = _(
    "This person is already registered by another institution. Their card works here "
    "too; a new card cannot be issued."
)


def _search_ehc(request):
    form = EhcIdSearchForm(request.POST)
    if not form.is_valid():
        return search_page(request, ehc_form=form)
    card = (
        Card.objects.filter(
            ehc_id=form.cleaned_data["ehc_id"].upper(), person__in=visible_people(request.user)
        )
        .select_related("person")
        .first()
    )
    if card is None:
        return search_page(request, ehc_form=form, ehc_error=_("No card with this EHC ID here."))
    return redirect(person_url(card.person))


# --- registration ------------------------------------------------------------------------


@staff_required(perm="healthcard.add_person")
def register(request):
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        institution = home_institution(request.user)
        existing, elsewhere = people.lookup_person(
            data["id_type"], data["id_number"], by=request.user, ip=client_ip(request)
        )
        if existing is not None and card_of(existing) is not None:
            # A double submit, or someone registered already: their card, never a second.
            messages.info(request, _("This person already has a card: it is shown below."))
            return redirect(person_url(existing))
        if elsewhere:
            form.add_error(None, ELSEWHERE)
        elif institution is None:
            form.add_error(None, _("Your account has no institution to register for."))
        else:
            try:
                card, created = cards.register_and_issue(
                    _person_data(data),
                    channel=Channel.COUNTER,
                    institution=institution,
                    by=request.user,
                    ip=client_ip(request),
                    details={"id_document_checked": True},
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            except REFUSED as exc:
                form.add_error(None, str(exc))
            else:
                if created:
                    messages.success(request, _("The card is issued. Print it now."))
                else:
                    messages.info(request, _("This person already has a card: it is shown below."))
                return redirect(person_url(card.person) + "?issued=1")
    return render(request, "portal/staff/register.html", {"form": form.focus()})


def _person_data(data) -> people.PersonData:
    return people.PersonData(
        name=data["name"],
        id_type=data["id_type"],
        id_number=data["id_number"],
        sex=data["sex"] or None,
        birth_date=data["birth_date"],
        nation=data["nation"],
        phone=data["phone"],
        address=data["address"],
    )


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# --- the person's page ---------------------------------------------------------------------


@staff_required(perm="healthcard.view_person")
def person(request, pk: int):
    return person_page(request, person_or_404(request, pk))


def person_page(request, person: Person, *, status=200, identity=None, **forms):
    user = request.user
    card = card_of(person)
    context = {
        "person": person,
        "card": card,
        "identity": identity,
        "just_issued": request.GET.get("issued") == "1",
        "may_change_status": user.has_perm("healthcard.change_card_status"),
        "may_reveal": user.has_perm(people.REVEAL_PERMISSION),
        "may_change": user.has_perm(people.CONTACT_PERMISSION),
        "contact_form": forms.get("contact_form") or ContactForm(),
        "reveal_form": forms.get("reveal_form") or ReasonForm(),
        "replace_form": forms.get("replace_form") or ReasonForm(),
        "status_form": forms.get("status_form") or ReasonForm(),
    }
    if card is not None:
        context["jobs"] = list(visible_jobs(user).filter(card=card)[:5])
        context["next_states"] = [
            CardStatus(s) for s in sorted(Card.TRANSITIONS[CardStatus(card.status)])
        ]
        profile = getattr(user, "staff_profile", None)
        context["print_form"] = forms.get("print_form") or PrintForm(
            printers=counter_printers(user),
            initial_printer=profile.counter_printer_id if profile else None,
        )
    return render(request, "portal/staff/person.html", context, status=status)


def _card_or_404(request, pk: int) -> tuple[Person, Card]:
    person = person_or_404(request, pk)
    card = card_of(person)
    if card is None:
        raise Http404
    return person, card


@staff_required(perm="printing.add_printjob")
@require_POST
def print_card(request, pk: int):
    person, card = _card_or_404(request, pk)
    form = PrintForm(request.POST, printers=counter_printers(request.user))
    if not form.is_valid():
        return person_page(request, person, status=400, print_form=form)
    printer = form.cleaned_data["printer"]
    try:
        cards.require_active(card)
        job, created = jobs.submit_print_job(
            card,
            printer,
            copies=form.cleaned_data["copies"],
            requested_by=request.user,
            idempotency_key=form.cleaned_data["key"],
        )
    except REFUSED as exc:
        messages.error(request, str(exc))
        return redirect(person_url(person) + "#print")
    _remember_printer(request.user, printer)
    if created:
        messages.success(request, _("Sent to the printer %(printer)s.") % {"printer": printer.name})
    return redirect(person_url(person) + f"#job-{job.pk}")


def _remember_printer(user, printer: Printer) -> None:
    profile = getattr(user, "staff_profile", None)
    if profile is not None and profile.counter_printer_id != printer.pk:
        profile.counter_printer = printer
        profile.save(update_fields=["counter_printer"])


@staff_required(perm="healthcard.add_card")
@require_POST
def replace(request, pk: int):
    """Report the card lost and replace it: the issue sequence goes up, old paper dies."""
    person, card = _card_or_404(request, pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return person_page(request, person, status=400, replace_form=form)
    try:
        cards.replace_card(
            card, by=request.user, reason=form.cleaned_data["reason"], ip=client_ip(request)
        )
    except REFUSED as exc:
        messages.error(request, str(exc))
        return redirect(person_url(person))
    messages.success(
        request, _("The card is replaced: earlier slips no longer work. Print the new one now.")
    )
    return redirect(person_url(person) + "?issued=1")


@staff_required(perm="healthcard.change_card_status")
@require_POST
def change_status(request, pk: int):
    person, card = _card_or_404(request, pk)
    form = StatusForm(request.POST)
    form.fields["status"].choices = CardStatus.choices
    if not form.is_valid():
        return person_page(request, person, status=400, status_form=form)
    try:
        cards.set_status(
            card,
            form.cleaned_data["status"],
            by=request.user,
            reason=form.cleaned_data["reason"],
            ip=client_ip(request),
        )
    except REFUSED as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The card's status is changed."))
    return redirect(person_url(person))


@staff_required(perm=people.CONTACT_PERMISSION)
@require_POST
def change_contact(request, pk: int):
    person = person_or_404(request, pk)
    form = ContactForm(request.POST)
    if not form.is_valid():
        return person_page(request, person, status=400, contact_form=form)
    # An empty field leaves the stored value as it is (the page shows it masked).
    changes = {k: v for k, v in form.cleaned_data.items() if v}
    if not changes:
        messages.info(request, _("Nothing to change."))
        return redirect(person_url(person))
    try:
        _person, changed = people.change_person(
            person, by=request.user, ip=client_ip(request), **changes
        )
    except ValidationError as exc:
        _add_errors(form, exc)
        return person_page(request, person, status=400, contact_form=form)
    except REFUSED as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Saved.") if changed else _("Nothing to change."))
    return redirect(person_url(person))


@staff_required(perm=people.REVEAL_PERMISSION)
@require_POST
def reveal(request, pk: int):
    """Show the full identity once, in this response (audited, never stored)."""
    person = person_or_404(request, pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return person_page(request, person, status=400, reveal_form=form)
    try:
        identity = people.reveal_person(
            person,
            by=request.user,
            via="console",
            reason=form.cleaned_data["reason"],
            ip=client_ip(request),
        )
    except REFUSED as exc:
        messages.error(request, str(exc))
        return redirect(person_url(person))
    response = person_page(request, person, identity=identity)
    response["Cache-Control"] = "no-store"
    return response


# --- print jobs ----------------------------------------------------------------------------

JOB_ACTIONS = {
    "retry": jobs.retry,
    "cancel": jobs.cancel,
    "confirm": jobs.confirm_printed,
    "again": jobs.print_again,
}


@staff_required(perm="printing.view_printjob")
def job_row(request, pk: int):
    """The job's row alone: what the page's script polls to show progress."""
    job = job_or_404(request, pk)
    # In the day and institution lists a row also names the person and returns there.
    where = request.GET.get("from")
    context = {"job": job, "from": where if where in ("today", "activity") else ""}
    response = render(request, "portal/staff/_job.html", context)
    response["Cache-Control"] = "no-store"
    return response


@staff_required(perm="printing.add_printjob")
@require_POST
def job_action(request, pk: int, action: str):
    job = job_or_404(request, pk)
    do = JOB_ACTIONS.get(action)
    if do is None:
        raise Http404
    if action in ("retry", "again"):
        try:
            cards.require_active(job.card)
        except REFUSED as exc:
            messages.error(request, str(exc))
            return redirect(_job_return(request, job))
    try:
        do(job, by=request.user)
    except REFUSED as exc:
        messages.error(request, str(exc))
    return redirect(_job_return(request, job))


def _job_return(request, job: PrintJob) -> str:
    if request.POST.get("from") == "activity":
        return reverse("portal:staff:activity")
    if request.POST.get("from") == "today":
        return reverse("portal:staff:today")
    return reverse("portal:staff:person", args=[job.card.person_id]) + f"#job-{job.pk}"


@staff_required(perm="printing.view_printjob")
def job_pdf(request, pk: int):
    job = job_or_404(request, pk)
    try:
        path = jobs.open_pdf(job, by=request.user, ip=client_ip(request))
    except REFUSED:
        raise Http404 from None
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"health-card-{job.pk}.pdf",
        content_type="application/pdf",
    )
    response["Cache-Control"] = "no-store"
    return response
