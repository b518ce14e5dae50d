"""Usage events for years (issue 15): the verify INSERT rate and the offline batch
upload rate with an empty table and with many existing events, side by side, and a
day's statistics roll-up, on the monthly-partitioned PostgreSQL table.

    .venv/bin/python bench/bench_usage.py [--existing 30000000] [--day 5000000]
                                          [--terminals 20000] [--rounds 5] [--again]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres); the databases h_usage_bench (or
$BENCH_DATABASE) and h_usage_bench_empty are dropped and recreated. Both get the same
36 monthly partitions, terminals, keys and card; the empty one is copied (CREATE
DATABASE ... TEMPLATE) just before the load, so that the two differ in the rows alone.
The existing events are generated with COPY (indexes dropped for the load and rebuilt
after it) over the last 35 months, `--day` of them on one day of the previous month,
whose roll-up is then timed. They belong to `--terminals` terminals in turn, the
measured one among them: a province has tens of thousands of scanning terminals, and
an upload's idempotency lookup reads only its own terminal's part of each index.
`--terminals 1` gives every existing event to the measured terminal (the worst case:
one device with millions of events).

The rates are measured in rounds alternating between the two databases, and the
difference is the median of the rounds' own differences: on a shared machine a slow
spell then falls on both sides of a round. Measured in one process over one
connection, so the rates are per connection (the web nodes insert in parallel).
`--again` measures the databases a previous run left, without loading them again.
"""

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_api  # noqa: E402 - a sibling script, not a package

DB_NAME = os.environ.get("BENCH_DATABASE", "h_usage_bench")
EMPTY_DB = f"{DB_NAME}_empty"
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


def use_database(name: str) -> None:
    """Point Django's default connection at another database of this server."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name


def create_partitions() -> None:
    """The partitions of this month's 35 predecessors (the current month's and those
    ahead come with the migrations)."""
    from django.utils import timezone

    from healthcard import partitions

    this_month = partitions.Month.of(timezone.now())
    for back in range(1, 36):
        partitions.ensure_partitions(ahead=0, now=this_month.plus(-back).start)


def without_indexes(conn):
    """Drop the table's unique constraint and secondary indexes for the load, as
    PostgreSQL's advice on populating a database has it (one sort per index
    afterwards instead of millions of random index insertions); return what puts
    them back under the same names and definitions. The primary key stays."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'healthcard_usageevent'::regclass AND contype = 'u'"
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename ="
            " 'healthcard_usageevent' AND indexname NOT IN"
            " (SELECT conname FROM pg_constraint WHERE conrelid ="
            " 'healthcard_usageevent'::regclass AND contype IN ('u', 'p'))"
        )
        indexes = cursor.fetchall()
        for name, _definition in constraints:
            cursor.execute(f'ALTER TABLE healthcard_usageevent DROP CONSTRAINT "{name}"')
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    conn.commit()

    def rebuild() -> None:
        with conn.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '1GB'")
            for name, definition in constraints:
                cursor.execute(
                    f'ALTER TABLE healthcard_usageevent ADD CONSTRAINT "{name}" {definition}'
                )
            for _name, definition in indexes:
                cursor.execute(definition.replace(" ON ONLY ", " ON "))
        conn.commit()

    return rebuild


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
    rebuild = without_indexes(conn)
    with (
        psycopg.connect(f"{PG}/{DB_NAME}") as source,
        source.cursor().copy(f"COPY ({rows}) TO STDOUT") as out,
        conn.cursor() as cursor,
        cursor.copy(f"COPY healthcard_usageevent ({COLUMNS}) FROM STDIN") as copy,
    ):
        for chunk in out:
            copy.write(chunk)
    conn.commit()
    loaded = time.perf_counter()
    rebuild()
    print(
        f"  generated {total:,} events with COPY in {loaded - start:.0f} s,"
        f" indexes rebuilt in {time.perf_counter() - loaded:.0f} s"
    )
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


def compare(terminal, code: str, args, existing: int) -> None:
    """Rounds alternating between the empty and the loaded database: each rate is the
    median of its rounds, the difference the median of the rounds' own differences
    (the machine is shared: a slow spell falls on both of a round alike)."""
    label = {EMPTY_DB: "empty", DB_NAME: f"{existing:,} existing"}
    rounds: dict[str, list[tuple[float, float]]] = {EMPTY_DB: [], DB_NAME: []}
    insert_rate(terminal, code, 200)  # warm-up
    for _round in range(args.rounds):
        for database in (EMPTY_DB, DB_NAME):
            use_database(database)
            insert_rate(terminal, code, 100)  # the new connection's statements prepared
            rounds[database].append(
                (
                    insert_rate(terminal, code, args.inserts),
                    upload_rate(terminal, code, args.batches),
                )
            )
    header = f"{'table':<24}{'verify INSERT/s':>18}{'batch upload events/s':>24}"
    print(f"{header}  (median of {args.rounds} rounds)")
    for database, runs in rounds.items():
        inserts = statistics.median(r[0] for r in runs)
        uploads = statistics.median(r[1] for r in runs)
        print(f"{label[database]:<24}{inserts:>18.0f}{uploads:>24.0f}")
    pairs = list(zip(rounds[EMPTY_DB], rounds[DB_NAME], strict=True))
    verify = [full[0] / empty[0] - 1 for empty, full in pairs]
    upload = [full[1] / empty[1] - 1 for empty, full in pairs]
    print(
        f"difference (median of the rounds' own): verify {statistics.median(verify):+.1%}"
        f" ({', '.join(f'{d:+.0%}' for d in verify)}), batch upload"
        f" {statistics.median(upload):+.1%} ({', '.join(f'{d:+.0%}' for d in upload)})"
    )
    use_database(DB_NAME)


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
    compare(terminal, code, args, UsageEvent.objects.count())
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
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--again", action="store_true", help="measure the loaded database of a previous run"
    )
    args = parser.parse_args()
    if args.again:
        again(args)
        return
    import psycopg

    recreate_database()
    var_dir = tempfile.mkdtemp(prefix="bench-usage-")
    fixtures = bench_api.prepare(var_dir, {**bench_api.ENV, "DATABASE_URL": f"{PG}/{DB_NAME}"})
    from django.db import connection

    from healthcard.models import Card, Terminal

    terminal = Terminal.objects.get(name="bench")
    card = Card.objects.get()
    code = fixtures["code"]
    # Two databases alike but for the 30 million events: the empty one is a copy made
    # just before the load, with the same 36 monthly partitions, terminals, keys and
    # card, so the two differ in the rows alone. Rounds alternate between them.
    create_partitions()
    connection.ensure_connection()
    if args.terminals > 1:
        add_terminals(connection.connection, terminal.institution_id, args.terminals - 1)
    connection.close()
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {EMPTY_DB}")
        admin.execute(f"CREATE DATABASE {EMPTY_DB} TEMPLATE {DB_NAME}")
    connection.ensure_connection()
    busy = generate(
        connection.connection, terminal.institution_id, card.pk, args.existing, args.day
    )
    for database in (EMPTY_DB, DB_NAME):
        use_database(database)
        with connection.cursor() as cursor:
            start = time.perf_counter()
            cursor.execute("VACUUM ANALYZE healthcard_usageevent")
            cursor.execute("CHECKPOINT")  # the load's WAL flushed before measuring
            cursor.execute("SELECT count(*) FROM healthcard_usageevent")
            existing = cursor.fetchone()[0]
            print(
                f"  {database}: VACUUM ANALYZE and CHECKPOINT in"
                f" {time.perf_counter() - start:.0f} s, {existing:,} events"
            )
    compare(terminal, code, args, existing)
    for attempt in ("cold", "warm"):
        seconds, events = rollup(busy)
        print(f"roll-up of {busy:%Y-%m-%d} ({events:,} events, {attempt}): {seconds:.2f} s")


if __name__ == "__main__":
    main()
