"""healthcard.charts: server-rendered SVG, escaped, accessible, readable."""

import re

from healthcard import charts


def test_bar_chart_is_accessible_escaped_and_draws_the_target():
    svg = charts.bar_chart(
        "持卡就诊占比 <目标>",
        "description",
        [
            charts.Bar("长沙市", 0.5, "50.0%"),
            charts.Bar("<b>湘潭</b>", None, "", "未上报"),
            charts.Bar("株洲市", 0.79, "79.0%"),
        ],
        "c-x",
        maximum=1,
        target=0.8,
        target_label="目标 80%",
    )
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"')
    assert 'aria-labelledby="c-x-t c-x-d"' in svg
    assert '<title id="c-x-t">持卡就诊占比 &lt;目标&gt;</title>' in svg
    assert "&lt;b&gt;湘潭&lt;/b&gt;" in svg and "<b>" not in svg
    assert "未上报" in svg
    assert svg.count("stroke-dasharray") == 1  # the target line
    assert svg.count("<rect") == 1 + 2  # background and two bars: no bar without a value
    # A bar ending just short of the target line has its figure after the line.
    line_x = float(re.search(r'<line x1="([\d.]+)"', svg).group(1))
    text_x = float(re.search(r'<text x="([\d.]+)" y="[\d.]+">79.0%', svg).group(1))
    assert text_x > line_x


def test_line_chart_has_a_line_per_series_and_whole_number_ticks():
    svg = charts.line_chart(
        "发卡",
        "d",
        ["2026-06-01", "2026-06-02", "2026-06-03"],
        {"线上": [0, 1, 2], "窗口": [1, 0, 0]},
        "c-l",
    )
    assert svg.count("<polyline") == 2
    ticks = re.findall(r'text-anchor="end">([^<]+)</text>', svg)
    assert ticks == ["0", "1", "2", "3", "4"]
    assert ">06-01<" in svg and ">06-03<" in svg
