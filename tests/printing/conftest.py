"""Fixtures of the printing tests: printers of each kind and the virtual network printer."""

import datetime
import os
from pathlib import Path

import pytest

from printing.models import Printer, PrinterKind, TextMode
from printing.slip import Slip
from tests.printing.virtual_printer import VirtualPrinter


def preview(image, name: str) -> None:
    """Save a rendered slip as PNG for a person to look at, when
    HEALTHCARD_PRINT_PREVIEWS names a directory."""
    folder = os.environ.get("HEALTHCARD_PRINT_PREVIEWS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        image.save(Path(folder) / f"{name}.png")


@pytest.fixture
def virtual_printer():
    printer = VirtualPrinter()
    yield printer
    printer.close()


@pytest.fixture(autouse=True)
def _fast_printing(settings, tmp_path):
    settings.HEALTHCARD_PRINT_TIMEOUT = 2
    settings.HEALTHCARD_PRINT_RETRY_DELAY = 0
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def make_network_printer(virtual_printer):
    """An escpos-network printer of `institution` pointing at the virtual printer."""

    def make(institution, name="Counter 1", paper_width=80, **extra):
        return Printer.objects.create(
            institution=institution,
            name=name,
            kind=PrinterKind.ESCPOS_NETWORK,
            host=virtual_printer.host,
            port=virtual_printer.port,
            paper_width=paper_width,
            **extra,
        )

    return make


@pytest.fixture
def network_printer(hospital, make_network_printer):
    return make_network_printer(hospital)


@pytest.fixture
def native_printer(hospital, make_network_printer):
    return make_network_printer(
        hospital, name="Counter 2", paper_width=58, text_mode=TextMode.NATIVE
    )


@pytest.fixture
def pdf_printer(hospital):
    return Printer.objects.create(institution=hospital, name="Browser", kind=PrinterKind.PDF)


LABELS = {
    "name": "姓名",
    "ehc_id": "健康卡号",
    "institution": "发卡机构",
    "date": "发卡日期",
    "seq": "发卡序号",
}


@pytest.fixture
def make_slip():
    """A plain slip without a database (renderers take plain data)."""

    def make(name="张*三", code="EHC1.TEST." + "A" * 150, **extra):
        return Slip(
            code=code,
            masked_name=name,
            ehc_id="1AF4C373AED327EC520E6CE19E16F5CB0C0215A1DBAFCF8BA7C3936101986B7D",
            institution_name="中南大学湘雅医院",
            issued_on=datetime.date(2026, 11, 25),
            issue_seq=extra.pop("issue_seq", 1),
            labels=LABELS,
            instruction="在湖南省任何公立医院或诊所出示此码。遗失请到任意窗口挂失。",
            **extra,
        )

    return make
