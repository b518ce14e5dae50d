"""What the single-process benchmarks share: the CPU-time rate and a throw-away database."""

import contextlib
import time


def rate(fn, seconds: float, batch: int = 1) -> float:
    """Calls of fn per CPU second of this process, over at least `seconds` of CPU time
    (after one warm-up call). CPU time, not wall time: other processes on a shared
    machine then do not count against us."""
    fn()
    done, start = 0, time.process_time()
    while True:
        for _ in range(batch):
            fn()
        done += batch
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return done / elapsed


@contextlib.contextmanager
def throwaway_database():
    """A fresh test database (in-memory SQLite with the test settings) for the duration,
    with Django's test environment set up, as the test suite has it."""
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old = connection.creation.create_test_db(verbosity=0)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old, verbosity=0)
