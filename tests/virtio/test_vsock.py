"""The seed's wire framing and receiver check, against known CRC32 vectors."""

import struct
import zlib

import pytest

from stalecheck.scenarios.support import vsock


def test_crc32_is_the_ieee_polynomial() -> None:
    # The standard check value of CRC-32/ISO-HDLC (crc32fast, zlib).
    assert zlib.crc32(b"123456789") == 0xCBF43926


def test_frame_layout_matches_the_seed() -> None:
    data = vsock.frame(0, 2)
    assert len(data) == 8 + 8
    (length,) = struct.unpack(">I", data[4:8])
    assert length == 8
    (crc,) = struct.unpack(">I", data[:4])
    assert crc == zlib.crc32(data[4:])
    assert vsock.check_frame(0, data) is None


def test_known_vector_for_one_word_body() -> None:
    body = vsock.body_word(0, 0)
    expected = zlib.crc32(b"\x00\x00\x00\x04" + body)
    assert vsock.frame(0, 1) == struct.pack(">I", expected) + b"\x00\x00\x00\x04" + body


@pytest.mark.parametrize(("offset", "field"), [(2, "CRC header"), (5, "length"), (9, "body word 0")])
def test_corrupted_frame_names_offset(offset: int, field: str) -> None:
    data = bytearray(vsock.frame(3, 2))
    data[offset] ^= 0x40
    mismatch = vsock.check_frame(3, bytes(data))
    assert mismatch is not None
    assert mismatch.message == 3 and mismatch.offset == offset
    assert field in str(mismatch) and "WIRE CRC MISMATCH" in str(mismatch)


def test_stale_word_from_older_message_is_a_mismatch() -> None:
    # message 2's frame with body word 1 left over from message 0 (version 1)
    data = vsock.received(3, 3, (3, 1))
    mismatch = vsock.check_frame(2, data)
    assert mismatch is not None and mismatch.offset == 12


def test_all_words_from_one_older_message_pass_the_crc() -> None:
    # A whole frame replayed from message 0 is self-consistent: the seed's check misses it.
    assert vsock.check_frame(2, vsock.received(1, 1, (1, 1))) is None


def test_initial_contents_fail() -> None:
    assert vsock.check_frame(0, vsock.received(0, 0, (0,))) is not None
