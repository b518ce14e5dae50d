"""Card pages: ownership, the codes, the PDF slip, loss and replacement, history."""

import datetime
import uuid

import pypdfium2
import pytest
import zxingcpp
from django.test import Client
from django.utils import timezone
from PIL import Image

from healthcard import codes, people
from healthcard.models import AuditRecord, Card, CardLink, CardStatus, CareStep, UsageEvent
from healthcard.selfservice import person_ref
from tests.portal.conftest import sign_in
from tests.portal.test_apply import form

pytestmark = pytest.mark.django_db

REGISTRATION, PHARMACY = str(CareStep.REGISTRATION.label), str(CareStep.DISPENSING.label)


@pytest.fixture
def own_card(resident_client, registered):
    resident_client.post("/apply/", form(registered("王建国")))
    return Card.objects.get(person__user__isnull=False)


@pytest.fixture
def url(own_card):
    return f"/cards/{person_ref(own_card.person)}/"


def read_svg_qr(svg: bytes) -> str:
    """Rasterise the portal's SVG QR (one path of horizontal runs) and read it with zxing."""
    import re

    size = int(re.search(rb'viewBox="0 0 (\d+) (\d+)"', svg).group(1))
    img = Image.new("L", (size * 8, size * 8), 255)
    pixels = img.load()
    for x, y, length in re.findall(rb"M(\d+) (\d+)h(\d+)", svg):
        for px in range(int(x) * 8, (int(x) + int(length)) * 8):
            for py in range(int(y) * 8, int(y) * 8 + 8):
                pixels[px, py] = 0
    return zxingcpp.read_barcodes(img)[0].text


def test_card_page_shows_masked_identity_status_and_ehc_id(resident_client, own_card, url):
    page = resident_client.get(url).content.decode()
    assert own_card.person.masked_name in page
    assert own_card.person.masked_id_number in page
    assert own_card.person.id_number not in page
    assert own_card.ehc_id[:4] in page and "Active" in page
    assert "Your own card" in page


def test_the_dynamic_code_verifies_and_lives_60_seconds(resident_client, own_card, url):
    response = resident_client.get(url + "code.svg")
    assert response["Content-Type"] == "image/svg+xml"
    assert "no-store" in response["Cache-Control"]
    assert response["X-Code-Expires-In"] == "60"
    text = read_svg_qr(response.content)
    result = codes.verify_code(text)
    assert result.ok and result.card == own_card
    assert codes.verify_code(text, at=timezone.now() + datetime.timedelta(seconds=61)).reason == (
        "expired"
    )


def test_show_to_scanner_view_has_only_the_code(resident_client, url):
    page = resident_client.get(url + "show/").content.decode()
    assert "site-header" not in page and "site-footer" not in page
    assert "code.svg" in page and 'class="scanner' in page


def test_pdf_slip_downloads_with_a_readable_static_code(resident_client, own_card, url):
    response = resident_client.get(url + "slip.pdf")
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    pdf = pypdfium2.PdfDocument(response.content)
    width, height = pdf[0].get_size()
    assert round(width / 72 * 25.4) == 86 and round(height / 72 * 25.4) == 54  # ID-1 card
    image = pdf[0].render(scale=8).to_pil()
    text = zxingcpp.read_barcodes(image)[0].text
    assert codes.verify_code(text).ok
    download = AuditRecord.objects.get(action="print.download")
    assert download.object_id == str(own_card.pk) and download.details == {"issue_seq": 1}


def test_print_page_shows_the_static_code(resident_client, own_card, url):
    page = resident_client.get(url + "print/").content.decode()
    assert "data:image/svg+xml;base64," in page and "data-print" in page


def test_another_persons_card_is_a_404_whatever_id_is_typed(resident_client, own_card, card):
    stranger = person_ref(card.person)
    for path in ["", "show/", "code.svg", "slip.pdf", "print/", "lost/", "history/"]:
        assert resident_client.get(f"/cards/{stranger}/{path}").status_code == 404
        assert resident_client.get(f"/cards/{card.person.pk}/{path}").status_code == 404
        assert resident_client.get(f"/cards/{card.ehc_id}/{path}").status_code == 404
    assert resident_client.post(f"/cards/{stranger}/lost/").status_code == 404
    assert resident_client.post(f"/cards/{stranger}/replace/").status_code == 404
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE


def test_signed_out_visitors_are_sent_to_sign_in(url):
    response = Client().get(url)
    assert response.status_code == 302 and response["Location"].startswith("/signin/")


def test_no_database_ids_or_personal_data_in_card_urls(resident_client, own_card, url):
    ref = url.split("/")[2]
    assert str(own_card.pk) != ref and str(own_card.person.pk) != ref
    assert own_card.ehc_id not in url and own_card.person.id_number not in url


def test_report_loss_freezes_the_card_and_the_portal_replaces_it(resident_client, own_card, url):
    old_static = codes.static_code(own_card)
    assert resident_client.get(url + "lost/").status_code == 200
    resident_client.post(url + "lost/")
    own_card.refresh_from_db()
    assert own_card.status == CardStatus.FROZEN
    assert codes.verify_code(old_static).reason == "card_frozen"
    assert resident_client.get(url + "code.svg").status_code == 404
    page = resident_client.get(url).content.decode()
    assert "Replace the card" in page
    resident_client.post(url + "replace/")
    own_card.refresh_from_db()
    assert own_card.status == CardStatus.ACTIVE and own_card.issue_seq == 2
    assert codes.verify_code(old_static).reason == "superseded"
    assert codes.verify_code(codes.static_code(own_card)).ok


def test_a_card_frozen_by_staff_cannot_be_replaced_online(resident_client, own_card, url, clerk):
    from healthcard import cards

    cards.set_status(own_card, CardStatus.FROZEN, by=None, reason="fraud check")
    resident_client.post(url + "replace/")
    own_card.refresh_from_db()
    assert own_card.status == CardStatus.FROZEN
    assert "visit a counter" in resident_client.get(url).content.decode()


def test_history_lists_scans_and_identity_reveals_newest_first(
    resident_client, own_card, url, terminal
):
    now = timezone.now()
    for minutes, step in [(30, "010101"), (10, "010103")]:
        UsageEvent.objects.create(
            uuid=uuid.uuid4(),
            terminal=terminal.terminal,
            institution=terminal.terminal.institution,
            card=own_card,
            scanned_at=now - datetime.timedelta(minutes=minutes),
            care_step=step,
            terminal_kind="01",
            result="ok",
            fingerprint="x",
        )
    people.reveal_person(own_card.person, by=terminal.terminal, via="api")
    page = resident_client.get(url + "history/").content.decode()
    assert page.count("history-scan") == 2 and page.count("history-reveal") == 1
    # Newest first: the reveal (now), the pharmacy scan (10 min ago), registration (30).
    assert page.index("history-reveal") < page.index(PHARMACY) < page.index(REGISTRATION)
    assert terminal.terminal.institution.name in page
    rec = AuditRecord.objects.get(action="identity.reveal")
    assert rec.object_type == "person" and rec.object_id == str(own_card.person.pk)


def test_linked_numbers_are_masked(resident_client, own_card, url, hospital):
    from healthcard import links

    links.link(own_card, "social_security", "SS1234567890", institution=hospital)
    assert CardLink.objects.count() == 1
    page = resident_client.get(url).content.decode()
    assert "SS1234567890" not in page
    assert "SS******7890" in page


def test_a_manager_switches_between_cards_and_each_page_says_whose(
    resident_client, own_card, url, registered
):
    from tests.portal.test_family import child_form

    resident_client.post("/apply/", child_form(registered))
    child = own_card.person.dependants.get().dependant
    page = resident_client.get(url).content.decode()
    assert f"/cards/{person_ref(child)}/" in page  # the switcher
    child_page = resident_client.get(f"/cards/{person_ref(child)}/").content.decode()
    assert "Family member" in child_page and child.masked_name in child_page


def test_another_account_cannot_open_a_card_it_does_not_manage(own_card, url, db):
    other = Client()
    sign_in(other, "13611112222")
    assert other.get(url).status_code == 404


def test_pdf_is_refused_for_a_frozen_card(resident_client, own_card, url):
    resident_client.post(url + "lost/")
    response = resident_client.get(url + "slip.pdf")
    assert response.status_code == 302


def test_history_names_a_staff_reveal_with_its_reason(resident_client, own_card, url, supervisor):
    from healthcard.models import Person

    # Staff see the people their institution registered or issued a card to.
    Person.objects.filter(pk=own_card.person.pk).update(
        registered_by=supervisor.staff_profile.institution
    )
    own_card.person.refresh_from_db()
    people.reveal_person(own_card.person, by=supervisor, via="admin", reason="急诊核对身份")
    page = resident_client.get(url + "history/").content.decode()
    assert "Counter staff" in page and "急诊核对身份" in page
    assert supervisor.staff_profile.institution.name in page


def test_another_accounts_application_is_a_404(resident_client, registered):
    from healthcard.models import Application

    resident_client.post("/apply/", form(registered("王建国")))
    app = Application.objects.get()
    other = Client()
    sign_in(other, "13611112222")
    assert other.get(f"/applications/{app.ref}/").status_code == 404
    assert resident_client.get(f"/applications/{app.ref}/").status_code == 200
