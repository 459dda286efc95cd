"""Litmus conditions evaluated on final states: locations, values, fault atoms.

A condition (``exists``/``~exists``/``forall`` and an optional ``filter``)
is read once per test into an :class:`Evaluator`: the observed columns in
herd's order, each atom's location and value resolved against the initial
state.  The evaluator then judges each final state and spells it as herd
does (``0:X1=2``, ``[x]=1``, ``Fault(P0:L0,...)``), since that spelling is
what identifies a state in herd's output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from stalecheck.axiomatic import vmsa_layout
from stalecheck.axiomatic.events import ThreadTrace
from stalecheck.axiomatic.initial_state import (
    DEFAULT_TYPE,
    CType,
    InitialState,
    canonical_reg,
    refuse_system_symbol,
    typed_string_value,
)
from stalecheck.axiomatic.values import (
    MASK64,
    Addr,
    CodeLabel,
    Val,
    herd_int,
    mask,
    show,
    signed,
    unwrap,
)
from stalecheck.errors import InputError, Position, UnsupportedError
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


def _obs_loc(
    loc: ast.Location, layout: InitialState, path: str, line: int, vmsa: bool = False
) -> ObservedLoc:
    if vmsa and isinstance(loc, ast.CallLoc):
        loc = ast.GlobalLoc(vmsa_layout.call_location_base(loc.func, loc.arg, Position(path, line)))
    elif vmsa and isinstance(loc, ast.GlobalLoc):
        loc = ast.GlobalLoc(vmsa_layout.location_base(loc.name) or loc.name, loc.index)
    if isinstance(loc, ast.LabelLoc) and re.fullmatch(r"[XWxw]\d+", loc.label):
        loc = ast.RegLoc(loc.proc, loc.label.upper())  # herd also reads ``P0:X7`` as 0:X7
    if isinstance(loc, ast.RegLoc):
        reg = canonical_reg(loc.reg)
        if reg != "SP" and not (reg[0] == "X" and (reg[1:].isdigit() or reg == "XZR")):
            raise UnsupportedError(f"register {loc.reg} in the condition is not supported",
                                   Position(path, line))
        num = _REG_ORDER.get(reg, int(reg[1:]) if reg[1:].isdigit() else 99)
        return ObservedLoc(f"{loc.proc}:{reg}", (0, loc.proc, "", num), proc=loc.proc, reg=reg)
    if isinstance(loc, ast.GlobalLoc):
        if not vmsa:
            refuse_system_symbol(loc.name, Position(path, line))
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


def _cond_value(
    v: ast.Value, layout: InitialState, path: str, line: int, vmsa: bool = False, entry: str = ""
) -> Val | tuple[int, ...]:
    """A value in the condition; under VMSA a record compared with ``PTE(x)`` has ``oa`` x."""
    if isinstance(v, ast.IntValue):
        return v.value & MASK64
    if vmsa:
        addr = vmsa_layout.address_value(v, Position(path, line))
        if addr is not None:
            return addr
        if isinstance(v, ast.RecordValue):
            return vmsa_layout.pte_value(v, entry, Position(path, line))
    if isinstance(v, ast.NameValue):
        refuse_system_symbol(v.name, Position(path, line))
    if isinstance(v, ast.NameValue) and v.tag is None:
        return Addr(v.name, 0)
    if isinstance(v, ast.ArrayValue):
        return tuple(x & MASK64 for x in v.items)
    if isinstance(v, ast.IndexValue):
        size = layout.cell_types.get((v.name, 0), DEFAULT_TYPE).size
        return Addr(v.name, v.index * size)
    if isinstance(v, ast.LabelValue):
        return CodeLabel(v.proc, v.label)
    if isinstance(v, ast.OtherValue):
        coded = typed_string_value(v.text)  # label:"P1:L0", instr:"NOP"
        if coded is not None:
            return coded
    raise UnsupportedError("this kind of value in the condition is not supported",
                           Position(path, line))


class Evaluator:
    """Evaluates the condition and prints states for one test's final states."""

    def __init__(self, test: ast.LitmusTest, layout: InitialState, vmsa: bool = False) -> None:
        self.test = test
        self.layout = layout
        self.vmsa = vmsa
        cond = test.condition
        self.line = cond.line if cond else 0
        self.prop: ast.Prop = cond.prop if cond else ast.Const(True)
        self.quantifier = cond.quantifier if cond else "forall"
        self.faults: list[tuple[ast.Call, FaultPattern]] = []
        for call in _calls(self.prop) + (_calls(test.filter) if test.filter else []):
            self.faults.append((call, _fault_pattern(call, test.path, self.line, vmsa)))
        seen: dict[str, ObservedLoc] = {}
        for loc in test.locations:
            if isinstance(loc, ast.Call):  # a fault atom listed among the locations
                pattern = _fault_pattern(loc, test.path, test.locations_line or self.line, vmsa)
                self.faults.append((loc, pattern))
                continue
            o = _obs_loc(loc, layout, test.path, test.locations_line or self.line, vmsa)
            seen.setdefault(o.text, o)
        self.atom_locs: dict[int, ObservedLoc] = {}
        self.atom_vals: dict[int, Val | tuple[int, ...]] = {}
        prop_atoms = _atoms(self.prop)
        in_prop = {id(a) for a in prop_atoms}  # a set: 16,000 atoms must not cost 16,000² steps
        for atom in prop_atoms + (_atoms(test.filter) if test.filter else []):
            o = _obs_loc(atom.location, layout, test.path, self.line, vmsa)
            self.atom_locs[id(atom)] = o
            entry = (vmsa_layout.entry_of(o.base) or "") if vmsa else ""
            self.atom_vals[id(atom)] = _cond_value(
                atom.value, layout, test.path, self.line, vmsa, entry)
            if id(atom) in in_prop:
                seen.setdefault(o.text, o)
        self.columns = sorted(seen.values(), key=lambda o: o.sort_key)
        labels = {(t.proc, lab) for t in test.threads for line in t.code for lab in line.labels}
        bases = {b for b, _ in layout.cell_types}
        for _call, (proc, label, _kind, _loc) in self.faults:
            if label and (proc, label) not in labels:
                raise InputError(
                    f"post-condition introduces new symbolic location(s): {{P{proc}:{label}}}",
                    Position(test.path, self.line),
                )
        for v in self.atom_vals.values():
            if isinstance(v, Addr) and v.base not in bases and not (
                    vmsa and (unwrap(v.base, "PA") or unwrap(v.base, "PTE") or "") in bases):
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

    def state(self, final: FinalState) -> tuple[str, ...]:
        """The final state as herd prints it: one ``loc=value`` per column, then faults."""
        cells = tuple(f"{o.text}={self.show(o, self.value(o, final))}" for o in self.columns)
        if not self.vmsa:
            return cells + tuple(
                ("" if any(fault_matches(pat, f) for f in final.faults) else "~")
                + fault_text(call)
                for call, pat in self.faults
            )
        # herd (archExtra_herd.ml): the faults taken that some atom matches, spelled in
        # full, then each atom no fault matches, negated.
        taken = sorted({
            self._fault_taken(f) for f in final.faults
            if any(fault_matches(pat, f) for _, pat in self.faults)
        })
        return cells + tuple(taken) + tuple(
            "~" + fault_text(call) for call, pat in self.faults
            if not any(fault_matches(pat, f) for f in final.faults)
        )

    def _fault_taken(self, fault: tuple[int, str, str, str]) -> str:
        """A fault as herd prints it: thread and label, location, kind (``D-MMU:`` for a
        data-side MMU fault, or the ``MMU:`` an atom with a kind matched it as)."""
        proc, label, kind, loc = fault
        if kind.startswith("MMU:") and not any(
                pat[2] and fault_matches(pat, fault) for _, pat in self.faults):
            kind = "D-" + kind
        where = f"P{proc}:{label}" if label and not label.startswith("#") else f"P{proc}"
        return "Fault(" + ",".join(x for x in (where, loc, kind) if x) + ")"

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
            return any(fault_matches(pattern, f) for f in final.faults)
        return False


@dataclass(frozen=True)
class FinalState:
    """What a condition is evaluated on: final registers, memory and faults taken."""

    registers: list[dict[str, Val]]
    memory: dict[Cell, Val]
    faults: tuple[tuple[int, str, str, str], ...]

    @staticmethod
    def of(traces: Sequence[ThreadTrace], memory: dict[Cell, Val]) -> FinalState:
        faults = tuple(f for tr in traces for f in tr.faults)
        return FinalState([tr.registers for tr in traces], memory, faults)


# The fault kinds the engine raises (isa_control: UDF, SVC); under VMSA also the
# MMU faults of a translation-table walk (translation.py).
MODELLED_FAULTS = ("UndefinedInstruction", "SupervisorCall")
MMU_FAULTS = ("Translation", "AccessFlag", "Permission")

# (proc, label or "", kind or "", location or ""): "" matches anything (herd's fault atoms)
FaultPattern = tuple[int, str, str, str]


def _fault_pattern(call: ast.Call, path: str, line: int, vmsa: bool = False) -> FaultPattern:
    """``Fault(P0:L0,Kind)`` / ``Fault(P0:L0)`` as (proc, label, kind, location).

    Under VMSA herd's other forms are read too (lib/fault.ml ``check_one_fatom``): a
    bare thread ``fault(P0,...)``, a location ``fault(P0:L0,x)`` (the virtual address,
    or ``pte_x``), and an MMU kind ``MMU:Translation``.  Without VMSA they are refused.
    """
    pos = Position(path, line)
    if call.name.lower() != "fault":
        raise UnsupportedError(f"predicate {call.name}(...) is not supported", pos)
    first = call.args[0] if call.args else None
    if isinstance(first, ast.LabelValue):
        proc, label = first.proc, first.label
    elif vmsa and isinstance(first, ast.OtherValue) and first.text[:1] == "P" and \
            first.text[1:].isdigit():
        proc, label = int(first.text[1:]), ""
    else:
        raise UnsupportedError(
            f"{fault_text(call, call.name)}: a fault atom without an instruction label "
            "is not supported", pos,
        )
    kind = loc = ""
    rest = list(call.args[1:])
    if len(rest) > 2 or (rest and not vmsa and len(rest) > 1):
        raise UnsupportedError(f"{fault_text(call, call.name)} is not supported", pos)
    for k, arg in enumerate(rest):
        if not isinstance(arg, ast.NameValue):
            raise UnsupportedError(f"{fault_text(call, call.name)} is not supported", pos)
        if arg.tag is None and arg.name in MODELLED_FAULTS:
            kind = arg.name
        elif vmsa and arg.name == "MMU" and arg.tag in MMU_FAULTS:
            kind = f"MMU:{arg.tag}"
        elif vmsa and arg.tag is None and k == 0:
            loc = vmsa_layout.location_base(arg.name) or arg.name  # PTE(x), or virtual x
        else:
            raise UnsupportedError(
                f"{fault_text(call, call.name)}: only {' and '.join(MODELLED_FAULTS)} "
                "faults are modelled (memory faults need VMSA/MTE)", pos,
            )
    return (proc, label, kind, loc)


def fault_text(call: ast.Call, name: str = "Fault") -> str:
    args = []
    for a in call.args:
        if isinstance(a, ast.LabelValue):
            args.append(f"P{a.proc}:{a.label}")
        elif isinstance(a, ast.NameValue) and a.tag is not None:
            args.append(f"{a.name}:{a.tag}")
        else:
            args.append(getattr(a, "name", getattr(a, "text", str(a))))
    return f"{name}({','.join(args)})"


def fault_matches(pattern: FaultPattern, fault: tuple[int, str, str, str]) -> bool:
    """herd's ``check_one_fatom``: same thread, and label, kind and location where given."""
    proc, label, kind, loc = pattern
    return proc == fault[0] and (not label or label == fault[1]) and \
        (not kind or kind == fault[2]) and (not loc or loc == fault[3])


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
