"""A manager signs in for a family member's card; ID-token keys rotate through the key
store with the previous key still published until its tokens expire."""

import datetime
import re

import pytest
import requests
import time_machine
from django.core.management import call_command

from healthcard import keys
from healthcard.models import AuditRecord, Guardianship, Key, KeyPurpose, KeyState

pytestmark = pytest.mark.django_db(transaction=True)


def test_manager_signs_in_for_a_managed_card(hospital_app, resident_http, make_card):
    child = make_card(name="张小宝").person
    Guardianship.objects.create(guardian=resident_http.person, dependant=child, relation="child")
    _oauth, page, verifier, nonce, url = hospital_app.start(resident_http, "openid ehc")
    refs = re.findall(r'name="card" value="([^"]+)"', page.text)
    assert len(refs) == 2  # the screen offers the own card and the child's
    answer = hospital_app.consent(resident_http, url, page, card_ref=refs[1])
    response = hospital_app.exchange(answer.headers["Location"], verifier)
    assert response.status_code == 200
    claims = hospital_app.verify_id_token(response.json()["id_token"], nonce)
    assert claims["ehc_id"] == child.card.ehc_id
    # Next time the app signs in as the same card, unless it lets the resident choose.
    again, _ = hospital_app.sign_in(resident_http, "openid ehc")
    assert hospital_app.verify_id_token(again["id_token"])["sub"] == claims["sub"]
    own, _ = hospital_app.sign_in(
        resident_http, "openid ehc", card_ref=refs[0], prompt="select_account"
    )
    own_claims = hospital_app.verify_id_token(own["id_token"])
    assert own_claims["sub"] != claims["sub"]
    assert own_claims["ehc_id"] == resident_http.person.card.ehc_id
    rows = AuditRecord.objects.filter(action="signin.token", object_id=str(child.pk))
    assert rows.count() == 2  # the first sign-in and the one without a screen
    row = rows.first()
    assert row.actor == f"user:{resident_http.user.pk}"  # the manager
    assert row.details["on_behalf"] is True


def test_removed_family_link_stops_the_tokens(hospital_app, resident_http, make_card):
    child = make_card(name="张小宝").person
    link = Guardianship.objects.create(
        guardian=resident_http.person, dependant=child, relation="child"
    )
    _oauth, page, verifier, _nonce, url = hospital_app.start(resident_http, "openid ehc")
    refs = re.findall(r'name="card" value="([^"]+)"', page.text)
    answer = hospital_app.consent(resident_http, url, page, card_ref=refs[1])
    token = hospital_app.exchange(answer.headers["Location"], verifier).json()
    link.delete()
    assert hospital_app.userinfo(token["access_token"]).status_code == 401


def test_card_of_someone_else_cannot_be_chosen(hospital_app, resident_http, make_card):
    stranger = make_card(name="李四").person
    from healthcard import selfservice

    _oauth, page, _verifier, _nonce, url = hospital_app.start(resident_http, "openid ehc")
    answer = hospital_app.consent(
        resident_http, url, page, card_ref=selfservice.person_ref(stranger)
    )
    assert answer.status_code == 400
    assert "Location" not in answer.headers


def test_signing_key_lives_wrapped_in_the_key_store(hospital_app, resident_http):
    hospital_app.sign_in(resident_http, "openid")
    key = Key.objects.get(purpose=KeyPurpose.OIDC_SIGNING, state=KeyState.ACTIVE)
    assert key.algorithm == "rs256"
    assert b"PRIVATE KEY" not in bytes(key.secret_enc)
    assert b"PRIVATE KEY" in keys.unwrap(key)
    jwks = requests.get(hospital_app.discovery["jwks_uri"], timeout=10).json()
    assert [k["kid"] for k in jwks["keys"]] == [key.kid]


def test_rotation_keeps_the_previous_key_until_its_tokens_expire(
    hospital_app, resident_http, settings
):
    before, nonce = hospital_app.sign_in(resident_http, "openid")
    old = Key.objects.get(purpose=KeyPurpose.OIDC_SIGNING, state=KeyState.ACTIVE)
    call_command("keys", "rotate", "oidc-signing")
    new = Key.objects.get(purpose=KeyPurpose.OIDC_SIGNING, state=KeyState.ACTIVE)
    assert new.kid != old.kid
    # The old token still verifies against the published set; new ones use the new key.
    hospital_app.verify_id_token(before["id_token"], nonce)
    after, after_nonce = hospital_app.sign_in(resident_http, "openid")
    from joserfc import jws

    assert jws.extract_compact(after["id_token"].encode()).protected["kid"] == new.kid
    hospital_app.verify_id_token(after["id_token"], after_nonce)
    jwks_url = hospital_app.discovery["jwks_uri"]
    assert {k["kid"] for k in requests.get(jwks_url, timeout=10).json()["keys"]} == {
        old.kid,
        new.kid,
    }
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
        seconds=settings.HEALTHCARD_OIDC_ID_TOKEN_SECONDS + 120
    )
    with time_machine.travel(later):
        kids = {k["kid"] for k in requests.get(jwks_url, timeout=10).json()["keys"]}
    assert kids == {new.kid}


def test_revoked_key_leaves_the_jwks_at_once(hospital_app, resident_http):
    hospital_app.sign_in(resident_http, "openid")
    old = Key.objects.get(purpose=KeyPurpose.OIDC_SIGNING, state=KeyState.ACTIVE)
    keys.rotate(KeyPurpose.OIDC_SIGNING)
    keys.revoke(Key.objects.get(pk=old.pk), reason="leaked")
    jwks = requests.get(hospital_app.discovery["jwks_uri"], timeout=10).json()
    assert old.kid not in {k["kid"] for k in jwks["keys"]}
