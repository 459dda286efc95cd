"""Exceptions taken by a thread: fault entry, its handler column, ERET (herd's mem.ml ``add_fault``).

A synchronous exception (UDF, SVC, an undefined fetched instruction, an MMU
fault) is recorded in ``ThreadTrace.faults``; where the thread goes on depends
on its handler column (``P0.F``) and herd's fault handling.  Exception entry and
return are context synchronization events (herd's ``IFB``), recorded as
barriers (:data:`~stalecheck.axiomatic.events.IFB_KINDS`) so that every model
orders through them as through an ISB.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from stalecheck.axiomatic.code_nav import UNROLL, PathCut, label_after, label_at, labels_of
from stalecheck.axiomatic.events import ThreadTrace
from stalecheck.axiomatic.translation import Fault, PathDropped
from stalecheck.axiomatic.values import CodeLabel, Val
from stalecheck.errors import UnsupportedError
from stalecheck.litmus import ast


class ExceptionContext(Protocol):
    """What exception handling reads of a thread's context (machine.Context)."""

    @property
    def proc(self) -> int: ...
    @property
    def variants(self) -> frozenset[str]: ...
    @property
    def programs(self) -> Mapping[int, Sequence[ast.CodeLine]]: ...
    @property
    def el0(self) -> frozenset[int]: ...
    @property
    def handlers(self) -> Mapping[int, Sequence[ast.CodeLine]]: ...
    @property
    def fault_handling(self) -> str: ...


class ThreadMachine(Protocol):
    """What exception handling reads and sets of a running thread (machine.ThreadMachine):
    a protocol, so that this module does not import the machine that calls it."""

    @property
    def ctx(self) -> ExceptionContext: ...

    code: Sequence[ast.CodeLine]
    code_proc: int
    labels: dict[str, int]
    trace: ThreadTrace
    regs: dict[str, tuple[Val, int, int]]
    in_handler: bool
    el0: bool
    instance: int
    back_taken: dict[tuple[int, int], int]
    branch_counts: bool

    def unsupported(self, message: str) -> UnsupportedError: ...

    def barrier(self, kind: str) -> None: ...


def take_fault(m: ThreadMachine, pc: int, fault: Fault) -> int | None:
    """Record a fault; where the thread goes on (herd: mem.ml ``add_fault``): its
    handler (``P0.F``) at EL1; else under ``handled`` that instruction again (a
    second fault drops the path; an SVC goes on with the next one), under
    ``faultToNext`` the next one, under ``fatal`` nowhere."""
    label = label_at(m.code, pc)
    m.trace.faults.append((m.code_proc, label, fault.kind, fault.loc))
    svc = fault.kind == "SupervisorCall"
    # ELR_EL1: the preferred return address, the next instruction for an SVC, the
    # faulting one otherwise (Arm ARM D1.3.4; herd's get_link_addr/get_instr_label)
    ret = label_after(m.code, pc) if svc else label
    m.regs["ELR_EL1"] = (CodeLabel(m.code_proc, ret), 0, 0)
    handler = m.ctx.handlers.get(m.code_proc)
    if m.in_handler and handler:  # herd: "legal outcomes may be missing"
        raise m.unsupported("a fault inside a fault handler is not supported")
    if m.in_handler:
        raise PathDropped()
    m.instance += 1
    handling = m.ctx.fault_handling
    resume = (0 if handler else None if handling == "fatal"
              else pc if handling == "handled" and not svc else pc + 1)
    if resume is not None and not fault.kind.startswith("MMU:"):
        exception_boundary(m, "exc.entry", svc)  # an MMU fault is an event of its own
    if handler or (handling == "handled" and not svc):
        # herd (mem.ml add_fault): the handler, or under Handled the faulting
        # instruction again, runs with re_exec set (a second fault drops the path);
        # a syscall under Handled goes on with the next instruction
        m.in_handler, m.el0 = True, False
        if handler:
            m.code, m.labels = handler, labels_of(handler)
    return resume


def exception_boundary(m: ThreadMachine, kind: str, svc: bool = False) -> None:
    """Record an exception entry (``exc.entry``) or return (``exc.ret``) as a barrier.
    Both are context-synchronizing (Arm ARM D1.3.5, herd's ``IFB``), except that with
    FEAT_ExS (``-variant exs``) an SVC entry is one only with ``eis`` (SCTLR_ELx.EIS)
    and a return only with ``eos`` (SCTLR_ELx.EOS) (aarch64hwreqs.cat
    ``EXC-ENTRY-IFB``/``EXC-RET-IFB``)."""
    variants = m.ctx.variants
    if "exs" in variants and (
            (kind == "exc.entry" and svc and "eis" not in variants)
            or (kind == "exc.ret" and "eos" not in variants)):
        kind += ".noifb"
    m.barrier(kind)


def leave_handler(m: ThreadMachine) -> None:
    """ERET: back to the thread's code and exception level (counted like a backward
    branch, as herd unrolls FaultRet)."""
    m.code = m.ctx.programs.get(m.code_proc, m.code)
    m.labels, m.in_handler = labels_of(m.code), False
    m.el0 = m.ctx.proc in m.ctx.el0
    taken = m.back_taken[(m.code_proc, -1)] = m.back_taken.get((m.code_proc, -1), 0) + 1
    if taken > UNROLL:
        raise PathCut()
    m.branch_counts = False
