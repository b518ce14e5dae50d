"""django-oauth-toolkit's validator and scopes backend, bound to healthcard.signin.

What changes from the library's defaults, and why:
- a disabled client (or one of an inactive institution) does not exist for the protocol;
- the scopes a client may ask for are its registered ones (invalid_scope otherwise);
- every code, token and userinfo call carries the consent (and so the card) it was
  issued under: codes through GrantConsent, token families through TokenFamily; a
  revoked consent, or a card no longer active, refuses all of them;
- claims come from healthcard.signin.claims (pairwise sub, no database id), filtered by
  our own claim -> scope table (a new dict: the base class's is never modified);
- ID tokens are signed with the platform's key store (healthcard.keys), not a PEM from
  the settings, and verified (logout's id_token_hint) with any still-published key.
"""

import functools
import json

from django.conf import settings
from jwcrypto import jwk, jws, jwt
from oauth2_provider.models import AccessToken, Grant
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from oauth2_provider.settings import oauth2_settings

from healthcard import keys, signin
from healthcard.oidc.models import GrantConsent


class ClientScopes(BaseScopes):
    def get_all_scopes(self):
        return dict(oauth2_settings.SCOPES)

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        return signin.client_scopes(application)

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return ["openid"]


def _private_jwk() -> tuple[str, jwk.JWK]:
    kid, pem = keys.oidc_signing_key()
    return kid, _jwk(pem)


@functools.lru_cache(maxsize=4)
def _jwk(pem: bytes) -> jwk.JWK:
    """Parsing the PEM is most of the cost of signing an ID token: once per key."""
    return jwk.JWK.from_pem(pem)


def published_keys() -> list[dict]:
    """The JWKS entries: public halves of the active and still-valid retired keys."""
    out = []
    for key in keys.oidc_public_keys():
        public = jwk.JWK.from_pem(bytes(key.public_key))
        out.append(
            {**json.loads(public.export_public()), "kid": key.kid, "alg": "RS256", "use": "sig"}
        )
    return out


class Validator(OAuth2Validator):
    oidc_claim_scope = dict(signin.CLAIM_SCOPE)

    # --- clients -----------------------------------------------------------------------
    def _load_application(self, client_id, request):
        application = super()._load_application(client_id, request)
        if application is not None and not signin.client_usable(application):
            request.client = None
            return None
        return application

    # prompt=none: oauthlib asks these while validating (the base class raises). The
    # authorization view answers login_required / consent_required itself, where it
    # knows the resident and the stored consents.
    def validate_silent_login(self, request):
        return True

    def validate_silent_authorization(self, request):
        return True

    # --- consent on codes and tokens -----------------------------------------------------
    def _create_authorization_code(self, request, code, expires=None):
        consent = getattr(request, "ehc_consent", None)
        if not signin.consent_usable(consent):
            from oauthlib.oauth2.rfc6749 import errors

            raise errors.AccessDeniedError(request=request)
        grant = super()._create_authorization_code(request, code, expires)
        GrantConsent.objects.create(grant=grant, consent=consent)
        return grant

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        link = (
            GrantConsent.objects.filter(grant__code=code, grant__application=client)
            .select_related("consent__client__application", "consent__person")
            .first()
        )
        consent = link.consent if link else None
        if not signin.consent_usable(consent):
            Grant.objects.filter(code=code).delete()
            return False
        request.ehc_consent = consent
        return True

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        consent = signin.consent_for_family(request.refresh_token_instance.token_family)
        if not signin.consent_usable(consent):
            return False
        request.ehc_consent = consent
        return True

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous):
        token = super()._create_refresh_token(request, refresh_token_code, access_token, previous)
        signin.bind_family(token.token_family, request.ehc_consent)
        return token

    def _save_bearer_token(self, token, request, *args, **kwargs):
        result = super()._save_bearer_token(token, request, *args, **kwargs)
        signin.token_issued(
            request.ehc_consent, token.get("scope", "").split(), grant_type=request.grant_type
        )
        return result

    def validate_bearer_token(self, token, scopes, request):
        if not super().validate_bearer_token(token, scopes, request):
            return False
        access_token = request.access_token
        consent = None
        if isinstance(access_token, AccessToken):
            refresh = getattr(access_token, "refresh_token", None)
            if refresh is not None:
                consent = signin.consent_for_family(refresh.token_family)
        if not signin.consent_usable(consent):
            return False
        request.ehc_consent = consent
        return True

    # --- claims --------------------------------------------------------------------------
    def get_claim_dict(self, request):
        return signin.claims(request.ehc_consent, request.scopes)

    def get_discovery_claims(self, request):
        return list(self.oidc_claim_scope)

    def finalize_id_token(self, id_token, token, token_handler, request):
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        kid, key = _private_jwk()
        signed = jwt.JWT(
            header=json.dumps({"typ": "JWT", "alg": "RS256", "kid": kid}),
            claims=json.dumps(id_token, default=str),
        )
        signed.make_signed_token(key)
        saved = self._save_id_token(id_token["jti"], request, expiration_time)
        request.access_token = saved
        request.id_token = saved
        return signed.serialize()

    def _get_key_for_token(self, token):
        unverified = jws.JWS()
        unverified.deserialize(token)
        kid = unverified.jose_header.get("kid")
        for key in keys.oidc_public_keys():
            if key.kid == kid:
                return jwk.JWK.from_pem(bytes(key.public_key))
        return None


def issuer(request) -> str:
    return settings.HEALTHCARD_OIDC_ISSUER or oauth2_settings.oidc_issuer(request)
