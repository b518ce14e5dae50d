"""A virtual ESC/POS network printer: a TCP server on 127.0.0.1 that records what it
receives and answers status queries (DLE EOT 1) like a real printer on port 9100.

Behaviours for the next connections (`then(...)`): "ok", "refuse" (reset the connection
at once), "hang" (accept, then never read nor answer), "drop" (take part of the job,
then reset), "stall" (take the whole job, never confirm it), "offline" (answer the
status query with the offline bit set).
"""

import contextlib
import socket
import struct
import threading
from collections import deque

STATUS_QUERY = b"\x10\x04\x01"
ONLINE = b"\x12"
OFFLINE = b"\x1a"  # bit 3 set


class VirtualPrinter:
    def __init__(self, drop_after: int = 2000):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.host, self.port = self.listener.getsockname()
        self.drop_after = drop_after
        self.behaviours: deque[str] = deque()
        self.jobs: list[bytes] = []  # complete jobs, status queries stripped
        self.partial: list[bytes] = []  # what dropped connections received
        self.connections = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.job_done = threading.Condition(self.lock)
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)
        self._accept_thread.start()

    def then(self, *behaviours: str) -> "VirtualPrinter":
        self.behaviours.extend(behaviours)
        return self

    @property
    def data(self) -> bytes:
        return b"".join(self.jobs)

    def wait_for_partial(self, timeout: float = 30) -> bool:
        with self.job_done:
            return self.job_done.wait_for(lambda: self.partial, timeout)

    def wait_for_jobs(self, count: int, timeout: float = 30) -> bool:
        with self.job_done:
            return self.job_done.wait_for(lambda: len(self.jobs) >= count, timeout)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _addr = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                behaviour = self.behaviours.popleft() if self.behaviours else "ok"
                self._open.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn, behaviour), daemon=True)
            thread.start()
            self._threads.append(thread)

    @staticmethod
    def _reset(conn: socket.socket) -> None:
        # SO_LINGER 0: close with RST, as a printer that drops the connection does
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    def _serve(self, conn: socket.socket, behaviour: str) -> None:
        if behaviour == "refuse":
            self._reset(conn)
            return
        if behaviour == "hang":
            self.stopping.wait()
            conn.close()
            return
        buffer = bytearray()
        answered = False
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                if behaviour == "drop" and answered and len(buffer) > self.drop_after:
                    # gone before the job is complete (or before confirming it)
                    with self.lock:
                        self.partial.append(bytes(buffer))
                    self._reset(conn)
                    return
                if buffer.endswith(STATUS_QUERY) and not (behaviour == "stall" and answered):
                    conn.sendall(OFFLINE if behaviour == "offline" else ONLINE)
                    answered = True
                if behaviour == "stall" and answered and len(buffer) > len(STATUS_QUERY):
                    with self.job_done:
                        self.partial.append(bytes(buffer))
                        self.job_done.notify_all()
        except OSError:
            return
        conn.close()
        if behaviour == "stall":
            return  # never confirmed: recorded in `partial` only
        job = bytes(buffer)
        # The client asks for status before and after the job.
        if job.startswith(STATUS_QUERY):
            job = job[len(STATUS_QUERY) :]
        if job.endswith(STATUS_QUERY):
            job = job[: -len(STATUS_QUERY)]
        if job:
            with self.job_done:
                self.jobs.append(job)
                self.job_done.notify_all()

    def close(self) -> None:
        self.stopping.set()
        # shutdown() wakes the thread blocked in accept(); close() alone would leave the
        # port listening until that call returns
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.close()
