"""End to end in headless Chromium: from the sample hospital app (examples/hospital_app)
sign in with the SMS code, consent, land back signed in with the expected claims;
withdraw the consent in the portal and see the app's next refresh refused.
Screenshots (390 × 844) go to /tmp/shots-i12/."""

import importlib.util
import os
import socket
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from healthcard import signin
from tests.portal.conftest import PHONE, last_code
from tests.test_browser import browser  # noqa: F401 - the shared Chromium fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("SIGNIN_SHOTS", "/tmp/shots-i12"))  # noqa: S108 - not in the repo
APP = Path(__file__).resolve().parents[2] / "examples" / "hospital_app" / "app.py"


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def sample_app(live_server, hospital, province_admin, settings):
    """The sample app on a free port, registered as a public client (http: DEBUG-only
    URIs, so the test allows them as a development machine would)."""
    settings.DEBUG = True
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
    }
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    signin.register_client(
        hospital,
        "湘雅示范掌上医院",
        redirect_uris=f"{url}/callback",
        post_logout_redirect_uris=f"{url}/",
        scopes="openid ehc profile",
        confidential=False,
        client_id="sample-app",
        by=province_admin,
    )
    spec = importlib.util.spec_from_file_location("hospital_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.ISSUER, module.CLIENT_ID, module.APP_URL = live_server.url + "/o", "sample-app", url
    server = make_server("127.0.0.1", port, module.app, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()


@pytest.fixture
def page(browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    yield context.new_page()
    context.close()


def test_sign_in_from_the_sample_app_then_withdraw(page, live_server, sample_app, card):
    card.person.phone = PHONE
    card.person.save()
    page.goto(sample_app + "/")
    page.click("#login")
    page.wait_for_url(f"{live_server.url}/signin/**")
    page.fill("#id_phone", PHONE)
    page.click("button.primary")
    page.wait_for_url(f"{live_server.url}/signin/code/**")
    # The phone's new account holds the card (in real life: applied for online).
    from portal.models import SmsDevice

    card.person.user = SmsDevice.objects.get(phone_index=card.person.phone_index).user
    card.person.save(update_fields=["user"])
    page.fill("#id_code", last_code())
    page.click("button.primary")
    page.wait_for_selector("text=同意并登录")
    assert "湘雅医院" in page.content()
    assert "电子健康卡 ID" in page.content()
    shot(page, "01-consent")
    page.click("text=同意并登录")
    page.wait_for_url(sample_app + "/")
    assert page.locator("[data-claim=ehc_id]").inner_text() == card.ehc_id
    assert page.locator("[data-claim=name]").inner_text() == card.person.name
    assert page.locator("[data-claim=id_number]").count() == 0
    shot(page, "02-signed-in")
    page.click("#refresh")
    assert page.locator("#refresh-result").inner_text() == "ok"

    # Withdraw in the portal: the app's next refresh is refused.
    page.goto(live_server.url + "/me/apps/")
    assert "湘雅示范掌上医院" in page.content()
    shot(page, "03-granted-apps")
    page.click("text=撤销授权")
    page.wait_for_selector("text=您还没有用健康卡登录过任何应用")
    page.goto(sample_app + "/")
    page.click("#refresh")
    assert page.locator("#refresh-result").inner_text().startswith("refused")
    shot(page, "04-refresh-refused")
