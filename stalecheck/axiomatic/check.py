"""Check one litmus test: all consistent executions, final states, condition verdict.

Read values are found by a fixpoint: start from the initial values, run
every thread with every read taking every value known for its cell, collect
what the writes store, and repeat until nothing new appears (bounded by the
number of store instructions, which bounds any value-producing chain in an
execution without thin-air cycles).  herd solves value equations
symbolically instead; for the AArch64 user-level tests both give the same
set of executions.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from stalecheck.axiomatic.aarch64_model import Aarch64Model
from stalecheck.axiomatic.candidates import Execution
from stalecheck.axiomatic.code_data import (
    CodeLayout,
    add_overwriting,
    code_layout,
    initial_values,
)
from stalecheck.axiomatic.conditions import Evaluator, FinalState
from stalecheck.axiomatic.events import Event, ThreadTrace
from stalecheck.axiomatic.executions import executions
from stalecheck.axiomatic.ifetch_model import IfetchModel
from stalecheck.axiomatic.initial_state import (
    InitialState,
    build_initial_state,
)
from stalecheck.axiomatic.mixed_size import Granules, granule_layout, granules_of
from stalecheck.axiomatic.model import MemoryModel
from stalecheck.axiomatic.semantics import check_supported, is_supported, thread_traces
from stalecheck.axiomatic.translation import Hardware
from stalecheck.axiomatic.values import Val
from stalecheck.axiomatic.variants import test_variants
from stalecheck.axiomatic.vmsa_model import VmsaModel
from stalecheck.axiomatic.vmsa_scope import fault_handling, tthm, walks_modelled
from stalecheck.axiomatic.vmsa_spurious import spurious_domain, spurious_updates
from stalecheck.errors import InputError, Position, StalecheckError, UnsupportedError
from stalecheck.litmus import ast

Cell = tuple[str, int]


@dataclass
class CheckResult:
    """Everything herd prints for a test, plus a witness and timing."""

    name: str
    path: str
    quantifier: str
    condition: ast.Prop
    array_names: frozenset[str]  # locations herd spells without brackets in the condition
    columns: list[str]
    states: list[tuple[str, ...]]
    positive: int
    negative: int
    p_true: int
    p_false: int
    loop: bool = False
    witness: Execution | None = None
    witness_satisfies: bool = False
    forbidden: Execution | None = None  # a candidate with the sought outcome the model rejects
    elapsed: float = 0.0
    executions: int = 0
    state_counts: dict[tuple[str, ...], int] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """The word on herd's ``Test`` line."""
        return {"exists": "Allowed", "~exists": "Forbidden", "forall": "Required"}[
            self.quantifier
        ]

    @property
    def ok(self) -> bool:
        if self.quantifier == "exists":
            return self.positive > 0
        return self.negative == 0

    @property
    def observation(self) -> str:
        if self.p_true > 0 and self.p_false == 0:
            return "Always"
        if self.p_true == 0:
            return "Never"
        return "Sometimes"

    @property
    def verdict(self) -> str:
        """The catalogue's word (kinds.txt): Allowed / Forbidden / Required."""
        if self.quantifier == "forall":
            return "Required" if self.ok else "Allowed"
        return "Allowed" if self.p_true > 0 else "Forbidden"


def _el0_threads(test: ast.LitmusTest) -> frozenset[int]:
    """Threads herd runs at EL0: the ``EL0=P0,P1`` header key (lib/miscParser.ml)."""
    found = test.info_value("EL0")
    if found is None:
        return frozenset()
    procs = set()
    for tag in re.split(r"[\s,]+", found[0].strip()):
        if not re.fullmatch(r"P\d+", tag):
            raise InputError(f"EL0 key: {tag!r} is not a thread", Position(test.path, found[1]))
        procs.add(int(tag[1:]))
    return frozenset(procs)


def _value_domain(
    test: ast.LitmusTest, layout: InitialState, variants: frozenset[str],
    code: CodeLayout | None = None, granules: Granules | None = None,
    el0: frozenset[int] = frozenset(), hardware: Mapping[int, Hardware] | None = None,
    handling: str = "fatal",
) -> tuple[dict[Cell, list[Val]], list[list[ThreadTrace]], bool]:
    domain: dict[Cell, set[Val]] = {c: {v} for c, v in layout.memory.items()}
    spurious = any(h.ha for h in (hardware or {}).values())
    if spurious:  # herd's spurious AF updates (vmsa_spurious.py) write entries too
        for c, v in layout.memory.items():
            domain[c].update(spurious_domain([v]))
    stores = sum(
        1 for t in test.threads for line in t.code if line.instruction is not None
    )
    programs = {t.proc: t.code for t in test.threads}
    traces: list[list[ThreadTrace]] = [[] for _ in test.threads]
    cuts = [False] * len(test.threads)
    partial: list[list[tuple[Cell, Val]]] = [[] for _ in test.threads]
    changed: set[Cell] | None = None  # None: run every thread
    for _ in range(stores + 2):
        ordered = {c: sorted(vs, key=_val_key) for c, vs in domain.items()}
        for k, thread in enumerate(test.threads):
            # A thread whose reads all hit cells with unchanged domains would only
            # repeat its previous paths, so only threads that read a grown cell rerun.
            # A thread whose paths were all cut by the loop bound (a spin loop on a value
            # not yet known) has no reads to look at: it reruns while anything grows.
            if changed is not None and traces[k] and not cuts[k] and not any(
                ev.cell in changed for tr in traces[k] for ev in tr.events if ev.kind == "R"
            ):
                continue
            paths = thread_traces(
                thread, layout, ordered, test.path, programs, variants, code, granules,
                el0, hardware, handling,
            )
            traces[k] = paths.traces
            cuts[k] = paths.cut
            partial[k] = paths.cut_writes
        changed = set()
        written = [(ev.cell, ev.value) for per_thread in traces for tr in per_thread
                   for ev in tr.events if ev.kind == "W"]
        for cell, value in itertools.chain(written, *partial):
            if value not in domain.setdefault(cell, set()):
                domain[cell].add(value)
                if spurious:
                    domain[cell].update(spurious_domain([value]))
                changed.add(cell)
        if not changed:
            break
    cut = any(cuts)
    return {c: sorted(vs, key=_val_key) for c, vs in domain.items()}, traces, cut


def _herd_state_order(state: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """herd sorts final states by their cells, then by the faults taken (none first)."""
    cells = tuple(c for c in state if not c.lstrip("~").startswith("Fault("))
    return cells, tuple(c for c in state if c.startswith("Fault("))


def _val_key(v: Val) -> tuple[int, int, str]:
    if isinstance(v, int):
        return (0, v, "")
    return (1, 0, str(v))


def _one_width_per_location(
    per_thread: list[list[ThreadTrace]], layout: InitialState, path: str
) -> None:
    """Refuse accesses of different widths to one untyped location (mixed size).

    herd, outside ``-variant mixed``, rejects a test whose events on a location differ
    in size (mem.ml ``check_sizes``: "Illegal mixed-size test"); with byte-granular
    semantics they would overlap partially.  We model neither, so it is unsupported.
    Typed locations are held to their declared width by ``ThreadMachine.cell``.
    """
    first: dict[Cell, Event] = {}
    for traces in per_thread:
        for tr in traces:
            for ev in tr.events:
                if ev.kind not in ("R", "W") or not layout.cell_types[ev.cell].default:
                    continue  # cache maintenance accesses no bytes
                seen = first.setdefault(ev.cell, ev)
                if seen.size != ev.size:
                    base, offset = ev.cell
                    where = base if offset == 0 else f"{base}+{offset}"
                    raise UnsupportedError(
                        f"{ev.size}-byte access to {where}, which line {seen.line} accesses "
                        f"with {seen.size} bytes: mixed-size; not supported",
                        Position(path, ev.line),
                    )


def _justifiable(
    per_thread: list[list[ThreadTrace]], layout: InitialState, spurious: bool = False
) -> list[list[ThreadTrace]]:
    """Drop paths that read a value no write anywhere could have stored (with herd's
    spurious AF updates, vmsa_spurious.py, also the values those write)."""
    written: dict[Cell, set[Val]] = {c: {v} for c, v in layout.memory.items()}
    for traces in per_thread:
        for tr in traces:
            for ev in tr.events:
                if ev.kind == "W":
                    written.setdefault(ev.cell, set()).add(ev.value)
    if spurious:
        for vs in written.values():
            vs.update(spurious_domain(list(vs)))
    return [
        [tr for tr in traces if all(
            ev.kind != "R" or ev.value in written.get(ev.cell, ()) for ev in tr.events
        )]
        for traces in per_thread
    ]


def _executions(
    combo: tuple[ThreadTrace, ...], model: MemoryModel, layout: InitialState, spurious: bool,
    explain: bool = False,
) -> Iterator[Execution]:
    """The executions of one combination of thread paths; with herd's spurious AF
    updates, of each choice of them too (vmsa_spurious.py)."""
    for extra in spurious_updates(combo, layout.memory) if spurious else [()]:
        yield from executions(combo + extra, model, layout.memory, explain)


def _check_labels(test: ast.LitmusTest) -> None:
    """Code labels used as initial values must exist on the thread they name."""
    labels = {t.proc: {lab for line in t.code for lab in line.labels} for t in test.threads}
    for item in test.init:
        v = item.value
        if isinstance(v, ast.LabelValue) and v.label not in labels.get(v.proc, set()):
            raise InputError(
                f"label {v.label} not found on P{v.proc}, yet it is used in the initial state",
                Position(test.path, item.line, item.column),
            )


def _forbidden_candidate(
    layout: InitialState,
    evaluator: Evaluator,
    per_thread: list[list[ThreadTrace]],
    model: MemoryModel,
    final_memory: Callable[[dict[Cell, Val]], dict[Cell, Val]],
) -> Execution | None:
    """A candidate that reaches the condition's outcome but breaks an axiom (for --dot).

    Only computed when no allowed execution satisfies the proposition, so it costs
    nothing on the common path; the search stops at the first such candidate.
    """
    budget = 20_000
    spurious = isinstance(model, VmsaModel) and model.spurious
    for combo in itertools.product(*per_thread):
        for ex in _executions(combo, model, layout, spurious, explain=True):
            budget -= 1
            if budget <= 0:
                return None
            if not ex.violation:
                continue
            if evaluator.holds(evaluator.prop, FinalState.of(combo, final_memory(ex.memory))):
                return ex
    return None


ModelFor = Callable[[ast.LitmusTest, frozenset[str]], MemoryModel]


def mixed_granules(
    test: ast.LitmusTest, layout: InitialState, variants: frozenset[str], code: CodeLayout,
) -> Granules | None:
    """Under herd's ``-variant mixed``, the test's granules (None otherwise)."""
    if "mixed" not in variants:
        return None
    clash = sorted(variants & {"ifetch", "self", "nv2"})
    if clash or code.fetching:
        raise UnsupportedError(
            f"herd's mixed-size semantics with {', '.join(clash) or 'instruction fetch'} "
            "is not supported", Position(test.path))
    return granules_of(test, layout)


def _final_memory(
    granules: Granules | None,
) -> Callable[[dict[Cell, Val]], dict[Cell, Val]]:
    """Final memory as the condition reads it: granules recomposed into locations."""
    if granules is None:
        return lambda memory: memory
    return granules.whole


def check_test(
    test: ast.LitmusTest, keep_witness: bool = True, variants: Iterable[str] = (),
    model_for: ModelFor | None = None,
) -> CheckResult:
    """Run the axiomatic engine on a parsed test; errors carry the offending source line.

    ``variants`` are herd ``-variant`` tags given on the command line, on top of the
    test's own ``Variant=`` line; one we do not model makes the test unsupported.
    """
    try:
        extra = tuple(variants)
        return _check(test, keep_witness, test_variants(test, extra), model_for, extra)
    except StalecheckError as exc:
        pos = exc.position
        if exc.source_line is None and pos is not None and pos.line > 0:
            exc.source_line = test.source_line(pos.line)
        raise


def _check(
    test: ast.LitmusTest, keep_witness: bool, variants: frozenset[str], model_for: ModelFor | None,
    extra_variants: tuple[str, ...] = (),
) -> CheckResult:
    start = time.perf_counter()
    for thread in test.threads:
        check_supported(thread, test.path)
    _check_labels(test)
    code = code_layout(test, variants)
    vmsa = walks_modelled(test, variants)
    if not vmsa:  # a translation-free VMSA test is decided without walks (vmsa_scope.py)
        variants = variants - {"vmsa", "kvm"}
    layout = build_initial_state(test, is_supported, code, vmsa)
    add_overwriting(code, initial_values(layout), test.path)
    evaluator = Evaluator(test, layout, vmsa)
    granules = mixed_granules(test, layout, variants, code)
    if granules is not None and vmsa:
        raise UnsupportedError("mixed size with translation-table walks is not supported",
                               Position(test.path))
    el0 = _el0_threads(test) if vmsa else frozenset()
    hardware = tthm(test) if vmsa else {}
    spurious = any(h.ha for h in hardware.values())
    handling = fault_handling(test, extra_variants) if vmsa else "fatal"
    # the cells reads and writes see: the layout's, or one per granule under mixed size
    memory_layout = layout if granules is None else granule_layout(layout, granules)
    _, per_thread, cut = _value_domain(
        test, memory_layout, variants, code, granules, el0, hardware, handling)
    per_thread = _justifiable(per_thread, memory_layout, spurious)
    if granules is None:
        _one_width_per_location(per_thread, layout, test.path)
    final_memory = _final_memory(granules)
    if model_for is not None:  # --cat FILE: a user's cat model instead of the built-in ones
        model: MemoryModel = model_for(test, variants)
    else:
        ets = "ets3" if "ets3" in variants else "ets2" if "ets2" in variants else ""
        model = (IfetchModel(code) if code.fetching else VmsaModel(spurious, ets) if vmsa
                 else Aarch64Model())
    positive = negative = p_true = p_false = 0
    state_counts: dict[tuple[str, ...], int] = {}
    witness: Execution | None = None
    witness_sat = False
    count = unfiltered = 0
    init_pairs = {(c, v) for c, v in memory_layout.memory.items()}
    reads_of = {id(tr): {(e.cell, e.value) for e in tr.events if e.kind == "R"}
                for traces in per_thread for tr in traces}
    writes_of = {id(tr): {(e.cell, e.value) for e in tr.events if e.kind == "W"}
                 for traces in per_thread for tr in traces}
    for combo in itertools.product(*per_thread):
        # Cheap filter: every value read must be stored by some write of this combination.
        available = init_pairs.union(*(writes_of[id(tr)] for tr in combo))
        if spurious:
            available |= {(c, w) for c, v in available for w in spurious_domain([v])}
        if any(not reads_of[id(tr)] <= available for tr in combo):
            continue
        poisoned = next((tr.poison for tr in combo if tr.poison is not None), None)
        for ex in _executions(combo, model, memory_layout, spurious):
            if poisoned is not None:
                raise poisoned
            final = FinalState.of(combo, final_memory(ex.memory))
            unfiltered += 1
            if test.filter is not None and not evaluator.holds(test.filter, final):
                continue
            count += 1
            sat = evaluator.holds(evaluator.prop, final)
            if sat:
                p_true += 1
            else:
                p_false += 1
            cond_ok = (not sat) if evaluator.quantifier == "~exists" else sat
            if cond_ok:
                positive += 1
            else:
                negative += 1
            state = evaluator.state(final)
            state_counts[state] = state_counts.get(state, 0) + 1
            if keep_witness and (witness is None or (sat and not witness_sat)):
                witness, witness_sat = ex, sat
    if test.filter is not None and unfiltered and not count:
        # Every verdict would be vacuous: almost certainly a typo in the filter.
        raise InputError(
            f"the filter removes all {unfiltered} executions, so the condition says nothing",
            Position(test.path, test.filter_line),
        )
    forbidden = None
    if keep_witness and not witness_sat:
        forbidden = _forbidden_candidate(
            memory_layout, evaluator, per_thread, model, final_memory
        )
    states = sorted(state_counts, key=_herd_state_order)
    return CheckResult(
        name=test.name,
        path=test.path,
        quantifier=evaluator.quantifier,
        condition=evaluator.prop,
        array_names=frozenset(layout.arrays),
        columns=[o.text for o in evaluator.columns],
        states=states,
        positive=positive,
        negative=negative,
        p_true=p_true,
        p_false=p_false,
        loop=cut,
        witness=witness,
        witness_satisfies=witness_sat,
        forbidden=forbidden,
        elapsed=time.perf_counter() - start,
        executions=count,
        state_counts=state_counts,
    )

