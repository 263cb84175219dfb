"""The DirectIO block format, against itself and against the official SDK."""

from __future__ import annotations

import base64
import gzip
import os
import random

import pytest
import snappy
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cterasdk.direct.crypto import decrypt_block, decrypt_key
from cterasdk.direct.decompressor import decompress

from ctera_audit.blockcodec import (
    COMPRESSIONS,
    XERIAL_MAGIC,
    BlockDecodeError,
    BlockLengthError,
    KeyUnwrapError,
    decode_block,
    encode_block,
    new_secret_access_key,
    unwrap_data_key,
    wrap_data_key,
)
from ctera_audit.errors import ContentError

SECRET = base64.b64encode(bytes(range(32))).decode()
DATA_KEY = bytes(range(100, 132))


def sample(size: int) -> bytes:
    """Half compressible text, half random bytes, so every codec has work."""
    rng = random.Random(size)
    text = b"the quick brown fox " * (size // 40 + 1)
    return (text[: size // 2] + rng.randbytes(size))[:size]


SIZES = [0, 1, 15, 16, 17, 32 << 10, (32 << 10) + 1, 300_001]


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
@pytest.mark.parametrize("encrypted", [True, False])
@pytest.mark.parametrize("size", SIZES)
def test_round_trip(compression: str, encrypted: bool, size: int) -> None:
    plain = sample(size)
    key = DATA_KEY if encrypted else None

    raw = encode_block(plain, key, compression)

    assert decode_block(raw, key, compression != "none", size) == plain


def test_new_secret_is_32_random_bytes() -> None:
    first, second = new_secret_access_key(), new_secret_access_key()

    assert len(base64.b64decode(first)) == 32
    assert first != second


@pytest.mark.parametrize("key_size", [16, 24, 32])
def test_wrapped_key_round_trips_and_the_sdk_unwraps_it(key_size: int) -> None:
    data_key = os.urandom(key_size)

    wrapped = wrap_data_key(data_key, SECRET)

    assert unwrap_data_key(wrapped, SECRET) == data_key
    assert decrypt_key(wrapped, SECRET) == data_key


def test_wrapped_key_of_32_bytes_is_64_characters() -> None:
    assert len(wrap_data_key(DATA_KEY, SECRET)) == 64


@pytest.mark.parametrize("secret_size", [30, 40])
def test_short_and_long_secrets_are_tolerated_like_the_sdk(secret_size: int) -> None:
    secret = base64.b64encode(bytes(range(secret_size))).decode()

    wrapped = wrap_data_key(DATA_KEY, secret)

    assert unwrap_data_key(wrapped, secret) == DATA_KEY == decrypt_key(wrapped, secret)


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
@pytest.mark.parametrize("size", [0, 70_000])
def test_sdk_decodes_our_blocks(compression: str, size: int) -> None:
    plain = sample(size)

    decrypted = decrypt_block(encode_block(plain, DATA_KEY, compression), DATA_KEY)

    decoded = decrypted if compression == "none" else decompress(decrypted)
    assert bytes(decoded) == plain


@pytest.mark.parametrize(
    "compress",
    [snappy.compress, gzip.compress],
    ids=["python-snappy raw", "stdlib gzip"],
)
def test_we_decode_payloads_from_the_sdks_own_libraries(compress) -> None:
    plain = sample(50_000)

    assert decode_block(compress(plain), None, True, len(plain)) == plain


def test_format_is_detected_from_the_bytes_not_the_declared_type() -> None:
    plain = sample(1000)

    for compression in ("snappy", "xerial", "gzip"):
        raw = encode_block(plain, None, compression)
        assert decode_block(raw, None, True, len(plain)) == plain


def test_xerial_stream_has_the_snappy_java_header_and_32k_slices() -> None:
    raw = encode_block(sample(70_000), None, "xerial")

    assert raw[:16] == XERIAL_MAGIC + b"\0\0\0\1\0\0\0\1"
    first_record = int.from_bytes(raw[16:20], "big")
    assert snappy.uncompress(raw[20 : 20 + first_record]) == sample(70_000)[: 32 << 10]


def test_truncated_final_xerial_record_is_ignored_like_the_sdk() -> None:
    plain = sample(40_000)
    raw = encode_block(plain, None, "xerial")

    truncated = raw[:-5]

    assert decode_block(truncated, None, True, 32 << 10) == plain[: 32 << 10]
    assert bytes(decompress(truncated)) == plain[: 32 << 10]


def test_block_is_header_iv_and_whole_aes_blocks() -> None:
    raw = encode_block(b"x" * 40, DATA_KEY, "none")

    assert len(raw) == 1 + 16 + 48


def test_length_mismatch_is_reported() -> None:
    raw = encode_block(b"abc", DATA_KEY, "snappy")

    with pytest.raises(BlockLengthError) as caught:
        decode_block(raw, DATA_KEY, True, 4)

    assert (caught.value.expected, caught.value.actual) == (4, 3)
    assert "4" in str(caught.value)


def test_compressed_bytes_declared_none_fail_the_length_check() -> None:
    plain = b"a" * 1000

    with pytest.raises(BlockLengthError):
        decode_block(encode_block(plain, None, "snappy"), None, False, len(plain))


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b"\x01" + bytes(16) + bytes(15), DATA_KEY),
        (b"\x01" + bytes(16), DATA_KEY),
        (b"\xff\xff\xff\xff\xff", None),
        (b"\x1f\x8bnot gzip at all", None),
    ],
    ids=["ragged ciphertext", "no ciphertext", "bad snappy", "bad gzip"],
)
def test_corrupt_blocks_raise_block_decode_error(raw: bytes, key: bytes | None) -> None:
    with pytest.raises(BlockDecodeError) as caught:
        decode_block(raw, key, True, 10)

    assert isinstance(caught.value, ContentError)


def test_wrong_padding_is_a_decode_error() -> None:
    raw = encode_block(b"y" * 16, DATA_KEY, "none")
    # In CBC the last plaintext byte is the previous ciphertext block's last byte
    # XOR the decrypted one: flipping that byte turns the pad byte 0x10 into 0xEF,
    # never a valid padding (tampering the last block itself would give a random
    # byte, valid one time in sixteen).
    last_of_previous = len(raw) - 17
    tampered = bytearray(raw)
    tampered[last_of_previous] ^= 0xFF

    with pytest.raises(BlockDecodeError, match="padding"):
        decode_block(bytes(tampered), DATA_KEY, False, 16)


@pytest.mark.parametrize(
    ("wrapped", "secret"),
    [
        (wrap_data_key(DATA_KEY, SECRET), base64.b64encode(bytes(32)).decode()),
        (wrap_data_key(DATA_KEY, SECRET), "not base64!"),
        ("%%%", SECRET),
        (base64.b64encode(bytes(20)).decode(), SECRET),
        ("", SECRET),
    ],
    ids=["wrong secret", "secret not base64", "key not base64", "ragged", "empty"],
)
def test_unwrap_failures_name_the_problem_but_no_key(wrapped: str, secret: str) -> None:
    with pytest.raises(KeyUnwrapError) as caught:
        unwrap_data_key(wrapped, secret)

    message = str(caught.value)
    assert "secret access key" in message
    assert secret not in message
    assert SECRET not in message
    assert base64.b64encode(DATA_KEY).decode() not in message


def test_plaintext_without_the_quote_wrapper_is_refused() -> None:
    wrapped = wrap_data_key(DATA_KEY, SECRET)
    bare = base64.b64encode(DATA_KEY)
    padded = bare + bytes([16 - len(bare) % 16]) * (16 - len(bare) % 16)
    kek = base64.b64decode(SECRET)
    encryptor = Cipher(algorithms.AES(kek), modes.ECB()).encryptor()
    wrapped_bare = base64.b64encode(encryptor.update(padded)).decode()

    assert unwrap_data_key(wrapped, SECRET) == DATA_KEY
    with pytest.raises(KeyUnwrapError):
        unwrap_data_key(wrapped_bare, SECRET)


def test_unknown_compression_is_refused() -> None:
    with pytest.raises(ValueError, match="brotli"):
        encode_block(b"x", None, "brotli")
