"""Usage events for years (issue 15): the verify INSERT rate and the offline batch
upload rate with an empty table and with many existing events, side by side, and a
day's statistics roll-up, on the monthly-partitioned PostgreSQL table.

    .venv/bin/python bench/bench_usage.py [--existing 30000000] [--day 5000000]
                                          [--terminals 20000]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres); the database h_usage_bench (or
$BENCH_DATABASE) is dropped and recreated. The existing events are generated with COPY
over the last 35 months (one partition each), `--day` of them on one day of the
previous month, whose roll-up is then timed. They belong to `--terminals` terminals in
turn, the measured one among them: a province has tens of thousands of scanning
terminals, and an upload's idempotency lookup reads only its own terminal's part of
each index. `--terminals 1` gives every existing event to the measured terminal (the
worst case: one device with millions of events). Measured in one process over one
connection, so the rates are per connection (the web nodes insert in parallel).
"""

import argparse
import datetime
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_api  # noqa: E402 - a sibling script, not a package

DB_NAME = os.environ.get("BENCH_DATABASE", "h_usage_bench")
PG = "postgres://postgres@127.0.0.1:5432"
COLUMNS = (
    "uuid, terminal_id, institution_id, card_id, scanned_at, received_at, care_step,"
    " department, terminal_kind, fee_type, result, code_kind, offline, fingerprint"
)


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def insert_rate(terminal, code: str, n: int) -> float:
    """Online verifications recorded per second: verify_and_record, whose one INSERT
    goes through healthcard.sql."""
    from healthcard import usage

    scan = usage.Scan(code=code, care_step="010101", terminal_kind="01")
    start = time.perf_counter()
    for _ in range(n):
        usage.verify_and_record(terminal, scan)
    return n / (time.perf_counter() - start)


def upload_rate(terminal, code: str, batches: int) -> float:
    """Offline events stored per second through report_scans, batches of MAX_BATCH
    with fresh UUIDs (each code verified as of its scan time)."""
    from django.utils import timezone

    from healthcard import usage

    start = time.perf_counter()
    stored = 0
    for _ in range(batches):
        now = timezone.now()
        items = [
            usage.Scan(
                code=code,
                care_step="010101",
                terminal_kind="01",
                scanned_at=now - datetime.timedelta(minutes=i),
                uuid=uuid.uuid4(),
            )
            for i in range(usage.MAX_BATCH)
        ]
        result = usage.report_scans(terminal, items)
        stored += result.summary["created"]
    return stored / (time.perf_counter() - start)


def add_terminals(conn, institution_id: int, n: int) -> None:
    """n more terminals of the institution (rows only: they never sign in)."""
    with conn.cursor() as cursor:
        cursor.execute(
            "INSERT INTO healthcard_terminal (institution_id, name, kind, scopes, token_prefix,"
            " token_hash, is_active, created_at) SELECT %s, 'load ' || n, '01', '[]'::jsonb,"
            " 'load' || n, repeat('0', 64), true, now() FROM generate_series(1, %s) AS n",
            [institution_id, n],
        )
    conn.commit()


def generate(conn, institution_id: int, card_id: int, total: int, day: int):
    """COPY `total` events in: `day` of them on one day of last month, the rest spread
    over the 35 months before this one, each terminal's in turn. PostgreSQL makes the
    rows (COPY (SELECT ...) TO STDOUT on a second connection) and this process only
    streams them into COPY ... FROM STDIN, so the load runs at COPY speed. Returns that
    day (local midnight)."""
    import psycopg
    from django.utils import timezone

    from healthcard import partitions

    this_month = partitions.Month.of(timezone.now())
    for back in range(1, 36):
        partitions.ensure_partitions(ahead=0, now=this_month.plus(-back).start)
    busy = this_month.plus(-1).start + datetime.timedelta(days=14)
    oldest = this_month.plus(-35).start
    span = (this_month.start - oldest).total_seconds()
    rows = f"""
        SELECT gen_random_uuid(), ids[1 + n % array_length(ids, 1)], {institution_id},
               {card_id}, at, at,
               (ARRAY['010101','010102','010103','010105'])[1 + n % 4], '', '01', '',
               'ok', 'static', false, repeat('0', 64)
        FROM (SELECT n, CASE WHEN n <= {day}
                     THEN '{busy.isoformat()}'::timestamptz + random() * interval '1 day'
                     ELSE '{oldest.isoformat()}'::timestamptz + random() * interval '{span} seconds'
                     END AS at
              FROM generate_series(1, {total}) AS n) AS g,
             (SELECT array_agg(id ORDER BY id) AS ids FROM healthcard_terminal) AS t
    """  # noqa: S608 - our own numbers and dates
    start = time.perf_counter()
    with (
        psycopg.connect(f"{PG}/{DB_NAME}") as source,
        source.cursor().copy(f"COPY ({rows}) TO STDOUT") as out,
        conn.cursor() as cursor,
        cursor.copy(f"COPY healthcard_usageevent ({COLUMNS}) FROM STDIN") as copy,
    ):
        for chunk in out:
            copy.write(chunk)
    conn.commit()
    print(f"  generated {total:,} events with COPY in {time.perf_counter() - start:.0f} s")
    return busy


def rollup(day: datetime.datetime) -> tuple[float, int]:
    """One day's statistics: scans by institution, care step and result."""
    from django.db.models import Count

    from healthcard.models import UsageEvent

    start = time.perf_counter()
    rows = list(
        UsageEvent.objects.filter(
            scanned_at__gte=day, scanned_at__lt=day + datetime.timedelta(days=1)
        )
        .values("institution_id", "care_step", "result")
        .annotate(n=Count("id"))
        .order_by()
    )
    return time.perf_counter() - start, sum(r["n"] for r in rows)


def rates(terminal, code: str, args) -> tuple[float, float]:
    """Best of three rounds of each: the machine is shared, the best round is the one
    least disturbed by others."""
    inserts = max(insert_rate(terminal, code, args.inserts) for _ in range(3))
    uploads = max(upload_rate(terminal, code, args.batches) for _ in range(3))
    return inserts, uploads


def again(args) -> None:
    """The rates and roll-up on the database a previous run loaded."""
    var_dir = tempfile.mkdtemp(prefix="bench-usage-")
    os.environ.update(bench_api.ENV, DATABASE_URL=f"{PG}/{DB_NAME}")
    os.environ["HEALTHCARD_VAR_DIR"] = var_dir
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.utils import timezone

    from healthcard import codes, partitions
    from healthcard.models import Card, Terminal, UsageEvent

    terminal = Terminal.objects.get(name="bench")
    code = codes.static_code(Card.objects.get())
    inserts, uploads = rates(terminal, code, args)
    print(
        f"{UsageEvent.objects.count():,} existing: verify INSERT/s {inserts:.0f},"
        f" batch upload events/s {uploads:.0f}"
    )
    busy = partitions.Month.of(timezone.now()).plus(-1).start + datetime.timedelta(days=14)
    for attempt in ("cold", "warm"):
        seconds, events = rollup(busy)
        print(f"roll-up of {busy:%Y-%m-%d} ({events:,} events, {attempt}): {seconds:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--existing", type=int, default=30_000_000)
    parser.add_argument("--day", type=int, default=5_000_000)
    parser.add_argument("--terminals", type=int, default=20_000)
    parser.add_argument("--inserts", type=int, default=3000)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument(
        "--again", action="store_true", help="measure the loaded database of a previous run"
    )
    args = parser.parse_args()
    if args.again:
        again(args)
        return
    recreate_database()
    var_dir = tempfile.mkdtemp(prefix="bench-usage-")
    fixtures = bench_api.prepare(var_dir, {**bench_api.ENV, "DATABASE_URL": f"{PG}/{DB_NAME}"})
    from django.db import connection

    from healthcard.models import Card, Terminal

    terminal = Terminal.objects.get(name="bench")
    card = Card.objects.get()
    code = fixtures["code"]
    insert_rate(terminal, code, 200)  # warm-up
    results = {"empty": rates(terminal, code, args)}
    connection.ensure_connection()
    if args.terminals > 1:
        add_terminals(connection.connection, terminal.institution_id, args.terminals - 1)
    busy = generate(
        connection.connection, terminal.institution_id, card.pk, args.existing, args.day
    )
    with connection.cursor() as cursor:
        start = time.perf_counter()
        cursor.execute("VACUUM ANALYZE healthcard_usageevent")
        cursor.execute("CHECKPOINT")  # the load's WAL flushed before measuring again
        print(f"  VACUUM ANALYZE and CHECKPOINT in {time.perf_counter() - start:.0f} s")
        cursor.execute("SELECT count(*) FROM healthcard_usageevent")
        existing = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM healthcard_usageevent WHERE terminal_id = %s", [terminal.pk]
        )
        own = cursor.fetchone()[0]
        print(f"  {existing:,} existing events, {own:,} of them the measured terminal's")
    results[f"{existing:,} existing"] = rates(terminal, code, args)
    print(f"{'table':<24}{'verify INSERT/s':>18}{'batch upload events/s':>24}")
    for name, (inserts, uploads) in results.items():
        print(f"{name:<24}{inserts:>18.0f}{uploads:>24.0f}")
    (empty_i, empty_u), (full_i, full_u) = results.values()
    print(
        f"difference: verify {full_i / empty_i - 1:+.1%}, batch upload {full_u / empty_u - 1:+.1%}"
    )
    for attempt in ("cold", "warm"):
        seconds, events = rollup(busy)
        print(f"roll-up of {busy:%Y-%m-%d} ({events:,} events, {attempt}): {seconds:.2f} s")


if __name__ == "__main__":
    main()
