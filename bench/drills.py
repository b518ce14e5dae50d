"""Fault drills against a real gunicorn + PostgreSQL, results in docs/reliability.md.

    .venv/bin/python bench/drills.py postgres   # PostgreSQL stopped ~5 s under load
    .venv/bin/python bench/drills.py sigkill    # web workers SIGKILLed mid-request
    .venv/bin/python bench/drills.py redis      # the broker stopped 30 s, print jobs
    .venv/bin/python bench/drills.py cache      # the shared cache stopped 10 s under load

Each drill runs its OWN PostgreSQL server (initdb into a temporary folder, port 5433)
and, for the broker and cache drills, its own redis-server on port 6380, and never touches the
machine's shared PostgreSQL or Redis; gunicorn listens on
127.0.0.1:8916. Load is a few client threads over loopback, bounded in time and in
requests. Each drill prints requests sent, answers by status, and rows expected and
found, and exits non-zero when a promise is broken.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_api  # a sibling script, not a package

ROOT = bench_api.ROOT
PG_PORT = 5433
WEB_PORT = 8916
DB_NAME = "drill"
PG_URL = f"postgres://postgres@127.0.0.1:{PG_PORT}"
WORKERS = 3
THREADS = 4


def _pg_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").iterdir())
    return versions[-1] / "bin"


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; on a developer's own account it runs as is.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class OwnPostgres:
    """A throw-away PostgreSQL server for the drills, on PG_PORT."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="healthcard-drill-pg-"))
        self.data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [str(_pg_bin() / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
            ),
            check=True,
            capture_output=True,
        )

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(_pg_bin() / "pg_ctl"), "-D", str(self.data), "-w", *args]),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {PG_PORT} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.dir / "log"), "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def query(sql: str, params=()) -> list[tuple]:
    import psycopg

    with psycopg.connect(f"{PG_URL}/{DB_NAME}", autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def start_gunicorn(var_dir: str, **extra_env: str) -> subprocess.Popen:
    env = {
        **os.environ,
        **bench_api.ENV,
        "DATABASE_URL": f"{PG_URL}/{DB_NAME}",
        "HEALTHCARD_VAR_DIR": var_dir,
        **extra_env,
    }
    cmd = [str(ROOT / ".venv" / "bin" / "gunicorn"), "healthcard.wsgi:application"]
    cmd += ["--bind", f"127.0.0.1:{WEB_PORT}", "--workers", str(WORKERS)]
    cmd += ["--log-level", "warning", "--timeout", "30"]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    bench_api.wait_until_serving(WEB_PORT, WORKERS)
    return server


class Load:
    """THREADS client threads posting verifications until stopped, `limit` requests or
    `seconds` at most; every answer is recorded with the time it came back."""

    def __init__(self, token: str, code: str, *, seconds: float, limit: int) -> None:
        self.body = json.dumps({"code": code, "care_step": "010101"}).encode()
        self.token = token
        self.deadline = time.monotonic() + seconds
        self.limit = limit
        self.stop = threading.Event()
        self.answers: list[dict] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(THREADS)]

    def _one(self) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{WEB_PORT}/api/v1/codes/verify",
            data=self.body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        answer = {"at": None, "status": None}
        try:
            with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 (http only)
                answer.update(
                    status=response.status, body=response.read(), headers=response.headers
                )
        except urllib.error.HTTPError as exc:
            answer.update(status=exc.code, body=exc.read(), headers=exc.headers)
        except OSError as exc:  # connection reset by a killed worker
            answer.update(status="no answer", error=type(exc).__name__)
        answer["at"] = time.monotonic()
        return answer

    def _run(self) -> None:
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            with self.lock:
                if len(self.answers) >= self.limit:
                    return
            answer = self._one()
            with self.lock:
                self.answers.append(answer)
            if answer["status"] != 200:
                time.sleep(0.05)  # a terminal told to retry does not hammer

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def classify(answer: dict) -> str:
    status = answer["status"]
    if status == "no answer":
        return f"no answer ({answer['error']})"
    if status == 200:
        return "200"
    content_type = answer["headers"].get("Content-Type", "")
    if status == 503 and content_type.startswith("application/json"):
        try:
            code = json.loads(answer["body"])["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = "?"
        retry = "Retry-After" if answer["headers"].get("Retry-After") else "no Retry-After"
        return f"503 json {code} ({retry})"
    return f"{status} {content_type.split(';')[0]}"


def event_uuids(answers: list[dict]) -> list[str]:
    return [json.loads(a["body"])["usage_event"] for a in answers if a["status"] == 200]


def report(
    title: str, answers: list[dict], checks: dict[str, bool], extra: dict, sent="requests sent"
) -> bool:
    counts = collections.Counter(classify(a) for a in answers)
    print(f"== {title}")
    print(f"{sent}: {len(answers)}")
    for label, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {label}: {n}")
    for key, value in extra.items():
        print(f"{key}: {value}")
    for name, ok in checks.items():
        print(f"[{'ok' if ok else 'FAILED'}] {name}")
    return all(checks.values())


def drill_postgres(fixtures: dict, pg: OwnPostgres, var_dir: str) -> bool:
    server = start_gunicorn(var_dir)
    try:
        with Load(fixtures["masked"], fixtures["code"], seconds=30, limit=20_000) as load:
            time.sleep(5)
            down_at = time.monotonic()
            pg.stop()
            time.sleep(5)
            pg.start()
            back_at = time.monotonic()
            time.sleep(10)
        answers = load.answers
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    during = [a for a in answers if down_at <= a["at"] < back_at]
    after = [a for a in answers if a["at"] >= back_at]
    first_ok = min((a["at"] for a in after if a["status"] == 200), default=None)
    recovery = None if first_ok is None else first_ok - back_at
    late_failures = [a for a in after if a["at"] > back_at + 5 and a["status"] != 200]
    uuids = event_uuids(answers)
    found = query(
        "SELECT count(*) FROM healthcard_usageevent WHERE uuid = ANY(%s::uuid[])", [uuids]
    )
    not_ok = [a for a in answers if a["status"] != 200]
    checks = {
        "every failed answer is a JSON 503 unavailable with Retry-After": all(
            classify(a) == "503 json unavailable (Retry-After)" for a in not_ok
        ),
        "service recovered within 5 s of the database returning": recovery is not None
        and recovery <= 5,
        "no failure later than 5 s after the database returned": not late_failures,
        "every 2xx verification has its usage event row": found[0][0] == len(uuids),
    }
    extra = {
        "answers while the database was down": len(during),
        "recovery after the database was back (s)": "never"
        if recovery is None
        else f"{recovery:.2f}",
        "usage events expected (2xx answers) / found": f"{len(uuids)} / {found[0][0]}",
    }
    return report("PostgreSQL stopped for 5 s under load", answers, checks, extra)


def drill_sigkill(fixtures: dict, var_dir: str) -> bool:
    """Reveal verifications (usage event + audit record + chain head in one transaction)
    while a worker is SIGKILLed every second, five times."""
    server = start_gunicorn(var_dir)
    killed = 0
    try:
        with Load(fixtures["reveal"], fixtures["code"], seconds=20, limit=20_000) as load:
            for _ in range(5):
                time.sleep(1)
                pids = bench_api.worker_pids(server.pid)
                if pids:
                    os.kill(pids[killed % len(pids)], signal.SIGKILL)
                    killed += 1
            time.sleep(3)
        answers = load.answers
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    uuids = event_uuids(answers)
    [(events, reveals, orphans, unaudited)] = query(
        """
        SELECT
          (SELECT count(*) FROM healthcard_usageevent e JOIN healthcard_terminal t
             ON t.id = e.terminal_id WHERE t.name = 'bench reveal'),
          (SELECT count(*) FROM healthcard_auditrecord WHERE action = 'identity.reveal'),
          (SELECT count(*) FROM healthcard_auditrecord a WHERE a.action = 'identity.reveal'
             AND NOT EXISTS (SELECT 1 FROM healthcard_usageevent e
                             WHERE e.uuid::text = a.details->>'usage_event')),
          (SELECT count(*) FROM healthcard_usageevent e JOIN healthcard_terminal t
             ON t.id = e.terminal_id WHERE t.name = 'bench reveal' AND NOT EXISTS
             (SELECT 1 FROM healthcard_auditrecord a WHERE a.action = 'identity.reveal'
              AND a.details->>'usage_event' = e.uuid::text))
        """
    )
    found = query(
        "SELECT count(*) FROM healthcard_usageevent WHERE uuid = ANY(%s::uuid[])", [uuids]
    )
    chain = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "audit", "verify"],
        cwd=ROOT,
        env={**os.environ, **bench_api.ENV, "DATABASE_URL": f"{PG_URL}/{DB_NAME}"},
        capture_output=True,
        text=True,
    )
    checks = {
        "every 2xx verification has its usage event row": found[0][0] == len(uuids),
        "no reveal audit record without its usage event": orphans == 0,
        "no reveal usage event without its audit record": unaudited == 0,
        "the audit hash chains verify": chain.returncode == 0,
    }
    extra = {
        "workers SIGKILLed": killed,
        "usage events expected (2xx answers) / found": f"{len(uuids)} / {found[0][0]}",
        "reveal usage events / identity.reveal audit records": f"{events} / {reveals}",
        "audit verify": (chain.stdout or chain.stderr).strip().splitlines()[-1:],
    }
    return report("web workers SIGKILLed mid-request", answers, checks, extra)


REDIS_PORT = 6380
BROKER = f"redis://127.0.0.1:{REDIS_PORT}/0"


def start_redis() -> subprocess.Popen:
    cmd = ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1"]
    cmd += ["--save", "", "--appendonly", "no"]  # no persistence: an outage loses messages
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (
            subprocess.run(
                ["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True
            ).returncode
            == 0
        ):
            return server
        time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def drill_redis(var_dir: str, sweep_seconds: int = 5) -> bool:
    """Print jobs submitted while the broker is down for 30 s are delivered after it
    returns, by the automatic sweep (printing.sweep), and none prints twice."""
    from healthcard.models import Card, Institution
    from printing import jobs
    from printing.models import JobStatus, Printer, PrinterKind, PrintJob

    hospital = Institution.objects.get(code="430100000001")
    card = Card.objects.get()
    printer = Printer.objects.create(institution=hospital, name="drill", kind=PrinterKind.PDF)
    redis = start_redis()
    worker_env = {
        **os.environ,
        "CELERY_BROKER_URL": BROKER,
        "HEALTHCARD_PRINT_SWEEP_SECONDS": str(sweep_seconds),
    }
    worker = subprocess.Popen(
        [
            *(str(ROOT / ".venv" / "bin" / "celery"), "-A", "healthcard", "worker", "-B"),
            *("-Q", f"{printer.queue_name},celery", "--concurrency", "1", "-l", "warning"),
            *("--schedule", str(Path(var_dir) / "beat-schedule")),
        ],
        cwd=ROOT,
        env=worker_env,
        start_new_session=True,
    )
    submitted, timings = [], []

    def submit(n: int) -> None:
        start = time.monotonic()
        job, _created = jobs.submit_print_job(
            card, printer, requested_by="command:drill", idempotency_key=f"drill-{n}"
        )
        timings.append(time.monotonic() - start)
        submitted.append(job.pk)

    try:
        time.sleep(8)  # the worker connects
        for n in range(5):
            submit(n)
        stop(redis)
        redis = None
        outage_started = time.monotonic()
        n = 5
        while time.monotonic() - outage_started < 30:
            submit(n)
            n += 1
            time.sleep(1.5)
        redis = start_redis()
        back_at = time.monotonic()
        delivered_at = None
        while time.monotonic() - back_at < 120:
            left = PrintJob.objects.filter(pk__in=submitted).exclude(status=JobStatus.PRINTED)
            if not left.exists():
                delivered_at = time.monotonic()
                break
            time.sleep(1)
    finally:
        stop(worker)
        if redis is not None:
            stop(redis)
    states = collections.Counter(
        PrintJob.objects.filter(pk__in=submitted).values_list("status", flat=True)
    )
    [(printed_records, twice)] = query(
        """
        SELECT count(*), count(*) - count(DISTINCT object_id)
        FROM healthcard_auditrecord WHERE action = 'print.printed'
        """
    )
    claimed_twice = PrintJob.objects.filter(pk__in=submitted, attempts__gt=1).count()
    checks = {
        "every submission succeeded": len(submitted) == n,
        "every job printed after the broker returned, no manual step": delivered_at is not None,
        "no job printed twice": twice == 0 and claimed_twice == 0 and printed_records == n,
    }
    extra = {
        "jobs submitted (5 before, the rest during the 30 s outage)": n,
        "slowest submission (s)": f"{max(timings):.2f}",
        "job states": dict(states),
        "print.printed audit records / jobs printed twice": f"{printed_records} / {twice}",
        "delivered within (s) of the broker returning": "not all"
        if delivered_at is None
        else f"{delivered_at - back_at:.1f}",
    }
    answers = [{"status": 200}] * len(submitted)
    return report(
        "Redis (broker) stopped for 30 s while print jobs are submitted", answers, checks, extra
    )


def drill_cache(fixtures: dict, var_dir: str) -> bool:
    """Masked verifications while the shared cache (CACHE_URL: rate-limit counts,
    version tokens) is stopped for 10 s: every answer still a 200 with its usage event,
    and the limits count again once it is back."""
    redis = start_redis()
    cache_url = f"redis://127.0.0.1:{REDIS_PORT}/1"
    server = start_gunicorn(var_dir, CACHE_URL=cache_url)
    try:
        with Load(fixtures["masked"], fixtures["code"], seconds=30, limit=40_000) as load:
            time.sleep(5)
            down_at = time.monotonic()
            stop(redis)
            time.sleep(10)
            redis = start_redis()
            back_at = time.monotonic()
            time.sleep(10)
        answers = load.answers
        counted = subprocess.run(
            ["redis-cli", "-p", str(REDIS_PORT), "-n", "1", "--scan", "--pattern", "*throttle*"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        stop(redis)

    def rate(start: float, end: float) -> str:
        n = sum(1 for a in answers if start <= a["at"] < end)
        return f"{n / (end - start):.0f}/s"

    first = min(a["at"] for a in answers)
    last = max(a["at"] for a in answers)
    uuids = event_uuids(answers)
    found = query(
        "SELECT count(*) FROM healthcard_usageevent WHERE uuid = ANY(%s::uuid[])", [uuids]
    )
    checks = {
        "every answer is a 200, while the cache was down too": all(
            a["status"] == 200 for a in answers
        ),
        "every 2xx verification has its usage event row": found[0][0] == len(uuids),
        "the rate limits count again once the cache is back": bool(counted),
    }
    extra = {
        "answers while the cache was down": sum(1 for a in answers if down_at <= a["at"] < back_at),
        "answers per second before / while down / after": " / ".join(
            [rate(first, down_at), rate(down_at, back_at), rate(back_at, last)]
        ),
        "usage events expected (2xx answers) / found": f"{len(uuids)} / {found[0][0]}",
        "rate-limit counters in the cache after it returned": len(counted),
    }
    return report("The shared cache (Redis) stopped for 10 s under load", answers, checks, extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("drill", choices=["postgres", "sigkill", "redis", "cache"])
    args = parser.parse_args()
    pg = OwnPostgres()
    var_dir = tempfile.mkdtemp(prefix="healthcard-drill-")
    try:
        pg.start()
        import psycopg

        with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DB_NAME}")
        env = {**bench_api.ENV, "DATABASE_URL": f"{PG_URL}/{DB_NAME}"}
        if args.drill == "redis":
            env["CELERY_BROKER_URL"] = BROKER
        fixtures = bench_api.prepare(var_dir, env)
        if args.drill == "postgres":
            ok = drill_postgres(fixtures, pg, var_dir)
        elif args.drill == "sigkill":
            ok = drill_sigkill(fixtures, var_dir)
        elif args.drill == "cache":
            ok = drill_cache(fixtures, var_dir)
        else:
            ok = drill_redis(var_dir)
    finally:
        pg.remove()
        shutil.rmtree(var_dir, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
