"""Adoption statistics at province size (issue 13): roll-up build time and the admin
statistics page served from the roll-ups, next to a trivial admin page.

    .venv/bin/python bench/bench_statistics.py generate   # the data set (minutes)
    .venv/bin/python bench/bench_statistics.py run        # the measurements
    .venv/bin/python bench/bench_statistics.py all        # both

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, no password). `generate` drops and
recreates the database named by --db (default i13) and fills it with bulk SQL
(INSERT ... SELECT generate_series, no Python loop per row): 515 institutions (500
that treat patients in Hunan's 14 市州, plus the authorities), about 900 terminals,
--cards people and cards issued in October 2026, --events usage events in that month,
a visit total per institution and day, 200 replacements through cards.replace_card,
and --day-events more events on one day (2026-11-15) for the one-day build. Nothing
is written to the repository. `run` times:

- rebuild() of the month (October 2026) and of the one big day;
- GET /admin/statistics/ for the whole province and the month, and the admin index
  (a trivial admin page), through Django's test client in this process, so the
  numbers are Django and PostgreSQL without a web server or network in between.
"""

import argparse
import datetime
import os
import statistics as stats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432"
MONTH = (datetime.date(2026, 10, 1), datetime.date(2026, 10, 31))
BIG_DAY = datetime.date(2026, 11, 15)


def setup(db: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": f"{PG}/{db}",
            "DEBUG": "0",
            "SECRET_KEY": "bench-secret-key-bench-secret-key-bench-secret-key",
            "HEALTHCARD_KEK": "YmVuY2gta2VrLWJlbmNoLWtlay1iZW5jaC1rZWstMzI=",
            "ALLOWED_HOSTS": "testserver",
            "DJANGO_SETTINGS_MODULE": "healthcard.settings",
            "HEALTHCARD_VAR_DIR": tempfile.mkdtemp(prefix="bench-statistics-"),
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def recreate(db: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
        conn.execute(f'CREATE DATABASE "{db}"')


def timed(label: str, fn, *args):
    began = time.perf_counter()
    result = fn(*args)
    elapsed = time.perf_counter() - began
    print(f"{label}: {elapsed:.1f} s", flush=True)
    return result, elapsed


def sql(statement: str, params=None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)


CITIES = [
    "430100", "430200", "430300", "430400", "430500", "430600", "430700",
    "430800", "430900", "431000", "431100", "431200", "431300", "433100",
]  # fmt: skip


def level_for(n: int) -> str:
    """3 % tertiary, 20 % secondary, the rest primary care and public health."""
    r = n % 100
    if r < 6:
        return "3"
    if r < 26:
        return "2"
    if r < 40:
        return "1"
    if r < 60:
        return "community"
    if r < 90:
        return "village"
    return "public"


def generate(args) -> None:
    recreate(args.db)
    setup(args.db)
    from django.core.management import call_command

    from healthcard.models import Institution, Level, Terminal

    call_command("migrate", verbosity=0)
    province = Institution.objects.create(
        code="430000000000", name="湖南省卫生健康委员会", level=Level.AUTHORITY, city_code="430000"
    )
    for city in CITIES:
        Institution.objects.create(
            code=f"{city}000000",
            name=f"{city}卫生健康委员会",
            level=Level.AUTHORITY,
            city_code=city,
            parent=province,
        )
    Institution.objects.bulk_create(
        Institution(
            code=f"{CITIES[n % 14]}{n:06d}",
            name=f"医疗机构{n:03d}",
            level=level_for(n),
            city_code=CITIES[n % 14],
            parent=province,
        )
        for n in range(1, args.institutions + 1)
    )
    ids = list(
        Institution.objects.exclude(level=Level.AUTHORITY)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    terminals = []
    for n, pk in enumerate(ids):
        if n % 10 == 9:
            continue  # one in ten has no terminal yet
        for kind in ("01", "03"):
            terminals.append(
                Terminal(
                    institution_id=pk,
                    name=f"T{kind}",
                    kind=kind,
                    scopes=["verify", "report"],
                    token_prefix=f"b{pk:06d}{kind}",
                    token_hash="0" * 64,
                )
            )
    Terminal.objects.bulk_create(terminals)
    print(f"{len(ids)} institutions, {len(terminals)} terminals", flush=True)

    month_start = "2026-10-01 00:00:00+08"
    timed(
        f"{args.cards} people",
        sql,
        """INSERT INTO healthcard_person (master_index, name, id_type, id_number_enc,
               identity_index, sex, birth_date, nation, phone_index, registered_by_id,
               created_at, updated_at)
           SELECT md5('m' || g) || md5('n' || g), '测试', '01', '\\x00'::bytea,
                  md5('i' || g) || md5('j' || g), (1 + g %% 2)::text,
                  date '1980-01-01' + (g %% 15000)::int,
                  '01', '', NULL, now(), now()
           FROM generate_series(1::bigint, %s) g""",
        [args.cards],
    )
    timed(
        f"{args.cards} cards",
        sql,
        """INSERT INTO healthcard_card (person_id, ehc_id, status, status_reason, issue_seq,
               seq_issued_at, channel, institution_id, issued_at, updated_at)
           SELECT p.id, upper(md5('e' || p.id) || md5('f' || p.id)),
                  CASE WHEN p.id %% 50 = 0 THEN 'frozen' WHEN p.id %% 97 = 0 THEN 'cancelled'
                       ELSE 'active' END, '', 1, t, (1 + p.id %% 4)::text,
                  i.ids[1 + (p.id * 104729) %% array_length(i.ids, 1)], t, t
           FROM (SELECT id, %s::timestamptz + floor(random() * 2678400) * interval '1 second' t
                 FROM healthcard_person) p,
                (SELECT array_agg(id ORDER BY id) ids FROM healthcard_institution
                 WHERE level <> 'authority') i""",
        [month_start],
    )
    events_sql = """
        INSERT INTO healthcard_usageevent (uuid, terminal_id, institution_id, card_id,
            scanned_at, received_at, care_step, department, terminal_kind, fee_type, result,
            code_kind, offline, fingerprint)
        SELECT gen_random_uuid(), t.id, t.institution_id,
               CASE WHEN g %% 33 = 0 THEN NULL ELSE c.first + (g * 104729) %% c.n END,
               %s::timestamptz + floor(random() * %s) * interval '1 second', now(),
               (ARRAY['010101','010101','010101','010102','010103','010104',
                      '010105','010106','010107','000000'])[1 + floor(random() * 10)::int],
               '', t.kind, '0200', CASE WHEN g %% 33 = 0 THEN 'bad_signature' ELSE 'ok' END,
               'static', false, ''
        FROM generate_series(1::bigint, %s) g
        CROSS JOIN (SELECT min(id) first, count(*) n FROM healthcard_card) c
        JOIN (SELECT id, institution_id, kind, row_number() OVER (ORDER BY id) - 1 rn
              FROM healthcard_terminal) t ON t.rn = (g * 7919) %% %s
    """
    n_terminals = len(terminals)
    timed(
        f"{args.events} usage events in October",
        sql,
        events_sql,
        [month_start, 31 * 86400, args.events, n_terminals],
    )
    timed(
        "visit totals (institution x day)",
        sql,
        """INSERT INTO healthcard_visittotal (institution_id, day, visits, source, reported_by,
               updated_at)
           SELECT i.id, d::date, 80 + (i.id * 31 + extract(day FROM d)::int * 17) % 120,
                  'api', 'bench', now()
           FROM healthcard_institution i,
                generate_series(timestamp '2026-10-01', timestamp '2026-10-31', '1 day') d
           WHERE i.level <> 'authority'""",
    )
    from healthcard import cards
    from healthcard.models import Card

    def replace_some():
        for card in Card.objects.filter(status="active").order_by("pk")[:200]:
            cards.replace_card(card, by=None, reason="bench")

    timed("200 replacements through cards.replace_card", replace_some)
    if args.day_events:
        timed(
            f"{args.day_events} usage events on {BIG_DAY}",
            sql,
            events_sql,
            [f"{BIG_DAY} 00:00:00+08", 86400, args.day_events, n_terminals],
        )
    timed("ANALYZE", sql, "ANALYZE")


def run(args) -> None:
    setup(args.db)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from healthcard import statistics
    from healthcard.models import DailyUsage, Institution, Role, UsageEvent
    from healthcard.roles import assign_role

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM healthcard_usageevent WHERE scanned_at < %s",
                       [statistics.day_start(MONTH[1] + datetime.timedelta(1))])  # fmt: skip
        month_events = cursor.fetchone()[0]
    day_events = UsageEvent.objects.filter(
        scanned_at__gte=statistics.day_start(BIG_DAY),
        scanned_at__lt=statistics.day_start(BIG_DAY + datetime.timedelta(1)),
    ).count()
    print(f"events: {month_events} in the month, {day_events} on {BIG_DAY}")
    month_times = []
    for _ in range(args.repeat):
        result, elapsed = timed("rebuild month", statistics.rebuild, *MONTH)
        month_times.append(elapsed)
    print(
        f"  rows: {result.issuance_rows} issuance, {result.usage_rows} usage, "
        f"{result.institution_rows} institution-day"
    )
    day_times = []
    if day_events:
        for _ in range(args.repeat):
            result, elapsed = timed(f"rebuild {BIG_DAY}", statistics.rebuild, BIG_DAY, BIG_DAY)
            day_times.append(elapsed)
        print(f"  rows: {result.usage_rows} usage, {result.institution_rows} institution-day")
    print(f"roll-up rows in total: {DailyUsage.objects.count()} usage")

    user, _created = get_user_model().objects.get_or_create(username="bench-province")
    assign_role(user, Institution.objects.get(code="430000000000"), Role.PROVINCE_ADMIN)
    device, _created = TOTPDevice.objects.get_or_create(user=user, name="bench", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    month = {"start": MONTH[0].isoformat(), "end": MONTH[1].isoformat()}
    pages = {
        "admin index (trivial page)": ("/admin/", {}),
        "statistics page, province, October": ("/admin/statistics/", month),
        "statistics page, one 市州, October": ("/admin/statistics/", {**month, "city": "430100"}),
        "CSV export, visit share by institution": (
            "/admin/statistics/",
            {**month, "export": "visit_share_by_institution"},
        ),
    }
    for label, (url, params) in pages.items():
        client.get(url, params)  # warm-up
        times = []
        for _ in range(args.requests):
            began = time.perf_counter()
            response = client.get(url, params)
            times.append(time.perf_counter() - began)
            assert response.status_code == 200, response.status_code
        times.sort()
        print(
            f"{label}: median {stats.median(times) * 1000:.0f} ms, "
            f"max {times[-1] * 1000:.0f} ms over {len(times)} requests, "
            f"{len(response.content) // 1024} KiB"
        )
    print(f"month rebuild: median {stats.median(month_times):.1f} s")
    if day_times:
        print(f"big-day rebuild: median {stats.median(day_times):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["generate", "run", "all"])
    parser.add_argument("--db", default="i13")
    parser.add_argument("--institutions", type=int, default=500)
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--day-events", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="Rebuilds of each range.")
    parser.add_argument("--requests", type=int, default=10, help="Requests per page.")
    args = parser.parse_args()
    if args.what in ("generate", "all"):
        generate(args)
    if args.what in ("run", "all"):
        if args.what == "all":
            from django.db import connection

            connection.close()
        run(args)


if __name__ == "__main__":
    main()
