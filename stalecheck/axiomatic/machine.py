"""One thread's architectural state while it runs, and the memory-access primitives.

Instruction semantics (the ``isa_*`` modules) call these primitives; each
memory access becomes an :class:`~stalecheck.axiomatic.events.Event` in the
thread's trace.  Every read takes its value from a *choice list* replayed by
:func:`stalecheck.axiomatic.semantics.thread_traces`, which keeps the
instruction code free of any search logic.

Registers carry, besides their value, the two dependency sets described in
:mod:`stalecheck.axiomatic.events`, so address, data and control
dependencies fall out of ordinary execution.

Extension points (see docs/litmus.md, "Extending the engine"): an instruction
fetch, a translation-table walk or a TLBI is one more kind of effect recorded
here by a primitive next to :meth:`ThreadMachine.load`; a synchronous
exception is :class:`Fault`, recorded in ``ThreadTrace.faults``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stalecheck.axiomatic.code_data import CodeLayout
from stalecheck.axiomatic.code_nav import UNROLL, PathCut, label_after, labels_of, relative
from stalecheck.axiomatic.events import Barrier, Event, ThreadTrace
from stalecheck.axiomatic.exceptions import take_fault
from stalecheck.axiomatic.initial_state import InitialState, canonical_reg
from stalecheck.axiomatic.translation import NO_HARDWARE, Fault, Hardware, translate
from stalecheck.axiomatic.values import MASK64, Addr, CodeLabel, Instr, Val, mask, signed
from stalecheck.errors import InputError, Position, UnsupportedError
from stalecheck.litmus import ast

if TYPE_CHECKING:
    from stalecheck.axiomatic.mixed_size import Granules

Cell = tuple[str, int]
Tainted = tuple[Val, int, int]  # value, dtrm sources, pick-dtrm sources

# A pseudo-source bit for values decided by a nondeterministic choice that is not a
# read (store-exclusive success).  It never names an event, so relations ignore it,
# but it makes a branch on such a value count as symbolic for loop unrolling.
CHOICE = 1 << 62

# herd7 reports every CAS execution twice in its witness counts (both of its
# semantic alternatives survive, with identical final states): observed on every
# CAS/CASP test of herd-instructions (L007: 4, A242: 16 for four CASPs).  Verdicts and

# An instruction's effect on the machine; a returned label or code address is a jump.
Handler = Callable[["ThreadMachine", ast.Instruction], "str | CodeLabel | None"]
# The instruction table: a mnemonic's handler and operand-count bounds (None: unknown).
Decoder = Callable[[str], "tuple[Handler | None, tuple[int, int] | None]"]


class NeedRead(Exception):
    """Raised by a read the current choice list does not cover yet."""

    def __init__(self, cell: Cell) -> None:
        super().__init__(cell)
        self.cell = cell


class Poison(Exception):
    """The path does something herd rejects (e.g. a numeric address).

    herd only complains if an execution allowed by the model takes that path, so
    we end the path here and let the checker decide once consistency is known.
    """

    def __init__(self, error: InputError) -> None:
        super().__init__(error.message)
        self.error = error





@dataclass
class Context:
    """What every replay of one thread shares: its layout, the code, the variants."""

    proc: int
    layout: InitialState
    path: str
    decode: Decoder
    programs: Mapping[int, Sequence[ast.CodeLine]] = field(default_factory=dict)
    variants: frozenset[str] = frozenset()  # lowercased herd variants (see variants.py)
    code: CodeLayout | None = None  # code locations; with ``fetching``, the ifetch variant
    granules: Granules | None = None  # herd's -variant mixed: memory in granules
    el0: frozenset[int] = frozenset()  # threads running at EL0 (herd's ``EL0=P0`` key)
    hardware: Mapping[int, Hardware] = field(default_factory=dict)  # herd's ``TTHM`` key
    handlers: Mapping[int, Sequence[ast.CodeLine]] = field(default_factory=dict)  # P0.F code
    fault_handling: str = "fatal"  # herd's fault handling: "fatal", "handled" or "skip"
    vmsa: bool = False  # herd's vmsa (kvm): virtual addresses are translated (translation.py)

    @property
    def nv2(self) -> bool:
        """herd's ``NV2``: EL1 system registers live in the VNCR page."""
        return "nv2" in self.variants


class ThreadMachine:
    """Architectural state of one thread during one replay."""

    def __init__(
        self, ctx: Context, code: Sequence[ast.CodeLine], choices: Sequence[Val]
    ) -> None:
        self.ctx = ctx
        self.code = code
        self.choices = choices
        self.reads_done = 0
        regs = dict(ctx.layout.symbolic_registers)
        regs.update(ctx.layout.registers.get(ctx.proc, {}))
        self.regs: dict[str, Tainted] = {r: (v, 0, 0) for r, v in regs.items()}
        self.flags: tuple[int, int, int, int, int, int] | None = None  # N Z C V d p
        self.trace = ThreadTrace(ctx.proc)
        self.ctrl_d = 0
        self.ctrl_p = 0
        self.addr_seen_d = 0  # reads with an address dependency to some access so far
        self.addr_seen_p = 0
        self.pos = 0
        self.instance = 0
        self.last_write: dict[Cell, int] = {}
        self.monitor: tuple[tuple[Cell, ...], int] | None = None  # open LDXR: cells, first event
        self.groups: dict[int, tuple[int, ...]] = {}  # first event of an access -> its events
        self.pair_monitor: list[tuple[Cell, int]] | None = None  # open LDXP
        self.labels = labels_of(code)
        self.code_proc = ctx.proc
        self.pc = 0
        self.back_taken: dict[tuple[int, int], int] = {}
        # herd unrolls loops on concrete values completely; only an unconditional
        # backward branch or one whose condition depends on a read is bounded.
        self.branch_counts = True
        self.current: ast.Instruction | None = None
        self.translations: dict[tuple[int, str], str] = {}  # (instance, page) -> physical page
        self.el0, self.in_handler = ctx.proc in ctx.el0, False  # EL0=; in a fault handler
        self._hw, self.cells = ctx.hardware.get(ctx.proc, NO_HARDWARE), ctx.layout.cell_types

    # ------------------------------------------------------------ errors
    def unsupported(self, message: str) -> UnsupportedError:
        ins = self.current
        pos = Position(self.ctx.path, ins.line, ins.column) if ins else Position(self.ctx.path)
        return UnsupportedError(message, pos)

    def bad_input(self, message: str) -> InputError:
        ins = self.current
        pos = Position(self.ctx.path, ins.line, ins.column) if ins else Position(self.ctx.path)
        return InputError(message, pos)

    # ------------------------------------------------------------ registers
    def reg_width(self, name: str) -> int:
        n = name.upper()
        if n.startswith("%"):
            return 64
        if n.startswith("W"):
            return 32
        if n.startswith("X") or n in ("SP", "XZR"):
            return 64
        if n[:1] == "C" and n[1:].isdigit():
            raise self.unsupported(f"Morello capability register {name} is not supported")
        raise self.unsupported(f"register {name} is not supported")

    def get(self, op: ast.Operand) -> Tainted:
        if isinstance(op, ast.Imm):
            return (op.value & MASK64, 0, 0)
        if not isinstance(op, ast.Reg):
            raise self.unsupported(f"operand form {op} is not supported")
        reg = canonical_reg(op.name)
        width = self.reg_width(op.name)
        if reg == "XZR":
            return (0, 0, 0)
        if not (reg == "SP" or reg[0] == "%" or (reg[0] == "X" and reg[1:].isdigit())):
            raise self.unsupported(f"register {op.name} is not supported")
        if reg[0] == "%" and reg not in self.regs:
            raise self.bad_input(f"unexpected {op.name!r}: symbolic register without a value")
        value, d, p = self.regs.get(reg, (0, 0, 0))
        if width == 32 and isinstance(value, int):
            value = mask(value, 32)
        elif width == 32 and not isinstance(value, Instr):  # an encoding fits a W register
            raise Poison(self.bad_input(f"illegal operation mask32 on {value}"))
        return (value, d, p)

    def set(self, op: ast.Operand, value: Val, d: int, p: int) -> None:
        if not isinstance(op, ast.Reg):
            raise self.bad_input("destination must be a register")
        reg = canonical_reg(op.name)
        width = self.reg_width(op.name)
        if reg == "XZR":
            return
        if isinstance(value, int):
            value = mask(value, width)
        elif width == 32 and not isinstance(value, Instr):
            raise Poison(self.bad_input(f"illegal operation mask32 on {value}"))
        self.regs[reg] = (value, d, p | d)

    # ------------------------------------------------------------ memory
    def address(self, ops: Sequence[ast.Operand], at: int) -> tuple[Addr, int, int, int]:
        """Decode the memory operand at ``at``; return address, deps and operands used.

        Handles ``[Xn]``, ``[Xn,#i]``, ``[Xn,Xm{,ext|shift}]``, pre-index ``[..]!`` and
        post-index ``[Xn],#i`` (the write-back happens here too).
        """
        if at >= len(ops) or not isinstance(ops[at], ast.Mem):
            raise self.bad_input("expected a memory operand [Xn, ...]")
        mem = ops[at]
        assert isinstance(mem, ast.Mem)
        parts = mem.parts
        if not parts:
            raise self.bad_input("empty memory operand")
        base_v, d, p = self.get(parts[0])
        offset = 0
        rest = list(parts[1:])
        if rest:
            first = rest.pop(0)
            if isinstance(first, ast.Imm):
                offset = first.value
            elif isinstance(first, ast.Reg):
                ov, od, op_ = self.get(first)
                if not isinstance(ov, int):
                    raise self.unsupported("register offset holding an address")
                ov = self.extend_shift(ov, first, rest)
                offset = ov
                d |= od
                p |= op_
                rest = []
            else:
                raise self.unsupported("memory operand form is not supported")
        if rest:
            raise self.unsupported("memory operand form is not supported")
        post = 0
        if at + 1 < len(ops) and isinstance(ops[at + 1], ast.Imm):
            imm = ops[at + 1]
            assert isinstance(imm, ast.Imm)
            post = imm.value
        addr = self.add_offset(base_v, offset)
        if mem.writeback:
            self.set(parts[0], addr, d, p)
        elif post:
            self.set(parts[0], self.add_offset(base_v, post), d, p)
        return addr, d, p, at + (2 if post else 1)

    def extend_shift(self, value: int, reg: ast.Reg, rest: list[ast.Operand]) -> int:
        width = self.reg_width(reg.name)
        if width == 32:
            value = mask(value, 32)
        amount = 0
        kind = ""
        if rest:
            mod = rest.pop(0)
            if isinstance(mod, ast.Shift):
                kind, amount = mod.kind, mod.amount
            elif isinstance(mod, ast.Reg):
                kind = mod.name.upper()
            else:
                raise self.unsupported("memory operand form is not supported")
        if kind in ("SXTW",):
            value = signed(value, 32) & MASK64
        elif kind in ("UXTW",):
            value = mask(value, 32)
        elif kind in ("SXTX", "UXTX", "LSL", ""):
            pass
        else:
            raise self.unsupported(f"extend {kind} is not supported")
        return (value << amount) & MASK64

    def add_offset(self, base: Val, offset: int) -> Addr:
        if isinstance(base, Addr):
            return Addr(base.base, signed(base.offset + offset, 64))
        if isinstance(base, int):
            raise Poison(self.bad_input(f"non symbolic address: [{signed(base, 64)}]"))
        code = self.ctx.code
        cell = code.cell_of(base) if code is not None and isinstance(base, CodeLabel) else None
        if cell is not None:  # an exported label: its instruction is a location (code as data)
            return Addr(cell[0], cell[1] + offset)
        raise self.unsupported("reading or writing code as data (instruction fetch) is not supported")

    def cell(self, addr: Addr, size: int) -> Cell:
        """The one cell a ``size``-byte access at ``addr`` reads or writes.

        Every access must cover exactly one whole cell of the declared type: a
        narrower, wider, unaligned or straddling access is mixed-size, which herd
        models only under ``-variant mixed`` (then :meth:`access_cells` splits it in
        granules instead), so here it is refused as unsupported, never given a
        verdict.  Only an access outside an array is the user's error (herd:
        "out-of-bound access").  Untyped
        locations take whatever width is used, one width per location (checked
        over the whole test by ``check``).
        """
        layout = self.ctx.layout
        cell = layout.cell_of(addr)
        if cell is None:
            if addr.base in layout.arrays:
                elem = layout.cell_types[(addr.base, 0)].size
                if not 0 <= addr.offset < elem * layout.arrays[addr.base]:
                    raise self.bad_input(f"out of bounds access on array {addr.base}")
                raise self.unsupported(
                    f"{size}-byte access to {addr} is unaligned or mixed-size (elements of "
                    f"{addr.base} are {elem} bytes); not supported"
                )
            raise self.unsupported(
                f"access to {addr} is mixed-size (not a whole location); not supported"
            )
        ctype = layout.cell_types[cell]
        if ctype.default or size == ctype.size:
            return cell
        if size > ctype.size and isinstance(layout.memory.get(cell), Addr | CodeLabel):
            return cell  # a location holding an address is a 64-bit pointer to herd
        raise self.unsupported(
            f"{size}-byte access to {ctype.size}-byte location {addr.base} is mixed-size; "
            "not supported"
        )

    def read_value(self, cell: Cell) -> Val:
        if self.reads_done < len(self.choices):
            v = self.choices[self.reads_done]
            self.reads_done += 1
            return v
        raise NeedRead(cell)

    def read_choice_bool(self) -> bool:
        """A boolean choice (store-exclusive success), enumerated like a read value."""
        if self.reads_done < len(self.choices):
            v = self.choices[self.reads_done]
            self.reads_done += 1
            return bool(v)
        raise NeedRead(("<stxr>", 0))

    def new_event(
        self, kind: str, cell: Cell, value: Val, size: int, d: int, p: int, **kw: object
    ) -> int:
        ins = self.current
        ev = Event(
            kind, cell, value, self.instance, self.pos, size,
            text=ins.text if ins else "", line=ins.line if ins else 0,
            addr_d=d, addr_p=p, ctrl_d=self.ctrl_d, ctrl_p=self.ctrl_p,
        )
        for k, v in kw.items():
            setattr(ev, k, v)
        self.pos += 1
        idx = len(self.trace.events)
        self.trace.events.append(ev)
        if kind in ("C", "T", "F"):  # maintenance, TLBI, fault: no access, no addr;po, no lmrs
            return idx
        if d or p:
            self.addr_seen_d |= d
            self.addr_seen_p |= p
        if kind == "R":
            ev.lmrs_from = self.last_write.get(cell, -1)
        else:
            self.last_write[cell] = idx
        return idx

    def access_cells(self, addr: Addr, size: int) -> tuple[Cell, ...]:
        """The cells a ``size``-byte access at ``addr`` covers: one, or under herd's
        ``-variant mixed`` one per granule (:mod:`~stalecheck.axiomatic.mixed_size`)."""
        granules = self.ctx.granules
        if granules is None:
            return (self.cell(addr, size),)
        cells = granules.cells(addr, size)
        if isinstance(cells, str):
            raise self.unsupported(f"{cells}: under herd's mixed-size semantics, not supported")
        return cells

    def group_of(self, idx: int) -> tuple[int, ...]:
        """The events of the access whose first event is ``idx`` (its granules, in order)."""
        return self.groups.get(idx, (idx,))

    def _grouped(self, group: list[int]) -> int:
        """Record one access's events: a single-copy-atomic group (herd's ``sca``)."""
        self.groups[group[0]] = tuple(group)
        if len(group) > 1:
            self.trace.sca_groups.append(tuple(group))
        return group[0]

    def translated(self, addr: Addr, write: bool, d: int, p: int) -> Addr:
        """Under VMSA the physical address, after this instruction's walk (translation.py)."""
        vmsa = self.ctx.vmsa
        return translate(self, addr, write, d, p, self.el0, self.cells, self._hw) if vmsa else addr

    def load(
        self, addr: Addr, size: int, d: int, p: int, **kw: object
    ) -> tuple[Val, int, int, int]:
        """Read memory; return value, the (d, p) sources of the destination register, and
        the (first) event.  Under mixed size each granule is read on its own (herd's
        ``read_mixed``) and the register gets them recomposed, little-endian."""
        addr = self.translated(addr, bool(kw.get("atomic")), d, p)  # D8.2: the walk comes first
        granules = self.ctx.granules
        cells = self.access_cells(addr, size)
        out_d, out_p = d, p
        parts: list[Val] = []
        group: list[int] = []
        for cell in cells:
            value = self.read_value(cell)
            if isinstance(value, int):
                value = mask(value, (granules.size if granules else size) * 8)
            elif granules is not None:
                raise self.unsupported("mixed-size access to an address value is not supported")
            idx = self.new_event("R", cell, value, granules.size if granules else size, d, p, **kw)
            ev = self.trace.events[idx]
            out_d |= 1 << idx
            out_p |= 1 << idx
            if ev.lmrs_from >= 0:  # dtrm through memory: lmrs from this thread's write
                w = self.trace.events[ev.lmrs_from]
                out_d |= w.src_d()
                out_p |= w.src_p() | w.src_d()
            parts.append(value)
            group.append(idx)
        if granules is None:
            return parts[0], out_d, out_p, group[0]
        whole = granules.join(v for v in parts if isinstance(v, int))
        return whole, out_d, out_p, self._grouped(group)

    def store(
        self, addr: Addr, size: int, value: Val, ad: int, ap: int, dd: int, dp: int,
        **kw: object,
    ) -> int:
        """Write memory; the (first) event.  Under mixed size, one write per granule
        (herd's ``write_mixed``), the value split little-endian."""
        addr = self.translated(addr, True, ad, ap)
        granules = self.ctx.granules
        cells = self.access_cells(addr, size)
        if granules is not None:
            if not isinstance(value, int):
                raise self.unsupported("mixed-size store of an address value is not supported")
            group = [
                self.new_event("W", c, part, granules.size, ad, ap, data_d=dd, data_p=dp | dd, **kw)
                for c, part in zip(cells, granules.split(value, size), strict=True)
            ]
            return self._grouped(group)
        cell = cells[0]
        code = self.ctx.code
        if code is not None and not code.fetching and cell in code.initial:
            # herd: "Store to P1:L0 requires instruction fetch functionality".
            raise self.unsupported(
                f"store to code location {cell[0]} is not supported without herd's ifetch "
                "variant (Variant=self, or --variant ifetch)"
            )
        if isinstance(value, int):
            value = mask(value, size * 8)
        idx = self.new_event("W", cell, value, size, ad, ap, data_d=dd, data_p=dp | dd, **kw)
        return idx

    def barrier(self, kind: str) -> None:
        self.trace.barriers.append(
            Barrier(kind, self.pos, self.ctrl_d, self.ctrl_p, self.addr_seen_d, self.addr_seen_p)
        )
        self.pos += 1

    def fetch(self, pc: int, ins: ast.Instruction) -> ast.Instruction:
        """Fetch the instruction at an exported label: a read of its code location.

        The value read is the instruction executed (Arm ARM B2.7.2); a value that
        is neither the original instruction nor one the test could have stored
        there decodes as an undefined instruction (herd's ``mk_mop_fetch``).
        """
        code = self.ctx.code
        assert code is not None
        cell = code.fetch_at[(self.code_proc, pc)]
        value = self.read_value(cell)
        idx = self.new_event("R", cell, value, 4, 0, 0, fetch=True)
        self.trace.events[idx].lmrs_from = -1  # lmrs relates explicit reads only
        if value == code.original[(self.code_proc, pc)]:
            return ins
        decoded = code.overwriting.get(value) if isinstance(value, Instr) else None
        if decoded is None:
            raise Fault("UndefinedInstruction")
        return ast.Instruction(decoded.mnemonic, decoded.operands, decoded.text, ins.line, ins.column)

    def _enter(self, target: CodeLabel) -> int:
        """Continue at a code address, possibly in another thread's code (herd allows it)."""
        if target.proc != self.code_proc:
            code = self.ctx.programs.get(target.proc) if self.ctx.programs else None
            if code is None:
                raise self.bad_input(f"no thread P{target.proc}")
            self.code = code
            self.code_proc = target.proc
            self.labels = labels_of(code)
        if target.label.startswith("#"):
            return int(target.label[1:])
        dest = self.labels.get(target.label)
        if dest is None:
            raise self.bad_input(f"label {target.label} not found on P{target.proc}")
        return dest

    def code_label(self, name: str) -> CodeLabel:
        """The address of a label of the code being executed (for ADR); a handler may
        name its thread's labels."""
        main = self.ctx.programs.get(self.code_proc, ()) if self.in_handler else ()
        if name not in self.labels and name not in labels_of(main):
            raise self.bad_input(f"label {name} not found on P{self.code_proc}")
        return CodeLabel(self.code_proc, name)

    def return_address(self, pc: int) -> CodeLabel:
        """The address after the instruction at ``pc``: its label if it has one."""
        return CodeLabel(self.code_proc, label_after(self.code, pc))

    # ------------------------------------------------------------ run
    def run(self) -> ThreadTrace:
        pc = 0
        steps = 0
        while pc < len(self.code):
            steps += 1
            if steps > 10_000:
                raise PathCut()
            line = self.code[pc]
            ins = line.instruction
            if ins is None:
                pc += 1
                continue
            self.current = ins
            if (self.ctx.code is not None and (self.code_proc, pc) in self.ctx.code.fetch_at
                    and self.code is not self.ctx.handlers.get(self.code_proc)):  # P0.F code
                # is not at an exported label: fetch_at names rows of the thread's code
                try:
                    ins = self.fetch(pc, ins)
                except Fault as fault:
                    resume = take_fault(self, pc, fault)
                    if resume is None:
                        break
                    pc = resume
                    continue
            handler, arity = self.ctx.decode(ins.mnemonic)
            if handler is None:
                raise self.unsupported(f"instruction {ins.mnemonic} is not supported")
            self.branch_counts = True
            self.pc = pc
            if arity is not None and not arity[0] <= len(ins.operands) <= arity[1]:
                raise self.bad_input(
                    f"{ins.mnemonic} takes {arity[0]}"
                    + (f" to {arity[1]}" if arity[1] != arity[0] else "")
                    + f" operands, not {len(ins.operands)}"
                )
            try:
                target = handler(self, ins)
            except Poison as poison:
                self.trace.poison = poison.error
                break
            except Fault as fault:
                resume = take_fault(self, pc, fault)
                if resume is None:
                    break
                pc = resume
                continue
            self.instance += 1
            if target is None:
                pc += 1
                continue
            dest: int | None
            if isinstance(target, CodeLabel):
                dest = self._enter(target)
            else:
                dest = self.labels.get(target)
                if dest is None and target.startswith((".+", ".-")):
                    dest = relative(self.code, pc, int(target[1:]) // 4)
                if dest is None:
                    raise self.bad_input(f"label {target} not found on P{self.code_proc}")
            if dest <= pc and self.branch_counts:
                key = (self.code_proc, pc)
                taken = self.back_taken.get(key, 0) + 1
                if taken > UNROLL:
                    raise PathCut()
                self.back_taken[key] = taken
            pc = dest
        self.trace.registers = {r: v for r, (v, _, _) in self.regs.items()}
        return self.trace
