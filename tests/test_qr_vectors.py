"""The test vectors of docs/qr-format.md, read from the document itself so the
normative text and the implementation cannot drift apart."""

import datetime
import json
import re
from pathlib import Path

import pytest
from Crypto.Signature import eddsa
from gmssl import sm2

import ehccode
from ehccode import national, signing

DOC = Path(__file__).resolve().parent.parent / "docs" / "qr-format.md"


def _blocks(tag: str) -> list:
    text = DOC.read_text("utf-8")
    return [json.loads(body) for body in re.findall(rf"```json {tag}\n(.*?)\n```", text, re.S)]


VECTORS = _blocks("vector")
REFUSALS = _blocks("vector-refusals")[0]


def _at(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _key_set(*vectors) -> dict:
    return {
        "keys": [
            {
                "kid": v["kid"],
                "algorithm": v["algorithm"],
                "public_key": v["public_key"],
                "state": "active",
                "not_before": "2025-01-01T00:00:00Z",
                "not_after": None,
                "retired_at": None,
                "revoked_at": None,
            }
            for v in vectors
        ]
    }


def _prefix(vector: dict) -> str:
    inputs = vector["inputs"]
    if inputs["kind"] == "static":
        return ehccode.static_prefix(
            inputs["ehc_id"],
            inputs["issue_seq"],
            datetime.date.fromisoformat(inputs["issue_date"]),
            vector["kid"],
        )
    expires_at = _at(inputs["expires_at"])
    validity = national.encode_validity(
        expires_at.astimezone(ehccode.CST).replace(tzinfo=None),
        bytes.fromhex(inputs["protection_key"]),
    )
    assert validity == vector["validity"]
    return ehccode.dynamic_prefix(
        inputs["ehc_id"], validity, inputs["org_code"], expires_at, vector["kid"]
    )


def test_the_document_holds_at_least_three_vectors_and_both_algorithms():
    assert len(VECTORS) >= 3
    assert {v["algorithm"] for v in VECTORS} == {"ed25519", "sm2"}
    assert {v["inputs"]["kind"] for v in VECTORS} == {"static", "dynamic"}


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_signed_bytes_are_the_text_before_the_last_colon(vector):
    assert _prefix(vector) == vector["signed_bytes"]
    assert vector["text"].rsplit(":", 1)[0] == vector["signed_bytes"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_public_key_belongs_to_the_secret_key(vector):
    secret = bytes.fromhex(vector["secret_key"])
    if vector["algorithm"] == "ed25519":
        public = eddsa.import_private_key(secret).public_key().export_key(format="raw")
    else:
        public = signing._sm2_public_from_secret(secret)
    assert public.hex() == vector["public_key"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_vector_text_is_reproduced_from_key_and_inputs(vector):
    message = vector["signed_bytes"].encode("ascii")
    secret = bytes.fromhex(vector["secret_key"])
    if vector["algorithm"] == "ed25519":
        signature = signing.ED25519.signer(secret)(message)
    else:
        engine = sm2.CryptSM2(private_key=secret.hex(), public_key=vector["public_key"])
        signature = bytes.fromhex(engine.sign_with_sm3(message, vector["nonce_k"]))
    assert signature.hex() == vector["signature"]
    assert f"{vector['signed_bytes']}:{ehccode.encode_signature(signature)}" == vector["text"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_vector_verifies_offline(vector):
    result = ehccode.verify_offline(vector["text"], _key_set(vector), at=_at(vector["verify_at"]))
    assert result.ok, result
    assert vector["expect"] == "valid"
    assert result.kid == vector["kid"]
    assert result.ehc_id == vector["inputs"]["ehc_id"]
    assert result.kind == vector["inputs"]["kind"]


def test_dynamic_vector_is_expired_at_its_expiry():
    vector = next(v for v in VECTORS if v["inputs"]["kind"] == "dynamic")
    at = _at(vector["inputs"]["expires_at"])
    assert ehccode.verify_offline(vector["text"], _key_set(vector), at=at).reason == "expired"


@pytest.mark.parametrize("case", REFUSALS, ids=lambda c: c["why"])
def test_refusal_vectors(case):
    by_kid = {v["kid"]: v for v in VECTORS}
    keys = _key_set(by_kid["E0000001"], by_kid["S0000001"])
    result = ehccode.verify_offline(
        case["text"], keys, case.get("revocations"), at=_at("2026-11-25T08:00:00Z")
    )
    assert not result.ok
    assert result.reason == case["expect"]
    assert result.card is None


def test_card_reference_in_the_document_matches():
    assert ehccode.card_ref(VECTORS[0]["inputs"]["ehc_id"]) == "98DB2DAF9723F11CCE0A38584EF24DBE"
