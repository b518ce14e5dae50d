"""Printing benchmark: slips rendered per second by each renderer, and the end-to-end
time of 1,000 cards through the real print queue to a virtual network printer.

    .venv/bin/python bench/bench_printing.py [--seconds 5] [--cards 1000]

Renderers are timed on plain slips (no database), in CPU seconds of this process, best
of three rounds. The baseline of the same run is the QR symbol alone (encoding the
signed code, no drawing): every renderer pays it once per slip.

End to end: a throwaway database (SQLite in a temporary folder, or DATABASE_URL) and
broker (file system, or CELERY_BROKER_URL), 1,000 issued cards, one printer pointing
at an in-process virtual ESC/POS printer, and one `celery worker` process (solo pool,
as `./dev run` starts it) consuming the institution's queue. Timed from the first
submission to the last job printed; the baseline is the same jobs printed by calling
the task's function directly in this process (no broker, no worker).
"""

import argparse
import contextlib
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

VAR = Path(tempfile.mkdtemp(prefix="bench-printing-"))
RUN = f"{os.getpid()}-{int(time.time())}-"  # idempotency keys unique to this run
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", "bench-secret-key-that-is-long-enough-for-django")
os.environ.setdefault("HEALTHCARD_KEK", "dGVzdC1rZWstdGVzdC1rZWstdGVzdC1rZWstMzJieXQ=")
os.environ["HEALTHCARD_VAR_DIR"] = str(VAR)
os.environ["MEDIA_ROOT"] = str(VAR / "media")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthcard.settings")
# The benchmark prints to a virtual printer on 127.0.0.1, which production refuses.
os.environ.setdefault("HEALTHCARD_PRINTER_NETWORKS", "127.0.0.1/32")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from printing import renderers  # noqa: E402
from printing.slips import Slip  # noqa: E402


def sample(i: int = 0) -> Slip:
    return Slip(
        code=f"EHC1.S.{i:08d}." + "Q" * 140,  # the length of a signed static code
        masked_name="张*三",
        ehc_id="1AF4C373AED327EC520E6CE19E16F5CB0C0215A1DBAFCF8BA7C3936101986B7D",
        institution_name="中南大学湘雅医院",
        issued_on=datetime.date(2026, 11, 25),
        issue_seq=1,
        labels={
            "ehc_id": "健康卡号",
            "institution": "发卡机构",
            "date": "发卡日期",
            "seq": "发卡序号",
        },
        instruction="在湖南省任何公立医院或诊所出示此码。遗失请到任意窗口挂失。",
    )


def rate(fn, seconds: float, per_call: int = 1) -> float:
    """Slips per CPU second, best of three rounds."""
    best = 0.0
    for _ in range(3):
        n, start = 0, time.process_time()
        while time.process_time() - start < seconds / 3:
            fn(n)
            n += 1
        best = max(best, n * per_call / (time.process_time() - start))
    return best


def bench_renderers(seconds: float) -> None:
    renderers.render_pdf_card(sample())  # font loading and registration, once per process
    renderers.render_escpos_raster(sample(), 58)
    base = rate(lambda i: renderers.qr_matrix(sample(i).code), seconds)
    rows = [
        ("PDF card (ID-1)", rate(lambda i: renderers.render_pdf_card(sample(i)), seconds)),
        (
            "PDF A4 sheet of ten",
            rate(
                lambda i: renderers.render_pdf_sheet([sample(i * 10 + k) for k in range(10)]),
                seconds,
                10,
            ),
        ),
        (
            "ESC/POS raster 58 mm",
            rate(lambda i: renderers.render_escpos_raster(sample(i), 58), seconds),
        ),
        (
            "ESC/POS raster 80 mm",
            rate(lambda i: renderers.render_escpos_raster(sample(i), 80), seconds),
        ),
        ("ESC/POS native", rate(lambda i: renderers.render_escpos_native(sample(i), 80), seconds)),
    ]
    print(f"baseline: QR symbol only            {base:8.0f} slips/s")
    for name, value in rows:
        print(f"{name:36s} {value:8.0f} slips/s   ({value / base:5.1%} of baseline)")


def make_cards(count: int):
    from healthcard import cards
    from healthcard.models import Channel, Institution, Level
    from tests.conftest import make_id_number

    institution = Institution.objects.create(
        code="43BENCH" + str(os.getpid()),
        name="基准医院",
        level=Level.SECONDARY,
        city_code="430100",
    )
    made = []
    for i in range(count):
        birth = datetime.date(1950, 1, 1) + datetime.timedelta(days=i // 900)
        number = make_id_number(birth=birth, seq=1 + i % 900)
        # an existing card (a database reused from an earlier run) is used as it is
        card, _created = cards.register_and_issue(
            cards.PersonData(name="张小三", id_type="01", id_number=number),
            channel=Channel.COUNTER,
            institution=institution,
        )
        made.append(card)
    return institution, made


def end_to_end(count: int) -> None:
    from printing import jobs, runner
    from printing.models import Printer, PrinterKind, PrintJob
    from tests.printing.virtual_printer import VirtualPrinter

    call_command("migrate", verbosity=0)
    t0 = time.monotonic()
    institution, cards_ = make_cards(count)
    print(f"setup: {count} cards issued in {time.monotonic() - t0:.1f} s ({connection.vendor})")
    vprinter = VirtualPrinter()
    printer = Printer.objects.create(
        institution=institution,
        name="bench",
        kind=PrinterKind.ESCPOS_NETWORK,
        host=vprinter.host,
        port=vprinter.port,
        paper_width=58,
    )
    queue = printer.queue_name

    # Baseline: the task's function called directly, no broker, no worker.
    direct = cards_[: max(count // 10, 1)]
    pks = []
    for card in direct:
        job, _ = jobs.submit_print_job(
            card, printer, requested_by=None, idempotency_key=f"{RUN}d{card.pk}"
        )
        pks.append(job.pk)
    _purge(queue)  # the baseline's messages are not for the worker
    start = time.monotonic()
    for pk in pks:
        runner.process(pk)
    direct_rate = len(pks) / (time.monotonic() - start)
    print(f"baseline: direct runner.process       {direct_rate:8.1f} slips/s ({len(pks)} jobs)")

    env = {**os.environ, "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "")}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "healthcard",
            "worker",
            "-Q",
            queue,
            "--pool",
            "solo",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "warning",
        ],
        cwd=BASE_DIR,
        env=env,
    )
    try:
        time.sleep(3)  # let the worker connect before the clock starts
        before = len(vprinter.jobs)
        start = time.monotonic()
        for card in cards_:
            jobs.submit_print_job(
                card, printer, requested_by=None, idempotency_key=f"{RUN}q{card.pk}"
            )
        submitted = time.monotonic() - start
        vprinter.wait_for_jobs(before + count, timeout=3600)
        while (
            PrintJob.objects.filter(status="printed", idempotency_key__startswith=RUN).count()
            < len(pks) + count
        ):
            time.sleep(0.05)
        total = time.monotonic() - start
    finally:
        worker.terminate()
        worker.wait(30)
        vprinter.close()
    print(
        f"submit {count} jobs:                  {submitted:8.1f} s ({count / submitted:.0f} jobs/s)"
    )
    print(
        f"end to end, {count} cards via queue:  {total:8.1f} s ({count / total:.1f} slips/s, "
        f"{count / total / direct_rate:.0%} of direct)"
    )


def _purge(queue: str) -> None:
    from healthcard.celery import app

    # the queue may not exist yet
    with app.connection_for_write() as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_purge(queue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="CPU seconds per renderer")
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--skip-queue", action="store_true")
    args = parser.parse_args()
    try:
        bench_renderers(args.seconds)
        if not args.skip_queue:
            end_to_end(args.cards)
    finally:
        shutil.rmtree(VAR, ignore_errors=True)


if __name__ == "__main__":
    main()
