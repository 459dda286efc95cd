"""Branches, barriers and exception-generating instructions (Arm ARM C6: B, CBZ, DMB, ISB, SVC).

A branch returns its target; the thread machine follows it and bounds
loops.  Control dependencies are recorded here, barriers become
:class:`~stalecheck.axiomatic.events.Barrier` records, ``UDF``/``SVC`` raise
:class:`~stalecheck.axiomatic.machine.Fault`.
"""

from __future__ import annotations

from stalecheck.axiomatic.exceptions import exception_boundary, leave_handler
from stalecheck.axiomatic.isa_common import CONDITIONS, branch_target, condition_holds, expect_operands
from stalecheck.axiomatic.machine import Handler, Poison, ThreadMachine
from stalecheck.axiomatic.translation import Fault
from stalecheck.axiomatic.values import CodeLabel
from stalecheck.litmus import ast


def _nop(m: ThreadMachine, ins: ast.Instruction) -> None:
    return None


def _b(m: ThreadMachine, ins: ast.Instruction) -> str | None:
    ops = expect_operands(m, ins, 1)
    return branch_target(m, ops[0])


def _bcond(m: ThreadMachine, ins: ast.Instruction) -> str | None:
    ops = expect_operands(m, ins, 1)
    holds, d, p = condition_holds(m, ins.mnemonic.split(".", 1)[1])
    m.branch_counts = bool(d | p)
    m.ctrl_d |= d
    m.ctrl_p |= p | d
    return branch_target(m, ops[0]) if holds else None


def _cbz(m: ThreadMachine, ins: ast.Instruction) -> str | None:
    ops = expect_operands(m, ins, 2)
    v, d, p = m.get(ops[0])
    m.branch_counts = bool(d | p)
    m.ctrl_d |= d
    m.ctrl_p |= p | d
    zero = isinstance(v, int) and v == 0
    take = zero if ins.mnemonic == "CBZ" else not zero
    return branch_target(m, ops[1]) if take else None


def _tbz(m: ThreadMachine, ins: ast.Instruction) -> str | None:
    ops = expect_operands(m, ins, 3)
    v, d, p = m.get(ops[0])
    bit, _, _ = m.get(ops[1])
    if not isinstance(v, int) or not isinstance(bit, int):
        raise m.unsupported("testing a bit of an address")
    m.branch_counts = bool(d | p)
    m.ctrl_d |= d
    m.ctrl_p |= p | d
    clear = (v >> bit) & 1 == 0
    take = clear if ins.mnemonic == "TBZ" else not clear
    return branch_target(m, ops[2]) if take else None


def _udf(m: ThreadMachine, ins: ast.Instruction) -> None:
    raise Fault("UndefinedInstruction")


def _svc(m: ThreadMachine, ins: ast.Instruction) -> None:
    raise Fault("SupervisorCall")


def _adr(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = expect_operands(m, ins, 2)
    if not isinstance(ops[1], ast.Reg):
        raise m.bad_input(f"replace offset by label in instruction {ins.text}")
    m.set(ops[0], m.code_label(ops[1].name), 0, 0)


def _bl(m: ThreadMachine, ins: ast.Instruction) -> str | None:
    ops = expect_operands(m, ins, 1)
    target = branch_target(m, ops[0])
    m.set(ast.Reg("X30"), m.return_address(m.pc), 0, 0)
    return target


def _indirect(m: ThreadMachine, ins: ast.Instruction) -> CodeLabel:
    """BR/BLR/RET: jump to a code address held in a register."""
    ops = ins.operands
    reg = ops[0] if ops else ast.Reg("X30")
    v, d, p = m.get(reg)
    if ins.mnemonic == "RET" and not ops and (v == 0 or "telechat" in m.ctx.variants):
        # herd's telechat variant: a RET without operand leaves the test (AArch64Sem.ml).
        return CodeLabel(m.code_proc, f"#{len(m.code)}")  # return from the test: thread ends
    if not isinstance(v, CodeLabel):
        # Only an error if a consistent execution really branches there (cf. numeric addresses).
        raise Poison(m.bad_input(f"{ins.mnemonic} to a non-code address {v}"))
    m.branch_counts = bool(d | p)
    m.ctrl_d |= d
    m.ctrl_p |= p | d
    if ins.mnemonic == "BLR":
        m.set(ast.Reg("X30"), m.return_address(m.pc), 0, 0)
    return v


_FENCE_KIND = {
    "SY": "full", "ISH": "full", "OSH": "full", "NSH": "full",
    "LD": "ld", "ISHLD": "ld", "OSHLD": "ld", "NSHLD": "ld",
    "ST": "st", "ISHST": "st", "OSHST": "st", "NSHST": "st",
}


def _dmb(m: ThreadMachine, ins: ast.Instruction) -> None:
    ops = expect_operands(m, ins, 1)
    opt = ops[0].name.upper() if isinstance(ops[0], ast.Reg) else ""
    if opt not in _FENCE_KIND:
        raise m.bad_input(f"unknown barrier option {opt or ops[0]}")
    m.barrier(f"{ins.mnemonic.lower()}.{_FENCE_KIND[opt]}")


def _isb(m: ThreadMachine, ins: ast.Instruction) -> None:
    m.barrier("isb")



def _eret(m: ThreadMachine, ins: ast.Instruction) -> CodeLabel:
    """ERET from a fault handler to ELR_EL1 (herd: FaultRet); an exception return is
    context-synchronizing unless FEAT_ExS says otherwise (D1.3.5; herd's EXC-RET-IFB)."""
    expect_operands(m, ins, 0)
    if not m.in_handler:
        raise m.unsupported("ERET outside a fault handler is not supported")
    target = m.regs.get("ELR_EL1", (0, 0, 0))[0]
    if not isinstance(target, CodeLabel):
        raise m.bad_input("Cannot determine ERET target")
    exception_boundary(m, "exc.ret")
    leave_handler(m)
    return target


HANDLERS: dict[str, Handler] = {
    "ERET": _eret,
    "UDF": _udf, "SVC": _svc, "ADR": _adr, "BL": _bl, "BLR": _indirect, "BR": _indirect,
    "RET": _indirect, "NOP": _nop, "B": _b, "CBZ": _cbz, "CBNZ": _cbz, "TBZ": _tbz,
    "TBNZ": _tbz, "DMB": _dmb, "DSB": _dmb, "ISB": _isb,
}
for _cc in CONDITIONS:
    HANDLERS[f"B.{_cc}"] = _bcond
