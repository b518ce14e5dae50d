"""Terminal API throughput: POST /api/v1/codes/verify served by gunicorn with
PostgreSQL, next to a trivial endpoint (GET /api/v1/health) of the same server in the
same run, driven by wrk from another process over loopback.

    apt-get install wrk          # the load generator (installed for you when root)
    .venv/bin/python bench/bench_api.py [--seconds 10] [--connections 16] [--workers 5]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, no password): the database
h_api_bench (or $BENCH_DATABASE) is dropped and recreated on every run; the server
listens on 127.0.0.1:8765 (or $BENCH_PORT). Everything (gunicorn, PostgreSQL,
wrk) shares this machine, so the numbers are a lower bound for a web node whose
database runs elsewhere. Only 127.0.0.1 is ever contacted, for a fixed duration.

Four measurements, each after a short warm-up:
- health: DRF view with no database access (the server's ceiling);
- floor: bench/floor.py, a minimal DRF view doing only the essential work of a
  verification (parse, one pycryptodome Ed25519 verify, one SELECT, one INSERT), the
  baseline the verify endpoint is held to;
- verify: a valid static code, terminal without reveal_identity (masked holder);
  one usage-event INSERT per request;
- verify+reveal: the same with full identity, adding the audit record (a locked
  hash-chain head UPDATE and an INSERT) and two decryptions.

Targets (issue 15): CPU per masked verification (app + database) <= 2.5 ms, with
reveal <= 3.5 ms, verify throughput >= floor. `--memory-requests 100000` then sends that
many masked verifications and reports each worker's resident memory before and after.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Several people share the machine: BENCH_DATABASE and BENCH_PORT keep runs apart.
DB_NAME = os.environ.get("BENCH_DATABASE", "h_api_bench")
PG = "postgres://postgres@127.0.0.1:5432"
PORT = int(os.environ.get("BENCH_PORT", "8765"))

ENV = {
    "DATABASE_URL": f"{PG}/{DB_NAME}",
    "DEBUG": "0",
    "SECRET_KEY": "bench-secret-key-bench-secret-key-bench-secret-key",
    "HEALTHCARD_KEK": "YmVuY2gta2VrLWJlbmNoLWtlay1iZW5jaC1rZWstMzI=",
    "ALLOWED_HOSTS": "127.0.0.1",
    # Plain HTTP over loopback: in production TLS ends at the proxy in front.
    "SECURE_SSL_REDIRECT": "0",
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


def prepare(var_dir: str, env: dict = ENV) -> dict:
    """Migrate, then make an institution, two terminals and a card; return tokens and
    the card's static code (bench/drills.py passes its own database in `env`)."""
    os.environ.update(env, HEALTHCARD_VAR_DIR=var_dir)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

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
    fixtures = {"masked": masked, "reveal": reveal, "code": codes.static_code(card)}
    connection.close()  # only the workers' backends are measured
    return fixtures


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
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": _ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1)),
        "requests": requests,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def database_pids() -> list[int]:
    """The PostgreSQL backends serving the benchmark database (the workers')."""
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [DB_NAME]
        ).fetchall()
    return [row[0] for row in rows]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure_memory(master: int, args, script: str) -> dict:
    """Resident memory of every worker before and after `args.memory_requests` masked
    verifications (wrk runs of at most 30 s, until that many were sent)."""
    pids = worker_pids(master)
    before = {pid: rss_kb(pid) for pid in pids}
    sent = 0
    deadline = time.monotonic() + 1800
    while sent < args.memory_requests and time.monotonic() < deadline:
        sent += run_wrk("/api/v1/codes/verify", 30, args.connections, script)["requests"]
    after = {pid: rss_kb(pid) for pid in pids}
    return {"requests": sent, "workers": {pid: (before[pid], after[pid]) for pid in pids}}


def _median(runs: list[dict]) -> dict:
    """Each numeric figure's median over the rounds (non-2xx and errors: summed)."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)):
            out[key] = statistics.median(r[key] for r in runs)
    out["non_2xx"] = sum(r["non_2xx"] for r in runs)
    return out


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def ensure_wrk() -> None:
    """wrk is a Debian package: installed here when running as root (as ./dev installs
    the system packages it needs), else the command to run is named."""
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (Debian package)", flush=True)
        apt = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"]
        if subprocess.run(apt, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(apt, check=True)
        return
    sys.exit("wrk is not installed: sudo apt-get install wrk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=1, help="gthread threads per worker")
    parser.add_argument(
        "--memory-requests", type=int, default=0, help="then this many verifications, RSS"
    )
    args = parser.parse_args()
    ensure_wrk()

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
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.floor_settings"}
    server = subprocess.Popen(gunicorn, cwd=ROOT, env=env, start_new_session=True)
    memory = None
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
            ("floor", "/bench/floor", scripts["masked"]),
            ("verify", "/api/v1/codes/verify", scripts["masked"]),
            ("verify+reveal", "/api/v1/codes/verify", scripts["reveal"]),
        ]
        for _name, path, script in plan:
            run_wrk(path, 2, args.connections, script)  # warm-up: connections, caches
        # Rounds interleave the endpoints, so a slow spell of the (virtual, shared)
        # machine falls on all of them alike; each figure is the median of its rounds.
        rounds: dict[str, list[dict]] = {name: [] for name, _p, _s in plan}
        for _round in range(args.rounds):
            for name, path, script in plan:
                app, db = worker_pids(server.pid), database_pids()
                app_before, db_before = cpu_seconds(app), cpu_seconds(db)
                result = run_wrk(path, args.seconds, args.connections, script)
                done = max(result["requests"], 1)
                # CPU per request depends less on what else the machine is doing than
                # req/s on a shared 2-core machine: it is what sizing uses.
                result["app_cpu_ms"] = (cpu_seconds(app) - app_before) * 1000 / done
                result["db_cpu_ms"] = (cpu_seconds(db) - db_before) * 1000 / done
                rounds[name].append(result)
        results = {name: _median(runs) for name, runs in rounds.items()}
        if args.memory_requests:
            memory = measure_memory(server.pid, args, scripts["masked"])
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
        f"wrk: 2 threads, {args.connections} connections, {args.rounds} interleaved rounds of"
        f" {args.seconds} s per endpoint (medians), loopback"
    )
    header = ["endpoint", "req/s", "p50 ms", "p99 ms", "app CPU ms", "db CPU ms", "non-2xx"]
    print(f"{header[0]:<16}" + "".join(f"{h:>12}" for h in header[1:]))
    for name, r in results.items():
        cells = [r["rps"], r["p50_ms"], r["p99_ms"], r["app_cpu_ms"], r["db_cpu_ms"]]
        print(
            f"{name:<16}"
            + "".join(f"{c:>12.1f}" for c in cells)
            + f"{r['non_2xx']:>12}  {r['socket_errors']}"
        )
    base = results["health"]
    targets = {"verify": 2.5, "verify+reveal": 3.5}

    def cpu_of(r: dict) -> float:
        return r["app_cpu_ms"] + r["db_cpu_ms"]

    for name in ("verify", "verify+reveal"):
        r = results[name]
        cpu = cpu_of(r)
        verdict = "meets" if cpu <= targets[name] else "misses"
        # Ratios within each round (same moment of the machine), then their median.
        pairs = list(zip(rounds[name], rounds["floor"], strict=True))
        rps_ratio = statistics.median(a["rps"] / f["rps"] for a, f in pairs)
        cpu_ratio = statistics.median(cpu_of(a) / cpu_of(f) for a, f in pairs)
        print(
            f"{name}: CPU {cpu:.2f} ms per request ({verdict} the {targets[name]} ms target); "
            f"throughput / floor {rps_ratio:.2f} (per round: "
            + ", ".join(f"{a['rps'] / f['rps']:.2f}" for a, f in pairs)
            + f"), / health {r['rps'] / base['rps']:.2f}; CPU / floor {cpu_ratio:.2f}"
        )
    if memory:
        for pid, (before, after) in memory["workers"].items():
            print(
                f"worker {pid}: RSS {before / 1024:.1f} MB after warm-up, {after / 1024:.1f} MB"
                f" after {memory['requests']} more verifications ({(after / before - 1):+.1%})"
            )
    # Sizing from CPU per request: a 2-core web node at 60 % target load has 1,200 ms
    # of CPU per second to give; the database is sized separately.
    worst = results["verify+reveal"]
    app_nodes = 1000 * worst["app_cpu_ms"] / (2 * 1000 * 0.6)
    db_cores = 1000 * worst["db_cpu_ms"] / 1000
    print(
        f"1,000 verifications/s (with reveal): {app_nodes:.1f} two-core web nodes at 60 % load "
        f"(measured req/s alone: {1000 / worst['rps']:.0f}); database CPU {db_cores:.1f} cores"
    )


if __name__ == "__main__":
    main()
