"""Visited states: no two distinct states may be merged by the visited set.

The search used to store ``hash(state)``; CPython's ``hash(-1) == hash(-2)``
(and ints are reduced modulo 2**61 - 1), so two states differing only in -1
against -2 were one state to the search, and whatever followed the second was
never explored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stalecheck.explore.fingerprint import canonical_bytes, digest64
from stalecheck.explore.search import Budget, Store, check
from stalecheck.explore.verdict import Outcome
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def two_masters() -> Machine:
    """Two non-coherent DMA masters store -1 and -2 to X in either order; a reader
    waits for both and reads X.  Either store may be the last (no order between
    the masters: B2.3.1, one coherence order per location, any interleaving)."""
    b = Builder()
    b.system(pes=1)
    b.page("P0", "X")
    b.device("dma0", "STR X, -1\nSIGNAL a")
    b.device("dma1", "STR X, -2\nSIGNAL b")
    b.host("reader", "WAIT a\nWAIT b\nLDR r1, X")
    b.bad_when(lambda v: v.done("reader") and v.reg("reader", "r1") == -1, "the reader sees -1")
    return Machine(b.build())


@pytest.mark.parametrize("store", list(Store))
def test_two_masters_storing_minus_one_and_minus_two_the_reader_may_see_minus_one(store: Store) -> None:
    m = two_masters()
    v = check(m, Budget(), sanity=m.is_complete, store=store)
    assert v.outcome == Outcome.REACHABLE, "hash(-1) == hash(-2) used to hide the state X=-1"
    last = v.steps[-1]
    assert (last.actor.thread, last.operation, last.target, last.effect.value) == ("reader", "LDR", "X", -1)


def test_the_two_masters_states_that_hash_conflates_get_distinct_fingerprints() -> None:
    m = two_masters()
    s = m.initial_state()
    after = {}
    for first in (0, 1):  # dma0 (-1) or dma1 (-2) stores first, the other second
        state = s
        for name in (f"dma{first}", f"dma{1 - first}"):
            by = {m.describe(state, a, m.next_state(state, a)).actor.thread: a for a in m.actions(state)}
            step = by[name]
            state = m.next_state(state, step)
        after[first] = state
    assert after[0] != after[1]
    assert hash(after[0]) == hash(after[1]), "the CPython collision this test is about"
    assert m.fingerprint(after[0]) != m.fingerprint(after[1])


class Pair(NamedTuple):
    a: tuple[int, ...]
    b: int


def test_the_encoding_does_not_depend_on_object_identity_or_named_tuples() -> None:
    shared = (1, 2)
    assert canonical_bytes((shared, shared)) == canonical_bytes(((1, 2), tuple([1, 2])))
    assert canonical_bytes(Pair((1, 2), 3)) == canonical_bytes(((1, 2), 3))
    big = 2**70
    assert canonical_bytes((big, big)) == canonical_bytes((big, 2**69 * 2)), "one object twice, or two"


atoms = st.integers() | st.text(max_size=4)
values = st.recursive(atoms, lambda inner: st.tuples(inner, inner), max_leaves=8)


@given(values, values)
def test_distinct_values_have_distinct_encodings(x: object, y: object) -> None:
    """What soundness rests on: the bytes determine the value (then only a 64-bit
    digest collision, the printed bound, could merge two states)."""
    assert (canonical_bytes(x) == canonical_bytes(y)) == (x == y)
    if x == y:
        assert digest64(x) == digest64(y)


class Collide:
    """A toy model whose fingerprint deliberately merges every state: only the
    digest store trusts it, so only there are states lost."""

    def initial_state(self) -> int:
        return 0

    def actions(self, state: int) -> Sequence[int]:
        return [state + 1] if state < 3 else []

    def next_state(self, state: int, action: int) -> int:
        return action

    def is_bad(self, state: int) -> bool:
        return state == 3

    def fingerprint(self, state: int) -> int:
        return 0

    def describe(self, before: int, action: int, after: int) -> str:
        return f"{before}->{after}"


def test_exact_storage_never_consults_the_fingerprint() -> None:
    assert check(Collide()).outcome == Outcome.REACHABLE
    digest = check(Collide(), store=Store.DIGEST)
    assert (digest.outcome, digest.states) == (Outcome.UNREACHABLE, 1)
    assert "n = 1 states" in digest.visited_assumption
