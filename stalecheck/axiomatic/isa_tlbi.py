"""TLB maintenance under herd's VMSA variant: ``TLBI <op>{, Xt}``.

A TLBI is one effect of its thread (an :class:`~stalecheck.axiomatic.events.Event`
of kind ``"T"``), not a read or a write: it takes part in no read-from or
coherence choice, and the model relates it to the walks in its scope (Arm ARM
D8.17, TLB maintenance instructions; B2.3.1 "TLBI effects"; herd's ``TLBI``
events and ``inv-domain``):

* by address (``VAE1IS``, ``VAAE1IS``, ``VALE1``, ...): the register holds a page
  number, ``VA >> 12`` (D8.17.7, the TLBI address argument: VA[55:12]); herd keeps
  it symbolic as ``TLB(x)`` and scopes the TLBI to the walks of ``PTE(x)``;
* ``ALL``/``VMALL``/``VMALLS12`` ops: every walk (one translation context, as herd);
* the ``IS`` forms are broadcast to every PE (D8.17.4, the Inner Shareable domain);
  the others reach the issuing PE's walks only.

The register operand carries address dependencies (herd's ``addr`` reaches
``TLBI``).  Outside the VMSA variant a TLBI is refused rather than ignored.
"""

from __future__ import annotations

import re

from stalecheck.axiomatic.machine import Handler, ThreadMachine
from stalecheck.axiomatic.values import Addr, unwrap
from stalecheck.litmus import ast

# herd's TLBI.op: type, level, optional IS, optional NXS (lib/AArch64Base.ml).
_OP = re.compile(r"^(ALL|VMALLS12|VMALL|ASID|VAAL|VAA|VAL|VA|IPAS2L|IPAS2)(E[0-3])(IS)?(NXS)?$")
_ALL = ("ALL", "VMALL", "VMALLS12")  # herd's inv_all
ALL_PAGES = ("", 0)  # the cell of a TLBI of every entry


def is_broadcast(op: str) -> bool:
    """An Inner Shareable TLBI (``...IS``) reaches every PE's walks (D8.17.4)."""
    m = _OP.match(op)
    return bool(m and m.group(3))


def tlbi_page(m: ThreadMachine, value: object) -> tuple[str, int]:
    """The entry a by-address TLBI names: ``TLB(x)`` -> ``x``; anything else names none."""
    if isinstance(value, Addr):
        page = unwrap(value.base, "TLB")
        if page is not None:
            return (page, 0)
    return ("#none", 0)


def _tlbi(m: ThreadMachine, ins: ast.Instruction) -> None:
    if not m.ctx.vmsa:
        raise m.unsupported(f"{ins.text}: TLB maintenance needs herd's vmsa (kvm) variant")
    ops = ins.operands
    op = ops[0].name.upper() if ops and isinstance(ops[0], ast.Reg) else ""
    found = _OP.match(op)
    if not found or len(ops) > 2:
        raise m.bad_input(f"{ins.text}: not a TLBI operation")
    if found.group(1) not in ("ALL", "VMALL", "VAA", "VA", "VAL", "VAAL"):
        raise m.unsupported(f"TLBI {op} (ASID or stage 2 scope) is not supported")
    d = p = 0
    value: object = 0
    if len(ops) == 2:
        if not isinstance(ops[1], ast.Reg):
            raise m.bad_input(f"{ins.text}: TLBI takes a register")
        value, d, p = m.get(ops[1])
    cell = ALL_PAGES if found.group(1) in _ALL else tlbi_page(m, value)
    m.new_event("T", cell, 0, 0, d, p | d, cmo=f"TLBI.{op}")


HANDLERS: dict[str, Handler] = {"TLBI": _tlbi}
