"""Run by tests/test_ehccode_without_django.py in an interpreter that cannot import
Django: verifies the test vectors of docs/qr-format.md (path in argv[1]) with the
ehccode library alone and prints one JSON result per vector and refusal vector."""

import datetime
import json
import re
import sys
from pathlib import Path

import ehccode

AT_REFUSALS = "2026-11-25T08:00:00Z"  # docs/qr-format.md section 10, vector 4


def blocks(text: str, tag: str) -> list:
    return [json.loads(body) for body in re.findall(rf"```json {tag}\n(.*?)\n```", text, re.S)]


def at(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def key(vector: dict) -> dict:
    return {
        "kid": vector["kid"],
        "algorithm": vector["algorithm"],
        "public_key": vector["public_key"],
        "state": "active",
        "not_before": "2025-01-01T00:00:00Z",
    }


def main() -> None:
    text = Path(sys.argv[1]).read_text("utf-8")
    vectors, refusals = blocks(text, "vector"), blocks(text, "vector-refusals")[0]
    out = []
    for v in vectors:
        r = ehccode.verify_offline(v["text"], {"keys": [key(v)]}, at=at(v["verify_at"]))
        out.append({"vector": v["name"], "ok": r.ok, "reason": r.reason, "kind": r.kind, "want": v})
    key_set = {"keys": [key(v) for v in vectors if v["kid"] in ("E0000001", "S0000001")]}
    for case in refusals:
        r = ehccode.verify_offline(
            case["text"], key_set, case.get("revocations"), at=at(AT_REFUSALS)
        )
        out.append({"refusal": case["why"], "ok": r.ok, "reason": r.reason, "want": case})
    assert "django" not in sys.modules
    print(json.dumps(out))


if __name__ == "__main__":
    main()
