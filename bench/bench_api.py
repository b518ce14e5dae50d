"""Terminal API throughput: POST /api/v1/codes/verify served by gunicorn with
PostgreSQL, next to a trivial endpoint (GET /api/v1/health) of the same server in the
same run, driven by wrk from another process over loopback.

    apt-get install wrk          # the load generator (Debian package)
    .venv/bin/python bench/bench_api.py [--seconds 10] [--connections 16] [--workers 5]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, no password): the database
h_api_bench is dropped and recreated on every run. Everything (gunicorn, PostgreSQL,
wrk) shares this machine, so the numbers are a lower bound for a web node whose
database runs elsewhere. Only 127.0.0.1 is ever contacted, for a fixed duration.

Three measurements, each after a short warm-up:
- health: DRF view with no database access (the server's ceiling);
- verify: a valid static code, terminal without reveal_identity (masked holder);
  one usage-event INSERT per request;
- verify+reveal: the same with full identity, adding the audit record (a locked
  hash-chain head UPDATE and an INSERT) and two decryptions.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "h_api_bench"
PG = "postgres://postgres@127.0.0.1:5432"
PORT = 8765

ENV = {
    "DATABASE_URL": f"{PG}/{DB_NAME}",
    "DEBUG": "0",
    "SECRET_KEY": "bench-secret-key-bench-secret-key-bench-secret-key",
    "HEALTHCARD_KEK": "YmVuY2gta2VrLWJlbmNoLWtlay1iZW5jaC1rZWstMzI=",
    "ALLOWED_HOSTS": "127.0.0.1",
    "HEALTHCARD_API_RATE_TERMINAL": "100000000/min",
    "HEALTHCARD_API_RATE_IP": "100000000/min",
    "DJANGO_SETTINGS_MODULE": "healthcard.settings",
    "LOG_LEVEL": "ERROR",
}


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def prepare(var_dir: str) -> dict:
    """Migrate, then make an institution, two terminals and a card; return tokens and
    the card's static code."""
    os.environ.update(ENV, HEALTHCARD_VAR_DIR=var_dir)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from healthcard import cards, codes, terminals
    from healthcard.models import Channel, Institution, Level

    hospital = Institution.objects.create(
        code="430100000001", name="Bench hospital", level=Level.TERTIARY, city_code="430100"
    )
    _t, masked = terminals.create_terminal(hospital, "bench", scopes=["verify"])
    _t, reveal = terminals.create_terminal(
        hospital, "bench reveal", scopes=["verify", "reveal_identity"]
    )
    card, _created = cards.register_and_issue(
        cards.PersonData(
            name="张小三", id_type="01", id_number=citizen_number("43010219900517001")
        ),
        channel=Channel.COUNTER,
        institution=hospital,
    )
    return {"masked": masked, "reveal": reveal, "code": codes.static_code(card)}


def citizen_number(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


def wait_until_serving(port: int, workers: int, timeout: float = 60) -> None:
    """Until every worker has booted: the port opens before the workers load Django,
    so poll the health endpoint until `workers` answers in a row come back fast."""
    deadline = time.monotonic() + timeout
    fast = 0
    while time.monotonic() < deadline:
        start = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5):
                pass
        except OSError:
            time.sleep(0.2)
            continue
        fast = fast + 1 if time.monotonic() - start < 0.2 else 0
        if fast >= 2 * workers:
            return
    raise RuntimeError("gunicorn did not start")


LUA_POST = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
"""


def run_wrk(path: str, seconds: int, connections: int, script: str | None = None) -> dict:
    cmd = ["wrk", "--latency", "--timeout", "10s", "-t", "2", "-c", str(connections)]
    cmd += ["-d", f"{seconds}s"]
    if script:
        cmd += ["-s", script]
    cmd.append(f"http://127.0.0.1:{PORT}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": _ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1)),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=1, help="gthread threads per worker")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    recreate_database()
    var_dir = tempfile.mkdtemp(prefix="bench-api-")
    fixtures = prepare(var_dir)
    gunicorn = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "healthcard.wsgi:application",
        "--bind",
        f"127.0.0.1:{PORT}",
        "--workers",
        str(args.workers),
        "--log-level",
        "warning",
    ]
    if args.threads > 1:
        gunicorn += ["--worker-class", "gthread", "--threads", str(args.threads)]
    server = subprocess.Popen(gunicorn, cwd=ROOT, env={**os.environ}, start_new_session=True)
    results = {}
    try:
        wait_until_serving(PORT, args.workers)
        scripts = {}
        for name in ("masked", "reveal"):
            body = json.dumps({"code": fixtures["code"], "care_step": "010101"})
            path = Path(var_dir) / f"{name}.lua"
            path.write_text(LUA_POST.format(body=json.dumps(body), token=fixtures[name]))
            scripts[name] = str(path)
        plan = [
            ("health", "/api/v1/health", None),
            ("verify", "/api/v1/codes/verify", scripts["masked"]),
            ("verify+reveal", "/api/v1/codes/verify", scripts["reveal"]),
        ]
        for name, path, script in plan:
            run_wrk(path, 2, args.connections, script)  # warm-up: connections, caches
            results[name] = run_wrk(path, args.seconds, args.connections, script)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(var_dir, ignore_errors=True)

    kind = f"gthread x {args.threads} threads" if args.threads > 1 else "sync"
    print(
        f"machine: {os.cpu_count()} CPU, Python {platform.python_version()}; "
        f"gunicorn {args.workers} workers ({kind}); PostgreSQL on the same machine"
    )
    print(
        f"wrk: 2 threads, {args.connections} connections, {args.seconds} s per endpoint, loopback"
    )
    print(f"{'endpoint':<16}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for name, r in results.items():
        print(
            f"{name:<16}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['non_2xx']:>10}"
        )
    base = results["health"]["rps"]
    for name in ("verify", "verify+reveal"):
        print(f"{name} / health throughput: {results[name]['rps'] / base:.2f}")
    per_node = results["verify+reveal"]["rps"]
    print(
        f"2-core nodes for 1,000 verifications/s (with reveal, at 100 % load): "
        f"{1000 / per_node:.1f}; at 60 % target load: {1000 / (per_node * 0.6):.1f}"
    )


if __name__ == "__main__":
    main()
