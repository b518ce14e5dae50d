# Fixtures imported from other test modules are used as parameters, which F811 reads as
# redefinitions.
# ruff: noqa: F811
"""The counter console end to end in headless Chromium: sign in with password + TOTP,
register, print on the virtual network printer through a real Celery worker, read the
printed QR back and verify it through the API, report loss and replace, and see the
first slip refused as superseded. Every screen is checked with axe-core and saved as a
1366 × 768 screenshot when HEALTHCARD_SCREENSHOTS names a folder."""

import os
import re
from pathlib import Path

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from healthcard.models import Card, Person
from printing.models import Printer, PrinterKind, PrintJob
from tests.conftest import PASSWORD, make_id_number
from tests.printing import escpos_decode
from tests.printing.conftest import _fast_printing, broker, virtual_printer, worker  # noqa: F401 (fixtures)  # noqa: F401 (fixtures)
from tests.test_browser import browser  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 768}
VERIFY = "/api/v1/codes/verify"


@pytest.fixture
def desk(browser):
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], "script errors on the console's pages"


def shot(page, name: str) -> None:
    folder = os.environ.get("HEALTHCARD_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def accessible(page) -> None:
    """No serious or critical axe-core violations on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], bad


def code_of(device) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def sign_in(page, base, username, device):
    page.goto(base + "/staff/")
    assert "/staff/sign-in/" in page.url
    assert page.evaluate("document.activeElement.name") == "username"
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code_of(device))
    accessible(page)
    shot(page, "01-sign-in")
    page.press("#id_otp_token", "Enter")
    page.wait_for_url(base + "/staff/")


def printed_codes(printer, count: int) -> list[str]:
    assert printer.wait_for_jobs(count)
    texts = []
    for slip in escpos_decode.raster_slips(printer.data):
        texts.extend(escpos_decode.read_qr(slip))
    return texts


@pytest.fixture(autouse=True)
def _patient_printing(_fast_printing, settings):
    # The machine running the suite may be busy: give the printer time to answer.
    settings.HEALTHCARD_PRINT_TIMEOUT = 15


def wait_printed(page, count: int, shots: str) -> None:
    """Wait until `count` jobs are printed. The page is not reloaded: the script swaps
    each job's row as it progresses."""
    settled = "li.job.state-printed, li.job.state-failed, li.job.flagged"
    page.wait_for_function(
        f"() => document.querySelectorAll({settled!r}).length >= {count}", timeout=120_000
    )
    problems = list(PrintJob.objects.exclude(status="printed").values("status", "last_error"))
    assert page.locator("li.job.state-printed").count() == count, problems
    shot(page, shots)


def test_counter_flow_end_to_end(
    desk,
    live_server,
    clerk,
    hospital,
    virtual_printer,
    worker,
    terminal,
):
    base = live_server.url
    device = TOTPDevice.objects.create(user=clerk, name="phone", confirmed=True)
    Printer.objects.create(
        institution=hospital,
        name="柜台1",
        kind=PrinterKind.ESCPOS_NETWORK,
        host=virtual_printer.host,
        port=virtual_printer.port,
        paper_width=58,
    )
    worker(f"print.{hospital.code}")
    page = desk
    sign_in(page, base, "clerk", device)

    # The search page: the scan field has the focus for the handheld scanner.
    assert page.evaluate("document.activeElement.name") == "code"
    accessible(page)
    shot(page, "02-search")

    # Search by ID document: not found, so the registration form, prefilled.
    number = make_id_number()
    page.select_option("select[name=id_type]", "01")
    page.fill("input[name=id_number]", number)
    page.press("input[name=id_number]", "Enter")
    page.wait_for_selector("form.grid-form")
    assert number not in page.url
    assert page.input_value("#id_id_number") == number
    page.fill("#id_name", "王小明")
    page.fill("#id_phone", "13900139000")
    page.check("#id_checked_in_person")
    accessible(page)
    shot(page, "03-register")
    page.press("#id_name", "Enter")
    page.wait_for_url(re.compile(r".*/staff/people/\d+/\?issued=1$"))
    card = Card.objects.get()
    assert (card.channel, card.issued_by) == ("3", clerk)

    # Print straight away: the print button has the focus; Enter prints.
    assert page.evaluate("document.activeElement.type") == "submit"
    accessible(page)
    shot(page, "04-issued")
    page.keyboard.press("Enter")
    page.wait_for_selector("li.job")
    shot(page, "05-printing")
    wait_printed(page, 1, "06-printed")
    first = printed_codes(virtual_printer, 1)
    assert len(first) == 1
    ok = terminal.post(VERIFY, {"code": first[0], "care_step": "010101"})
    assert ok.status_code == 200, ok.content
    assert ok.json()["card"]["ehc_id"] == card.ehc_id

    # Report loss and replace: the old slip stops working, a new one is printed.
    page.click("details:has(form[action$='/replace/']) summary")
    page.fill("form[action$='/replace/'] input[name=reason]", "遗失")
    accessible(page)
    shot(page, "07-replace")
    page.press("form[action$='/replace/'] input[name=reason]", "Enter")
    page.wait_for_url(re.compile(r".*\?issued=1$"))
    card.refresh_from_db()
    assert card.issue_seq == 2
    page.keyboard.press("Enter")  # print the new slip (the button has the focus)
    # A function, not an expression: an expression is eval'd, which the CSP forbids.
    page.wait_for_function("() => document.querySelectorAll('li.job').length == 2")
    wait_printed(page, 2, "08-reprinted")
    codes = printed_codes(virtual_printer, 2)
    second = [c for c in codes if c != first[0]]
    assert len(second) == 1
    assert terminal.post(VERIFY, {"code": second[0], "care_step": "010101"}).status_code == 200
    refused = terminal.post(VERIFY, {"code": first[0], "care_step": "010101"})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "superseded"

    # The first slip scanned at the counter: refused, with the reason, no crash.
    page.goto(base + "/staff/")
    page.keyboard.type(first[0])
    page.keyboard.press("Enter")
    page.wait_for_selector("#scan-result")
    assert page.locator("#scan-result").inner_text().strip()
    accessible(page)
    shot(page, "09-scan-superseded")

    # The new slip scanned: straight to the person's page.
    page.keyboard.type(second[0])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/staff/people/\d+/$"))

    page.goto(base + "/staff/today/")
    accessible(page)
    shot(page, "10-my-day")
    assert Person.objects.count() == 1


def test_enrolment_and_institution_view(desk, live_server, supervisor, card):
    base = live_server.url
    page = desk
    page.goto(base + "/staff/sign-in/")
    page.fill("#id_username", "supervisor")
    page.fill("#id_password", "not-the-password")
    page.press("#id_password", "Enter")
    page.wait_for_selector("#signin-error")
    accessible(page)
    shot(page, "00-sign-in-failed")
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_url(re.compile(r".*/staff/enrol/.*"))
    assert page.locator("figure.qr svg").count() == 1
    accessible(page)
    shot(page, "11-enrol")
    device = TOTPDevice.objects.get(user=supervisor, confirmed=False)
    page.fill("#id_otp_token", code_of(device))
    page.press("#id_otp_token", "Enter")
    page.wait_for_url(base + "/staff/")

    page.goto(base + f"/staff/people/{card.person.pk}/")
    page.click("details:has(form[action$='/reveal/']) summary")
    page.fill("form[action$='/reveal/'] input[name=reason]", "核对身份")
    page.press("form[action$='/reveal/'] input[name=reason]", "Enter")
    page.wait_for_selector(".revealed")
    accessible(page)
    shot(page, "12-revealed")
    # Esc closes an open action panel
    page.click("details:has(form[action$='/replace/']) summary")
    page.keyboard.press("Escape")
    assert not page.evaluate(
        "document.querySelector(\"details:has(form[action$='/replace/'])\").open"
    )

    page.goto(base + "/staff/activity/")
    accessible(page)
    shot(page, "13-activity")


def test_without_javascript_printing_and_the_pdf_download_still_work(
    browser,
    live_server,
    clerk,
    hospital,
    card,
):
    from printing import runner

    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", java_script_enabled=False)
    page = context.new_page()
    try:
        base = live_server.url
        device = TOTPDevice.objects.create(user=clerk, name="phone", confirmed=True)
        Printer.objects.create(institution=hospital, name="PDF", kind=PrinterKind.PDF)
        # page.evaluate (focus checks, axe-core) needs scripts: plain steps only here
        page.goto(base + "/staff/")
        page.fill("#id_username", "clerk")
        page.fill("#id_password", PASSWORD)
        page.fill("#id_otp_token", code_of(device))
        page.press("#id_otp_token", "Enter")
        page.wait_for_url(base + "/staff/")
        page.goto(base + f"/staff/people/{card.person.pk}/")
        page.click("form.print-form button[type=submit]")
        page.wait_for_selector("li.job.state-queued")
        assert page.get_by_text("刷新打印状态").count() == 1
        runner.process(PrintJob.objects.get().pk)  # the worker's part, done here
        page.reload()
        page.wait_for_selector("li.job.state-printed")
        with page.expect_download() as download:
            page.click("li.job a.button")
        path = download.value.path()
        assert Path(path).read_bytes().startswith(b"%PDF")
        shot(page, "14-pdf-printed-no-script")
    finally:
        context.close()
