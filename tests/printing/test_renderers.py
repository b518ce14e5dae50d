"""Renderers: what comes out must scan, read and look right without a database."""

import io

import pypdfium2
import pytest
from reportlab.lib.units import mm

from printing import fonts, renderers
from printing.renderers import pdf, qr, raster
from tests.printing import escpos_decode
from tests.printing.conftest import preview


def pdf_pages(data: bytes, dpi: int = 300):
    pdf = pypdfium2.PdfDocument(data)
    for page in pdf:
        yield page.render(scale=dpi / 72).to_pil(), page.get_textpage().get_text_range()


@pytest.mark.parametrize(("paper", "dots"), [(58, 384), (80, 576)])
def test_raster_slip_decodes_back_to_the_code(make_slip, paper, dots):
    slip = make_slip()
    data = renderers.render_escpos_raster(slip, paper)
    images = escpos_decode.raster_slips(data)
    assert len(images) == 1
    assert images[0].width == dots
    assert escpos_decode.read_qr(images[0]) == [slip.code]
    preview(images[0], f"raster-{paper}")


def test_raster_slip_starts_with_init_and_ends_with_a_cut(make_slip):
    data = renderers.render_escpos_raster(make_slip(), 58)
    assert data.startswith(b"\x1b@")
    assert b"\x1dV" in data[-8:]


@pytest.mark.parametrize("paper", [58, 80])
def test_qr_modules_are_at_least_half_a_millimetre_with_quiet_zone(make_slip, paper):
    slip = make_slip()
    image = escpos_decode.raster_slips(renderers.render_escpos_raster(slip, paper))[0]
    matrix = renderers.qr_matrix(slip.code)
    n = len(matrix)
    # the quiet zone is part of the matrix: 4 light modules on every side
    for k in range(qr.QUIET_ZONE):
        assert not any(matrix[k]) and not any(matrix[n - 1 - k])
        assert not any(row[k] or row[n - 1 - k] for row in matrix)
    # where the reader found the symbol, in dots
    import zxingcpp

    (result,) = zxingcpp.read_barcodes(image.convert("L"))
    left, right = result.position.top_left.x, result.position.top_right.x
    module_dots = (right - left + 1) / (n - 2 * qr.QUIET_ZONE)
    assert module_dots / raster.DOTS_PER_MM >= 0.5
    # light margin of at least 4 modules left and right of the symbol
    assert left >= 4 * module_dots - 1
    assert image.width - right >= 4 * module_dots - 1


def test_qr_error_correction_level_is_m(make_slip):
    import zxingcpp

    image = escpos_decode.raster_slips(renderers.render_escpos_raster(make_slip(), 58))[0]
    (result,) = zxingcpp.read_barcodes(image.convert("L"))
    assert result.ec_level == "M"


def test_native_slip_has_gbk_text_in_chinese_mode_and_native_qr(make_slip):
    slip = make_slip()
    data = renderers.render_escpos_native(slip, 58)
    assert escpos_decode.qr_payloads(data) == [slip.code.encode()]
    qr = escpos_decode.qr_settings(data)
    assert qr["ec"] == 49  # level M
    assert qr["module"] / raster.DOTS_PER_MM >= 0.5
    texts = escpos_decode.chinese_texts(data)
    assert "电子健康卡" in texts
    assert "张*三" in texts
    assert data.count(b"\x1c&") == data.count(b"\x1c.")
    assert b"\x1dv0" not in data  # no raster


def test_native_falls_back_to_raster_for_a_name_outside_gbk(make_slip):
    slip = make_slip(name="𠮷*𡒄")
    data = renderers.render_escpos_native(slip, 80)
    assert b"\x1c&" not in data
    images = escpos_decode.raster_slips(data)
    assert escpos_decode.read_qr(images[0]) == [slip.code]


def test_names_outside_the_bmp_are_drawn_with_a_font_that_has_them(make_slip):
    name = "𠮷*𡒄"
    for chain in (fonts.font_chain(), fonts.font_chain(for_pdf=True)):
        assert not fonts.missing_glyphs(name + "电子健康卡湘雅", chain)
        assert all(face.covers(run[0]) for face, run in fonts.runs(name, chain))
    image = renderers.render_slip_image(make_slip(name=name), 384)
    preview(image, "extb-raster")


def test_ext_b_glyphs_are_not_blank_in_the_raster(make_slip):
    # the name line drawn alone: each character must put ink on paper
    from PIL import Image, ImageDraw

    for char in "𠮷𡒄":
        img = Image.new("1", (80, 80), 1)
        raster.TextDrawer(ImageDraw.Draw(img)).text(10, 10, char, 40)
        ink = img.convert("L").histogram()[0]
        assert ink > 50, char


def test_pdf_card_is_id1_size_with_scannable_qr_and_extractable_text(make_slip):
    slip = make_slip(name="𠮷*𡒄")
    data = renderers.render_pdf_card(slip)
    pdf = pypdfium2.PdfDocument(data)
    width, height = pdf[0].get_size()
    assert round(width / 72 * 25.4, 1) == 85.6
    assert round(height / 72 * 25.4, 1) == 54.0
    ((image, text),) = list(pdf_pages(data))
    preview(image, "card")
    assert escpos_decode.read_qr(image) == [slip.code]
    assert "𠮷*𡒄" in text
    assert "1AF4 C373 AED3 27EC" in text


def test_pdf_embeds_every_font_it_uses(make_slip):
    data = renderers.render_pdf_card(make_slip(name="𠮷*𡒄"))
    assert b"/FontFile2" in data
    assert b"/Helvetica" not in data  # no standard font the reader must supply


def test_pdf_sheet_holds_ten_cards_per_a4_page(make_slip):
    slips = [make_slip(code=f"EHC1.TEST.{i:02d}." + "B" * 120) for i in range(12)]
    data = renderers.render_pdf_sheet(slips)
    pages = list(pdf_pages(data, dpi=200))
    assert len(pages) == 2
    first, text = pages[0]
    assert abs(first.width / 200 * 25.4 - 210) < 1
    found = set(escpos_decode.read_qr(first)) | set(escpos_decode.read_qr(pages[1][0]))
    assert found == {s.code for s in slips}
    assert text.count("张*三") == 10
    preview(first, "sheet")


def test_pdf_qr_modules_are_at_least_half_a_millimetre(make_slip, monkeypatch):
    drawn = {}
    real = pdf.draw_qr

    def spy(c, text, x, y, size):
        drawn["module_mm"] = size / len(renderers.qr_matrix(text)) / mm
        return real(c, text, x, y, size)

    monkeypatch.setattr(pdf, "draw_qr", spy)
    renderers.render_pdf_card(make_slip())
    assert drawn["module_mm"] >= 0.5


def test_unknown_escpos_profile_is_a_render_error(make_slip):
    with pytest.raises(renderers.RenderError):
        renderers.render_escpos_raster(make_slip(), 58, "no-such-printer")


def test_pdf_opens_with_pillow_free_reader(make_slip):
    # pdftotext (poppler) reads the same text as pdfium
    import shutil
    import subprocess

    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils not installed")
    data = renderers.render_pdf_card(make_slip())
    out = subprocess.run(
        ["pdftotext", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()
    assert "张*三" in out
    assert "1AF4 C373 AED3 27EC" in out
    assert io.BytesIO(data).getbuffer().nbytes < 200_000


RENDER_WITHOUT_SETTINGS = """
import datetime, sys
from printing.renderers import render_escpos_native, render_escpos_raster, render_pdf_card
from printing.slip import Slip

slip = Slip(code="EHC-RENDER-CHECK", masked_name="张*三", ehc_id="AB12" * 16,
            institution_name="中南大学湘雅医院", issued_on=datetime.date(2026, 11, 25), issue_seq=1)
pdf = render_pdf_card(slip)
raster = render_escpos_raster(slip, 58)
native = render_escpos_native(slip, 80)
assert pdf.startswith(b"%PDF") and b"\\x1dv0" in raster and b"\\x1d(k" in native
assert not any(name.startswith(("healthcard", "printing.models", "printing.slips"))
               for name in sys.modules), "a renderer imported the database layer"
print("rendered")
"""


def test_a_slip_renders_in_a_process_without_django_settings(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HEALTHCARD"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    done = subprocess.run(
        [sys.executable, "-c", RENDER_WITHOUT_SETTINGS],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "rendered"
