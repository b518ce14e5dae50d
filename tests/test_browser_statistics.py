"""The statistics page in a real headless Chromium (issue 13): the charts are drawn
without JavaScript, with Chinese labels, beside their tables."""

import pytest
from django_otp.oath import totp

from tests.conftest import PASSWORD
from tests.statistics_world import *  # noqa: F403 - the fixtures
from tests.test_browser import browser  # noqa: F401 - the shared Chromium

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("world")]


def test_statistics_page_draws_its_charts_without_javascript(
    browser,  # noqa: F811
    live_server,
    province_admin,
    tmp_path,
):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=province_admin, name="phone", confirmed=True)
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="zh-CN", java_script_enabled=False
    )
    page = context.new_page()
    page.goto(live_server.url + "/admin/login/?next=/admin/statistics/")
    page.fill("#id_username", province_admin.username)
    page.fill("#id_password", PASSWORD)
    token = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.fill("#id_otp_token", f"{token:0{device.digits}d}")
    page.click("input[type=submit]")
    page.goto(live_server.url + "/admin/statistics/?start=2026-06-01&end=2026-06-10")
    assert page.locator("h1").inner_text() == "普及应用统计"
    charts = page.locator("svg.chart")
    assert charts.count() == 4
    for n in range(4):
        box = charts.nth(n).bounding_box()
        assert box["width"] > 300
        assert box["height"] > 100
    assert "挂号" in charts.nth(1).inner_html()  # care steps in Chinese
    assert "目标 80%" in charts.nth(2).inner_html()
    assert page.locator("#t-visit_share_by_city th[scope=row]").first.inner_text() == "长沙市"
    page.screenshot(path=str(tmp_path / "statistics.png"), full_page=True)
    assert (tmp_path / "statistics.png").stat().st_size > 10_000
    context.close()
