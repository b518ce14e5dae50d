"""The site stage: what a hospital's print machine does with a delivery.

It holds no secret that matters: broker credentials for its own queue and the
platform's public print-delivery keys. No database, no KEK, no SECRET_KEY, no models.
`handle` verifies the delivery, checks the printer is its own institution's, sends the
bytes with printing.devices and returns the report for the platform.

Printed at most once per delivery ID (job and attempt), across redeliveries and
crashes: a small journal on the site's disk records "sending" before the first byte
and the report after the last. A delivery found "sending" was interrupted by a crash
(reported `interrupted`, never sent again); one found finished is not sent again, its
report is sent again (the first may have been lost). A delivery the broker marks as
redelivered with no journal entry is treated as interrupted too.
"""

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from printing import delivery, devices


@dataclass(frozen=True)
class SiteConfig:
    institution: str
    keys_file: Path
    journal: Path
    timeout: float = 10


class KeySet:
    """The print-delivery key set from a file, read again when the file changes (so a
    key rotation needs no restart)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp: tuple | None = None
        self._keys: dict = {"keys": []}

    def get(self) -> dict:
        try:
            stat = self.path.stat()
        except OSError:
            return {"keys": []}
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != delivery.KEY_SET_FORMAT:
                raise ValueError(f"{self.path} is not a print-delivery key set")
            self._keys, self._stamp = data, stamp
        return self._keys


class Journal:
    """One small file per delivery ID: {"state": "sending"} then {"state": "done",
    "report": ...}. Written atomically and synced before the printer is contacted."""

    KEEP_SECONDS = 7 * 86400

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, delivery_id: str) -> Path:
        return self.folder / f"{delivery_id}.json"

    def get(self, delivery_id: str) -> dict | None:
        try:
            return json.loads(self._path(delivery_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, delivery_id: str, entry: dict) -> None:
        target = self._path(delivery_id)
        partial = target.with_suffix(".part")
        with open(partial, "w", encoding="utf-8") as out:
            json.dump(entry, out)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(target)
        with contextlib.suppress(OSError):
            fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def prune(self, now: float) -> None:
        for path in self.folder.glob("*.json"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < now - self.KEEP_SECONDS:
                    path.unlink()


def handle(
    message: dict, config: SiteConfig, keys: KeySet, journal: Journal, *, redelivered: bool
) -> dict:
    """Print one delivery (at most once) and return the report for the platform."""
    code = config.institution
    try:
        target, data = delivery.verify(message, keys.get(), institution=code, now=time.time())
        delivery_id = delivery.delivery_id(message)
    except delivery.DeliveryRefused as exc:
        return _report(message, code, delivery.FAILED, exc.reason, str(exc))
    except (KeyError, TypeError, ValueError) as exc:
        return _report(message, code, delivery.FAILED, "format", f"malformed delivery: {exc}")
    entry = journal.get(delivery_id)
    if entry is not None and entry.get("state") == "done":
        return entry["report"]
    if entry is not None or redelivered:
        report = _report(
            message,
            code,
            delivery.INTERRUPTED,
            "worker_stopped",
            "The site print worker stopped while sending this job.",
        )
        journal.put(delivery_id, {"state": "done", "report": report})
        return report
    journal.put(delivery_id, {"state": "sending", "at": time.time()})
    try:
        devices.send(target, data, timeout=config.timeout)
        report = _report(message, code, delivery.PRINTED)
    except devices.PrinterUnavailable as exc:
        report = _report(message, code, delivery.FAILED, "unreachable", str(exc))
    except devices.PrinterInterrupted as exc:
        report = _report(message, code, delivery.INTERRUPTED, "connection", str(exc))
    journal.put(delivery_id, {"state": "done", "report": report})
    return report


def _report(message, code: str, outcome: str, reason: str = "", error: str = "") -> dict:
    try:
        return delivery.report(message, code, outcome, reason, error)
    except (TypeError, ValueError, AttributeError):
        return delivery.report({}, code, outcome, reason, error)
