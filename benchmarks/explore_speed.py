"""How fast the machine engine explores, and what its visited set costs.

    .venv/bin/python benchmarks/explore_speed.py            # table
    .venv/bin/python benchmarks/explore_speed.py --json     # one JSON object
    .venv/bin/python benchmarks/explore_speed.py --store digest  # visited set of 64-bit digests

Each case is a function that builds a ``SystemSpec`` with the scenario Builder
API; ``CASES`` lists them.  For every size the script explores the whole state
space (the bad state is never true, so nothing stops the search early) and
prints distinct states, transitions and distinct states per second of CPU
time (process time, so that other load on the machine does not count against
the engine: the figure is per core).  Each size
runs in a fresh interpreter that also reports how much its peak resident set
grew during the search (visited fingerprints, parent/action arrays and the
BFS frontier of full states), divided by the states stored: that peak is what
limits how big a scenario fits in RAM.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from stalecheck.explore.search import Budget, Store, check
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder
from stalecheck.scenarios.support.policies import map_on_fault


def pes_x_lines(pes: int, lines: int) -> SystemSpec:
    """``pes`` vCPUs of one VM, each on its own PE, each writing every one of
    ``lines`` lines (one page each), cleaning them to the PoU and reading one back
    after a DSB; vCPU 0 runs with its MMU off (Device reads that may hit or miss
    the caches), so stores, CMOs, stage-2 faults with a clean-to-PoC policy,
    write-backs, fills and drops all interleave.  A system cache beyond the PoU
    keeps the hierarchy two levels deep."""
    b = Builder()
    b.system(pes=pes, system_cache=True, louu=1, loc=1)
    names = [f"L{j}" for j in range(lines)]
    for j, name in enumerate(names):
        b.page(f"P{j}", name, vm="vm")
    b.vm("vm", on_stage2_fault=map_on_fault(clean="poc", invalidate=True))
    for p in range(pes):
        program = [
            *(f"STR {name}, {p + 1}" for name in names),
            *(f"DC CVAU {name}" for name in names),
            "DSB SY",
            f"LDR r1, {names[p % lines]}",
        ]
        b.guest(f"vcpu{p}", "\n".join(program), vm="vm", pe=p, sctlr=(1, 1, 1) if p else (0, 0, 0))
    b.bad_when(lambda v: False, "never: the benchmark explores the whole space")
    return b.build()


# name -> (builder, sizes in increasing order; the last is the headline figure)
CASES: dict[str, tuple[Callable[..., SystemSpec], list[tuple[int, ...]]]] = {
    "pes-x-lines": (pes_x_lines, [(1, 1), (1, 2), (2, 1), (1, 3), (3, 1), (2, 2)]),
}


# ---- translation-heavy case (issue 4: translation and instruction fetch) ---------------------


def translation_case(pes: int, levels: int, vas: int) -> SystemSpec:
    """``pes`` kernel threads, one per PE, sharing one stage-1 regime of ``levels``
    levels (one table line per level, ``vas`` entries in the last) in simulated
    memory.  Thread ``p`` writes the leaf entry of VA ``p % vas`` (invalid at start),
    then ``DSB ISHST; ISB`` and reads through it, while every PE's walker may
    translate ahead, cache and drop TLB entries of every VA, and the table lines
    move through the data caches.  What grows: TLB contents (PEs x VAs), early
    translations (one per access), and table lines in the caches (levels)."""
    b = Builder()
    b.system(pes=pes)
    tables = [f"T{level}" for level in range(levels)]
    leaf = [f"e{i}" for i in range(vas)]
    b.page("PT", " ".join(f"{name}:{name}e" for name in tables[:-1]) + f" {tables[-1]}:{','.join(leaf)}")
    b.page("DATA", "D")
    b.host_type("D", DEVICE)
    names = [f"V{i}" for i in range(vas)]
    indices = {v: (0,) * (levels - 1) + (i,) for i, v in enumerate(names)}
    b.regime("k", root=tables[0], levels=tuple(range(4 - levels, 4)), vas=indices)
    b.init(**{f"{name}e": b.table_desc(tables[k + 1]) for k, name in enumerate(tables[:-1])})
    pte = b.page_desc("DATA", attr="device")
    for p in range(pes):
        b.host(f"k{p}", f"STR {leaf[p % vas]}, {pte}\nDSB ISHST\nISB\nLDR r1, {names[p % vas]}", pe=p)
        b.translate(f"k{p}", "k")
    b.bad_when(lambda v: False, "never: the benchmark explores the whole space")
    return b.build()


CASES["translation"] = (translation_case, [(1, 2, 1), (1, 3, 1), (1, 2, 2), (2, 2, 1), (2, 2, 2), (2, 3, 2)])


def explore(case: str, size: tuple[int, ...], store: str = "exact") -> dict[str, Any]:
    """One timed exhaustive exploration, with the peak memory it added.

    Runs in a fresh interpreter (see ``run``), so the growth of the peak
    resident set during ``check`` is what this one search cost, not leftovers
    of a previous size.  RSS rather than tracemalloc: tracing would slow the
    timed run several times, and RSS also counts allocator overhead, which is
    what actually limits how many states fit in RAM."""
    build, _ = CASES[case]
    machine = Machine(build(*size))
    machine.actions(machine.initial_state())  # warm caches outside the measurement
    gc.collect()
    rss_before = _peak_rss()
    start = time.process_time()
    verdict = check(machine, Budget(), store=Store(store))
    seconds = time.process_time() - start
    grown = max(_peak_rss() - rss_before, 0)
    return {
        "size": "x".join(map(str, size)),
        "outcome": verdict.outcome.value,
        "states": verdict.states,
        "transitions": verdict.transitions,
        "seconds": round(seconds, 3),
        "states_per_second": round(verdict.states / seconds) if seconds > 0 else 0,
        "peak_rss_growth_bytes": grown,
        "bytes_per_state": round(grown / max(verdict.states, 1), 1),
    }


def _peak_rss() -> int:
    """Peak resident set of this process in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def run(case: str, sizes: list[tuple[int, ...]] | None, store: str = "exact") -> dict[str, Any]:
    """Every size, each in a fresh process; the last size gives the headline figures."""
    _, default_sizes = CASES[case]
    sizes = sizes or default_sizes
    spawn = multiprocessing.get_context("spawn")
    rows = []
    for size in sizes:
        with spawn.Pool(1) as pool:
            rows.append(pool.apply(explore, (case, size, store)))
    last = rows[-1]
    return {
        "case": case,
        "store": store,
        "python": sys.version.split()[0],
        "sizes": rows,
        "states": last["states"],
        "states_per_second": last["states_per_second"],
        "bytes_per_state": last["bytes_per_state"],
        "mib_per_million_states": round(last["bytes_per_state"] * 1e6 / 2**20, 1),
    }


def profile(case: str, size: tuple[int, ...], top: int = 20) -> None:
    """Where the time goes: one in-process run under cProfile, the costliest
    functions by own time (the engine's hot path is ``Machine.actions``,
    ``next_state`` and what they call in ``caches.py`` and ``buffer.py``)."""
    import cProfile
    import pstats

    build, _ = CASES[case]
    machine = Machine(build(*size))
    profiler = cProfile.Profile()
    profiler.runcall(check, machine, Budget())
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def _size(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("x"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="pes-x-lines", choices=sorted(CASES))
    parser.add_argument("--sizes", help="comma-separated sizes such as 1x2,2x2 (default: the case's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--store", default="exact", choices=[s.value for s in Store], help="visited set")
    parser.add_argument("--profile", action="store_true", help="profile the last size instead of timing")
    args = parser.parse_args(argv)
    sizes = [_size(s) for s in args.sizes.split(",")] if args.sizes else None
    if args.profile:
        profile(args.case, (sizes or CASES[args.case][1])[-1])
        return
    result = run(args.case, sizes, args.store)
    if args.json:
        print(json.dumps(result))
        return
    print(f"case {result['case']}, visited states stored {result['store']} (Python {result['python']})")
    header = ("size", 6), ("states", 10), ("transitions", 12), ("seconds", 8), ("states/s", 9)
    print(" ".join(f"{name:>{width}}" for name, width in header), f"{'bytes/state':>11}")
    for row in result["sizes"]:
        print(
            f"{row['size']:>6} {row['states']:>10} {row['transitions']:>12} "
            f"{row['seconds']:>8} {row['states_per_second']:>9} {row['bytes_per_state']:>11}"
        )
    print(
        f"largest size: {result['states_per_second']} states/s, "
        f"{result['mib_per_million_states']} MiB per million stored states (peak RSS growth)"
    )


if __name__ == "__main__":
    main()
