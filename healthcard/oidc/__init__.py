"""OpenID Connect plumbing for unified sign-in (统一身份认证): django-oauth-toolkit's
validator, scopes backend and views adapted to the platform. The rules (who may sign
in, which claims, consent, audit) are in healthcard.signin; this package only wires
them into the protocol."""
