"""Resident portal: the requests an open card page makes all the time (a fresh dynamic
code as SVG, every ~50 s per open page) and the PDF slip download.

    .venv/bin/python bench/bench_portal.py [--seconds 5]

Single process, single thread, through Django's test client (the whole middleware
stack, sessions in the database) on a throw-away in-memory SQLite database; timed in
CPU seconds of this process, so every rate is per core.
"""

import argparse
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.pop("DATABASE_URL", None)

import django

django.setup()

from cpu import rate, throwaway_database  # noqa: E402 (bench/cpu.py, beside this script)
from django.test import Client  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    with throwaway_database():
        from healthcard import realname
        from healthcard.models import Institution, Level, OutboxMessage
        from healthcard.selfservice import person_ref

        Institution.objects.create(code="430000000000", name="省卫健委", level=Level.AUTHORITY)
        realname.add_to_register("王建国", "01", "430103196004065154")
        client = Client()
        client.post("/signin/", {"phone": "13912345678"})
        code = "".join(ch for ch in OutboxMessage.objects.first().body if ch.isdigit())[:6]
        client.post("/signin/code/", {"code": code})
        client.post(
            "/apply/",
            {"relation": "self", "name": "王建国", "id_type": "01",
             "id_number": "430103196004065154", "form_token": "bench"},
        )  # fmt: skip
        from healthcard.models import Person

        url = f"/cards/{person_ref(Person.objects.get())}/"

        from printing.renderers import qr_matrix

        def svg():
            qr_matrix.cache_clear()  # real pages never repeat a code within a second
            assert client.get(url + "code.svg").status_code == 200

        def pdf():
            qr_matrix.cache_clear()
            assert client.get(url + "slip.pdf").status_code == 200

        print(f"python {platform.python_version()}, {platform.machine()}")
        print(f"dynamic code SVG (GET code.svg): {rate(svg, args.seconds):8.0f} /CPU s")
        print(f"PDF slip (GET slip.pdf):         {rate(pdf, args.seconds):8.0f} /CPU s")


if __name__ == "__main__":
    main()
