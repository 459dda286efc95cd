"""Memory instructions: loads, stores, pairs, exclusives and atomics (Arm ARM C6, B2.2).

Each builds its read and write events through the thread machine's
``load``/``store`` primitives and records the intra-instruction relations
herd's event structures have: ``rmw`` for atomics and successful exclusives,
``iico_order`` for the ordered pair forms, single-copy-atomic groups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stalecheck.axiomatic.code_nav import PathCut
from stalecheck.axiomatic.initial_state import canonical_reg
from stalecheck.axiomatic.isa_common import expect_operands, width_of
from stalecheck.axiomatic.machine import CHOICE, Handler, Tainted, ThreadMachine
from stalecheck.axiomatic.translation import pte_logic
from stalecheck.axiomatic.values import MASK64, Addr, PteVal, Val, mask, signed
from stalecheck.litmus import ast


@dataclass(frozen=True)
class _MemSpec:
    """What a load/store mnemonic means: size, sign, ordering and exclusivity."""

    size: int | None  # bytes; None: from the register
    signed: bool = False
    acquire: bool = False
    acquire_pc: bool = False
    release: bool = False
    exclusive: bool = False


def _size_of(m: ThreadMachine, spec: _MemSpec, reg: ast.Operand) -> int:
    return spec.size if spec.size is not None else width_of(m, reg) // 8


def _load_family(spec: _MemSpec) -> Callable[[ThreadMachine, ast.Instruction], None]:
    def handler(m: ThreadMachine, ins: ast.Instruction) -> None:
        ops = ins.operands
        if len(ops) < 2:
            raise m.bad_input(f"{ins.mnemonic} takes a register and an address")
        size = _size_of(m, spec, ops[0])
        addr, d, p, _ = m.address(ops, 1)
        kw: dict[str, object] = {}
        if spec.acquire:
            kw["acquire"] = True
        if spec.acquire_pc:
            kw["acquire_pc"] = True
        if spec.exclusive:
            kw["exclusive"] = True
        value, od, op_, idx = m.load(addr, size, d, p, **kw)
        if spec.signed and isinstance(value, int):
            value = signed(value, size * 8) & MASK64
        if spec.exclusive:
            m.monitor = (tuple(m.trace.events[k].cell for k in m.group_of(idx)), idx)
        m.set(ops[0], value, od, op_)

    return handler


def _store_family(spec: _MemSpec) -> Callable[[ThreadMachine, ast.Instruction], None]:
    def handler(m: ThreadMachine, ins: ast.Instruction) -> None:
        ops = ins.operands
        status: ast.Operand | None = None
        if spec.exclusive:
            if len(ops) < 3:
                raise m.bad_input(f"{ins.mnemonic} takes a status register, a value, an address")
            status, ops = ops[0], ops[1:]
        if len(ops) < 2:
            raise m.bad_input(f"{ins.mnemonic} takes a register and an address")
        size = _size_of(m, spec, ops[0])
        value, vd, vp = m.get(ops[0])
        if spec.exclusive:
            assert status is not None
            # herd lets a store-exclusive fail whenever it likes: enumerate both outcomes.
            succeed = m.read_choice_bool()
            monitor = m.monitor
            m.monitor = None
            addr, d, p, _ = m.address(ops, 1)
            # Under VMSA the walk (and its checks) happens whether or not the store succeeds,
            # and the reservation is of the physical address (herd: lift_memop then
            # store_conditional against ResAddr); elsewhere this is ``addr`` itself.
            phys = m.translated(addr, True, d, p)
            if succeed:
                if monitor is None:
                    raise PathCut()
                if m.access_cells(phys, size) != monitor[0]:
                    raise PathCut()
                idx = m.store(addr, size, value, d, p, vd, vp, exclusive=True,
                              release=spec.release)
                # lxsx (herd's stdlib.cat): every read event of the LDXR to every write
                # event of the STXR (one pair each unless the accesses are split, mixed size)
                m.trace.rmw.extend(
                    (r, w) for r in m.group_of(monitor[1]) for w in m.group_of(idx)
                )
            m.set(status, 0 if succeed else 1, CHOICE, CHOICE)
            return
        addr, d, p, _ = m.address(ops, 1)
        m.store(addr, size, value, d, p, vd, vp, release=spec.release)

    return handler




@dataclass(frozen=True)
class _PairSpec:
    """A pair load/store: element size, sign, ordering, and herd's intra-pair order."""

    load: bool
    size: int | None = None  # None: from the register
    signed: bool = False
    acquire: bool = False
    acquire_pc: bool = False
    release: bool = False
    ordered: bool = False  # LDIAPP/STILP: the access at the lower address comes first


def _pair_family(spec: _PairSpec) -> Callable[[ThreadMachine, ast.Instruction], None]:
    def handler(m: ThreadMachine, ins: ast.Instruction) -> None:
        ops = ins.operands
        if len(ops) < 3:
            raise m.bad_input(f"{ins.mnemonic} takes two registers and an address")
        size = spec.size if spec.size is not None else width_of(m, ops[0]) // 8
        first, second = ops[0], ops[1]
        if spec.load:
            addr, d, p, _ = m.address(ops, 2)
            kw: dict[str, object] = {}
            if spec.acquire:
                kw["acquire"] = True
            if spec.acquire_pc:
                kw["acquire_pc"] = True
            results = []
            for k in range(2):
                value, od, op_, idx = m.load(Addr(addr.base, addr.offset + k * size),
                                             size, d, p, **kw)
                if spec.signed and isinstance(value, int):
                    value = signed(value, size * 8) & MASK64
                results.append((value, od, op_, idx))
            for reg, (value, od, op_, _) in zip((first, second), results, strict=True):
                m.set(reg, value, od, op_)
            if spec.ordered:
                m.trace.iico_order.append((results[0][3], results[1][3]))
            return
        v1, d1, p1 = m.get(first)
        v2, d2, p2 = m.get(second)
        addr, d, p, _ = m.address(ops, 2)
        i1 = m.store(addr, size, v1, d, p, d1, p1, release=spec.release)
        i2 = m.store(Addr(addr.base, addr.offset + size), size, v2, d, p, d2, p2,
                     release=spec.release)
        if spec.ordered:
            # herd orders STILP's writes low-then-high, but high-then-low for the
            # write-back forms (its stp_wback composes them the other way round).
            mem = ops[2]
            wback = (isinstance(mem, ast.Mem) and mem.writeback) or len(ops) > 3
            m.trace.iico_order.append((i2, i1) if wback else (i1, i2))

    return handler


_ATOMIC_OPS: dict[str, Callable[[int, int, int], int]] = {
    "ADD": lambda a, b, w: mask(a + b, w),
    "CLR": lambda a, b, w: a & ~b & ((1 << w) - 1),
    "EOR": lambda a, b, w: a ^ b,
    "SET": lambda a, b, w: a | b,
    "SMAX": lambda a, b, w: a if signed(a, w) >= signed(b, w) else b,
    "SMIN": lambda a, b, w: a if signed(a, w) <= signed(b, w) else b,
    "UMAX": lambda a, b, w: max(a, b),
    "UMIN": lambda a, b, w: min(a, b),
}


def _ordering(suffix: str) -> tuple[bool, bool, str]:
    """Split ``AL``/``A``/``L`` ordering letters off the front of a size suffix."""
    for letters, acq, rel in (("AL", True, True), ("A", True, False), ("L", False, True)):
        if suffix.startswith(letters):
            return acq, rel, suffix[len(letters):]
    return False, False, suffix


def _atomic(kind: str, op: str | None, suffix: str) -> Callable[[ThreadMachine, ast.Instruction], None]:
    acq, rel, size_suffix = _ordering(suffix)
    fixed = {"B": 1, "H": 2, "": None}.get(size_suffix, -1)

    def handler(m: ThreadMachine, ins: ast.Instruction) -> None:
        if fixed == -1:
            raise m.unsupported(f"instruction {ins.mnemonic} is not supported")
        ops = ins.operands
        if kind == "ST":
            if len(ops) != 2:
                raise m.bad_input(f"{ins.mnemonic} takes a register and an address")
            ops = (ops[0], ast.Reg("XZR" if width_of(m, ops[0]) == 64 else "WZR"), ops[1])
        if len(ops) != 3:
            raise m.bad_input(f"{ins.mnemonic} takes two registers and an address")
        size = fixed if fixed is not None else width_of(m, ops[0]) // 8
        addr, ad, ap, _ = m.address(ops, 2)
        dest = ops[0] if kind == "CAS" else ops[1]
        noret = isinstance(dest, ast.Reg) and canonical_reg(dest.name) == "XZR"
        s_val, sd, sp = m.get(ops[0])
        if kind == "CAS":
            t_val, td, tp = m.get(ops[1])
        r_kw: dict[str, object] = {"atomic": True, "noret": noret}
        if acq and not noret:
            r_kw["acquire"] = True
        old, od, op_, ridx = m.load(addr, size, ad, ap, **r_kw)
        w_kw: dict[str, object] = {"atomic": True}
        if rel:
            w_kw["release"] = True
        reads = m.group_of(ridx)
        bits = sum(1 << r for r in reads)
        if kind == "SWP":
            widx = m.store(addr, size, s_val, ad, ap, sd, sp, **w_kw)
            _amo(m, reads, widx)
        elif kind == "CAS":
            _compare_and_swap(
                m, [addr], size, ad, ap, [(s_val, sd, sp)], [(t_val, td, tp)], [dest],
                [(old, od, op_, ridx)], rel,
            )
            return
        else:
            assert op is not None
            pte_op = {"SET": "ORR", "CLR": "BIC"}.get(op)
            if isinstance(old, PteVal) and isinstance(s_val, int) and pte_op:
                # herd: LDSET/LDCLR on a descriptor set/clear its bits (AArch64PteVal orop,
                # andnot2), the way software updates an entry atomically (D8.5.2)
                found = pte_logic(pte_op, old, mask(s_val, size * 8))
                if found is None:
                    raise m.bad_input(f"{ins.mnemonic}: illegal operation on {old}")
                new: Val = found
            elif not isinstance(old, int) or not isinstance(s_val, int):
                raise m.unsupported(f"{ins.mnemonic} on an address")
            else:
                width = size * 8
                new = _ATOMIC_OPS[op](mask(old, width), mask(s_val, width), width)
            widx = m.store(addr, size, new, ad, ap, sd, sp, **w_kw)
            for w in m.group_of(widx):  # the new value is computed from the whole read
                m.trace.events[w].intra_d = bits
                m.trace.events[w].intra_p = bits
            _amo(m, reads, widx)
        m.set(dest, old, od, op_)

    return handler


def _amo(m: ThreadMachine, reads: tuple[int, ...], widx: int) -> None:
    """``amo`` (herd's stdlib.cat): ``[R & X]; (same-instance \\ id) & loc; [W & X]``,
    the read and write events of one atomic on the same cell (one pair, or one per
    granule under mixed size)."""
    m.trace.rmw.extend(zip(reads, m.group_of(widx), strict=True))


def _casp(suffix: str) -> Callable[[ThreadMachine, ast.Instruction], None]:
    acq, rel, rest = _ordering(suffix)

    def handler(m: ThreadMachine, ins: ast.Instruction) -> None:
        if rest:
            raise m.unsupported(f"instruction {ins.mnemonic} is not supported")
        ops = expect_operands(m, ins, 5)
        size = width_of(m, ops[0]) // 8
        addr, ad, ap, _ = m.address(ops, 4)
        s_vals = [m.get(ops[0]), m.get(ops[1])]
        t_vals = [m.get(ops[2]), m.get(ops[3])]
        reads = []
        for k in range(2):
            kw: dict[str, object] = {"atomic": True}
            if acq:
                kw["acquire"] = True
            reads.append(m.load(Addr(addr.base, addr.offset + k * size), size, ad, ap, **kw))
        cells = [Addr(addr.base, addr.offset + k * size) for k in range(2)]
        _compare_and_swap(m, cells, size, ad, ap, s_vals, t_vals, list(ops[:2]), reads, rel)

    return handler


Loaded = tuple[Val, int, int, int]  # value, dtrm and pick sources of its register, event


def _compare_and_swap(
    m: ThreadMachine,
    addrs: list[Addr],
    size: int,
    ad: int,
    ap: int,
    compare: list[Tainted],
    new: list[Tainted],
    dests: list[ast.Operand],
    reads: list[Loaded],
    release: bool,
) -> None:
    """The effects of CAS/CASP after the memory read(s), as herd's event structures have them.

    herd (AArch64Sem.ml ``cas``/``casp``, eventsMonad.ml ``aarch64_cas_ok``) builds
    two alternatives for each outcome, and both are executions of their own:

    * success: the comparison register is rewritten with the value it already
      holds, either *from the register* (data from Rs, and a control edge from the
      comparison, which reads memory) or *from the memory read* (data from it);
    * failure: *with* a write-back of the value read (an atomic read and write,
      ``rmw``, release for CASL/CASAL) or *without* any write (a plain read).

    (herd's ``do_cas_with`` offers the failing forms as alternatives; the model may
    not be stronger than that.)  Only the first success form avoids a dependency
    from the memory read to Rs, which is what makes ``MP+rel+CAS-ok-MRs-addr``
    Allowed (kinds.txt).
    """
    bits = size * 8
    equal = all(
        old == (mask(sv, bits) if isinstance(sv, int) else sv)
        for (old, _, _, _), (sv, _, _) in zip(reads, compare, strict=True)
    )
    second_form = m.read_choice_bool()  # success: Rs from the register; failure: write-back
    sd = sp = rd = rp = read_bits = 0
    for _, cd, cp in compare:
        sd, sp = sd | cd, sp | cp
    for _, od, op_, ridx in reads:
        rd, rp, read_bits = rd | od, rp | op_, read_bits | (1 << ridx)
    events = m.trace.events
    if equal or second_form:
        for k, (old, _, _, ridx) in enumerate(reads):
            if equal:
                value, td, tp = new[k]
                widx = m.store(addrs[k], size, value, ad, ap, td, tp | sp | sd, atomic=True,
                               release=release)
                events[widx].intra_p = read_bits | sd | sp
            else:  # the failing form that writes back what it read
                widx = m.store(addrs[k], size, old, ad, ap, 0, sp | sd, atomic=True,
                               release=release)
                events[widx].intra_d = read_bits
                events[widx].intra_p = read_bits | sd | sp
            m.trace.rmw.append((ridx, widx))
    else:  # a failing CAS without write-back makes a plain read (herd: rmw_to_read)
        for _, _, _, ridx in reads:
            events[ridx].atomic = events[ridx].noret  # NoRet is herd's atomic annotation
    for k, reg in enumerate(dests):
        old = reads[k][0]
        if equal and second_form:
            m.set(reg, old, sd, sp | sd | rd | rp)
        else:
            m.set(reg, old, rd, rp)


def _load_exclusive_pair(acquire: bool) -> Callable[[ThreadMachine, ast.Instruction], None]:
    def handler(m: ThreadMachine, ins: ast.Instruction) -> None:
        ops = expect_operands(m, ins, 3)
        size = width_of(m, ops[0]) // 8
        addr, d, p, _ = m.address(ops, 2)
        kw: dict[str, object] = {"exclusive": True}
        if acquire:
            kw["acquire"] = True
        reads = [m.load(Addr(addr.base, addr.offset + k * size), size, d, p, **kw)
                 for k in range(2)]
        m.pair_monitor = [(m.trace.events[r[3]].cell, r[3]) for r in reads]
        m.trace.sca_groups.append((reads[0][3], reads[1][3]))
        m.monitor = None
        for reg, (value, od, op_, _) in zip(ops[:2], reads, strict=True):
            m.set(reg, value, od, op_)

    return handler


def _store_exclusive_pair(release: bool) -> Callable[[ThreadMachine, ast.Instruction], None]:
    def handler(m: ThreadMachine, ins: ast.Instruction) -> None:
        ops = expect_operands(m, ins, 4)
        status = ops[0]
        size = width_of(m, ops[1]) // 8
        vals = [m.get(ops[1]), m.get(ops[2])]
        succeed = m.read_choice_bool()
        monitor = m.pair_monitor
        m.pair_monitor = None
        addr, d, p, _ = m.address(ops, 3)
        if succeed:
            if monitor is None:
                raise PathCut()
            first = len(m.trace.events)
            m.trace.sca_groups.append((first, first + 1))
            for k in range(2):
                a = Addr(addr.base, addr.offset + k * size)
                if m.cell(a, size) != monitor[k][0]:
                    raise PathCut()
                v, vd, vp = vals[k]
                idx = m.store(a, size, v, d, p, vd, vp, exclusive=True, release=release)
                m.trace.rmw.append((monitor[k][1], idx))
        m.set(status, 0 if succeed else 1, CHOICE, CHOICE)

    return handler



_FAMILY_CACHE: dict[str, Handler | None] = {}


def family_handler(mnemonic: str) -> Handler | None:
    """Atomics are a family (op x ordering x size); build their handlers on demand."""
    if mnemonic in _FAMILY_CACHE:
        return _FAMILY_CACHE[mnemonic]
    handler: Handler | None = None
    if mnemonic.startswith("SWP"):
        handler = _atomic("SWP", None, mnemonic[3:])
    elif mnemonic.startswith("CASP"):
        handler = _casp(mnemonic[4:])
    elif mnemonic.startswith("CAS") and not mnemonic.startswith("CASP"):
        handler = _atomic("CAS", None, mnemonic[3:])
    else:
        for op in _ATOMIC_OPS:
            for kind in ("LD", "ST"):
                if mnemonic.startswith(kind + op):
                    suffix = mnemonic[len(kind + op):]
                    if kind == "ST" and suffix.startswith("A"):
                        continue
                    handler = _atomic(kind, op, suffix)
                    break
            if handler:
                break
    _FAMILY_CACHE[mnemonic] = handler
    return handler


HANDLERS: dict[str, Handler] = {}
for _name, _spec in {
    "LDR": _MemSpec(None), "LDUR": _MemSpec(None),
    "LDRB": _MemSpec(1), "LDURB": _MemSpec(1), "LDRH": _MemSpec(2), "LDURH": _MemSpec(2),
    "LDRSB": _MemSpec(1, signed=True), "LDRSH": _MemSpec(2, signed=True),
    "LDRSW": _MemSpec(4, signed=True), "LDURSB": _MemSpec(1, signed=True),
    "LDURSH": _MemSpec(2, signed=True), "LDURSW": _MemSpec(4, signed=True),
    "LDAR": _MemSpec(None, acquire=True), "LDARB": _MemSpec(1, acquire=True),
    "LDARH": _MemSpec(2, acquire=True),
    "LDAPR": _MemSpec(None, acquire_pc=True), "LDAPRB": _MemSpec(1, acquire_pc=True),
    "LDAPRH": _MemSpec(2, acquire_pc=True), "LDAPUR": _MemSpec(None, acquire_pc=True),
    "LDXR": _MemSpec(None, exclusive=True), "LDXRB": _MemSpec(1, exclusive=True),
    "LDXRH": _MemSpec(2, exclusive=True),
    "LDAXR": _MemSpec(None, acquire=True, exclusive=True),
    "LDAXRB": _MemSpec(1, acquire=True, exclusive=True),
    "LDAXRH": _MemSpec(2, acquire=True, exclusive=True),
}.items():
    HANDLERS[_name] = _load_family(_spec)

for _name, _spec in {
    "STR": _MemSpec(None), "STUR": _MemSpec(None), "STRB": _MemSpec(1), "STURB": _MemSpec(1),
    "STRH": _MemSpec(2), "STURH": _MemSpec(2),
    "STLR": _MemSpec(None, release=True), "STLRB": _MemSpec(1, release=True),
    "STLRH": _MemSpec(2, release=True), "STLUR": _MemSpec(None, release=True),
    "STXR": _MemSpec(None, exclusive=True), "STXRB": _MemSpec(1, exclusive=True),
    "STXRH": _MemSpec(2, exclusive=True),
    "STLXR": _MemSpec(None, release=True, exclusive=True),
    "STLXRB": _MemSpec(1, release=True, exclusive=True),
    "STLXRH": _MemSpec(2, release=True, exclusive=True),
}.items():
    HANDLERS[_name] = _store_family(_spec)


for _name, _pspec in {
    "LDP": _PairSpec(True), "LDNP": _PairSpec(True), "LDPSW": _PairSpec(True, 4, signed=True),
    "LDAP": _PairSpec(True, acquire=True), "LDIAPP": _PairSpec(True, acquire_pc=True, ordered=True),
    "STP": _PairSpec(False), "STNP": _PairSpec(False), "STLP": _PairSpec(False, release=True),
    "STILP": _PairSpec(False, release=True, ordered=True),
}.items():
    HANDLERS[_name] = _pair_family(_pspec)


HANDLERS["LDXP"] = _load_exclusive_pair(False)
HANDLERS["LDAXP"] = _load_exclusive_pair(True)
HANDLERS["STXP"] = _store_exclusive_pair(False)
HANDLERS["STLXP"] = _store_exclusive_pair(True)

