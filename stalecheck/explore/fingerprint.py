"""A 64-bit digest of a state made of nested tuples of ints and strings.

Used when the search stores digests instead of states (``search.Store.DIGEST``).
The built-in ``hash()`` is no digest: ``hash(-1) == hash(-2)`` and ints are
reduced modulo 2**61 - 1, so distinct states collide by construction, not by
chance.  Here the state is first encoded canonically, then hashed with BLAKE2b:

- ``marshal`` format version 2 writes each object by value.  Version 3 added
  back-references to objects seen earlier in the same dump, which would make the
  bytes depend on which equal tuples happen to be the same object; version 2 has
  none.  Ints are written by value (a 4-byte form, or digits for larger ones),
  strings as UTF-8 with their length, tuples as a length then their items, each
  object behind a type code: distinct values give distinct bytes.
- ``marshal`` refuses tuple subclasses (NamedTuples); ``plain`` turns them into
  tuples, which is injective within one model (every state has the same layout).

Soundness needs only "distinct states, distinct bytes".  The converse can fail
harmlessly: ``True == 1`` but marshal writes them differently, so a model mixing
them would explore an equal state twice, never hide one.
"""

from __future__ import annotations

import marshal
from hashlib import blake2b
from typing import Any


def plain(value: Any) -> Any:
    """``value`` with every tuple subclass replaced by a tuple (slow path, any depth)."""
    if isinstance(value, tuple):
        return tuple(plain(item) for item in value)
    return value


def canonical_bytes(value: Any) -> bytes:
    """The canonical encoding of ``value`` (nested tuples of ints and strings)."""
    try:
        return marshal.dumps(value, 2)
    except ValueError:  # a NamedTuple somewhere inside (anything else fails again below)
        return marshal.dumps(plain(value), 2)


def digest64(value: Any) -> int:
    """A 64-bit BLAKE2b digest of ``canonical_bytes(value)``: equal for equal values
    in every process (no per-process salt), and collisions only by chance."""
    return int.from_bytes(blake2b(canonical_bytes(value), digest_size=8).digest(), "little")
