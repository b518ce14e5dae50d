"""Online applications (申领) from the resident portal, and the family-card rules.

`apply` takes what a signed-in resident entered for themselves or a family member and
decides it at once when it can:

- an identity already registered (at a counter) is attached only when the name, the ID
  number and the phone number on file all match; otherwise the resident is told to
  visit a counter, with the same words whether or not someone else holds the card;
- a new identity goes to the real-name verifier (healthcard.realname): verified -> the
  card is issued (channel 1, online self-service); mismatch -> refused and counted
  (MAX_MISMATCHES failed attempts in a day lock applying for a day); unavailable -> the application
  waits as pending and `recheck` (a Celery task) asks again with backoff and tells the
  applicant the decision by SMS;
- a family member under 16 is linked at once; an adult only after confirming with a
  code sent by SMS to their own phone (`confirm_family`).

Family limits: one account manages at most MAX_FAMILY family members' cards and one
card has at most MAX_MANAGERS managers besides its holder.
"""

import datetime
import secrets
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from healthcard import audit, cards, pii, realname, sms
from healthcard.errors import DomainError
from healthcard.models import (
    Application,
    ApplicationRelation,
    ApplicationStatus,
    Card,
    Channel,
    Guardianship,
    Institution,
    Level,
    Person,
    Relation,
)
from healthcard.people import PersonData, add_dependant, clean_person_data, find_person

MAX_FAMILY = 5
MAX_MANAGERS = 2
MAX_MISMATCHES = 5
MISMATCH_WINDOW = datetime.timedelta(days=1)
ADULT_AGE = 16
CONFIRM_VALID = datetime.timedelta(minutes=10)
CONFIRM_MAX_FAILURES = 5
#: Re-check delays for a pending application: 1, 2, 4 ... minutes, at most 6 hours.
RECHECK_BASE = datetime.timedelta(minutes=1)
RECHECK_MAX = datetime.timedelta(hours=6)

COUNTER_MESSAGE = gettext_lazy(
    "We cannot issue this card online. Please bring the identity document to any hospital counter."
)


class ApplicationError(DomainError):
    """A refused application or family change."""

    http_status = 422


# --- Family rules ----------------------------------------------------------------------
def age_on(birth_date: datetime.date, day: datetime.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def is_minor(birth_date: datetime.date) -> bool:
    return age_on(birth_date, timezone.localdate()) < ADULT_AGE


def check_family_room(guardian: Person, dependant: Person | None = None) -> None:
    """Refuse a sixth family member ('family_full') or a third manager ('managers_full')."""
    if Guardianship.objects.filter(guardian=guardian).count() >= MAX_FAMILY:
        raise ApplicationError(
            "family_full",
            _("One account can manage at most %(n)d family members' cards.") % {"n": MAX_FAMILY},
        )
    if dependant is not None:
        if Guardianship.objects.filter(guardian=guardian, dependant=dependant).exists():
            raise ApplicationError("already_linked", _("You already manage this card."))
        if Guardianship.objects.filter(dependant=dependant).count() >= MAX_MANAGERS:
            raise ApplicationError(
                "managers_full",
                _("This card is already managed by %(n)d accounts, the most allowed.")
                % {"n": MAX_MANAGERS},
            )


def link_family(
    guardian: Person, dependant: Person, relation: str, *, by: Any, ip: str | None = None
) -> Guardianship:
    """add_dependant within the family limits, both people locked so that two requests
    cannot pass the limits together."""
    with transaction.atomic():
        for pk in sorted({guardian.pk, dependant.pk}):
            Person.objects.select_for_update().get(pk=pk)
        check_family_room(guardian, dependant)
        return add_dependant(guardian, dependant, relation, by=by, ip=ip)


# --- Applying --------------------------------------------------------------------------
def online_institution() -> Institution:
    """The institution that online cards are issued by: HEALTHCARD_ONLINE_INSTITUTION,
    or else the top health authority."""
    code = settings.HEALTHCARD_ONLINE_INSTITUTION
    qs = Institution.objects.all()
    institution = (
        qs.filter(code=code).first()
        if code
        else qs.filter(level=Level.AUTHORITY).order_by("parent_id", "code").first()
    )
    if institution is None:
        raise ApplicationError(
            "not_configured", _("Online applications are not available at the moment.")
        )
    return institution


#: Outcomes that count as a failed attempt. "Visit a counter" counts too: otherwise
#: trying numbers would tell registered identities from unknown ones without limit.
FAILED_ATTEMPT = [ApplicationStatus.MISMATCH, ApplicationStatus.COUNTER]


def failed_attempts(user) -> int:
    return Application.objects.filter(
        applicant=user,
        status__in=FAILED_ATTEMPT,
        decided_at__gt=timezone.now() - MISMATCH_WINDOW,
    ).count()


def locked_until(user) -> datetime.datetime | None:
    """When applying is unlocked again after MAX_MISMATCHES failed attempts (mismatch or
    "visit a counter") within a day."""
    since = timezone.now() - MISMATCH_WINDOW
    times = list(
        Application.objects.filter(applicant=user, status__in=FAILED_ATTEMPT, decided_at__gt=since)
        .order_by("-decided_at")
        .values_list("decided_at", flat=True)[:MAX_MISMATCHES]
    )
    if len(times) < MAX_MISMATCHES:
        return None
    return times[-1] + MISMATCH_WINDOW


def _relation(relation: str) -> str:
    return {
        ApplicationRelation.CHILD: Relation.CHILD,
        ApplicationRelation.PARENT: Relation.PARENT,
        ApplicationRelation.SPOUSE: Relation.SPOUSE,
    }.get(relation, Relation.OTHER)


def apply(
    user,
    data: PersonData,
    *,
    relation: str,
    form_token: str,
    account_phone: str,
    ip: str | None = None,
) -> Application:
    """Apply for a card for oneself (relation 'self') or a family member; returns the
    application with its status. The same `form_token` submitted twice returns the
    first application. Refuses invalid data (ValidationError), a locked account, a
    second own card, a full family (ApplicationError). For an adult family member
    `data.phone` is their own phone, which gets the confirmation code."""
    existing = Application.objects.filter(applicant=user, form_token=form_token).first()
    if existing is not None:
        return existing
    if relation not in ApplicationRelation.values:
        raise ApplicationError("relation", _("Choose whose card this is."))
    data = clean_person_data(data)
    until = locked_until(user)
    if until is not None:
        raise ApplicationError(
            "locked",
            _(
                "The details did not match the population register too many times. "
                "You can apply again after %(time)s, or visit a counter."
            )
            % {"time": timezone.localtime(until).strftime("%Y-%m-%d %H:%M")},
        )
    own = Person.objects.filter(user=user).first()
    adult_member = relation != ApplicationRelation.SELF and not is_minor(data.birth_date)
    if relation == ApplicationRelation.SELF:
        if own is not None:
            raise ApplicationError("has_card", _("Your account already has its own card."))
    else:
        if own is None:
            raise ApplicationError(
                "self_first", _("Apply for your own card first, then add family members.")
            )
        check_family_room(own)
        if adult_member and not data.phone:
            raise ApplicationError(
                "phone_required",
                _("Enter the family member's own mobile number: they confirm with a code."),
            )
    phone = data.phone if adult_member else ""
    app = Application(
        applicant=user,
        form_token=form_token,
        relation=relation,
        name=data.name,
        id_type=data.id_type,
        id_number_enc=pii.encrypt(data.id_number, "id_number"),
        identity_index=Person.identity_index_for(data.id_type, data.id_number),
        sex=data.sex,
        birth_date=data.birth_date,
        nation=data.nation,
        address_enc=pii.encrypt(data.address, "address") if data.address else None,
        phone_enc=pii.encrypt(phone, "phone") if phone else None,
        notify_phone_enc=pii.encrypt(account_phone, "phone") if account_phone else None,
        status=ApplicationStatus.PENDING,
    )
    try:
        with transaction.atomic():
            app.save()
    except IntegrityError:
        # The same form submitted twice at once: the other request made it.
        return Application.objects.get(applicant=user, form_token=form_token)
    try:
        return _decide(app, ip=ip)
    except ApplicationError:
        _finish(app, ApplicationStatus.REJECTED)  # e.g. the card has two managers already
        raise


def _data(app: Application) -> PersonData:
    return PersonData(
        name=app.name,
        id_type=app.id_type,
        id_number=app.id_number,
        sex=app.sex,
        birth_date=app.birth_date,
        nation=app.nation,
        phone=app.phone if app.relation != ApplicationRelation.SELF else app.notify_phone,
        address=app.address,
    )


def _finish(app: Application, status: str, person: Person | None = None) -> Application:
    app.status = status
    app.person = person
    app.decided_at = timezone.now()
    app.next_check_at = None
    app.save(update_fields=["status", "person", "decided_at", "next_check_at"])
    return app


def _decide(app: Application, *, ip: str | None) -> Application:
    user = app.applicant
    known = find_person(app.id_type, app.id_number)
    if known is not None:
        return _attach_known(app, known, ip=ip)
    outcome = realname.verify_identity(app.name, app.id_type, app.id_number)
    if outcome is realname.Outcome.UNAVAILABLE:
        app.checks += 1
        app.next_check_at = timezone.now() + recheck_delay(app.checks)
        app.save(update_fields=["checks", "next_check_at"])
        return app
    if outcome is realname.Outcome.MISMATCH:
        return _finish(app, ApplicationStatus.MISMATCH)
    if app.relation != ApplicationRelation.SELF and not is_minor(app.birth_date):
        return _ask_confirmation(app, ip=ip)
    with transaction.atomic():
        card, _created = cards.register_and_issue(
            _data(app), channel=Channel.ONLINE, institution=online_institution(), by=user, ip=ip
        )
        person = card.person
        if app.relation == ApplicationRelation.SELF:
            _take_card(person, user, ip=ip)
        else:
            own = Person.objects.get(user=user)
            link_family(own, person, _relation(app.relation), by=user, ip=ip)
        return _finish(app, ApplicationStatus.ISSUED, person)


def _take_card(person: Person, user, *, ip: str | None) -> None:
    """The account becomes the card holder's own (person.user)."""
    person.user = user
    person.save(update_fields=["user", "updated_at"])
    audit.record("card.attach", actor=user, obj=person, ip=ip)


def _attach_known(app: Application, person: Person, *, ip: str | None) -> Application:
    """Attach an already registered identity: name and phone on file must match (the
    applicant's phone for themselves or a child, the member's own for an adult)."""
    user = app.applicant
    phone = app.phone or app.notify_phone
    card = Card.objects.filter(person=person).first()
    matches = (
        card is not None
        and person.name == app.name
        and bool(phone)
        and constant_time_compare(person.phone_index, Person.phone_index_for(phone))
    )
    if app.relation == ApplicationRelation.SELF:
        if not matches or person.user_id is not None:
            return _finish(app, ApplicationStatus.COUNTER)
        with transaction.atomic():
            _take_card(person, user, ip=ip)
            return _finish(app, ApplicationStatus.ISSUED, person)
    if not matches:
        return _finish(app, ApplicationStatus.COUNTER)
    own = Person.objects.get(user=user)
    if person.pk == own.pk:
        return _finish(app, ApplicationStatus.COUNTER)
    if not is_minor(person.birth_date):
        app.person = person
        return _ask_confirmation(app, ip=ip)
    with transaction.atomic():
        link_family(own, person, _relation(app.relation), by=user, ip=ip)
        return _finish(app, ApplicationStatus.ISSUED, person)


def _ask_confirmation(app: Application, *, ip: str | None) -> Application:
    code = f"{secrets.randbelow(10**6):06d}"
    app.confirm_salt = secrets.token_hex(16)
    app.confirm_hash = _code_hash(app, code)
    app.confirm_until = timezone.now() + CONFIRM_VALID
    app.confirm_failures = 0
    app.status = ApplicationStatus.CONFIRMING
    app.next_check_at = None
    app.save()
    body = _(
        "[Hunan health card] Code %(code)s: a family member asks to manage your electronic "
        "health card. Give them this code only if you agree. Valid for 10 minutes."
    ) % {"code": code}
    sms.send_sms(app.phone, body, purpose="family", ip=ip)
    return app


def _code_hash(app: Application, code: str) -> str:
    return pii.blind_index(f"{app.confirm_salt}:{code}", "family_confirm")


def resend_confirmation(app: Application, *, ip: str | None = None) -> Application:
    if app.status != ApplicationStatus.CONFIRMING:
        raise ApplicationError("not_confirming", _("This application needs no confirmation."))
    return _ask_confirmation(app, ip=ip)


def confirm_family(app: Application, code: str, *, ip: str | None = None) -> Application:
    """Finish an adult family member's application with the code sent to their phone.
    Refuses a wrong or expired code; after CONFIRM_MAX_FAILURES wrong codes a new code
    must be sent."""
    with transaction.atomic():
        app = Application.objects.select_for_update().get(pk=app.pk)
        if app.status != ApplicationStatus.CONFIRMING:
            raise ApplicationError("not_confirming", _("This application needs no confirmation."))
        if app.confirm_failures >= CONFIRM_MAX_FAILURES:
            raise ApplicationError(
                "confirm_locked", _("Too many wrong codes. Send a new code to the family member.")
            )
        if app.confirm_until is None or timezone.now() >= app.confirm_until:
            raise ApplicationError("confirm_expired", _("The code has expired. Send a new code."))
        if not constant_time_compare(_code_hash(app, (code or "").strip()), app.confirm_hash):
            app.confirm_failures += 1
            app.save(update_fields=["confirm_failures"])
            raise ApplicationError("confirm_wrong", _("The code is not correct."))
        user = app.applicant
        person = app.person
        if person is None:
            card, _created = cards.register_and_issue(
                _data(app), channel=Channel.ONLINE, institution=online_institution(), by=user, ip=ip
            )
            person = card.person
        own = Person.objects.get(user=user)
        link_family(own, person, _relation(app.relation), by=user, ip=ip)
        app.confirm_hash = ""
        return _finish(app, ApplicationStatus.ISSUED, person)


# --- Pending applications --------------------------------------------------------------
def recheck_delay(checks: int) -> datetime.timedelta:
    return min(RECHECK_BASE * (2 ** max(checks - 1, 0)), RECHECK_MAX)


def recheck(application_id: int) -> Application | None:
    """Ask the verifier again about a pending application that is due. Claims it with a
    conditional UPDATE so that two workers never check it twice; returns the
    application, or None when it was not due or someone else claimed it. Tells the
    applicant the decision by SMS."""
    now = timezone.now()
    lease = now + datetime.timedelta(minutes=5)
    claimed = Application.objects.filter(
        pk=application_id, status=ApplicationStatus.PENDING, next_check_at__lte=now
    ).update(next_check_at=lease)
    if not claimed:
        return None
    app = Application.objects.select_related("applicant").get(pk=application_id)
    try:
        app = _decide(app, ip=None)
    except (DomainError, sms.SmsError):
        app.refresh_from_db()
        if app.status == ApplicationStatus.PENDING:
            _finish(app, ApplicationStatus.REJECTED)
    if app.status != ApplicationStatus.PENDING and app.notify_phone:
        sms.notify(app.notify_phone, decision_message(app), purpose="decision")
    return app


def decision_message(app: Application) -> str:
    if app.status == ApplicationStatus.ISSUED:
        return _(
            "[Hunan health card] Your application was approved: the card is ready in the "
            "resident portal."
        )
    if app.status == ApplicationStatus.CONFIRMING:
        return _(
            "[Hunan health card] The details were confirmed. The family member has been "
            "sent a code; enter it in the resident portal."
        )
    return _(
        "[Hunan health card] Your application could not be approved online. Please "
        "check the details in the resident portal or visit a counter."
    )


def due_applications() -> list[int]:
    return list(
        Application.objects.filter(
            status=ApplicationStatus.PENDING, next_check_at__lte=timezone.now()
        ).values_list("pk", flat=True)[:500]
    )
