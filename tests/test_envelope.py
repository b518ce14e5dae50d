"""The envelope format (healthcard.envelope) is fixed: blobs sealed before the switch
to OpenSSL's AES-GCM still open, and new blobs are plain AES-256-GCM that any
implementation opens."""

import pytest
from Crypto.Cipher import AES

from healthcard import envelope

KEY = bytes(range(32))
# Sealed by the former pycryptodome implementation: version 0x02, key ID "testkid1",
# nonce 100..111, context b"identity", plaintext "张小三".
FORMER = bytes.fromhex(
    "02746573746b6964316465666768696a6b6c6d6e6fada77e83c966b226b7b9ce85b207898707de3fb823677d4af9"
)


def test_a_blob_sealed_by_the_former_implementation_opens():
    assert envelope.unseal(KEY, FORMER, b"identity").decode() == "张小三"
    assert envelope.key_id(FORMER) == "testkid1"


def test_a_new_blob_is_standard_aes_gcm_over_header_and_context():
    blob = envelope.seal(KEY, "testkid1", "欧阳小峰".encode(), b"phone")
    header, nonce = blob[:9], blob[9:21]
    cipher = AES.new(KEY, AES.MODE_GCM, nonce=nonce)
    cipher.update(header + b"phone")
    assert cipher.decrypt_and_verify(blob[21:-16], blob[-16:]).decode() == "欧阳小峰"


@pytest.mark.parametrize(
    ("key", "blob", "context"),
    [
        (KEY, FORMER, b"phone"),  # another context
        (bytes(32), FORMER, b"identity"),  # another key
        (KEY[:16], FORMER, b"identity"),  # a key of the wrong size
        (KEY, FORMER[:-1], b"identity"),  # truncated tag
        (KEY, FORMER[:9] + bytes(12) + FORMER[21:], b"identity"),  # another nonce
    ],
)
def test_anything_else_is_refused_with_one_error(key, blob, context):
    with pytest.raises(envelope.EnvelopeError):
        envelope.unseal(key, blob, context)


def test_each_key_keeps_its_own_cipher_between_calls():
    """Ciphers are made once per key (envelope._aead): a blob still opens only under the
    key that sealed it, however the calls interleave."""
    other = bytes(range(1, 33))
    blobs = [
        (k, envelope.seal(k, "testkid1", f"{n}".encode(), b"id"))
        for n in range(3)
        for k in (KEY, other)
    ]
    for key, blob in blobs:
        assert envelope.unseal(key, blob, b"id")
        wrong = other if key == KEY else KEY
        with pytest.raises(envelope.EnvelopeError):
            envelope.unseal(wrong, blob, b"id")
    assert envelope._aead(KEY) is envelope._aead(bytes(bytearray(KEY)))  # by value
