"""Browser flows in a real headless Chromium (Debian's package) driven by Playwright."""

import os
import shutil

import pytest
from django_otp.oath import totp

from tests.conftest import PASSWORD, require_services

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if require_services():
            pytest.fail("Chromium is required (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests
    # make between browser steps are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2)
    page = context.new_page()
    yield page
    context.close()


def test_home_page_is_chinese_and_fits_a_phone(page, live_server):
    page.goto(live_server.url + "/")
    assert page.locator("h1").inner_text() == "一张卡，湖南各医院通用"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"


def test_staff_signs_in_to_admin_with_totp(page, live_server, clerk):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=clerk, name="phone", confirmed=True)
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", PASSWORD)
    token = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.fill("#id_otp_token", f"{token:0{device.digits}d}")
    page.click("input[type=submit]")
    page.wait_for_url(live_server.url + "/admin/")
    assert "健康卡" in page.content()


def test_wrong_totp_keeps_staff_out(page, live_server, clerk):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=clerk, name="phone", confirmed=True)
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", "000000")
    page.click("input[type=submit]")
    assert page.url.startswith(live_server.url + "/admin/login/")
    assert page.locator(".errornote").count() == 1


def test_supervisor_sees_masked_person_then_reveals_with_a_reason(
    page, live_server, supervisor, card
):
    """Issue 8: the person's page is masked; the full identity needs a reason."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from healthcard.models import AuditRecord

    device = TOTPDevice.objects.create(user=supervisor, name="phone", confirmed=True)
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "supervisor")
    page.fill("#id_password", PASSWORD)
    token = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.fill("#id_otp_token", f"{token:0{device.digits}d}")
    page.click("input[type=submit]")
    page.wait_for_url(live_server.url + "/admin/")
    page.goto(f"{live_server.url}/admin/healthcard/person/{card.person.pk}/change/")
    assert "张*三" in page.content() and "张小三" not in page.content()
    page.click("text=查看完整身份信息")
    page.fill("#id_reason", "核对患者身份")
    page.click("input[type=submit]")
    page.wait_for_selector("#identity")
    assert card.person.id_number in page.inner_text("#identity")
    assert AuditRecord.objects.filter(action="identity.reveal").count() == 1
