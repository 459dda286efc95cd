"""The fcvm wire framing and its receiver check, over the model's version numbers.

Seed 000 (fcvm PR #183) frames each FUSE request sent over vsock as::

    [4 bytes: CRC32 of (length + body)][4 bytes: length, big-endian u32][N bytes: body]

and the server recomputes the CRC over what it received and logs ``WIRE CRC
MISMATCH`` when it differs.  The model keeps a *version* per word (which message
last wrote it, 0 for the memory's initial contents), not bytes; this module turns
the versions an observer read back into the bytes that observer would have seen,
and runs the seed's check on them with a real CRC32 (``zlib.crc32``, the IEEE
polynomial the seed's Rust ``crc32fast`` uses).  A stale word therefore shows up
exactly as the seed saw it: as a CRC mismatch, here with the message number and the
first byte offset that differs from what the sender framed.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

WORD = 4  # bytes per modelled word
CRC_OFFSET = 0
LEN_OFFSET = 4
BODY_OFFSET = 8


def body_word(message: int, index: int) -> bytes:
    """The ``index``-th body word of message ``message`` (0-based): distinct per message
    and per word, so that a word left over from another message changes the CRC."""
    value = (0x9E3779B1 * (message + 1) + 0x85EBCA77 * (index + 1)) & 0xFFFFFFFF
    return struct.pack(">I", value)


def body(message: int, words: int) -> bytes:
    return b"".join(body_word(message, i) for i in range(words))


def length_field(words: int) -> bytes:
    """The big-endian u32 length of the serialized request (seed 000)."""
    return struct.pack(">I", words * WORD)


def crc_field(message: int, words: int) -> bytes:
    """CRC32 over (length + body), as the seed's client computes it, big-endian."""
    return struct.pack(">I", zlib.crc32(length_field(words) + body(message, words)) & 0xFFFFFFFF)


def frame(message: int, words: int) -> bytes:
    """The bytes the sender puts on the wire for message ``message``."""
    return crc_field(message, words) + length_field(words) + body(message, words)


def field_bytes(version: int, field: str, index: int, words: int) -> bytes:
    """The bytes of one word as an observer read it: version ``v`` >= 1 is what message
    ``v - 1`` wrote there; version 0 is the memory's initial contents (zeros)."""
    if version <= 0:
        return b"\0" * WORD
    message = version - 1
    if field == "crc":
        return crc_field(message, words)
    if field == "len":
        return length_field(words)
    return body_word(message, index)


def received(crc: int, length: int, words: tuple[int, ...]) -> bytes:
    """The frame a receiver assembled from the versions it read for each word."""
    n = len(words)
    out = field_bytes(crc, "crc", 0, n) + field_bytes(length, "len", 0, n)
    return out + b"".join(field_bytes(v, "body", i, n) for i, v in enumerate(words))


@dataclass(frozen=True)
class CrcMismatch:
    """What the seed's server logs, plus where the received frame first differs."""

    message: int  # 0-based message number in the stream
    expected: int  # the CRC field as received
    computed: int  # CRC32 over the received length + body
    offset: int  # first byte offset (in the frame) that differs from what was sent

    def __str__(self) -> str:
        return (
            f"WIRE CRC MISMATCH in message {self.message}: header says {self.expected:#010x}, "
            f"received length+body hash to {self.computed:#010x}; first stale byte at frame "
            f"offset {self.offset} ({_field_name(self.offset)})"
        )


def _field_name(offset: int) -> str:
    if offset < LEN_OFFSET:
        return "CRC header"
    if offset < BODY_OFFSET:
        return "length"
    return f"body word {(offset - BODY_OFFSET) // WORD}"


def check_frame(message: int, data: bytes) -> CrcMismatch | None:
    """The seed's receiver: read the CRC header, recompute the CRC over the received
    length + body, report a mismatch.  ``message`` only names the frame in the report."""
    if len(data) < BODY_OFFSET:
        raise ValueError(f"a frame has at least {BODY_OFFSET} bytes, got {len(data)}")
    (expected,) = struct.unpack(">I", data[:LEN_OFFSET])
    computed = zlib.crc32(data[LEN_OFFSET:]) & 0xFFFFFFFF
    if expected == computed:
        return None
    sent = frame(message, (len(data) - BODY_OFFSET) // WORD)
    offset = next((i for i, (a, b) in enumerate(zip(sent, data, strict=False)) if a != b), len(data))
    return CrcMismatch(message, expected, computed, offset)
