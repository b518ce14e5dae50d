"""The resident's journey in a real headless Chromium: sign in with the code from the
outbox, apply, see the card, let the dynamic code refresh, download the PDF and read its
QR, add a child, report loss, switch to 长辈版, and run axe-core on the main pages in
both languages and both text sizes. Screenshots (390 × 844) go to /tmp/shots-i10/."""

import datetime
import io
import os
import uuid
from pathlib import Path

import pypdfium2
import pytest
import zxingcpp
from django.utils import timezone
from PIL import Image

from healthcard import codes, people, realname
from healthcard.models import Card, CardStatus, UsageEvent
from tests.conftest import make_id_number
from tests.portal.conftest import PHONE, last_code
from tests.test_browser import browser  # noqa: F401 - the shared Chromium fixture

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("PORTAL_SHOTS", "/tmp/shots-i10"))  # noqa: S108 - not in the repo
VIEWPORT = {"width": 390, "height": 844}


@pytest.fixture
def context(browser):  # noqa: F811
    context = browser.new_context(
        viewport=VIEWPORT, locale="zh-CN", device_scale_factor=1, accept_downloads=True
    )
    yield context
    context.close()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def read_qr(page, selector) -> str:
    png = page.locator(selector).screenshot()
    return zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))[0].text


SMALL_TEXT = """() => {
  const small = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!own || box.width === 0 || el.closest(".visually-hidden")) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < 24) small.push(el.tagName + " " + size + "px: " + el.textContent.trim());
  }
  return small;
}"""


def wait_for_code(page):
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-dynamic-code] img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )


def axe_problems(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.response["testEngine"]["name"] == "axe-core"  # it did run
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['nodes'][0]['target']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_resident_journey(context, live_server, province, terminal):
    own_number = make_id_number()
    child_number = make_id_number(birth=datetime.date(2019, 5, 6))
    realname.add_to_register("王建国", "01", own_number)
    realname.add_to_register("王小明", "01", child_number)
    base = live_server.url
    page = context.new_page()
    page.clock.install()  # runs at normal speed; fast-forwarded below
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # Sign in with the code from the outbox.
    page.goto(base + "/signin/")
    shot(page, "01-signin")
    page.fill("#id_phone", PHONE)
    page.click("button.primary")
    page.wait_for_url(base + "/signin/code/")
    assert page.locator("[data-enable-after]").is_disabled()  # resend after the cooldown
    shot(page, "02-code")
    page.fill("#id_code", last_code())
    page.click("button.primary")
    page.wait_for_url(base + "/me/")
    shot(page, "03-dashboard-empty")

    # Apply: sex and birth date come from the number, locked.
    page.click("a[href='/apply/']")
    page.fill("#id_name", "王建国")
    page.fill("#id_id_number", own_number)
    assert page.locator("#id_sex").is_disabled()
    assert page.locator("#id_phone").is_hidden()  # only asked for family members
    assert page.input_value("#id_birth_date") == (
        f"{own_number[6:10]}-{own_number[10:12]}-{own_number[12:14]}"
    )
    shot(page, "04-apply")
    page.click("button[data-once]")
    page.wait_for_selector("[data-dynamic-code] img")  # issued and shown at once
    wait_for_code(page)
    card = Card.objects.get(person__name="王建国")
    first = read_qr(page, "[data-dynamic-code] img")
    assert codes.verify_code(first).card == card
    shot(page, "05-card")

    # The dynamic code refreshes before it expires (the page clock runs 55 s on).
    page.wait_for_timeout(1100)  # the next code's expiry is at least a second later
    page.clock.run_for(55_000)
    page.wait_for_selector("[data-dynamic-code][data-refreshed]")
    wait_for_code(page)
    second = read_qr(page, "[data-dynamic-code] img")
    assert second != first and codes.verify_code(second).card == card

    # The PDF slip, its QR read back with zxing.
    with page.expect_download() as download:
        page.click("a[href$='slip.pdf']")
    pdf = pypdfium2.PdfDocument(Path(download.value.path()).read_bytes())
    slip_code = zxingcpp.read_barcodes(pdf[0].render(scale=8).to_pil())[0].text
    assert codes.verify_code(slip_code).card == card

    # Full-screen view for the scanner.
    page.click("a[href$='show/']")
    page.wait_for_selector(".scanner-code img")
    assert page.locator(".site-header").count() == 0
    shot(page, "06-show")
    page.go_back()

    # Add a child.
    page.goto(base + "/me/")
    page.click("a[href='/apply/']")
    page.check("input[name=relation][value=child]")
    assert page.locator("#id_phone").is_visible()
    page.fill("#id_name", "王小明")
    page.fill("#id_id_number", child_number)
    page.click("button[data-once]")
    page.wait_for_selector(".whose")
    assert "王*明" in page.inner_text(".whose")
    wait_for_code(page)
    shot(page, "07-child-card")
    page.goto(base + "/me/")
    assert page.locator(".card-list > li").count() == 2
    shot(page, "08-dashboard-family")

    # A hospital scanned the card and was shown the identity: the history says so.
    UsageEvent.objects.create(
        uuid=uuid.uuid4(),
        terminal=terminal.terminal,
        institution=terminal.terminal.institution,
        card=card,
        scanned_at=timezone.now(),
        care_step="010101",
        department="内科",
        terminal_kind="01",
        result="ok",
        fingerprint="x",
    )
    people.reveal_person(card.person, by=terminal.terminal, via="api")
    page.goto(base + "/me/")
    page.locator(".card-list > li").first.locator("a.button.primary").click()
    page.click("a[href$='history/']")
    assert page.locator(".history-scan").count() == 1
    assert page.locator(".history-reveal").count() == 1
    assert terminal.terminal.institution.name in page.inner_text(".history")
    shot(page, "09-history")
    page.go_back()
    page.click("a.danger")
    shot(page, "10-lost")
    page.click("button.danger")
    page.wait_for_selector(".status-frozen")
    card.refresh_from_db()
    assert card.status == CardStatus.FROZEN
    assert codes.verify_code(slip_code).reason == "card_frozen"
    shot(page, "11-frozen")

    # 长辈版: large text, remembered across pages.
    page.click(".elder-toggle button")
    page.wait_for_selector("body.elder")
    page.goto(base + "/me/")
    assert page.evaluate("document.body.classList.contains('elder')")
    size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    line = page.evaluate("parseFloat(getComputedStyle(document.body).lineHeight)")
    assert size >= 24 and line / size >= 1.3
    for box in page.locator("main .button, main button, .elder-toggle button").all():
        b = box.bounding_box()
        assert b["width"] >= 60 and b["height"] >= 60, box.inner_text()
    assert page.evaluate(SMALL_TEXT) == []
    shot(page, "12-dashboard-elder")
    page.locator(".card-list > li").nth(1).locator("a.button.primary").click()
    wait_for_code(page)
    assert page.evaluate(SMALL_TEXT) == []
    shot(page, "13-child-card-elder")

    # axe-core: main pages, both text sizes, both languages.
    child_card = page.url
    pages = ["/", "/signin/", "/me/", "/apply/", child_card, child_card + "history/"]
    pages += [child_card + "show/", child_card + "print/", child_card + "lost/"]
    problems = []
    for language in ["zh-hans", "en"]:
        page.goto(base + "/")
        if page.locator("html").get_attribute("lang") != language:
            with page.expect_navigation():
                page.select_option("select[name=language]", language)  # submits (portal.js)
        for elder in [True, False]:
            if page.evaluate("document.body.classList.contains('elder')") != elder:
                with page.expect_navigation():
                    page.click(".elder-toggle button")
            for path in pages:
                page.goto(path if path.startswith("http") else base + path)
                problems += axe_problems(page)
    page.goto(base + "/me/")
    shot(page, "14-dashboard-en")
    assert not problems, "\n".join(problems)
    assert not [e for e in errors if "Content Security Policy" in e], errors
