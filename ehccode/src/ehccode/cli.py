"""python -m ehccode verify --keys keys.json [--revocations rev.json] [--at TIME] CODE...

One line per code: "valid: static code, key K, EHC ID X" or "<reason>: <message>",
the reason being a stable code of docs/qr-format.md section 7 (--json: one JSON object
per line instead). A CODE of "-" reads codes from standard input, one per line.
Exit status: 0 when every code is valid, 1 when any is refused, 2 for unusable input
(missing or broken key set or revocation list, a bad --at).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Iterable, Iterator
from typing import TextIO

from ehccode.verifier import OfflineVerifier, Verification

# A scanner line longer than this is no code (codes are at most 1024 characters).
_MAX_LINE = 2048


class UsageError(Exception):
    """Input the verifier cannot work with: exit status 2."""


def parse_at(value: str | None) -> datetime.datetime | None:
    """An aware time from ISO 8601 text with a UTC offset (Z allowed); None for None."""
    if not value:
        return None
    try:
        at = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError("--at is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise UsageError("--at needs a UTC offset, e.g. Z or +08:00")
    return at


def load(keys_path: str, revocations_path: str | None) -> OfflineVerifier:
    """The verifier for saved files; UsageError when they cannot be read."""
    try:
        return OfflineVerifier.from_files(keys_path, revocations_path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"cannot load key set or revocations: {exc}") from None


def as_dict(result: Verification) -> dict:
    return {
        "ok": result.ok,
        "reason": result.reason,
        "kind": result.kind,
        "kid": result.kid,
        "ehc_id": result.ehc_id,
        "message": result.message,
    }


def describe(result: Verification, message: str | None = None) -> str:
    """The human line for one result: "valid: ..." or "<reason>: <message>"."""
    if result.ok:
        return f"valid: {result.kind} code, key {result.kid}, EHC ID {result.ehc_id}"
    return f"{result.reason}: {message or result.message}"


def _codes(args: Iterable[str], stdin: TextIO) -> Iterator[str]:
    for arg in args:
        if arg == "-":
            for line in iter(lambda: stdin.readline(_MAX_LINE), ""):
                yield line.rstrip("\r\n")
        else:
            yield arg


def main(argv: list[str] | None = None, stdout: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m ehccode", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify codes offline")
    verify.add_argument("codes", nargs="+", metavar="CODE", help='code text, or "-" for stdin')
    verify.add_argument("--keys", required=True, help="key set JSON (GET /api/v1/keys)")
    verify.add_argument("--revocations", help="revocation list JSON (GET /api/v1/revocations)")
    verify.add_argument("--at", help="verify as of this ISO 8601 time (default: now)")
    verify.add_argument("--json", action="store_true", help="one JSON object per code")
    args = parser.parse_args(argv)
    try:
        at = parse_at(args.at)
        verifier = load(args.keys, args.revocations)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    all_valid = True
    for text in _codes(args.codes, sys.stdin):
        result = verifier.verify(text, at=at)
        all_valid = all_valid and result.ok
        print(json.dumps(as_dict(result)) if args.json else describe(result), file=stdout)
    return 0 if all_valid else 1
