"""Settings of the benchmark's server: the project's own, plus the floor view's URL
(bench/floor.py). Used only by bench/bench_api.py."""

from healthcard.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor"
