"""Terminal API throughput: POST /api/v1/codes/verify served by gunicorn with
PostgreSQL, next to a trivial endpoint (GET /api/v1/health) of the same server in the
same run, driven by wrk from another process over loopback.

    apt-get install wrk          # the load generator (installed for you when root)
    .venv/bin/python bench/bench_api.py [--seconds 10] [--connections 16] [--workers 5]
    .venv/bin/python bench/bench_api.py --baseline /tmp/before   # before/after, paired

`--baseline DIR` serves a second checkout (another commit, with its own .venv or a
link to this one, and this bench/ directory copied in) on its own database and port,
and measures each endpoint on it right after measuring it here, round by round: on a
virtual machine whose speed drifts from minute to minute, the comparison that means
something is between measurements made at the same moment.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, no password): the database
h_api_bench (or $BENCH_DATABASE) is dropped and recreated on every run; the server
listens on 127.0.0.1:8765 (or $BENCH_PORT). Everything (gunicorn, PostgreSQL,
wrk) shares this machine, so the numbers are a lower bound for a web node whose
database runs elsewhere. Only 127.0.0.1 is ever contacted, for a fixed duration.

Five measurements, each after a short warm-up:
- health: DRF view with no database access (the server's ceiling);
- floor: bench/floor.py, a minimal DRF view doing only the essential work of a
  verification (parse, one pycryptodome Ed25519 verify, one SELECT, one INSERT), the
  baseline the verify endpoint is held to, with every middleware of a page;
- floor, API stack: the same view under /api/, which skips the browser middleware as
  the terminal API does (healthcard.middleware): the stricter baseline;
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


def run_wrk(
    path: str, seconds: int, connections: int, script: str | None = None, port: int = PORT
) -> dict:
    cmd = ["wrk", "--latency", "--timeout", "10s", "-t", "2", "-c", str(connections)]
    cmd += ["-d", f"{seconds}s"]
    if script:
        cmd += ["-s", script]
    cmd.append(f"http://127.0.0.1:{port}{path}")
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


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each of these processes so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return seconds


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings. A process that ended in between took its
    CPU with it: refuse the measurement rather than report too little."""
    gone = set(before) - set(after)
    if gone:
        raise RuntimeError(f"processes {sorted(gone)} ended during a measurement")
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def database_pids(database: str = DB_NAME) -> list[int]:
    """The PostgreSQL backends serving a benchmark database (the workers')."""
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [database]
        ).fetchall()
    return [row[0] for row in rows]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure_memory(master: int, args, script: str, port: int = PORT) -> dict:
    """Resident memory of every worker before and after `args.memory_requests` masked
    verifications (wrk runs of at most 30 s, until that many were sent)."""
    pids = worker_pids(master)
    before = {pid: rss_kb(pid) for pid in pids}
    sent = 0
    deadline = time.monotonic() + 1800
    while sent < args.memory_requests and time.monotonic() < deadline:
        result = run_wrk("/api/v1/codes/verify", 30, args.connections, script, port)
        sent += result["requests"]
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


class Server:
    """One gunicorn serving one checkout (this one, or --baseline's) on its own database
    and port, with the fixtures prepare() made in that checkout's own Python."""

    def __init__(self, label: str, root: Path, database: str, port: int, args) -> None:
        self.label, self.root, self.database, self.port = label, root, database, port
        self.var_dir = tempfile.mkdtemp(prefix="bench-api-")
        env = {
            **os.environ,
            **ENV,
            "BENCH_DATABASE": database,
            "DATABASE_URL": f"{PG}/{database}",
            "HEALTHCARD_VAR_DIR": self.var_dir,
        }
        python = str(root / ".venv" / "bin" / "python")
        prepared = subprocess.run(
            [python, str(root / "bench" / "bench_api.py"), "--prepare-only"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        self.fixtures = json.loads(prepared.stdout.strip().splitlines()[-1])
        gunicorn = [
            str(root / ".venv" / "bin" / "gunicorn"),
            "healthcard.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ]
        if args.threads > 1:
            gunicorn += ["--worker-class", "gthread", "--threads", str(args.threads)]
        env["DJANGO_SETTINGS_MODULE"] = "bench.floor_settings"
        self.process = subprocess.Popen(gunicorn, cwd=root, env=env, start_new_session=True)
        self.scripts = {}
        for name in ("masked", "reveal"):
            body = json.dumps({"code": self.fixtures["code"], "care_step": "010101"})
            path = Path(self.var_dir) / f"{name}.lua"
            path.write_text(LUA_POST.format(body=json.dumps(body), token=self.fixtures[name]))
            self.scripts[name] = str(path)

    def plan(self) -> list[tuple[str, str, str | None]]:
        return [
            ("health", "/api/v1/health", None),
            ("floor", "/bench/floor", self.scripts["masked"]),
            ("floor, API stack", "/api/v1/bench-floor", self.scripts["masked"]),
            ("verify", "/api/v1/codes/verify", self.scripts["masked"]),
            ("verify+reveal", "/api/v1/codes/verify", self.scripts["reveal"]),
        ]

    def measure(self, path: str, seconds: int, connections: int, script: str | None) -> dict:
        app_before = cpu_seconds(worker_pids(self.process.pid))
        db_before = cpu_seconds(database_pids(self.database))
        result = run_wrk(path, seconds, connections, script, self.port)
        app_after = cpu_seconds(worker_pids(self.process.pid))
        db_after = cpu_seconds(database_pids(self.database))
        done = max(result["requests"], 1)
        # CPU per request depends less on what else the machine is doing than req/s
        # on a shared 2-core machine: it is what sizing uses.
        result["app_cpu_ms"] = cpu_used(app_before, app_after) * 1000 / done
        result["db_cpu_ms"] = cpu_used(db_before, db_after) * 1000 / done
        return result

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        shutil.rmtree(self.var_dir, ignore_errors=True)


def _cpu(r: dict) -> float:
    return r["app_cpu_ms"] + r["db_cpu_ms"]


def _paired(runs: list[dict], bases: list[dict], key) -> tuple[float, list[float]]:
    """Ratios of measurements made at the same moment (same round), and their median."""
    ratios = [key(a) / key(b) for a, b in zip(runs, bases, strict=True)]
    return statistics.median(ratios), ratios


def report(label: str, rounds: dict[str, list[dict]]) -> dict[str, dict]:
    results = {name: _median(runs) for name, runs in rounds.items()}
    print(f"\n{label}")
    header = ["endpoint", "req/s", "p50 ms", "p99 ms", "app CPU ms", "db CPU ms", "non-2xx"]
    print(f"{header[0]:<18}" + "".join(f"{h:>12}" for h in header[1:]))
    for name, r in results.items():
        cells = [r["rps"], r["p50_ms"], r["p99_ms"], r["app_cpu_ms"], r["db_cpu_ms"]]
        print(
            f"{name:<18}"
            + "".join(f"{c:>12.1f}" for c in cells)
            + f"{r['non_2xx']:>12}  {r['socket_errors']}"
        )
    targets = {"verify": 2.5, "verify+reveal": 3.5}
    for name in ("verify", "verify+reveal"):
        cpu = _cpu(results[name])
        verdict = "meets" if cpu <= targets[name] else "misses"
        print(
            f"{name}: CPU {cpu:.2f} ms per request ({verdict} the {targets[name]} ms target);"
            f" throughput / health {results[name]['rps'] / results['health']['rps']:.2f}"
        )
        for floor in ("floor", "floor, API stack"):
            rps, per_round = _paired(rounds[name], rounds[floor], lambda r: r["rps"])
            cpu_ratio, _ = _paired(rounds[name], rounds[floor], _cpu)
            print(
                f"  against {floor}: throughput {rps:.2f} (per round: "
                + ", ".join(f"{x:.2f}" for x in per_round)
                + f"); CPU {cpu_ratio:.2f}"
            )
    return results


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
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (with its own .venv and this bench/ copied in), served and"
        " measured in the same rounds, each of its measurements right after this one's",
    )
    parser.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare_only:  # in the checkout being measured: its database and fixtures
        recreate_database()
        print(json.dumps(prepare(os.environ["HEALTHCARD_VAR_DIR"])))
        return
    ensure_wrk()

    servers = [Server("this checkout", ROOT, DB_NAME, PORT, args)]
    if args.baseline:
        base = args.baseline.resolve()
        servers.append(Server(f"baseline {base}", base, f"{DB_NAME}_base", PORT + 1, args))
    memory = None
    rounds: dict[Server, dict[str, list[dict]]] = {}
    try:
        for server in servers:
            wait_until_serving(server.port, args.workers)
            for _name, path, script in server.plan():
                # Warm-up: connections, caches, prepared statements.
                run_wrk(path, 2, args.connections, script, server.port)
            rounds[server] = {name: [] for name, _p, _s in server.plan()}
        # Rounds interleave the endpoints, and each endpoint's measurement on the
        # baseline follows this checkout's at once, so a slow spell of the (virtual,
        # shared) machine falls on all of them alike; figures are medians of rounds.
        for _round in range(args.rounds):
            for index in range(len(servers[0].plan())):
                for server in servers:
                    name, path, script = server.plan()[index]
                    result = server.measure(path, args.seconds, args.connections, script)
                    rounds[server][name].append(result)
        if args.memory_requests:
            main_server = servers[0]
            memory = measure_memory(
                main_server.process.pid, args, main_server.scripts["masked"], main_server.port
            )
    finally:
        for server in servers:
            server.stop()

    kind = f"gthread x {args.threads} threads" if args.threads > 1 else "sync"
    print(
        f"machine: {os.cpu_count()} CPU, Python {platform.python_version()}; "
        f"gunicorn {args.workers} workers ({kind}) per checkout; PostgreSQL on the same"
        " machine"
    )
    print(
        f"wrk: 2 threads, {args.connections} connections, {args.rounds} interleaved rounds of"
        f" {args.seconds} s per endpoint (medians), loopback"
    )
    results = {server: report(server.label, rounds[server]) for server in servers}
    if args.baseline:
        this, base = servers
        print("\nthis checkout / baseline, paired by round (medians)")
        for name in rounds[this]:
            rps, per_round = _paired(rounds[this][name], rounds[base][name], lambda r: r["rps"])
            cpu, _ = _paired(rounds[this][name], rounds[base][name], _cpu)
            print(
                f"  {name:<18} throughput {rps:.2f} (per round: "
                + ", ".join(f"{x:.2f}" for x in per_round)
                + f"), CPU {cpu:.2f}"
            )
    if memory:
        for pid, (before, after) in memory["workers"].items():
            print(
                f"worker {pid}: RSS {before / 1024:.1f} MB after warm-up, {after / 1024:.1f} MB"
                f" after {memory['requests']} more verifications ({(after / before - 1):+.1%})"
            )
    # Sizing from CPU per request: a 2-core web node at 60 % target load has 1,200 ms
    # of CPU per second to give; the database is sized separately.
    worst = results[servers[0]]["verify+reveal"]
    app_nodes = 1000 * worst["app_cpu_ms"] / (2 * 1000 * 0.6)
    db_cores = 1000 * worst["db_cpu_ms"] / 1000
    print(
        f"1,000 verifications/s (with reveal): {app_nodes:.1f} two-core web nodes at 60 % load "
        f"(by req/s on this machine: {1000 / worst['rps']:.1f}); database CPU {db_cores:.1f} cores"
    )


if __name__ == "__main__":
    main()
