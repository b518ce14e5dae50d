"""Settings of the benchmark's server: the project's own, plus the floor view's URL
(bench/floor.py). Used only by bench/bench_api.py."""

from healthcard.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor"
# Each worker keeps its database connection for the whole run: the CPU of a backend is
# read from /proc while it lives, and one that Django closed after CONN_MAX_AGE (60 s in
# production, where a reconnect a minute costs nothing that matters) would take its CPU
# with it, and its successor's would go uncounted.
DATABASES["default"]["CONN_MAX_AGE"] = None  # noqa: F405
