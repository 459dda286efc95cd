"""What a cat model is evaluated over: an abstract candidate execution, in plain data.

herd hands its cat interpreter named event sets (``R``, ``W``, ``M``, ``IW``,
``DMB.ISH``, ``A``, ``L``, ...) and named base relations (``po``, ``loc``,
``iico_data``, ``rf``, ...).  We do the same, split by when they are known,
so that a model is evaluated in stages:

* :class:`EventStructure`: everything fixed by the thread paths (events, their
  sets, ``po``, ``loc``, ``int``/``ext``, ``iico_*``, ``rf-reg``, ...);
* the read-from choice: ``rf``;
* the coherence choice: ``co`` (bound where the model says ``with co from``)
  and ``FW`` (each location's co-last write; herd's solver picks these
  "final writes" together with rf, so they change with the choice).

Any producer of candidate executions can fill these in; the cat model never
sees how events were made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stalecheck.cat.values import EvSet, Rel, Value

#: Names bound per read-from choice and per coherence choice.
RF_NAMES = frozenset({"rf"})
CO_NAMES = frozenset({"FW"})
#: Names the candidate supplies to ``with NAME from S`` (checked for membership in S).
PROVIDED_NAMES = frozenset({"co"})


@dataclass(frozen=True)
class EventStructure:
    """Events ``0..n-1`` with herd's named sets and relations (bitmask rows).

    ``value_relations`` backs herd's primitives that look at event values:
    ``different-values`` (pairs of events with different values), ``same-oa``
    and ``at-least-one-writable`` (page-table entries); each such primitive
    restricts its argument to the given relation.
    """

    n: int
    sets: Mapping[str, int]
    relations: Mapping[str, tuple[int, ...]]
    value_relations: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    names: tuple[str, ...] = ()  # one label per event, for messages

    def values(self) -> dict[str, Value]:
        env: dict[str, Value] = {k: EvSet(v) for k, v in self.sets.items()}
        env.update({k: Rel(tuple(v)) for k, v in self.relations.items()})
        return env


@dataclass(frozen=True)
class Choice:
    """The names one stage adds: ``bound`` go into the environment, ``provided`` answer ``with``."""

    bound: Mapping[str, Value] = field(default_factory=dict)
    provided: Mapping[str, Value] = field(default_factory=dict)


def total_order_rows(n: int, orders: list[list[int]]) -> tuple[int, ...]:
    """A relation from lists of events, each list a total order (transitively closed)."""
    rows = [0] * n
    for order in orders:
        later = 0
        for e in reversed(order):
            rows[e] |= later
            later |= 1 << e
    return tuple(rows)
