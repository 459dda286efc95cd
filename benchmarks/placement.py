"""Where ``check -j N`` could place states: balance and crossings of placement functions.

    .venv/bin/python benchmarks/placement.py                      # case 3x1, 2 workers
    .venv/bin/python benchmarks/placement.py --sizes 2x2 --jobs 4
    .venv/bin/python benchmarks/placement.py --variant xen-set-way/tsw-tvm --json

A parallel search (``explore/parallel.py``) gives each state to the worker a hash of
part of it names; a successor placed elsewhere crosses to its owner (it costs both
ends, and 95% of what crosses is a duplicate there), and a level ends when its slowest
worker does.  So a placement is good when few transitions cross and every level's
states split evenly.  This script explores the whole space once (``split.check_split``'s
loop: the same states and transitions) and, for each placement function, counts the
transitions whose successor has another owner than its parent (before the sender drops
the duplicates of a level) and the balance: the sum over levels of the largest share,
against the sum of the even shares (1.0 is perfect; lending, ``parallel._lending_plan``,
evens out part of the rest at a price).  Placement is a hash of the part named, so a
placement function is a function of the outer part (buffers, threads, system registers,
TLBs, I-caches: ``explore/split.py``), never of memory and copies, which cache steps
change: every cache step would cross.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from stalecheck.machine.state import State
from stalecheck.machine.system import Machine

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from explore_speed import CASES

Outer = tuple[Any, ...]


def placements(cut: int) -> dict[str, Callable[[Outer], Any]]:
    """The functions compared: the threads (what ``Machine.partition_key`` places by), one
    thread, the buffers and threads, the outer part without TLBs and I-caches, the whole
    outer part, and the threads' program counters."""
    names = State._fields[cut:]

    def field(name: str) -> Callable[[Outer], Any]:
        at = names.index(name)
        return lambda outer: outer[at]

    threads, bufs = field("threads"), field("bufs")
    cached = {names.index("tlbs"), names.index("icaches")}
    return {
        "threads": threads,
        "first thread": lambda o: threads(o)[0],
        "last thread": lambda o: threads(o)[-1],
        "buffers and threads": lambda o: (bufs(o), threads(o)),
        "outer part but TLBs, I-caches": lambda o: tuple(x for i, x in enumerate(o) if i not in cached),
        "outer part": lambda o: o,
        "program counters": lambda o: tuple(t.pc for t in threads(o)),
    }


def graph(machine: Any) -> tuple[list[list[int]], dict[tuple[int, int], int]]:
    """Every level's states (their outer numbers) and the transitions that change the
    outer part, counted per (parent's outer number, successor's)."""
    cut = machine.split_at
    numbers = machine.inner_keys
    init = machine.initial_state()
    own = numbers.setdefault(init[:cut], len(numbers))
    oid = machine.number_outer(init[cut:])
    seen: dict[int, set[int]] = {oid: {own}}
    frontier = [(init, own, oid)]
    levels: list[list[int]] = []
    moves: dict[tuple[int, int], int] = {}
    while frontier:
        levels.append([o for _, _, o in frontier])
        following = []
        for state, own, oid in frontier:
            inside = state[:cut]
            for key, place, part in machine.expand_numbered(state, own, oid):
                succ = None
                if key == -2:  # not memoized: build the successor
                    succ = machine.next_state(state, place)
                    part = succ[:cut]
                    key = own if part == inside else numbers.setdefault(part, len(numbers))
                    place = machine.number_outer(succ[cut:])
                else:
                    key = own if key < 0 else key
                    part = inside if part is None else part
                    place = oid if place < 0 else place
                if place != oid:
                    moves[oid, place] = moves.get((oid, place), 0) + 1
                bucket = seen.setdefault(place, set())
                if key in bucket:
                    continue
                bucket.add(key)
                following.append((succ or machine.join(part, machine.outer_list[place]), key, place))
        frontier = following
    return levels, moves


def compare(machine: Machine, jobs: int) -> dict[str, Any]:
    levels, moves = graph(machine)
    outers = machine.outer_list
    even = sum(-(-len(level) // jobs) for level in levels)
    rows = []
    for name, key in placements(machine.split_at).items():
        owner = [hash(key(outer)) % jobs for outer in outers]
        crossing = sum(n for (a, b), n in moves.items() if owner[a] != owner[b])
        largest = 0
        for level in levels:
            shares = [0] * jobs
            for o in level:
                shares[owner[o]] += 1
            largest += max(shares)
        balance = round(largest / even, 3)
        rows.append({"placement": name, "crossing_transitions": crossing, "balance": balance})
    return {
        "states": sum(map(len, levels)),
        "levels": len(levels),
        "outer_parts": len(outers),
        "outer_changing_transitions": sum(moves.values()),
        "jobs": jobs,
        "placements": rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="pes-x-lines", choices=sorted(CASES))
    parser.add_argument("--sizes", default="3x1", help="the case's size, such as 2x2")
    parser.add_argument("--variant", help="a bundled SCENARIO/VARIANT instead of a case")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.variant:
        from stalecheck.runner import load_scenario

        scenario, variant = args.variant.split("/")
        machine = Machine(load_scenario(scenario).variants[variant].build())
        label = args.variant
    else:
        machine = Machine(CASES[args.case][0](*(int(n) for n in args.sizes.split("x"))))
        label = f"{args.case} {args.sizes}"
    result = {"case": label, **compare(machine, args.jobs)}
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{label}: {result['states']:,} states in {result['levels']} levels, "
        f"{result['outer_parts']:,} outer parts, {result['outer_changing_transitions']:,} transitions "
        f"change the outer part; {args.jobs} workers"
    )
    for row in result["placements"]:
        crossing = row["crossing_transitions"]
        print(f"  {row['placement']:32} crossing {crossing:>10,}  balance {row['balance']:.3f}")


if __name__ == "__main__":
    main()
