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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stalecheck.axiomatic.events import ThreadTrace
from stalecheck.axiomatic.executions import Execution, executions
from stalecheck.axiomatic.initial_state import (
    DEFAULT_TYPE,
    CType,
    InitialState,
    build_initial_state,
    canonical_reg,
)
from stalecheck.axiomatic.local_order import LocalOrder, local_order
from stalecheck.axiomatic.semantics import check_supported, is_supported, thread_traces
from stalecheck.axiomatic.values import MASK64, Addr, CodeLabel, Val, herd_int, mask, show, signed
from stalecheck.errors import InputError, Position, StalecheckError, UnsupportedError
from stalecheck.litmus import ast

Cell = tuple[str, int]
REGISTER_DEFAULT = CType(8, True, True)
_REG_ORDER = {"XZR": -1, "SP": 31}


@dataclass(frozen=True)
class ObservedLoc:
    """A location whose final value is part of a state: a register or a memory cell."""

    text: str  # herd's spelling: ``0:X1``, ``[x]``, ``v[1]``, ``x`` (whole array)
    sort_key: tuple[int, int, str, int]
    proc: int = -1
    reg: str = ""
    base: str = ""
    index: int | None = None
    whole_array: bool = False


@dataclass
class CheckResult:
    """Everything herd prints for a test, plus a witness and timing."""

    name: str
    path: str
    quantifier: str
    condition_text: str
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


# ------------------------------------------------------------------ conditions


def _obs_loc(loc: ast.Location, layout: InitialState, path: str, line: int) -> ObservedLoc:
    if isinstance(loc, ast.RegLoc):
        reg = canonical_reg(loc.reg)
        if reg != "SP" and not (reg[0] == "X" and (reg[1:].isdigit() or reg == "XZR")):
            raise UnsupportedError(f"register {loc.reg} in the condition is not supported",
                                   Position(path, line))
        num = _REG_ORDER.get(reg, int(reg[1:]) if reg[1:].isdigit() else 99)
        return ObservedLoc(f"{loc.proc}:{reg}", (0, loc.proc, "", num), proc=loc.proc, reg=reg)
    if isinstance(loc, ast.GlobalLoc):
        if loc.index is not None:
            return ObservedLoc(f"{loc.name}[{loc.index}]", (1, 1, loc.name, loc.index),
                               base=loc.name, index=loc.index)
        if loc.name in layout.arrays:
            return ObservedLoc(loc.name, (1, 0, loc.name, -1), base=loc.name, whole_array=True)
        if not any(b == loc.name for b, _ in layout.cell_types):
            raise InputError(
                f"post-condition introduces new symbolic location(s): {{{loc.name}}}",
                Position(path, line),
            )
        return ObservedLoc(f"[{loc.name}]", (1, 0, loc.name, -1), base=loc.name)
    raise UnsupportedError("this kind of location in the condition is not supported",
                           Position(path, line))


def _atoms(prop: ast.Prop) -> list[ast.Eq]:
    if isinstance(prop, ast.Eq):
        return [prop]
    if isinstance(prop, ast.Not):
        return _atoms(prop.prop)
    if isinstance(prop, ast.And | ast.Or):
        return [a for p in prop.props for a in _atoms(p)]
    if isinstance(prop, ast.Implies):
        return _atoms(prop.left) + _atoms(prop.right)
    return []


def _cond_value(v: ast.Value, layout: InitialState, path: str, line: int) -> Val | tuple[int, ...]:
    if isinstance(v, ast.IntValue):
        return v.value & MASK64
    if isinstance(v, ast.NameValue) and v.tag is None:
        return Addr(v.name, 0)
    if isinstance(v, ast.ArrayValue):
        return tuple(x & MASK64 for x in v.items)
    if isinstance(v, ast.IndexValue):
        size = layout.cell_types.get((v.name, 0), DEFAULT_TYPE).size
        return Addr(v.name, v.index * size)
    if isinstance(v, ast.LabelValue):
        return CodeLabel(v.proc, v.label)
    if isinstance(v, ast.OtherValue) and v.text.startswith('label:"'):
        proc, _, label = v.text[len('label:"'):].rstrip('"').partition(":")
        return CodeLabel(int(proc.lstrip("P")), label)
    raise UnsupportedError("this kind of value in the condition is not supported",
                           Position(path, line))


class _Evaluator:
    """Evaluates the condition and prints states for one test's final states."""

    def __init__(self, test: ast.LitmusTest, layout: InitialState) -> None:
        self.test = test
        self.layout = layout
        cond = test.condition
        self.line = cond.line if cond else 0
        self.prop: ast.Prop = cond.prop if cond else ast.Const(True)
        self.quantifier = cond.quantifier if cond else "forall"
        self.faults: list[tuple[ast.Call, tuple[int, str, str]]] = []
        for call in _calls(self.prop) + (_calls(test.filter) if test.filter else []):
            self.faults.append((call, _fault_pattern(call, test.path, self.line)))
        seen: dict[str, ObservedLoc] = {}
        for loc in test.locations:
            o = _obs_loc(loc, layout, test.path, self.line)
            seen.setdefault(o.text, o)
        self.atom_locs: dict[int, ObservedLoc] = {}
        self.atom_vals: dict[int, Val | tuple[int, ...]] = {}
        for atom in _atoms(self.prop) + (_atoms(test.filter) if test.filter else []):
            o = _obs_loc(atom.location, layout, test.path, self.line)
            self.atom_locs[id(atom)] = o
            self.atom_vals[id(atom)] = _cond_value(atom.value, layout, test.path, self.line)
            if atom in _atoms(self.prop):
                seen.setdefault(o.text, o)
        self.columns = sorted(seen.values(), key=lambda o: o.sort_key)
        labels = {(t.proc, lab) for t in test.threads for line in t.code for lab in line.labels}
        bases = {b for b, _ in layout.cell_types}
        for _call, (proc, label, _kind) in self.faults:
            if (proc, label) not in labels:
                raise InputError(
                    f"post-condition introduces new symbolic location(s): {{P{proc}:{label}}}",
                    Position(test.path, self.line),
                )
        for v in self.atom_vals.values():
            if isinstance(v, Addr) and v.base not in bases:
                raise InputError(
                    f"post-condition introduces new symbolic location(s): {{{v.base}}}",
                    Position(test.path, self.line),
                )
            if isinstance(v, CodeLabel) and (v.proc, v.label) not in labels:
                raise InputError(
                    f"post-condition introduces new symbolic location(s): {{P{v.proc}:{v.label}}}",
                    Position(test.path, self.line),
                )

    def _cell_type(self, base: str, offset: int) -> CType:
        return self.layout.cell_types.get((base, offset), DEFAULT_TYPE)

    def value(
        self, o: ObservedLoc, final: FinalState
    ) -> Val | tuple[int, ...]:
        regs, memory = final.registers, final.memory
        if o.proc >= 0:
            if o.reg == "XZR":
                return 0
            r = regs[o.proc] if o.proc < len(regs) else {}
            return r.get(o.reg, 0)
        if o.whole_array:
            size = self._cell_type(o.base, 0).size
            count = self.layout.arrays[o.base]
            return tuple(
                v if isinstance(v := memory[(o.base, i * size)], int) else 0
                for i in range(count)
            )
        size = self._cell_type(o.base, 0).size
        offset = (o.index or 0) * size
        return memory.get((o.base, offset), 0)

    def type_of(self, o: ObservedLoc) -> CType:
        """Declared type of a register or cell; untyped ones use herd's implicit int."""
        if o.proc >= 0:
            return self.layout.register_types.get((o.proc, o.reg), REGISTER_DEFAULT)
        return self._cell_type(o.base, 0)

    def show(self, o: ObservedLoc, v: Val | tuple[int, ...]) -> str:
        t = self.type_of(o)
        if isinstance(v, tuple):
            return "{" + ",".join(show(x, t.bits, t.signed, t.default) for x in v) + "}"
        return show(v, t.bits, t.signed, t.default)

    @staticmethod
    def _norm(v: int, t: CType) -> int:
        if t.default:
            return herd_int(v)
        return signed(v, t.bits) if t.signed else mask(v, t.bits)

    def holds(self, prop: ast.Prop, final: FinalState) -> bool:
        if isinstance(prop, ast.Eq):
            o = self.atom_locs[id(prop)]
            want = self.atom_vals[id(prop)]
            got = self.value(o, final)
            t = self.type_of(o)
            if isinstance(got, int) and isinstance(want, int):
                return self._norm(got, t) == self._norm(want, t)
            if isinstance(got, tuple) and isinstance(want, tuple):
                return tuple(self._norm(x, t) for x in got) == tuple(
                    self._norm(x, t) for x in want
                )
            return got == want
        if isinstance(prop, ast.Not):
            return not self.holds(prop.prop, final)
        if isinstance(prop, ast.And):
            return all(self.holds(p, final) for p in prop.props)
        if isinstance(prop, ast.Or):
            return any(self.holds(p, final) for p in prop.props)
        if isinstance(prop, ast.Implies):
            return (not self.holds(prop.left, final)) or self.holds(prop.right, final)
        if isinstance(prop, ast.Const):
            return prop.value
        if isinstance(prop, ast.Call):
            pattern = next(p for c, p in self.faults if c is prop)
            return any(_fault_matches(pattern, f) for f in final.faults)
        return False


@dataclass(frozen=True)
class FinalState:
    """What a condition is evaluated on: final registers, memory and faults taken."""

    registers: list[dict[str, Val]]
    memory: dict[Cell, Val]
    faults: tuple[tuple[int, str, str], ...]

    @staticmethod
    def of(traces: Sequence[ThreadTrace], memory: dict[Cell, Val]) -> FinalState:
        faults = tuple(f for tr in traces for f in tr.faults)
        return FinalState([tr.registers for tr in traces], memory, faults)


def _fault_pattern(call: ast.Call, path: str, line: int) -> tuple[int, str, str]:
    """``Fault(P0:L0,Kind)`` / ``Fault(P0:L0)`` as (proc, label, kind-or-empty)."""
    if call.name.lower() != "fault" or not call.args or not isinstance(
        call.args[0], ast.LabelValue
    ):
        raise UnsupportedError(f"predicate {call.name}(...) is not supported",
                               Position(path, line))
    kind = ""
    if len(call.args) > 1:
        arg = call.args[1]
        if not isinstance(arg, ast.NameValue) or arg.name[0].islower():
            raise UnsupportedError("faults on memory locations (VMSA/MTE) are not supported",
                                   Position(path, line))
        kind = arg.name
    return (call.args[0].proc, call.args[0].label, kind)


def _fault_text(call: ast.Call, name: str = "Fault") -> str:
    args = []
    for a in call.args:
        if isinstance(a, ast.LabelValue):
            args.append(f"P{a.proc}:{a.label}")
        else:
            args.append(getattr(a, "name", str(a)))
    return f"{name}({','.join(args)})"


def _fault_matches(pattern: tuple[int, str, str], fault: tuple[int, str, str]) -> bool:
    return pattern[:2] == fault[:2] and (not pattern[2] or pattern[2] == fault[2])


def _calls(prop: ast.Prop | None) -> list[ast.Call]:
    if prop is None:
        return []
    if isinstance(prop, ast.Call):
        return [prop]
    if isinstance(prop, ast.Not):
        return _calls(prop.prop)
    if isinstance(prop, ast.And | ast.Or):
        return [c for p in prop.props for c in _calls(p)]
    if isinstance(prop, ast.Implies):
        return _calls(prop.left) + _calls(prop.right)
    return []


def format_prop(prop: ast.Prop, layout: InitialState | None = None, top: bool = True) -> str:
    """herd's spelling of a proposition: ``[x]=1 /\\ 0:X1=2``, minimal parentheses."""

    def loc_text(loc: ast.Location) -> str:
        if isinstance(loc, ast.RegLoc):
            return f"{loc.proc}:{canonical_reg(loc.reg)}"
        if isinstance(loc, ast.GlobalLoc):
            if loc.index is not None:
                return f"{loc.name}[{loc.index}]"
            if layout is not None and loc.name in layout.arrays:
                return loc.name
            return f"[{loc.name}]"
        return str(loc)

    def val_text(v: ast.Value) -> str:
        if isinstance(v, ast.IntValue):
            return str(signed(v.value, 64))
        if isinstance(v, ast.NameValue):
            return v.name
        if isinstance(v, ast.ArrayValue):
            return "{" + ",".join(map(str, v.items)) + "}"
        if isinstance(v, ast.IndexValue):
            return f"{v.name}[{v.index}]"
        if isinstance(v, ast.LabelValue):
            return f"P{v.proc}:{v.label}"
        text = getattr(v, "text", str(v))
        if text.startswith('label:"') and not text.startswith('label:"P'):
            text = 'label:"P' + text[len('label:"'):]
        return text

    def go(p: ast.Prop, ctx: int) -> str:
        # ctx: 0 top/implication, 1 inside or, 2 inside and, 3 under not
        if isinstance(p, ast.Eq):
            return f"{loc_text(p.location)}={val_text(p.value)}"
        if isinstance(p, ast.Const):
            return "true" if p.value else "false"
        if isinstance(p, ast.Not):
            return f"not ({go(p.prop, 0)})"
        if isinstance(p, ast.Or):
            s = " \\/ ".join(go(q, 1) for q in p.props)
            return f"({s})" if ctx >= 2 else s
        if isinstance(p, ast.And):
            s = " /\\ ".join(go(q, 2) for q in p.props)
            return f"({s})" if ctx >= 3 else s
        if isinstance(p, ast.Implies):
            def side(q: ast.Prop) -> str:
                text = go(q, 0)
                return f"({text})" if isinstance(q, ast.And | ast.Or | ast.Implies) else text

            s = f"{side(p.left)} => {side(p.right)}"
            return f"({s})" if ctx >= 1 else s
        if isinstance(p, ast.Call):
            return _fault_text(p, "fault")
        return "?"

    return f"({go(prop, 0)})" if top else go(prop, 0)


# ------------------------------------------------------------------ the check


def _value_domain(
    test: ast.LitmusTest, layout: InitialState
) -> tuple[dict[Cell, list[Val]], list[list[ThreadTrace]], bool]:
    domain: dict[Cell, set[Val]] = {c: {v} for c, v in layout.memory.items()}
    stores = sum(
        1 for t in test.threads for line in t.code if line.instruction is not None
    )
    programs = {t.proc: t.code for t in test.threads}
    variants = {v.strip() for k, val in test.info if k == "Variant" for v in val.split(",")}
    nv2 = "NV2" in variants
    traces: list[list[ThreadTrace]] = [[] for _ in test.threads]
    cuts = [False] * len(test.threads)
    changed: set[Cell] | None = None  # None: run every thread
    for _ in range(stores + 2):
        ordered = {c: sorted(vs, key=_val_key) for c, vs in domain.items()}
        for k, thread in enumerate(test.threads):
            # A thread whose reads all hit cells with unchanged domains would only
            # repeat its previous paths, so only threads that read a grown cell rerun.
            if changed is not None and not any(
                ev.cell in changed for tr in traces[k] for ev in tr.events if ev.kind == "R"
            ):
                continue
            paths = thread_traces(
                thread, layout, ordered, test.path, programs, nv2, "mixed" in variants
            )
            traces[k] = paths.traces
            cuts[k] = paths.cut
        changed = set()
        for per_thread in traces:
            for tr in per_thread:
                for ev in tr.events:
                    if ev.kind == "W" and ev.value not in domain.setdefault(ev.cell, set()):
                        domain[ev.cell].add(ev.value)
                        changed.add(ev.cell)
        if not changed:
            break
    cut = any(cuts)
    return {c: sorted(vs, key=_val_key) for c, vs in domain.items()}, traces, cut


def _val_key(v: Val) -> tuple[int, int, str]:
    if isinstance(v, int):
        return (0, v, "")
    return (1, 0, str(v))


def _justifiable(
    per_thread: list[list[ThreadTrace]], layout: InitialState
) -> list[list[ThreadTrace]]:
    """Drop paths that read a value no write anywhere could have stored."""
    written: dict[Cell, set[Val]] = {c: {v} for c, v in layout.memory.items()}
    for traces in per_thread:
        for tr in traces:
            for ev in tr.events:
                if ev.kind == "W":
                    written.setdefault(ev.cell, set()).add(ev.value)
    return [
        [tr for tr in traces if all(
            ev.kind != "R" or ev.value in written.get(ev.cell, ()) for ev in tr.events
        )]
        for traces in per_thread
    ]


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
    test: ast.LitmusTest,
    layout: InitialState,
    evaluator: _Evaluator,
    per_thread: list[list[ThreadTrace]],
    order_of: Callable[[ThreadTrace], LocalOrder],
) -> Execution | None:
    """A candidate that reaches the condition's outcome but breaks an axiom (for --dot).

    Only computed when no allowed execution satisfies the proposition, so it costs
    nothing on the common path; the search stops at the first such candidate.
    """
    budget = 20_000
    for combo in itertools.product(*per_thread):
        orders = [order_of(tr) for tr in combo]
        for ex in executions(combo, orders, layout.memory, rejected=True):
            budget -= 1
            if budget <= 0:
                return None
            if not ex.violation:
                continue
            if evaluator.holds(evaluator.prop, FinalState.of(combo, ex.memory)):
                return ex
    return None


def check_test(test: ast.LitmusTest, keep_witness: bool = True) -> CheckResult:
    """Run the axiomatic engine on a parsed test; errors carry the offending source line."""
    try:
        return _check(test, keep_witness)
    except StalecheckError as exc:
        pos = exc.position
        if exc.source_line is None and pos is not None and pos.line > 0:
            exc.source_line = test.source_line(pos.line)
        raise


def _check(test: ast.LitmusTest, keep_witness: bool) -> CheckResult:
    start = time.perf_counter()
    for thread in test.threads:
        check_supported(thread, test.path)
    layout = build_initial_state(test, is_supported)
    _check_labels(test)
    evaluator = _Evaluator(test, layout)
    _, per_thread, cut = _value_domain(test, layout)
    per_thread = _justifiable(per_thread, layout)
    orders_cache: dict[int, LocalOrder] = {}

    def order_of(tr: ThreadTrace) -> LocalOrder:
        key = id(tr)
        if key not in orders_cache:
            orders_cache[key] = local_order(tr)
        return orders_cache[key]

    positive = negative = p_true = p_false = 0
    state_counts: dict[tuple[str, ...], int] = {}
    witness: Execution | None = None
    witness_sat = False
    count = 0
    init_pairs = {(c, v) for c, v in layout.memory.items()}
    reads_of = {id(tr): {(e.cell, e.value) for e in tr.events if e.kind == "R"}
                for traces in per_thread for tr in traces}
    writes_of = {id(tr): {(e.cell, e.value) for e in tr.events if e.kind == "W"}
                 for traces in per_thread for tr in traces}
    for combo in itertools.product(*per_thread):
        # Cheap filter: every value read must be stored by some write of this combination.
        available = init_pairs.union(*(writes_of[id(tr)] for tr in combo))
        if any(not reads_of[id(tr)] <= available for tr in combo):
            continue
        orders = [order_of(tr) for tr in combo]
        weight = 1
        for tr in combo:
            weight *= tr.weight
        poisoned = next((tr.poison for tr in combo if tr.poison is not None), None)
        for ex in executions(combo, orders, layout.memory):
            if poisoned is not None:
                raise poisoned
            final = FinalState.of(combo, ex.memory)
            if test.filter is not None and not evaluator.holds(test.filter, final):
                continue
            count += 1
            sat = evaluator.holds(evaluator.prop, final)
            if sat:
                p_true += weight
            else:
                p_false += weight
            cond_ok = (not sat) if evaluator.quantifier == "~exists" else sat
            if cond_ok:
                positive += weight
            else:
                negative += weight
            state = tuple(
                f"{o.text}={evaluator.show(o, evaluator.value(o, final))}"
                for o in evaluator.columns
            ) + tuple(
                ("" if any(_fault_matches(pat, f) for f in final.faults) else "~")
                + _fault_text(call)
                for call, pat in evaluator.faults
            )
            state_counts[state] = state_counts.get(state, 0) + 1
            if keep_witness and (witness is None or (sat and not witness_sat)):
                witness, witness_sat = ex, sat
    forbidden = None
    if keep_witness and not witness_sat:
        forbidden = _forbidden_candidate(test, layout, evaluator, per_thread, order_of)
    states = sorted(state_counts)
    cond_text = format_prop(evaluator.prop, layout)
    return CheckResult(
        name=test.name,
        path=test.path,
        quantifier=evaluator.quantifier,
        condition_text=f"{evaluator.quantifier} {cond_text}",
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

