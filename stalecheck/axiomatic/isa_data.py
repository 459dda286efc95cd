"""Data-processing and system-register instructions (Arm ARM C6: MOV, ADD, CSEL, MRS, ...).

They only move values and the dependency sets that ride on them; none of
them makes a memory effect, except an ``MRS``/``MSR`` that FEAT_NV2
redirects to memory.
"""

from __future__ import annotations

from stalecheck.axiomatic.initial_state import canonical_reg
from stalecheck.axiomatic.isa_common import (
    add_with_flags,
    apply_shift,
    arith,
    condition_holds,
    expect_operands,
    nzcv,
    set_flags,
    shifted_operand,
    width_of,
)
from stalecheck.axiomatic.machine import Handler, ThreadMachine
from stalecheck.axiomatic.translation import pte_logic
from stalecheck.axiomatic.values import MASK64, Addr, PteVal, Val, mask, signed, unwrap
from stalecheck.litmus import ast


def _mov(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = expect_operands(m, ins, 2)
    v, d, p = m.get(ops[1])
    m.set(ops[0], v, d, p)


def _movz(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = expect_operands(m, ins, (2, 3))
    v, _, _ = m.get(ops[1])
    shift = ops[2].amount if len(ops) == 3 and isinstance(ops[2], ast.Shift) else 0
    assert isinstance(v, int)
    val = v << shift
    if ins.mnemonic == "MOVN":
        val = ~val
    m.set(ops[0], val & MASK64, 0, 0)


def _movk(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = expect_operands(m, ins, (2, 3))
    old, d, p = m.get(ops[0])
    imm, _, _ = m.get(ops[1])
    shift = ops[2].amount if len(ops) == 3 and isinstance(ops[2], ast.Shift) else 0
    if not isinstance(old, int) or not isinstance(imm, int):
        raise m.unsupported("MOVK on an address")
    val = (old & ~(0xFFFF << shift)) | ((imm & 0xFFFF) << shift)
    m.set(ops[0], val, d, p)


def _logic(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = ins.operands
    mn = ins.mnemonic
    setflags = mn in ("ANDS", "BICS")
    if len(ops) < 3:
        raise m.bad_input(f"{mn} takes 3 operands")
    width = width_of(m, ops[0])
    a, ad, ap = m.get(ops[1])
    b, bd, bp = shifted_operand(m, ops, 2, width)
    base = mn.rstrip("S") if mn in ("ANDS", "BICS") else mn
    if isinstance(a, PteVal) or isinstance(b, PteVal):
        pte, other = (a, b) if isinstance(a, PteVal) else (b, a)
        assert isinstance(pte, PteVal)
        if base == "EOR" and a == b:
            res: Val = 0
        elif isinstance(other, int) and (base != "BIC" or isinstance(a, PteVal)) and \
                (found := pte_logic(base, pte, mask(other, width))) is not None:
            res = found
        else:
            raise m.unsupported(f"{mn} on a page-table entry value is not supported")
    elif isinstance(a, Addr) or isinstance(b, Addr):
        if base == "EOR" and a == b:
            res = 0
        elif base == "ORR" and isinstance(a, int) and mask(a, width) == 0 and \
                ops[1] != ops[2] and isinstance(ops[1], ast.Reg) and \
                canonical_reg(ops[1].name) == "XZR":
            res = b
        else:
            raise m.unsupported(f"{mn} on an address is not supported")
    else:
        assert isinstance(a, int) and isinstance(b, int)
        if base in ("BIC", "ORN", "EON"):
            b = mask(~b, width)
        op = {"AND": "&", "BIC": "&", "ORR": "|", "ORN": "|", "EOR": "^", "EON": "^"}[base]
        res = a & b if op == "&" else a | b if op == "|" else a ^ b
        res = mask(res, width)
    d, p = ad | bd, ap | bp
    m.set(ops[0], res, d, p)
    if setflags:
        assert isinstance(res, int)
        set_flags(m, nzcv(res, width, 0, 0), d, p)


def _addsub(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = ins.operands
    mn = ins.mnemonic
    if len(ops) < 3:
        raise m.bad_input(f"{mn} takes 3 operands")
    width = width_of(m, ops[0])
    a, ad, ap = m.get(ops[1])
    b, bd, bp = shifted_operand(m, ops, 2, width)
    res, flags = arith(m, a, b, "add" if mn.startswith("ADD") else "sub", width)
    d, p = ad | bd, ap | bp
    m.set(ops[0], res, d, p)
    if mn.endswith("S"):
        set_flags(m, flags, d, p)


def _cmp(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = ins.operands
    if len(ops) < 2:
        raise m.bad_input(f"{ins.mnemonic} takes 2 operands")
    width = width_of(m, ops[0])
    a, ad, ap = m.get(ops[0])
    b, bd, bp = shifted_operand(m, ops, 1, width)
    if ins.mnemonic == "TST":
        if not isinstance(a, int) or not isinstance(b, int):
            raise m.unsupported("TST on an address")
        set_flags(m, nzcv(a & b, width, 0, 0), ad | bd, ap | bp)
        return
    _, flags = arith(m, a, b, "sub" if ins.mnemonic == "CMP" else "add", width)
    set_flags(m, flags, ad | bd, ap | bp)


def _neg(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = ins.operands
    width = width_of(m, ops[0])
    b, bd, bp = shifted_operand(m, ops, 1, width)
    if not isinstance(b, int):
        raise m.unsupported("NEG of an address")
    res, flags = add_with_flags(0, mask(~b, width), width, 1)
    m.set(ops[0], res, bd, bp)
    if ins.mnemonic == "NEGS":
        set_flags(m, flags, bd, bp)


def _mvn(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = ins.operands
    width = width_of(m, ops[0])
    b, bd, bp = shifted_operand(m, ops, 1, width)
    if not isinstance(b, int):
        raise m.unsupported("MVN of an address")
    m.set(ops[0], mask(~b, width), bd, bp)


def _shift_ins(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = expect_operands(m, ins, 3)
    width = width_of(m, ops[0])
    a, ad, ap = m.get(ops[1])
    b, bd, bp = m.get(ops[2])
    if m.ctx.vmsa and ins.mnemonic == "LSR" and isinstance(a, Addr) and b == 12 and \
            unwrap(a.base, "PA") is None and unwrap(a.base, "PTE") is None:
        # herd: a virtual address shifted right by 12 is its page number, the operand of
        # a by-address TLBI (D8.17.7), kept symbolic as TLB(x) (AArch64Op shift_address_right)
        m.set(ops[0], Addr(f"TLB({a.base})"), ad, ap)
        return
    if not isinstance(a, int) or not isinstance(b, int):
        raise m.unsupported("shifting an address")
    amount = b % width
    m.set(ops[0], apply_shift(m, ins.mnemonic, a, amount, width), ad | bd, ap | bp)


def _mul(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = ins.operands
    width = width_of(m, ops[0])
    vals = [m.get(o) for o in ops[1:]]
    x = [v for v, _, _ in vals if isinstance(v, int)]
    if len(x) != len(vals):
        raise m.unsupported("multiplying an address")
    d = p = 0
    for _, vd, vp in vals:
        d |= vd
        p |= vp
    mn = ins.mnemonic
    if mn == "MUL":
        res = x[0] * x[1]
    elif mn == "MNEG":
        res = -(x[0] * x[1])
    elif mn == "MADD":
        res = x[2] + x[0] * x[1]
    elif mn == "MSUB":
        res = x[2] - x[0] * x[1]
    else:
        sgn = mn.startswith("S")
        a = signed(x[0], 32) if sgn else mask(x[0], 32)
        b = signed(x[1], 32) if sgn else mask(x[1], 32)
        if mn.endswith("MULL"):
            res = a * b
        elif mn.endswith("MNEGL"):
            res = -(a * b)
        elif mn.endswith("MADDL"):
            res = x[2] + a * b
        else:
            res = x[2] - a * b
    m.set(ops[0], mask(res, width), d, p)


def _csel(m: ThreadMachine, ins: ast.Instruction) -> None:
    """CSEL family: the result flows from the chosen source (data) and the flags (pick)."""
    mn = ins.mnemonic
    ops = ins.operands
    if mn in ("CSET", "CSETM"):
        ops = (ops[0], ast.Reg("XZR"), ast.Reg("XZR"), ops[1])
        mn = "CSINC" if ins.mnemonic == "CSET" else "CSINV"
        ops = (ops[0], ops[1], ops[2], ast.Reg(_invert(m, ops[3])))
    elif mn in ("CINC", "CINV", "CNEG"):
        ops = (ops[0], ops[1], ops[1], ast.Reg(_invert(m, ops[2])))
        mn = {"CINC": "CSINC", "CINV": "CSINV", "CNEG": "CSNEG"}[mn]
    if len(ops) != 4 or not isinstance(ops[3], ast.Reg):
        raise m.bad_input(f"{ins.mnemonic}: bad operands")
    width = width_of(m, ops[0])
    holds, fd, fp = condition_holds(m, ops[3].name)
    if holds:
        v, d, p = m.get(ops[1])
    else:
        v, d, p = m.get(ops[2])
        if not isinstance(v, int) and mn != "CSEL":
            raise m.unsupported(f"{mn} of an address")
        if mn == "CSINC":
            assert isinstance(v, int)
            v = mask(v + 1, width)
        elif mn == "CSINV":
            assert isinstance(v, int)
            v = mask(~v, width)
        elif mn == "CSNEG":
            assert isinstance(v, int)
            v = mask(-v, width)
    m.set(ops[0], v, d, p | fd | fp)


def _invert(m: ThreadMachine, op: ast.Operand) -> str:
    if not isinstance(op, ast.Reg):
        raise m.bad_input("expected a condition")
    inv = {"EQ": "NE", "NE": "EQ", "CS": "CC", "HS": "LO", "CC": "CS", "LO": "HS", "MI": "PL",
           "PL": "MI", "VS": "VC", "VC": "VS", "HI": "LS", "LS": "HI", "GE": "LT", "LT": "GE",
           "GT": "LE", "LE": "GT"}
    code = op.name.upper()
    if code not in inv:
        raise m.bad_input(f"unknown condition {op.name}")
    return inv[code]


def _sxtw(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = expect_operands(m, ins, 2)
    v, d, p = m.get(ops[1])
    if not isinstance(v, int):
        raise m.unsupported("extending an address")
    bits = {"SXTW": 32, "SXTH": 16, "SXTB": 8, "UXTH": 16, "UXTB": 8}[ins.mnemonic]
    val = signed(v, bits) if ins.mnemonic.startswith("S") else mask(v, bits)
    m.set(ops[0], val & MASK64, d, p)


def _bitfield(m: ThreadMachine, ins: ast.Instruction) -> None:
    """UBFM/SBFM (and so LSL/LSR/ASR/UBFX/SBFX/UXTB... as herd spells them)."""
    ops = expect_operands(m, ins, 4)
    width = width_of(m, ops[0])
    v, d, p = m.get(ops[1])
    immr, _, _ = m.get(ops[2])
    imms, _, _ = m.get(ops[3])
    if not isinstance(v, int) or not isinstance(immr, int) or not isinstance(imms, int):
        raise m.unsupported("bitfield move of an address")
    v = mask(v, width)
    if imms >= immr:
        length = imms - immr + 1
        field = (v >> immr) & ((1 << length) - 1)
        res = signed(field, length) if ins.mnemonic == "SBFM" else field
    else:
        length = imms + 1
        field = v & ((1 << length) - 1)
        if ins.mnemonic == "SBFM":
            field = signed(field, length)
        res = field << (width - immr)
    m.set(ops[0], mask(res, width), d, p)


def _unary_bits(m: ThreadMachine, ins: ast.Instruction) -> None:
    """ABS, RBIT and the byte reversals: pure functions of one register."""
    ops = expect_operands(m, ins, 2)
    width = width_of(m, ops[0])
    v, d, p = m.get(ops[1])
    if not isinstance(v, int):
        raise m.unsupported(f"{ins.mnemonic} of an address")
    v = mask(v, width)
    mn = ins.mnemonic
    if mn == "ABS":
        res = abs(signed(v, width))
    elif mn == "RBIT":
        res = int(format(v, f"0{width}b")[::-1], 2)
    else:
        chunk = {"REV": width, "REV64": 64, "REV32": 32, "REV16": 16}[mn]
        res = 0
        for start in range(0, width, chunk):
            part = (v >> start) & ((1 << chunk) - 1)
            part = int.from_bytes(part.to_bytes(chunk // 8, "little"), "big")
            res |= part << start
    m.set(ops[0], mask(res, width), d, p)


# FEAT_NV2: with VNCR_EL2 set, EL1 accesses to these registers become loads and
# stores at VNCR_EL2 + offset (Arm ARM D8, "VNCR_EL2-relative offsets"; the same
# table as Linux's asm/vncr_mapping.h).  Only registers with a known offset.
_VNCR_OFFSETS = {
    "VTTBR_EL2": 0x020, "VTCR_EL2": 0x040, "VMPIDR_EL2": 0x050, "CNTVOFF_EL2": 0x060,
    "HCR_EL2": 0x078, "HSTR_EL2": 0x080, "VPIDR_EL2": 0x088, "TPIDR_EL2": 0x090,
    "HCRX_EL2": 0x0A0, "VNCR_EL2": 0x0B0, "CPACR_EL1": 0x100, "CONTEXTIDR_EL1": 0x108,
    "SCTLR_EL1": 0x110, "ELR_EL1": 0x230,
}


def _vncr_address(m: ThreadMachine, op: ast.Operand) -> Addr | None:
    """Where an NV2-redirected system register lives, or None if it is not redirected."""
    if not (m.ctx.nv2 and isinstance(op, ast.Reg)):
        return None
    offset = _VNCR_OFFSETS.get(op.name.upper())
    base = m.regs.get("VNCR_EL2", (0, 0, 0))[0]
    if offset is None or not isinstance(base, Addr):
        return None
    return Addr(base.base, base.offset + offset)


def _mrs(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = expect_operands(m, ins, 2)
    addr = _vncr_address(m, ops[1])
    if addr is not None:
        value, d, p, _ = m.load(addr, 8, 0, 0)
        m.set(ops[0], value, d, p)
        return
    if isinstance(ops[1], ast.Reg) and ops[1].name.upper() == "ELR_EL1" and (m.ctx.vmsa or m.ctx.handlers):
        value, d, p = m.regs.get("ELR_EL1", (0, 0, 0))  # set when a fault is taken
        m.set(ops[0], value, d, p)
        return
    if not (isinstance(ops[1], ast.Reg) and ops[1].name.upper() == "NZCV"):
        raise m.unsupported(f"system register {ops[1]} is not supported")
    n, z, c, v, d, p = m.flags if m.flags is not None else (0, 0, 0, 0, 0, 0)
    m.set(ops[0], (n << 31) | (z << 30) | (c << 29) | (v << 28), d, p)


def _msr(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = expect_operands(m, ins, 2)
    addr = _vncr_address(m, ops[0])
    if addr is not None:
        v, d, p = m.get(ops[1])
        m.store(addr, 8, v, 0, 0, d, p)
        return
    if isinstance(ops[0], ast.Reg) and ops[0].name.upper() == "ELR_EL1" and (m.ctx.vmsa or m.ctx.handlers):
        m.regs["ELR_EL1"] = m.get(ops[1])  # where a handler's ERET returns to
        return
    if not (isinstance(ops[0], ast.Reg) and ops[0].name.upper() == "NZCV"):
        raise m.unsupported(f"system register {ops[0]} is not supported")
    v, d, p = m.get(ops[1])
    if not isinstance(v, int):
        raise m.unsupported("MSR of an address")
    m.flags = ((v >> 31) & 1, (v >> 30) & 1, (v >> 29) & 1, (v >> 28) & 1, d, p | d)



HANDLERS: dict[str, Handler] = {
    "MOV": _mov, "MOVZ": _movz, "MOVN": _movz, "MOVK": _movk, "MVN": _mvn, "AND": _logic,
    "ANDS": _logic, "ORR": _logic, "EOR": _logic, "EON": _logic, "ORN": _logic, "BIC": _logic,
    "BICS": _logic, "ADD": _addsub, "ADDS": _addsub, "SUB": _addsub, "SUBS": _addsub,
    "CMP": _cmp, "CMN": _cmp, "TST": _cmp, "NEG": _neg, "NEGS": _neg, "LSL": _shift_ins,
    "LSR": _shift_ins, "ASR": _shift_ins, "ROR": _shift_ins, "MUL": _mul, "MNEG": _mul,
    "MADD": _mul, "MSUB": _mul, "SMULL": _mul, "UMULL": _mul, "SMADDL": _mul, "UMADDL": _mul,
    "SMSUBL": _mul, "UMSUBL": _mul, "SMNEGL": _mul, "UMNEGL": _mul, "CSEL": _csel,
    "CSINC": _csel, "CSINV": _csel, "CSNEG": _csel, "CSET": _csel, "CSETM": _csel,
    "CINC": _csel, "CINV": _csel, "CNEG": _csel, "SXTW": _sxtw, "SXTH": _sxtw, "SXTB": _sxtw,
    "UXTH": _sxtw, "UXTB": _sxtw, "UBFM": _bitfield, "SBFM": _bitfield, "ABS": _unary_bits,
    "RBIT": _unary_bits, "REV": _unary_bits, "REV16": _unary_bits, "REV32": _unary_bits,
    "REV64": _unary_bits, "MRS": _mrs, "MSR": _msr,
}
