"""How fast the machine engine explores, and what its visited set costs.

    .venv/bin/python benchmarks/explore_speed.py            # table
    .venv/bin/python benchmarks/explore_speed.py --json     # one JSON object
    .venv/bin/python benchmarks/explore_speed.py --store digest  # visited set of 64-bit digests
    .venv/bin/python benchmarks/explore_speed.py --weak         # bundled variants, weak ordering off/on
    .venv/bin/python benchmarks/explore_speed.py --weak fcvm-vsock-nv2 --timeout 120
    .venv/bin/python benchmarks/explore_speed.py --report   # every figure of issue 12 (minutes)

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
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from stalecheck.explore import compact
from stalecheck.explore.search import Budget, Store, check
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder
from stalecheck.scenarios.support.policies import kvm_stage2_map, map_on_fault


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
    # In program order, as every figure of this case so far was measured (weak_ordering
    # became the builder's default later; ``--weak`` compares both on the bundled variants).
    b.options(weak_ordering=False)
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
    # In program order, as every figure of this case so far was measured (weak_ordering
    # became the builder's default later; ``--weak`` compares both on the bundled variants).
    # Every access and walk is Write-Back: no spontaneous cache steps on those lines
    # (quiet_coherent_lines, machine/reduction.py; printed with the verdict).
    b.options(weak_ordering=False, quiet_coherent_lines=True)
    b.bad_when(lambda v: False, "never: the benchmark explores the whole space")
    return b.build()


CASES["translation"] = (translation_case, [(1, 2, 1), (1, 3, 1), (1, 2, 2), (2, 2, 1), (2, 2, 2), (2, 3, 2)])


# ---- a two-vCPU guest: per-vCPU page tables, stage-2 faults, TLB maintenance (issue 12) --------


def guest_case(vcpus: int, pages: int, unmap: int = 1) -> SystemSpec:
    """One VM of ``vcpus`` vCPUs, one per PE, each with its own stage-1 table (one
    level, in guest RAM, mapped at stage 2 from the start) over one shared stage 2
    whose table lives in hypervisor memory.  The ``pages`` guest data pages start
    unmapped at stage 2.  vCPU ``p`` writes the stage-1 entry mapping data page
    ``p % pages`` in its own table, ``DSB ISHST; ISB``, stores through it (a stage-2
    fault: the hypervisor cleans the page to the PoC and writes the stage-2 entry, then
    the store is retried) and reads it back; with ``unmap`` it then breaks its mapping
    with ``DSB ISH; TLBI VAE1IS; DSB ISH``.  Every walk (both stages) reads table lines
    through the caches, and every PE's walker may translate ahead and cache TLB entries."""
    b = Builder()
    b.system(pes=vcpus)
    data = [f"GD{k}" for k in range(pages)]
    guest_pages = [*(f"GPT{p}" for p in range(vcpus)), *data]
    b.page("S2T", "S2L3:" + ",".join(f"s2{name}" for name in guest_pages))
    for p in range(vcpus):
        b.page(f"GPT{p}", f"G3x{p}:" + ",".join(f"g3e{p}x{k}" for k in range(pages)), vm="vm")
    for k, name in enumerate(data):
        b.page(name, f"D{k}", vm="vm")
    b.regime("s2", root="S2L3", levels=(3,), vas={n: (i,) for i, n in enumerate(guest_pages)}, stage=2)
    for p in range(vcpus):
        b.regime(f"g{p}", root=f"G3x{p}", levels=(3,), vas={f"V{p}x{k}": (k,) for k in range(pages)}, s2="s2")
    b.init(**{f"s2GPT{p}": b.page_desc(f"GPT{p}") for p in range(vcpus)})
    table = {name: (f"s2{name}", b.page_desc(name)) for name in guest_pages}
    b.vm("vm", mapped=tuple(guest_pages), on_stage2_fault=kvm_stage2_map(clean="poc", table=table))
    for p in range(vcpus):
        k = p % pages
        va = f"V{p}x{k}"
        program = [f"STR g3e{p}x{k}, {b.page_desc(data[k])}", "DSB ISHST", "ISB"]
        program += [f"STR {va}, {p + 1}", f"LDR r1, {va}"]
        if unmap:
            program += [f"STR g3e{p}x{k}, 0", "DSB ISH", f"TLBI VAE1IS, {va}", "DSB ISH"]
        b.guest(f"vcpu{p}", "\n".join(program), vm="vm", pe=p, sctlr=(1, 1, 1))
        b.translate(f"vcpu{p}", f"g{p}")
    # In program order, as every figure of this case so far was measured (weak_ordering
    # became the builder's default later; ``--weak`` compares both on the bundled variants).
    # Every access and walk is Write-Back: no spontaneous cache steps on those lines
    # (quiet_coherent_lines, machine/reduction.py; printed with the verdict).
    b.options(weak_ordering=False, quiet_coherent_lines=True)
    b.bad_when(lambda v: False, "never: the benchmark explores the whole space")
    return b.build()


# The two-vCPU size is the target (decided within 60 s); without partial-order
# reduction it is not, so give it a --timeout (``--report`` does).
CASES["two-vcpu-guest"] = (guest_case, [(1, 1, 0), (1, 1, 1), (2, 1, 0)])


def explore(
    case: str, size: tuple[int, ...], store: str = "exact", timeout: float | None = None
) -> dict[str, Any]:
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
    verdict = check(machine, Budget(timeout=timeout), store=Store(store))
    seconds = time.process_time() - start
    grown = max(_peak_rss() - rss_before, 0)
    return {
        "size": "x".join(map(str, size)),
        "outcome": verdict.outcome.value,
        "stopped_because": verdict.reason.value,
        "states": verdict.states,
        "transitions": verdict.transitions,
        "seconds": round(seconds, 3),
        "states_per_second": round(verdict.states / seconds) if seconds > 0 else 0,
        "peak_rss_growth_bytes": grown,
        "bytes_per_state": round(grown / max(verdict.states, 1), 1),
        # what the visited set itself costs a state (compact: fingerprint + parent + action)
        "visited_bytes_per_state": compact.STORED_BYTES if store == Store.COMPACT else None,
    }


def _peak_rss() -> int:
    """Peak resident set of this process in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def run(
    case: str, sizes: list[tuple[int, ...]] | None, store: str = "exact", timeout: float | None = None
) -> dict[str, Any]:
    """Every size, each in a fresh process; the last size gives the headline figures."""
    _, default_sizes = CASES[case]
    sizes = sizes or default_sizes
    spawn = multiprocessing.get_context("spawn")
    rows = []
    for size in sizes:
        with spawn.Pool(1) as pool:
            rows.append(pool.apply(explore, (case, size, store, timeout)))
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


def parallel_speedup(case: str, size: tuple[int, ...], jobs: int, repeat: int = 1) -> dict[str, Any]:
    """One exhaustive search in one process and on ``jobs`` worker processes
    (``explore.parallel``: the same states and transitions), timed two ways, the best of
    ``repeat`` runs of each.

    Wall time is what -j buys, but on a machine other people share it is only as good
    as the cores that were free, so the load average is printed beside it.  CPU time
    does not depend on the load as much: the workers' and the coordinator's CPU against
    one process's says what splitting the search costs, and the critical path (for every
    call of the level protocol the CPU of its slowest worker, since the call ends when
    they all have, plus the coordinator) says what wall time the split would take on
    ``jobs`` free cores; ``idle_at_level_ends`` is what the other workers wait for the
    slowest, summed over calls and workers.  The one-process figure is the faster of the
    search as ``check`` runs it and with the garbage collector off (as the workers run),
    so the speed-up is not flattered by the collector.  Every search starts from a fresh
    machine, as ``check`` and ``check -j`` do: the model's memos (cache steps, plans,
    inner-part numbers, bad-state answers) fill during the measured search, in each
    worker too; ``outer_parts_expanded`` and ``inner_parts_expanded`` (summed over the
    workers, against one process) say how much of that memo work the workers repeat."""
    runs = [_parallel_once(case, size, jobs) for _ in range(max(repeat, 1))]
    best = min(runs, key=lambda r: r["critical_path_cpu_seconds"])
    one = min(min(r["cpu_seconds_1"], r["cpu_seconds_1_without_gc"]) for r in runs)
    plain_wall = min(r["wall_seconds_1"] for r in runs)
    split_wall = min(r["wall_seconds_j"] for r in runs)
    critical = best["critical_path_cpu_seconds"]
    return {
        **best,
        "repeat": len(runs),
        "cpu_seconds_1_best": round(one, 2),
        "speedup_on_free_cores": round(one / critical, 2) if critical > 0 else 0,
        "speedup_per_worker": round(one / critical / jobs, 2) if critical > 0 else 0,
        "wall_seconds_1": round(plain_wall, 2),
        "wall_seconds_j": round(split_wall, 2),
        "speedup_wall": round(plain_wall / split_wall, 2) if split_wall > 0 else 0,
    }


def _parallel_once(case: str, size: tuple[int, ...], jobs: int) -> dict[str, Any]:
    from stalecheck.explore.parallel import LocalWorkers, search

    spec = CASES[case][0](*size)

    def fresh() -> Machine:
        machine = Machine(spec)
        machine.actions(machine.initial_state())  # warm imports and caches of code, not of states
        return machine

    machine = fresh()
    load_before = os.getloadavg()[0]
    wall = time.monotonic()
    cpu = time.process_time()
    plain = check(machine, Budget())
    plain_wall, plain_cpu = time.monotonic() - wall, time.process_time() - cpu
    one_outers, one_inners = len(machine.outer_list), len(machine.inner_keys)
    machine = fresh()
    gc.collect()
    gc.disable()
    cpu = time.process_time()
    check(machine, Budget())
    plain_cpu_no_gc = time.process_time() - cpu
    gc.enable()
    one = min(plain_cpu, plain_cpu_no_gc)
    machine = fresh()
    gc.collect()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    children = usage.ru_utime + usage.ru_stime
    workers = LocalWorkers(lambda: machine, jobs)
    try:
        wall = time.monotonic()
        cpu = time.process_time()
        split = search(machine, workers)
        split_wall, coordinator_cpu = time.monotonic() - wall, time.process_time() - cpu
        calls = workers.call("call_cpu", [()] * jobs)
        traffic = workers.call("traffic", [()] * jobs)
    finally:
        workers.close()  # joins them, so that their CPU time is counted below
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = usage.ru_utime + usage.ru_stime - children
    assert (split.states, split.transitions, split.depth) == (plain.states, plain.transitions, plain.depth)
    per_call = list(zip(*calls, strict=True))
    critical = sum(max(call) for call in per_call) + coordinator_cpu
    idle = sum(max(call) - c for call in per_call for c in call)
    total = {key: sum(t[key] for t in traffic) for key in traffic[0]}
    return {
        "case": case,
        "size": "x".join(map(str, size)),
        "jobs": jobs,
        "states": plain.states,
        "cpu_seconds_1": round(plain_cpu, 2),
        "cpu_seconds_1_without_gc": round(plain_cpu_no_gc, 2),
        "cpu_seconds_workers": round(workers_cpu, 2),
        "cpu_seconds_per_worker": [round(sum(c), 2) for c in calls],  # in the calls of the level protocol
        "cpu_seconds_coordinator": round(coordinator_cpu, 2),
        "cpu_cost_of_splitting": round((workers_cpu + coordinator_cpu) / one, 3),
        "cpu_cost_in_calls": round((sum(map(sum, calls)) + coordinator_cpu) / one, 3),
        "critical_path_cpu_seconds": round(critical, 2),
        "idle_at_level_ends_cpu_seconds": round(idle, 2),
        "calls": len(per_call),
        "speedup_on_free_cores": round(one / critical, 2) if critical > 0 else 0,
        "states_sent": total["sent"],
        "states_received_new": total["received_new"],
        "states_lent": total["lent"],
        "bytes_sent": total["bytes_sent"],
        "bytes_sent_per_state": round(total["bytes_sent"] / max(total["sent"], 1), 1),
        "outer_parts_expanded": [total["outer_parts_expanded"], one_outers],
        "inner_parts_expanded": [total["inner_parts_expanded"], one_inners],
        "wall_seconds_1": round(plain_wall, 2),
        "wall_seconds_j": round(split_wall, 2),
        "speedup_wall": round(plain_wall / split_wall, 2) if split_wall > 0 else 0,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def bundled_variants(timeout: float) -> list[dict[str, Any]]:
    """Every bundled scenario variant checked as ``stalecheck check`` does (default
    store, no reduction): its verdict, states, wall time and CPU time (on a shared
    machine the CPU time is the figure to compare with the issue's 2 s a variant)."""
    from stalecheck.runner import load_scenario, run_variant, select
    from stalecheck.scenarios import registry

    rows = []
    for name in registry.names():
        sc = load_scenario(name)
        for v in select(sc, []):
            wall = time.monotonic()
            cpu = time.process_time()
            r = run_variant(sc, v, Budget(timeout=timeout))
            rows.append(
                {
                    "variant": f"{name}/{v.name}",
                    "verdict": r.verdict.outcome.value,
                    "states": r.verdict.states,
                    "seconds": round(time.monotonic() - wall, 2),
                    "cpu_seconds": round(time.process_time() - cpu, 2),
                }
            )
    return rows


def reduction_factor(case: str, size: tuple[int, ...]) -> dict[str, Any]:
    """States explored without and with partial-order reduction (``--por``), whole space."""
    from stalecheck.explore.reduced import SearchMode
    from stalecheck.machine.por import PartialOrder

    machine = Machine(CASES[case][0](*size))
    plain = check(machine, Budget())
    por = SearchMode(por=True)
    reduced = check(machine, Budget(), mode=por, reducer=lambda seen: PartialOrder(machine, seen))
    return {
        "case": case,
        "size": "x".join(map(str, size)),
        "states": plain.states,
        "states_por": reduced.states,
        "factor": round(plain.states / max(reduced.states, 1), 2),
    }


def report(jobs: int, timeout: float) -> dict[str, Any]:
    """Everything issue 12 asks the benchmark for, in one JSON object: the headline
    case with each store, the translation case, the two-vCPU guest, the -j speed-up
    and every bundled variant's wall time (``--report``; several minutes)."""
    headline = run("pes-x-lines", None)
    largest = [_size(headline["sizes"][-1]["size"])]
    variants = bundled_variants(timeout)
    return {
        "python": sys.version.split()[0],
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "headline": headline,
        "stores": {s.value: run("pes-x-lines", largest, s.value) for s in Store if s != Store.EXACT},
        "translation": run("translation", None),
        "two_vcpu_guest": run("two-vcpu-guest", None, timeout=timeout),
        "parallel": parallel_speedup("pes-x-lines", _size("3x1"), jobs),
        "reduction": reduction_factor("pes-x-lines", largest[0]),
        "variants": variants,
        "variants_cpu_seconds": round(sum(row["cpu_seconds"] for row in variants), 1),
        "variants_over_2s": [row["variant"] for row in variants if row["cpu_seconds"] >= 2.0],
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


# ---- the cost of out-of-order execution on the bundled variants (issue 10, part 6) ------


def _explore_variant(scenario: str, variant: str, weak: bool, timeout: float) -> dict[str, Any]:
    """One bundled variant explored with ``weak_ordering`` forced off or on (a fresh
    process each, like ``explore``).  A variant whose system the option refuses (the
    translation model) says so instead of a count."""
    from stalecheck.errors import ScenarioError
    from stalecheck.runner import load_scenario

    v = load_scenario(scenario).variants[variant]
    b = Builder()
    v.build_fn(b)
    b.options(weak_ordering=weak)
    try:
        machine = Machine(b.build())
    except ScenarioError as err:
        return {"outcome": "refused", "why": str(err), "states": 0, "seconds": 0.0}
    start = time.process_time()
    verdict = check(machine, Budget(timeout=timeout), sanity=machine.is_complete)
    return {
        "outcome": verdict.outcome.value,
        "states": verdict.states,
        "transitions": verdict.transitions,
        "seconds": round(time.process_time() - start, 2),
    }


def weak_growth(scenarios: list[str], timeout: float) -> list[dict[str, Any]]:
    """For every variant of ``scenarios`` (default: every bundled one), the states explored
    with loads in order and with out-of-order execution, and the growth factor.  A
    reachable variant stops at its first bad state, so its count is the search's cost,
    not the size of the space; ``unknown`` means the timeout (CPU seconds) was hit."""
    from stalecheck.runner import load_scenario
    from stalecheck.scenarios import BUNDLED

    spawn = multiprocessing.get_context("spawn")
    rows = []
    for name in scenarios or list(BUNDLED):
        for variant in load_scenario(name).variants:
            row: dict[str, Any] = {"scenario": name, "variant": variant}
            for weak in (False, True):
                with spawn.Pool(1) as pool:
                    row["weak" if weak else "in_order"] = pool.apply(
                        _explore_variant, (name, variant, weak, timeout)
                    )
            before, after = row["in_order"]["states"], row["weak"]["states"]
            row["growth"] = round(after / before, 2) if before and after else None
            rows.append(row)
            print(_weak_line(row), flush=True)
    return rows


def _weak_line(row: dict[str, Any]) -> str:
    def cell(r: dict[str, Any]) -> str:
        if r["outcome"] == "refused":
            return f"{'refused':>24}"
        return f"{r['outcome']:>11} {r['states']:>8} {r['seconds']:>6}s"

    growth = f"x{row['growth']}" if row["growth"] is not None else "-"
    name = f"{row['scenario']}/{row['variant']}"
    return f"{name:<52} {cell(row['in_order'])}  {cell(row['weak'])}  {growth:>7}"


def _size(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("x"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="pes-x-lines", choices=sorted(CASES))
    parser.add_argument("--sizes", help="comma-separated sizes such as 1x2,2x2 (default: the case's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--store", default="exact", choices=[s.value for s in Store], help="visited set")
    parser.add_argument("--profile", action="store_true", help="profile the last size instead of timing")
    parser.add_argument(
        "--weak",
        nargs="*",
        metavar="SCENARIO",
        help="states of each bundled variant with loads in order and with weak ordering (default: all)",
    )
    parser.add_argument(
        "--timeout", type=float, help="seconds per size, or with --weak CPU seconds per exploration (300)"
    )
    parser.add_argument(
        "--report", action="store_true", help="every figure of issue 12 as one JSON object (minutes)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="workers for the -j speed-up (--report)")
    parser.add_argument("--repeat", type=int, default=1, help="with --parallel: the best of this many runs")
    parser.add_argument(
        "--parallel",
        nargs="*",
        type=int,
        metavar="N",
        help="the -j speed-up on N workers (default 2) for the last size of --case/--sizes (default 3x1)",
    )
    args = parser.parse_args(argv)
    if args.report:
        print(json.dumps(report(args.jobs, args.timeout or 60.0)))
        return
    if args.parallel is not None:
        size = _size(args.sizes.split(",")[-1]) if args.sizes else None
        if size is None:
            size = _size("3x1") if args.case == "pes-x-lines" else CASES[args.case][1][-1]
        for jobs in args.parallel or [2]:
            print(json.dumps(parallel_speedup(args.case, size, jobs, args.repeat)), flush=True)
        return
    if args.weak is not None:
        print(f"{'variant':<52} {'in order: verdict, states, CPU':>24}  {'weak ordering':>24}  {'growth':>7}")
        rows = weak_growth(args.weak, args.timeout or 300.0)
        if args.json:
            print(json.dumps(rows))
        return
    sizes = [_size(s) for s in args.sizes.split(",")] if args.sizes else None
    if args.profile:
        profile(args.case, (sizes or CASES[args.case][1])[-1])
        return
    result = run(args.case, sizes, args.store, args.timeout)
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
