"""The library adaptations that must not drift."""

from django.conf import settings
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings

from healthcard import signin
from healthcard.oidc.validator import Validator


def test_claim_scope_table_is_ours_and_the_base_class_is_untouched():
    assert Validator.oidc_claim_scope is not OAuth2Validator.oidc_claim_scope
    assert Validator.oidc_claim_scope == signin.CLAIM_SCOPE
    assert "ehc_id" not in OAuth2Validator.oidc_claim_scope
    assert OAuth2Validator.oidc_claim_scope["name"] == "profile"


def test_every_claim_we_make_has_a_scope():
    for scope, claims in signin.CLAIMS.items():
        for claim in claims:
            assert Validator.oidc_claim_scope[claim] == scope


def test_no_signing_key_in_the_settings_and_pkce_on():
    assert not oauth2_settings.OIDC_RSA_PRIVATE_KEY
    assert not oauth2_settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE
    assert oauth2_settings.PKCE_REQUIRED is True
    assert oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION is True
    assert oauth2_settings.ROTATE_REFRESH_TOKEN is True
    assert oauth2_settings.REFRESH_TOKEN_EXPIRE_SECONDS == settings.HEALTHCARD_OIDC_REFRESH_SECONDS


def test_redirect_schemes_are_https_only_outside_debug():
    assert not settings.DEBUG
    assert oauth2_settings.ALLOWED_REDIRECT_URI_SCHEMES == ["https"]
