"""States sent between parallel workers (``explore.transfer``) arrive as they left.

A worker stores what it decodes and expands it, so the decoded state must be equal to
the one sent and built of the same types all the way down (the engine reads NamedTuple
fields by name).  Each distinct field value crosses a channel once, and a channel that
starts afresh (``RESET_AFTER``) still decodes correctly.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalecheck.explore import transfer
from stalecheck.explore.transfer import Decoder, Encoder, PartsDecoder, PartsEncoder
from stalecheck.machine.system import Machine
from stalecheck.runner import load_scenario


class Pair(NamedTuple):
    left: tuple[int, ...]
    right: int


def _same_shape(a: Any, b: Any) -> bool:
    """Equal, and of the same type at every level of nesting."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same_shape(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _send(encoder: Encoder, decoder: Decoder, states: list[Any]) -> list[Any]:
    keys = list(range(7, 7 + len(states)))
    got, got_keys, _ = decoder.decode(encoder.encode(states, keys, None))
    assert got_keys == keys
    return got


pairs = st.builds(Pair, st.tuples(st.integers(0, 3), st.integers(0, 3)), st.integers(-2, 2))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(pairs, max_size=8), max_size=5))
def test_named_tuple_states_arrive_equal_and_of_their_type(batches: list[list[Pair]]) -> None:
    encoder, decoder = Encoder(Pair((0, 0), 0)), Decoder(Pair((0, 0), 0))
    for batch in batches:
        got = _send(encoder, decoder, batch)
        assert all(_same_shape(a, b) for a, b in zip(got, batch, strict=True)) and len(got) == len(batch)
    # each distinct field value crossed once
    distinct = {(0, p.left) for b in batches for p in b} | {(1, p.right) for b in batches for p in b}
    assert encoder.size == len(distinct)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.integers(), st.tuples(st.integers()), st.tuples()), max_size=12))
def test_states_that_are_not_named_tuples_travel_whole(states: list[Any]) -> None:
    encoder, decoder = Encoder(0), Decoder(0)
    got = _send(encoder, decoder, states)
    assert all(_same_shape(a, b) for a, b in zip(got, states, strict=True)) and len(got) == len(states)


def test_a_channel_that_starts_afresh_still_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer, "RESET_AFTER", 3)
    encoder, decoder = Encoder(Pair((0,), 0)), Decoder(Pair((0,), 0))
    for round_ in range(6):
        batch = [Pair((round_, i), i % 2) for i in range(3)]
        assert _send(encoder, decoder, batch) == batch


def test_side_tables_travel_only_when_they_grew() -> None:
    encoder, decoder = Encoder(0), Decoder(0)
    tables = {1: "a"}
    sent = [decoder.decode(encoder.encode([], [], tables))[2] for _ in range(2)]
    tables[2] = "b"
    sent.append(decoder.decode(encoder.encode([], [], tables))[2])
    assert sent == [{1: "a"}, None, {1: "a", 2: "b"}]


@pytest.mark.parametrize(("scenario", "variant"), [("osv-pte-barriers", "break-before-make")])
def test_machine_states_arrive_equal_and_of_their_types(scenario: str, variant: str) -> None:
    """Threads, buffer entries, TLB and I-cache entries are NamedTuples inside the state."""
    m = Machine(load_scenario(scenario).variants[variant].build())
    init = m.initial_state()
    seen, frontier = {init}, [init]
    while frontier and len(seen) < 1500:
        level = dict.fromkeys(m.next_state(s, a) for s in frontier for a in m.actions(s))
        frontier = [t for t in level if t not in seen]
        seen.update(frontier)
    states = list(seen)
    assert any(any(s.tlbs) for s in states) and any(any(s.bufs) for s in states)
    encoder, decoder = Encoder(init), Decoder(init)
    got = _send(encoder, decoder, states[::2]) + _send(encoder, decoder, states[1::2])
    assert all(_same_shape(a, b) for a, b in zip(got, states[::2] + states[1::2], strict=True))


class Four(NamedTuple):
    mem: tuple[int, ...]
    copies: int
    threads: tuple[int, ...]
    events: int


fours = st.builds(
    Four, st.tuples(st.integers(0, 2)), st.integers(0, 2), st.tuples(st.integers(0, 3)), st.integers(0, 1)
)


def _send_parts(
    encoder: PartsEncoder,
    decoder: PartsDecoder,
    states: list[Four],
    theirs: dict[Any, int],
    mine: dict[Any, int],
) -> list[tuple[Four, int, int]]:
    """One batch of split states (``cut`` 2), each part numbered by the sender in
    ``theirs``; returns the states the receiver rebuilds from its own numbers (``mine``),
    each with the receiver's numbers of its outer and inner parts."""
    outers = np.asarray([theirs.setdefault(s[2:], len(theirs)) for s in states], dtype=np.int64)
    inners = np.asarray([theirs.setdefault(s[:2], len(theirs)) for s in states], dtype=np.int64)
    keys = np.arange(len(states), dtype=np.int64)
    by_number = {n: part for part, n in theirs.items()}
    batch = encoder.batch(outers, inners, keys, by_number.__getitem__, by_number.__getitem__, None)
    _, got_outers, got_inners, got_keys = decoder.decode(batch)
    assert got_keys.tolist() == keys.tolist()
    parts = {n: part for part, n in mine.items()}
    return [
        (Four(*parts[i], *parts[o]), o, i)
        for o, i in zip(got_outers.tolist(), got_inners.tolist(), strict=True)
    ]


def _receiver(mine: dict[Any, int]) -> PartsDecoder:
    def number(part: tuple[Any, ...]) -> int:
        return mine.setdefault(part, len(mine))

    return PartsDecoder(Four((0,), 0, (0,), 0), 2, number, number)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(fours, max_size=8), max_size=5), st.integers(0, 5))
def test_split_states_arrive_equal_and_renumbered_by_the_receiver(
    batches: list[list[Four]], decoys: int
) -> None:
    """The receiver numbers parts its own way (here after ``decoys`` others): the numbers
    it gives a state are its own numbers of that state's parts, whatever the sender's."""
    theirs: dict[Any, int] = {}
    mine: dict[Any, int] = {("decoy", i): i for i in range(decoys)}
    encoder, decoder = PartsEncoder(Four((0,), 0, (0,), 0), 2), _receiver(mine)
    for batch in batches:
        got = _send_parts(encoder, decoder, batch, theirs, mine)
        assert [s for s, _, _ in got] == batch
        assert all(_same_shape(a, b) for (a, _, _), b in zip(got, batch, strict=True))
        assert all(o == mine[s[2:]] and i == mine[s[:2]] for s, o, i in got)
    # each distinct part crossed once
    assert decoder.parts == len({s[2:] for b in batches for s in b}) + len(
        {s[:2] for b in batches for s in b}
    )


def test_a_split_channel_that_starts_afresh_still_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer, "RESET_AFTER", 3)
    theirs: dict[Any, int] = {}
    mine: dict[Any, int] = {}
    encoder, decoder = PartsEncoder(Four((0,), 0, (0,), 0), 2), _receiver(mine)
    for round_ in range(6):
        batch = [Four((round_,), i, (i,), round_ % 2) for i in range(3)]
        assert [s for s, _, _ in _send_parts(encoder, decoder, batch, theirs, mine)] == batch
    assert decoder.resets  # the tables were dropped on the way
