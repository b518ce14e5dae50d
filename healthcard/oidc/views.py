"""The provider's endpoints that differ from django-oauth-toolkit's: the authorization
endpoint (resident sign-in, consent with the card choice, S256 only), the JWKS from the
key store and the discovery document that says what we really support."""

import json
from urllib.parse import urlencode, urlsplit

from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.models import get_application_model
from oauth2_provider.views import ConnectDiscoveryInfoView
from oauth2_provider.views.base import BaseAuthorizationView
from oauthlib.oauth2.rfc6749 import errors as oauth_errors
from oauthlib.openid.connect.core.exceptions import ConsentRequired, LoginRequired

from healthcard import selfservice, signin
from healthcard.clientip import client_ip
from healthcard.oidc.validator import published_keys
from portal.models import SmsDevice


def _is_resident(user) -> bool:
    return (
        user.is_authenticated
        and user.is_verified()
        and isinstance(getattr(user, "otp_device", None), SmsDevice)
    )


@method_decorator(never_cache, name="dispatch")
class AuthorizeView(BaseAuthorizationView):
    """GET: validate the request; sign the resident in (SMS) if needed; refuse a card
    that may not sign in; skip the screen when a stored consent covers the scopes,
    else show the consent screen. POST (the screen's answer): store the consent for
    the chosen card and redirect with a code. oauthlib re-validates the request on the
    POST (the form posts to the same URL with the same query)."""

    template_name = "portal/signin/consent.html"

    def dispatch(self, request, *args, **kwargs):
        self.oauth2_data = {}
        if not _is_resident(request.user):
            if "none" in request.GET.get("prompt", "").split():
                return self._silent_refusal(request, LoginRequired)
            target = request.get_full_path()
            return redirect(f"{reverse('portal:signin')}?{urlencode({'next': target})}")
        return View.dispatch(self, request, *args, **kwargs)

    def render_to_response(self, context, status=200):
        # An error page of the library (no redirect possible: unknown client or URI).
        error = context.get("error")
        return render(
            self.request,
            "portal/signin/error.html",
            {"description": getattr(error, "description", "")},
            status=status,
        )

    def _validate(self, request):
        scopes, credentials = self.validate_authorization_request(request)
        if credentials.get("code_challenge_method") != "S256":
            raise OAuthToolkitError(
                error=oauth_errors.InvalidRequestError(
                    description="PKCE with code_challenge_method=S256 is required.",
                    state=credentials.get("state"),
                ),
                redirect_uri=credentials["redirect_uri"],
            )
        application = get_application_model().objects.get(client_id=credentials["client_id"])
        return scopes, credentials, application

    def _issue(self, request, scopes, credentials, application, consent):
        credentials["ehc_consent"] = consent
        uri, _headers, _body, _status = self.create_authorization_response(
            request=request, scopes=" ".join(scopes), credentials=credentials, allow=True
        )
        return self.redirect(uri, application)

    def _cards(self, request):
        return [
            {"person": p, "ref": selfservice.person_ref(p), "card": getattr(p, "card", None)}
            for p in signin.signin_people(request.user)
        ]

    def _screen(self, request, scopes, credentials, application, cards, status=200):
        client = signin.client_of(application)
        redirect_origin = "{0.scheme}://{0.netloc}".format(urlsplit(credentials["redirect_uri"]))
        response = render(
            request,
            self.template_name,
            {
                "application": application,
                "institution": client.institution,
                "facts": signin.scope_descriptions(scopes),
                "cards": cards,
            },
            status=status,
        )
        # The answer redirects to the app: the browser checks form-action on it.
        response._csp_update = {"form-action": ["'self'", redirect_origin]}
        return response

    def get(self, request, *args, **kwargs):
        application = None
        try:
            scopes, credentials, application = self._validate(request)
            cards = self._cards(request)
            usable = [c for c in cards if c["card"] is not None]
            if not usable:
                return self._refused(request, signin.CardNotUsable("no_card", ""))
            prompt = set(request.GET.get("prompt", "").split())
            if "none" in prompt:
                consent = signin.find_consent(request.user, application, scopes)
                if consent is None or not signin.consent_usable(consent):
                    raise OAuthToolkitError(
                        error=ConsentRequired(state=credentials.get("state")),
                        redirect_uri=credentials["redirect_uri"],
                    )
                return self._issue(request, scopes, credentials, application, consent)
            if "login" in prompt or "select_account" in prompt or "consent" in prompt:
                return self._screen(request, scopes, credentials, application, usable)
            consent = signin.find_consent(request.user, application, scopes)
            if consent is not None:
                try:
                    signin.require_card_active(consent.person)
                except signin.CardNotUsable as refusal:
                    return self._refused(request, refusal)
                return self._issue(request, scopes, credentials, application, consent)
            if len(usable) == 1:
                try:
                    signin.require_card_active(usable[0]["person"])
                except signin.CardNotUsable as refusal:
                    return self._refused(request, refusal)
            return self._screen(request, scopes, credentials, application, usable)
        except OAuthToolkitError as error:
            return self.error_response(error, application)

    def post(self, request, *args, **kwargs):
        application = None
        try:
            scopes, credentials, application = self._validate(request)
            if request.POST.get("allow") != "yes":
                raise OAuthToolkitError(
                    error=oauth_errors.AccessDeniedError(state=credentials.get("state")),
                    redirect_uri=credentials["redirect_uri"],
                )
            person = selfservice.find_managed(request.user, request.POST.get("card", ""))
            if person is None:
                cards = [c for c in self._cards(request) if c["card"] is not None]
                return self._screen(request, scopes, credentials, application, cards, status=400)
            try:
                consent = signin.grant_consent(
                    request.user, application, person, scopes, ip=client_ip(request)
                )
            except signin.CardNotUsable as refusal:
                return self._refused(request, refusal)
            return self._issue(request, scopes, credentials, application, consent)
        except OAuthToolkitError as error:
            return self.error_response(error, application)

    def _silent_refusal(self, request, error_class):
        """prompt=none without a signed-in resident: login_required at the app's
        (validated) redirect URI, or the error page when the request itself is bad."""
        application = None
        try:
            _scopes, credentials, application = self._validate(request)
            raise OAuthToolkitError(
                error=error_class(state=credentials.get("state")),
                redirect_uri=credentials["redirect_uri"],
            )
        except OAuthToolkitError as error:
            return self.error_response(error, application)

    def _refused(self, request, refusal):
        return render(
            request,
            "portal/signin/refused.html",
            {"code": refusal.code, "message": refusal.message},
            status=403,
        )


class JwksView(View):
    def get(self, request):
        response = JsonResponse({"keys": published_keys()})
        response["Access-Control-Allow-Origin"] = "*"
        # Short: a rotated key must reach clients before its first ID token does.
        response["Cache-Control"] = "public, max-age=300"
        return response


class DiscoveryView(ConnectDiscoveryInfoView):
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        data.update(
            {
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "response_types_supported": ["code"],
                "subject_types_supported": ["pairwise"],
                "scopes_supported": list(signin.SCOPE_ORDER),
            }
        )
        out = JsonResponse(data)
        out["Access-Control-Allow-Origin"] = "*"
        return out
