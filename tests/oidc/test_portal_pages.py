"""The resident's side: granted apps with revoke, the services directory, services of
recently used institutions on the card page."""

import datetime
import re
import uuid

import pytest
from django.test import Client
from django.utils import timezone

from healthcard import selfservice, signin
from healthcard.models import UsageEvent
from portal.models import SmsDevice
from tests.portal.conftest import PHONE, sign_in

from .conftest import REDIRECT


@pytest.fixture
def portal(card):
    client = Client()
    card.person.phone = PHONE
    card.person.save()
    sign_in(client)
    user = SmsDevice.objects.get(phone_index=card.person.phone_index).user
    card.person.user = user
    card.person.save(update_fields=["user"])
    client.user = user
    return client


@pytest.fixture
def services(rp, institution_admin):
    booking = signin.add_service(
        rp.client,
        kind="booking",
        name="预约挂号",
        url="https://app.xiangya.example/booking",
        with_signin=True,
        by=institution_admin,
    )
    reports = signin.add_service(
        rp.client,
        kind="reports",
        name="检查检验报告",
        url="https://app.xiangya.example/reports",
        by=institution_admin,
    )
    return booking, reports


def test_granted_apps_list_and_revoke(portal, card, rp):
    consent = signin.grant_consent(
        portal.user, rp.client.application, card.person, ["openid", "ehc"]
    )
    page = portal.get("/me/apps/").content.decode()
    assert "湘雅掌上医院" in page and "湘雅医院" in page
    assert "health card ID" in page
    assert str(consent.pk) not in re.findall(r"/me/apps/([^/]+)/revoke/", page)
    ref = re.search(r"/me/apps/([^/]+)/revoke/", page).group(1)
    response = portal.post(f"/me/apps/{ref}/revoke/")
    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.revoked_at is not None
    assert "not signed in to any app" in portal.get("/me/apps/").content.decode()


def test_revoking_someone_elses_consent_is_a_404(portal, rp, make_card):
    from django.contrib.auth import get_user_model

    other = make_card(name="李四").person
    other.user = get_user_model().objects.create_user("other")
    other.save()
    consent = signin.grant_consent(other.user, rp.client.application, other, ["openid"])
    response = portal.post(f"/me/apps/{signin.consent_ref(consent)}/revoke/")
    assert response.status_code == 404
    consent.refresh_from_db()
    assert consent.revoked_at is None


def test_directory_by_institution_with_search(portal, services, other_hospital, province_admin):
    page = portal.get("/services/").content.decode()
    assert "湘雅医院" in page and "预约挂号" in page and "检查检验报告" in page
    # The sign-in service's link starts the app's login with our issuer.
    assert "https://app.xiangya.example/booking?iss=" in page
    assert 'href="https://app.xiangya.example/reports"' in page
    assert "预约挂号" not in portal.get("/services/?q=报告").content.decode()
    assert "No services found" in portal.get("/services/?city=430300").content.decode()
    assert "预约挂号" in portal.get("/services/?city=430100").content.decode()


def test_disabled_client_hides_its_services(portal, services, rp, institution_admin):
    signin.change_client(rp.client, enabled=False, by=institution_admin)
    assert "No services found" in portal.get("/services/").content.decode()


def test_card_page_shows_services_where_the_card_was_used(portal, card, services, terminal):
    ref = selfservice.person_ref(card.person)
    assert "Services where the card was used" not in portal.get(f"/cards/{ref}/").content.decode()
    UsageEvent.objects.create(
        uuid=uuid.uuid4(),
        terminal=terminal.terminal,
        institution=terminal.terminal.institution,
        card=card,
        scanned_at=timezone.now() - datetime.timedelta(hours=1),
        care_step="010101",
        terminal_kind="01",
        result="ok",
        fingerprint="x",
    )
    page = portal.get(f"/cards/{ref}/").content.decode()
    assert "Services where the card was used" in page
    assert "预约挂号" in page


def test_pages_need_a_resident_sign_in(client, db):
    for url in ("/me/apps/", "/services/"):
        assert client.get(url)["Location"].startswith("/signin/")


def test_redirect_uri_is_never_in_a_portal_link(portal, services):
    assert REDIRECT not in portal.get("/services/").content.decode()
