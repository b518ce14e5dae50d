"""Unified sign-in (统一身份认证): the rules behind the OpenID Connect provider.

healthcard.oidc wires these into django-oauth-toolkit; the portal's consent, granted
apps and services pages call them. Everything here checks who may do it and audits
what it gives away:

- clients: registered by their institution's admin (the province for any institution),
  exact https redirect URIs, allowed scopes, the province-only `identity` flag, a switch;
- subjects: a pairwise `sub` per client (OIDC Core 8.1), never a database id;
- claims: each only with its scope;
- consent: per account, card and client, covering a set of scopes; revoking it revokes
  its tokens at once;
- every token carrying identity claims writes an audit row the holder sees in the
  card's history (actor: the account; object: the card holder, so a family manager's
  sign-in names both);
- a frozen or cancelled card signs in nowhere.
"""

import datetime
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from healthcard import access, audit, pii, selfservice
from healthcard.errors import DomainError, NotAllowed
from healthcard.models import CardStatus, Institution, Person, Role
from healthcard.oidc.models import (
    SCOPES,
    Consent,
    GrantConsent,
    Service,
    ServiceKind,
    SigninClient,
    TokenFamily,
)

#: Scopes whose claims are facts about the person (audited whenever a token carries them).
IDENTITY_SCOPES = frozenset({"ehc", "profile", "phone", "identity"})
#: The order scopes are listed in, on the consent screen and in stored consents.
SCOPE_ORDER = list(SCOPES)

#: The facts each scope gives away, in the words the consent screen uses.
CLAIMS = {
    "openid": ["sub"],
    "ehc": ["ehc_id"],
    "profile": ["name", "gender", "birthdate"],
    "phone": ["phone_number", "phone_number_verified"],
    "identity": ["id_type", "id_number"],
}
#: Claim -> the scope it needs (the validator's oidc_claim_scope).
CLAIM_SCOPE = {claim: scope for scope, claims in CLAIMS.items() for claim in claims}


class SigninError(DomainError):
    pass


def normalise_scopes(scopes) -> list[str]:
    wanted = set(scopes.split() if isinstance(scopes, str) else scopes)
    return [s for s in SCOPE_ORDER if s in wanted]


# --- clients -------------------------------------------------------------------------


def _require_client_admin(by: Any, institution: Institution) -> None:
    """The institution's own administrator, or the province administrator."""
    if getattr(by, "is_superuser", False):
        return
    profile = getattr(by, "staff_profile", None)
    if profile is None:
        raise NotAllowed()
    if profile.role == Role.PROVINCE_ADMIN:
        return
    if profile.role == Role.INSTITUTION_ADMIN and profile.institution_id == institution.pk:
        return
    raise NotAllowed()


def is_province(by: Any) -> bool:
    if getattr(by, "is_superuser", False):
        return True
    profile = getattr(by, "staff_profile", None)
    return profile is not None and profile.role == Role.PROVINCE_ADMIN


def clean_redirect_uris(text: str) -> list[str]:
    """Exact redirect URIs, one per line: absolute, no fragment, https (plain http only
    with DEBUG, for a developer's machine)."""
    uris = [u.strip() for u in text.split() if u.strip()]
    if not uris:
        raise SigninError("redirect_uris", _("Give at least one redirect URI."))
    for uri in uris:
        parts = urlsplit(uri)
        allowed = ("https", "http") if settings.DEBUG else ("https",)
        if parts.scheme not in allowed or not parts.netloc or parts.fragment or "*" in uri:
            raise SigninError(
                "redirect_uris",
                _("%(uri)s is not allowed: redirect URIs are exact https addresses.")
                % {"uri": uri},
            )
    return uris


def clean_scopes(scopes, *, identity_allowed: bool) -> list[str]:
    wanted = scopes.split() if isinstance(scopes, str) else list(scopes)
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise SigninError("scopes", _("Unknown scope: %(scope)s") % {"scope": unknown[0]})
    cleaned = normalise_scopes(wanted)
    if "openid" not in cleaned:
        raise SigninError("scopes", _("A sign-in client needs the openid scope."))
    if "identity" in cleaned and not identity_allowed:
        raise SigninError(
            "scopes", _("Only clients the province has flagged may receive ID numbers.")
        )
    return cleaned


@dataclass
class NewClient:
    client: SigninClient
    client_secret: str  # shown once; empty for a public client


def register_client(
    institution: Institution,
    name: str,
    *,
    redirect_uris: str,
    scopes,
    confidential: bool,
    post_logout_redirect_uris: str = "",
    identity_allowed: bool = False,
    client_id: str | None = None,
    by: Any,
) -> NewClient:
    """Register a hospital app as a sign-in client of `institution` (`client_id`: a
    fixed one, for the demo's sample app; generated otherwise)."""
    from oauth2_provider.models import Application

    _require_client_admin(by, institution)
    if identity_allowed and not is_province(by):
        raise NotAllowed("province_only", _("Only the province may allow ID numbers."))
    uris = clean_redirect_uris(redirect_uris)
    logout_uris = (
        clean_redirect_uris(post_logout_redirect_uris) if post_logout_redirect_uris else []
    )
    cleaned = clean_scopes(scopes, identity_allowed=identity_allowed)
    secret = secrets.token_urlsafe(32) if confidential else ""
    with transaction.atomic():
        application = Application(
            name=name[:255],
            client_type=Application.CLIENT_CONFIDENTIAL
            if confidential
            else Application.CLIENT_PUBLIC,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=" ".join(uris),
            post_logout_redirect_uris=" ".join(logout_uris),
            algorithm=Application.RS256_ALGORITHM,
            skip_authorization=False,
            client_secret=secret,
        )
        if client_id:
            application.client_id = client_id
        application.save()
        client = SigninClient.objects.create(
            application=application,
            institution=institution,
            allowed_scopes=" ".join(cleaned),
            identity_allowed=identity_allowed,
        )
        audit.record(
            "signin.client.register",
            actor=by,
            obj=client,
            institution=institution,
            client_id=application.client_id,
            scopes=" ".join(cleaned),
            confidential=confidential,
        )
    return NewClient(client, secret)


def change_client(
    client: SigninClient,
    *,
    by: Any,
    redirect_uris: str | None = None,
    scopes=None,
    identity_allowed: bool | None = None,
    enabled: bool | None = None,
) -> SigninClient:
    """Change a client's URIs, scopes, identity flag (province only) or switch. Taking a
    scope away or disabling the client revokes its live tokens."""
    _require_client_admin(by, client.institution)
    with transaction.atomic():
        client = SigninClient.objects.select_for_update().get(pk=client.pk)
        application = client.application
        changes: dict[str, Any] = {}
        if identity_allowed is not None and identity_allowed != client.identity_allowed:
            if not is_province(by):
                raise NotAllowed("province_only", _("Only the province may allow ID numbers."))
            client.identity_allowed = identity_allowed
            changes["identity_allowed"] = identity_allowed
        if scopes is not None or "identity_allowed" in changes:
            if scopes is None:  # the flag alone changed: unflagging drops the scope
                scopes = [s for s in client.scopes if s != "identity" or client.identity_allowed]
            cleaned = clean_scopes(scopes, identity_allowed=client.identity_allowed)
            client.allowed_scopes = " ".join(cleaned)
            changes["scopes"] = client.allowed_scopes
        if redirect_uris is not None:
            application.redirect_uris = " ".join(clean_redirect_uris(redirect_uris))
            application.save(update_fields=["redirect_uris"])
            changes["redirect_uris"] = True
        if enabled is not None and enabled != client.enabled:
            client.enabled = enabled
            changes["enabled"] = enabled
        client.save()
        if not client.enabled or "scopes" in changes:
            allowed = set(client.scopes)
            for consent in Consent.objects.filter(client=client, revoked_at__isnull=True):
                if not client.enabled or not set(consent.scopes) <= allowed:
                    _revoke(consent)
        audit.record(
            "signin.client.change",
            actor=by,
            obj=client,
            institution=client.institution,
            **changes,
        )
    return client


def client_of(application) -> SigninClient | None:
    if application is None:
        return None
    try:
        return application.signin
    except SigninClient.DoesNotExist:
        return None


def client_usable(application) -> bool:
    """An application signs residents in only while its client is enabled and its
    institution active."""
    client = client_of(application)
    return bool(client and client.enabled and client.institution.is_active)


def client_scopes(application) -> list[str]:
    """The scopes the client may ask for (identity only while the province allows it)."""
    client = client_of(application)
    if client is None:
        return []
    return [s for s in client.scopes if s != "identity" or client.identity_allowed]


# --- subjects and claims -------------------------------------------------------------


def subject(client: SigninClient, person: Person) -> str:
    """The pairwise `sub` (OIDC Core 8.1): a keyed hash of the client and the person's
    master index, so two clients cannot join their users on it."""
    return pii.blind_index(f"{client.application.client_id}\x00{person.master_index}", "oidc_sub")


def claims(consent: Consent, scopes) -> dict[str, Any]:
    """The claims of `scopes` (and only those) about the consent's card holder."""
    person = consent.person
    granted = set(scopes)
    out: dict[str, Any] = {}
    if "openid" in granted:
        out["sub"] = subject(consent.client, person)
    if "ehc" in granted:
        card = getattr(person, "card", None)
        out["ehc_id"] = card.ehc_id if card else None
    if "profile" in granted:
        out["name"] = person.name
        out["gender"] = {"1": "male", "2": "female"}.get(person.sex, "unknown")
        out["birthdate"] = person.birth_date.isoformat()
    if "phone" in granted:
        phone = person.phone
        out["phone_number"] = f"+86{phone}" if phone else None
        out["phone_number_verified"] = bool(phone) and phone == _account_phone(consent.user)
    if "identity" in granted and consent.client.identity_allowed:
        out["id_type"] = person.id_type
        out["id_number"] = person.id_number
    return out


def _account_phone(user) -> str:
    from portal.models import SmsDevice

    device = SmsDevice.objects.filter(user=user).first()
    return device.phone if device else ""


# --- who may sign in -----------------------------------------------------------------


class CardNotUsable(SigninError):
    """The chosen card is frozen, cancelled or missing: sign-in refused."""


def signin_people(user) -> list[Person]:
    """The cards this account may sign in as: its own and its family members'."""
    return selfservice.managed_people(user)


def require_card_active(person: Person) -> None:
    card = getattr(person, "card", None)
    if card is None:
        raise CardNotUsable("no_card", _("This person has no electronic health card yet."))
    if card.status == CardStatus.FROZEN:
        raise CardNotUsable(
            "frozen", _("This card is frozen, so it cannot sign in to hospital apps.")
        )
    if card.status != CardStatus.ACTIVE:
        raise CardNotUsable(
            "cancelled", _("This card is cancelled, so it cannot sign in to hospital apps.")
        )


# --- consent -------------------------------------------------------------------------


def scope_descriptions(scopes) -> list[str]:
    return [str(SCOPES[s]) for s in normalise_scopes(scopes)]


def find_consent(user, application, scopes) -> Consent | None:
    """A live consent of this account for this client covering `scopes`, for a card
    that may still sign in; the most recently used one when there are several (the
    account signs in as the same card as last time)."""
    client = client_of(application)
    if client is None:
        return None
    wanted = set(scopes)
    for consent in (
        Consent.objects.filter(user=user, client=client, revoked_at__isnull=True)
        .select_related("person__card")
        .order_by("-last_used_at", "-granted_at")
    ):
        if wanted <= set(consent.scopes) and access.resident_manages(user, consent.person):
            return consent
    return None


def grant_consent(user, application, person: Person, scopes, *, ip: str | None = None) -> Consent:
    """Store the account's yes for `person`'s card and `scopes` (replacing an earlier
    consent for the same card and client, whose tokens stay valid only for what it
    covered: they are revoked if the new set is narrower)."""
    client = client_of(application)
    if client is None or not client_usable(application):
        raise SigninError("client", _("This app cannot sign you in at the moment."))
    access.require_person_access(user, person)
    require_card_active(person)
    cleaned = normalise_scopes(scopes)
    if not set(cleaned) <= set(client_scopes(application)):
        raise SigninError("scope", _("The app asked for something it may not receive."))
    with transaction.atomic():
        previous = (
            Consent.objects.select_for_update()
            .filter(user=user, person=person, client=client, revoked_at__isnull=True)
            .first()
        )
        if previous is not None:
            if set(previous.scopes) == set(cleaned):
                return previous
            _revoke(previous)
        consent = Consent.objects.create(
            user=user, person=person, client=client, scope=" ".join(cleaned)
        )
        audit.record(
            "signin.consent",
            actor=user,
            obj=person,
            institution=client.institution,
            ip=ip,
            client=client.application.client_id,
            scopes=consent.scope,
            on_behalf=person.user_id != user.pk,
        )
    return consent


def consent_usable(consent: Consent | None) -> bool:
    """Tokens under this consent may still be issued and used."""
    if consent is None or consent.revoked_at is not None:
        return False
    if not (consent.client.enabled and consent.client.institution.is_active):
        return False
    if not access.resident_manages(consent.user, consent.person):
        return False  # the family link was removed
    try:
        require_card_active(consent.person)
    except CardNotUsable:
        return False
    return True


def _revoke(consent: Consent) -> None:
    from oauth2_provider.models import Grant, RefreshToken

    consent.revoked_at = timezone.now()
    consent.save(update_fields=["revoked_at"])
    for family in TokenFamily.objects.filter(consent=consent).values_list("family", flat=True):
        RefreshToken.revoke_family(family)
        for token in RefreshToken.objects.filter(token_family=family, access_token__isnull=False):
            token.access_token.revoke()
    Grant.objects.filter(
        pk__in=GrantConsent.objects.filter(consent=consent).values("grant_id")
    ).delete()


def granted_apps(user) -> list[Consent]:
    return list(
        Consent.objects.filter(user=user, revoked_at__isnull=True)
        .select_related("client__application", "client__institution", "person")
        .order_by("-granted_at")
    )


def consent_ref(consent: Consent) -> str:
    """The opaque id of a consent in portal forms (no database id)."""
    return pii.blind_index(str(consent.pk), "consent_ref")[:20]


def find_granted(user, ref: str) -> Consent | None:
    for consent in granted_apps(user):
        if consent_ref(consent) == ref:
            return consent
    return None


def revoke_consent(consent: Consent, *, by: Any, ip: str | None = None) -> None:
    """The account takes its yes back: every token of it stops working at once."""
    if consent.user_id != getattr(by, "pk", None):
        raise NotAllowed()
    with transaction.atomic():
        consent = Consent.objects.select_for_update().get(pk=consent.pk)
        if consent.revoked_at is not None:
            return
        _revoke(consent)
        audit.record(
            "signin.revoke",
            actor=by,
            obj=consent.person,
            institution=consent.client.institution,
            ip=ip,
            client=consent.client.application.client_id,
        )


# --- tokens --------------------------------------------------------------------------


def consent_for_family(family) -> Consent | None:
    row = TokenFamily.objects.filter(family=family).select_related("consent").first()
    return row.consent if row else None


def bind_family(family, consent: Consent) -> None:
    TokenFamily.objects.get_or_create(family=family, defaults={"consent": consent})


def token_issued(consent: Consent, scopes, *, grant_type: str) -> None:
    """A token was issued under `consent`. With identity claims it is audited against the
    card holder (the account is the actor: a manager signing in for a family member is
    named beside the card), and shows in the card's history."""
    now = timezone.now()
    Consent.objects.filter(pk=consent.pk).update(last_used_at=now)
    given = normalise_scopes(scopes)
    if not IDENTITY_SCOPES & set(given):
        return
    audit.record(
        "signin.token",
        actor=consent.user,
        obj=consent.person,
        institution=consent.client.institution,
        client=consent.client.application.client_id,
        app=consent.client.application.name[:60],
        scopes=" ".join(given),
        grant=grant_type,
        on_behalf=consent.person.user_id != consent.user_id,
    )


FACTS_SHORT = {
    "ehc": gettext_lazy("card ID"),
    "profile": gettext_lazy("name, sex, birth date"),
    "phone": gettext_lazy("phone number"),
    "identity": gettext_lazy("ID number"),
}


def signin_history(person: Person, limit: int = 200) -> list:
    """(when, institution name, app name, facts given) of the tokens issued about
    `person` with identity claims."""
    from healthcard.models import AuditRecord

    records = AuditRecord.objects.filter(
        action="signin.token", object_type="person", object_id=str(person.pk)
    ).order_by("-at")[:limit]
    names = dict(
        Institution.objects.filter(code__in={r.institution for r in records}).values_list(
            "code", "name"
        )
    )
    return [
        (
            r.at,
            names.get(r.institution, r.institution),
            (r.details or {}).get("app", ""),
            ", ".join(
                str(FACTS_SHORT[s])
                for s in (r.details or {}).get("scopes", "").split()
                if s in FACTS_SHORT
            ),
        )
        for r in records
    ]


# --- services directory --------------------------------------------------------------


def clean_service_url(url: str, client: SigninClient) -> str:
    """https, on the host of one of the institution's registered clients' redirect URIs."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" and not settings.DEBUG:
        raise SigninError("url", _("A service link must be an https address."))
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SigninError("url", _("A service link must be an https address."))
    hosts = {
        urlsplit(uri).hostname
        for other in SigninClient.objects.filter(institution=client.institution)
        for uri in other.application.redirect_uris.split()
    }
    if parts.hostname not in hosts:
        raise SigninError(
            "url",
            _("The link must be on the domain of one of the institution's registered apps."),
        )
    return url.strip()


def add_service(
    client: SigninClient,
    *,
    kind: str,
    name: str,
    url: str,
    description: str = "",
    with_signin: bool = False,
    by: Any,
) -> Service:
    _require_client_admin(by, client.institution)
    if kind not in ServiceKind.values:
        raise SigninError("kind", _("Unknown kind of service."))
    cleaned = clean_service_url(url, client)
    with transaction.atomic():
        service = Service.objects.create(
            institution=client.institution,
            client=client,
            kind=kind,
            name=name.strip()[:60],
            description=description.strip()[:200],
            url=cleaned,
            with_signin=with_signin,
        )
        audit.record("signin.service.add", actor=by, obj=service, institution=client.institution)
    return service


def change_service(service: Service, *, by: Any, **fields: Any) -> Service:
    """Change a service's kind, name, description, link, sign-in flag or visibility."""
    _require_client_admin(by, service.institution)
    allowed = {"kind", "name", "description", "url", "with_signin", "enabled"}
    if set(fields) - allowed:
        raise SigninError("field", _("This cannot be changed."))
    if "kind" in fields and fields["kind"] not in ServiceKind.values:
        raise SigninError("kind", _("Unknown kind of service."))
    if "url" in fields:
        fields["url"] = clean_service_url(fields["url"], service.client)
    with transaction.atomic():
        for name, value in fields.items():
            setattr(service, name, value)
        service.save()
        audit.record(
            "signin.service.change",
            actor=by,
            obj=service,
            institution=service.institution,
            fields=sorted(fields),
        )
    return service


def directory(query: str = "", city: str = "") -> dict[Institution, list[Service]]:
    """Shown services by institution, filtered by a name (service or institution) and a
    市州 code."""
    services = Service.objects.filter(
        enabled=True, institution__is_active=True, client__enabled=True
    ).select_related("institution", "client__application")
    if query:
        services = services.filter(Q(name__icontains=query) | Q(institution__name__icontains=query))
    if city:
        services = services.filter(institution__city_code=city)
    grouped: dict[Institution, list[Service]] = {}
    for service in services.order_by("institution__name", "kind", "name"):
        grouped.setdefault(service.institution, []).append(service)
    return grouped


def recent_institution_services(card, *, days: int = 365, limit: int = 3):
    """Services of the institutions where `card` was last scanned (newest first)."""
    from healthcard.models import UsageEvent

    since = timezone.now() - datetime.timedelta(days=days)
    codes: list[int] = []
    for pk in (
        UsageEvent.objects.filter(card=card, result=UsageEvent.RESULT_OK, scanned_at__gte=since)
        .order_by("-scanned_at")
        .values_list("institution_id", flat=True)[:200]
    ):
        if pk not in codes:
            codes.append(pk)
        if len(codes) == limit:
            break
    grouped = directory()
    return [(inst, grouped[inst]) for pk in codes for inst in grouped if inst.pk == pk]


def service_link(service: Service, issuer: str) -> str:
    """The link a resident opens: for a service that opens with sign-in, the app's
    third-party-initiated login (OIDC Core 4) with our issuer, so the app starts the
    code flow and the resident lands signed in."""
    if not service.with_signin:
        return service.url
    sep = "&" if "?" in service.url else "?"
    return f"{service.url}{sep}{urlencode({'iss': issuer, 'target_link_uri': service.url})}"


CITY_NAMES = {
    "430100": gettext_lazy("Changsha"),
    "430200": gettext_lazy("Zhuzhou"),
    "430300": gettext_lazy("Xiangtan"),
    "430400": gettext_lazy("Hengyang"),
    "430500": gettext_lazy("Shaoyang"),
    "430600": gettext_lazy("Yueyang"),
    "430700": gettext_lazy("Changde"),
    "430800": gettext_lazy("Zhangjiajie"),
    "430900": gettext_lazy("Yiyang"),
    "431000": gettext_lazy("Chenzhou"),
    "431100": gettext_lazy("Yongzhou"),
    "431200": gettext_lazy("Huaihua"),
    "431300": gettext_lazy("Loudi"),
    "433100": gettext_lazy("Xiangxi"),
}
