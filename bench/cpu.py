"""The one CPU-time rate helper of the benchmarks."""

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
