"""The DirectIO data format: wrapped data keys and stored blocks, both directions.

A portal hands out each file's data key wrapped (AES-256-ECB) with the key pair's
secret access key, and stores every block as ``header byte + IV + AES-CBC`` over a
compressed payload. The client side (:func:`unwrap_data_key`, :func:`decode_block`)
is as tolerant as the official SDK so that anything it reads, we read; the producer
side (:func:`wrap_data_key`, :func:`encode_block`) serves the simulator.
"""

from __future__ import annotations

import base64
import binascii
import os

import cramjam
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ctera_audit.errors import ContentError

COMPRESSIONS: frozenset[str] = frozenset(("snappy", "xerial", "gzip", "none"))
"""Compression names accepted by :func:`encode_block`."""

XERIAL_MAGIC = b"\x82SNAPPY\x00"
GZIP_MAGIC = b"\x1f\x8b"

_XERIAL_HEADER = XERIAL_MAGIC + (1).to_bytes(4, "big") + (1).to_bytes(4, "big")
_XERIAL_SLICE = 32 << 10
_RECORD_LENGTH_SIZE = 4
_KEK_SIZE = 32
_AES_BLOCK = 16
_IV_START = 1
_CIPHERTEXT_START = _IV_START + _AES_BLOCK
_BLOCK_HEADER = b"\x01"
_DATA_KEY_SIZES = (16, 24, 32)


class KeyUnwrapError(ContentError):
    """The wrapped data key of a file could not be opened with the secret access key."""


class BlockDecodeError(ContentError):
    """A downloaded block could not be decrypted or decompressed."""


class BlockLengthError(ContentError):
    """A decoded block is not as long as the portal announced.

    Attributes:
        expected: the length announced by the portal.
        actual: the length of the decoded block.
    """

    def __init__(self, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"a decoded DirectIO block holds {actual} bytes but the portal announced "
            f"{expected}; the stored block or its metadata is inconsistent, so read "
            "the file again later or report the file id to the portal administrator."
        )


def new_secret_access_key() -> str:
    """Return a fresh secret access key: 32 random bytes, base64 encoded.

    The simulator hands this string to its clients; its decoded bytes are the
    key-encryption key that wraps every data key.
    """
    return base64.b64encode(os.urandom(_KEK_SIZE)).decode("ascii")


def wrap_data_key(data_key: bytes, secret_access_key: str) -> str:
    """Wrap a data key the way a portal does, for the simulator to publish.

    Args:
        data_key: the AES key the blocks are encrypted with (16, 24 or 32 bytes).
        secret_access_key: the base64 secret of the key pair the file is read with.

    Returns:
        The base64 text advertised as ``encrypt_info.wrapped_key``.
    """
    text = b'"' + base64.b64encode(data_key) + b'"'
    padder = padding.PKCS7(_AES_BLOCK * 8).padder()
    padded = padder.update(text) + padder.finalize()

    encryptor = Cipher(
        algorithms.AES(_key_encryption_key(secret_access_key)), modes.ECB()
    ).encryptor()
    wrapped = encryptor.update(padded) + encryptor.finalize()
    return base64.b64encode(wrapped).decode("ascii")


def unwrap_data_key(wrapped_key: str, secret_access_key: str) -> bytes:
    """Open a file's wrapped data key with the secret access key.

    Tolerant exactly like the official SDK: the secret is truncated or zero-padded
    to 32 bytes, non-printable characters (the padding) are dropped and so is the
    first and last remaining character (the quotes around the base64 key).

    Args:
        wrapped_key: ``encrypt_info.wrapped_key`` of the metadata answer.
        secret_access_key: the base64 secret of the key pair.

    Returns:
        The data key the file's blocks are encrypted with.

    Raises:
        KeyUnwrapError: the secret or the wrapped key is malformed, or they do not
            belong together.
    """
    try:
        kek = _key_encryption_key(secret_access_key)
    except (binascii.Error, ValueError):
        raise _unwrap_error("the secret access key is not valid base64") from None

    try:
        wrapped = base64.b64decode(wrapped_key)
    except (binascii.Error, ValueError):
        raise _unwrap_error("the wrapped key is not valid base64") from None
    if not wrapped or len(wrapped) % _AES_BLOCK:
        raise _unwrap_error("the wrapped key is not a whole number of AES blocks")

    decryptor = Cipher(algorithms.AES(kek), modes.ECB()).decryptor()
    plain = decryptor.update(wrapped) + decryptor.finalize()
    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError:
        raise _unwrap_error("the unwrapped key is not text") from None

    printable = "".join(char for char in text if char.isprintable())[1:-1]
    try:
        data_key = base64.b64decode(printable)
    except (binascii.Error, ValueError):
        raise _unwrap_error("the unwrapped key is not valid base64") from None
    if len(data_key) not in _DATA_KEY_SIZES:
        raise _unwrap_error(f"the unwrapped key has {len(data_key)} bytes, not 16-32")
    return data_key


def encode_block(plain: bytes, data_key: bytes | None, compression: str) -> bytes:
    """Produce the stored form of one block, as object storage would serve it.

    Args:
        plain: the block's plaintext.
        data_key: the file's data key, or None to store the block unencrypted.
        compression: one of :data:`COMPRESSIONS`; ``"snappy"`` is a raw snappy block,
            ``"xerial"`` a snappy-java stream of 32 KiB slices.

    Returns:
        The block bytes: the compressed payload, encrypted when a key is given.

    Raises:
        ValueError: the compression name is unknown.
    """
    payload = _compress(plain, compression)
    if data_key is None:
        return payload

    padder = padding.PKCS7(_AES_BLOCK * 8).padder()
    padded = padder.update(payload) + padder.finalize()
    iv = os.urandom(_AES_BLOCK)
    encryptor = Cipher(algorithms.AES(data_key), modes.CBC(iv)).encryptor()
    return _BLOCK_HEADER + iv + encryptor.update(padded) + encryptor.finalize()


def decode_block(
    raw: bytes, data_key: bytes | None, compressed: bool, expected_length: int
) -> bytes:
    """Turn a downloaded block back into its plaintext and check its length.

    The compression format is detected from the payload's first bytes (gzip,
    snappy-java stream, else raw snappy), whatever the portal declared.

    Args:
        raw: the bytes served at the block's URL.
        data_key: the unwrapped data key, or None when blocks are not encrypted.
        compressed: whether the portal declared a compression type other than NONE.
        expected_length: the block's ``len`` in the metadata answer.

    Returns:
        The block's plaintext, exactly ``expected_length`` bytes.

    Raises:
        BlockDecodeError: decryption or decompression failed.
        BlockLengthError: the plaintext length differs from the announced one.
    """
    payload = raw if data_key is None else _decrypt(raw, data_key)
    plain = _decompress(payload) if compressed else payload

    if len(plain) != expected_length:
        raise BlockLengthError(expected_length, len(plain))
    return plain


def _key_encryption_key(secret_access_key: str) -> bytes:
    secret = base64.b64decode(secret_access_key)
    return secret[:_KEK_SIZE].ljust(_KEK_SIZE, b"\0")


def _unwrap_error(reason: str) -> KeyUnwrapError:
    return KeyUnwrapError(
        f"the file's data key could not be unwrapped: {reason}; check that the "
        "secret access key is the one issued with the access key id."
    )


def _compress(plain: bytes, compression: str) -> bytes:
    if compression == "snappy":
        return bytes(cramjam.snappy.compress_raw(plain))
    if compression == "xerial":
        return _xerial_compress(plain)
    if compression == "gzip":
        return bytes(cramjam.gzip.compress(plain))
    if compression == "none":
        return bytes(plain)
    raise ValueError(
        f"unknown block compression {compression!r}; use one of {sorted(COMPRESSIONS)}"
    )


def _xerial_compress(plain: bytes) -> bytes:
    parts = [_XERIAL_HEADER]
    view = memoryview(plain)
    for start in range(0, len(plain), _XERIAL_SLICE):
        record = bytes(cramjam.snappy.compress_raw(view[start : start + _XERIAL_SLICE]))
        parts.append(len(record).to_bytes(_RECORD_LENGTH_SIZE, "big"))
        parts.append(record)
    return b"".join(parts)


def _decrypt(raw: bytes, data_key: bytes) -> bytes:
    ciphertext = memoryview(raw)[_CIPHERTEXT_START:]
    if not ciphertext or len(ciphertext) % _AES_BLOCK:
        raise _decode_error(
            "decrypted", f"its {len(raw)} bytes are not header, IV and AES blocks"
        )

    iv = raw[_IV_START:_CIPHERTEXT_START]
    decryptor = Cipher(algorithms.AES(data_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()

    pad = padded[-1]
    if not 1 <= pad <= _AES_BLOCK:
        raise _decode_error("decrypted", "its padding is invalid (wrong data key?)")
    return padded[:-pad]


def _decompress(payload: bytes) -> bytes:
    try:
        if payload.startswith(GZIP_MAGIC):
            return bytes(cramjam.gzip.decompress(payload))
        if payload.startswith(XERIAL_MAGIC):
            return _xerial_decompress(payload)
        return bytes(cramjam.snappy.decompress_raw(payload))
    except cramjam.DecompressionError:
        raise _decode_error("decompressed", "its payload is corrupt") from None


def _xerial_decompress(payload: bytes) -> bytes:
    parts = []
    view = memoryview(payload)
    start = len(_XERIAL_HEADER)
    while start + _RECORD_LENGTH_SIZE <= len(payload):
        length = int.from_bytes(view[start : start + _RECORD_LENGTH_SIZE], "big")
        start += _RECORD_LENGTH_SIZE
        if start + length > len(payload):
            break
        parts.append(bytes(cramjam.snappy.decompress_raw(view[start : start + length])))
        start += length
    return b"".join(parts)


def _decode_error(step: str, reason: str) -> BlockDecodeError:
    return BlockDecodeError(
        f"a DirectIO block could not be {step}: {reason}; read the file again, and "
        "if it keeps failing report the file id to the portal administrator."
    )
