"""Resident pages of unified sign-in: the apps the account signed in to (revoke), and
the directory of the institutions' services. The consent screen itself is the
provider's authorization endpoint (healthcard.oidc.views)."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from healthcard import signin
from healthcard.clientip import client_ip
from healthcard.oidc.validator import issuer
from portal.resident.base import resident_required


@resident_required
def granted_apps(request):
    consents = signin.granted_apps(request.user)
    return render(
        request,
        "portal/signin/apps.html",
        {
            "apps": [
                {
                    "consent": c,
                    "ref": signin.consent_ref(c),
                    "facts": signin.scope_descriptions(c.scopes),
                    "for_family": c.person.user_id != request.user.pk,
                }
                for c in consents
            ]
        },
    )


@require_POST
@resident_required
def revoke_app(request, ref):
    consent = signin.find_granted(request.user, ref)
    if consent is None:
        raise Http404
    signin.revoke_consent(consent, by=request.user, ip=client_ip(request))
    messages.success(
        request,
        _("%(app)s can no longer sign you in; it was signed out at once.")
        % {"app": consent.client.application.name},
    )
    return redirect("portal:signin_apps")


def _entries(services, iss):
    return [{"service": s, "link": signin.service_link(s, iss)} for s in services]


@resident_required
def directory(request):
    query = request.GET.get("q", "").strip()[:50]
    city = request.GET.get("city", "")
    if city not in signin.CITY_NAMES:
        city = ""
    iss = issuer(request)
    groups = [
        {"institution": inst, "services": _entries(services, iss)}
        for inst, services in signin.directory(query, city).items()
    ]
    return render(
        request,
        "portal/signin/directory.html",
        {
            "groups": groups,
            "query": query,
            "city": city,
            "cities": list(signin.CITY_NAMES.items()),
        },
    )
