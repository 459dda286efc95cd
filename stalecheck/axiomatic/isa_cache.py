"""Cache maintenance for instruction fetch: ``DC CVAU``, ``IC IVAU``, ``IC IALLU[IS]``.

Each is one effect in the thread's trace (an :class:`~stalecheck.axiomatic.events.Event`
of kind ``"C"``), not a read or a write: it takes part in no read-from or
coherence choice, and the model relates it to writes and fetches of the same
cache line (Arm ARM B2.3.1 "DCCVAU Effects", "IC Effects, Completed IC Effects",
"Same Cache Line"; D7.5.9 for the instructions; herd's ``DC.CVAU``/``IC`` events).
``DC CVAU`` and ``IC IVAU`` take their address from a register, so they carry address dependencies
(herd's ``addr`` reaches ``DC.CVAU | IC.IVAU``); ``IC IALLU`` has no address
and concerns every location (herd's ``scl`` pairs it with everything).

They are modelled only under the ifetch variant: herd's model uses them for
nothing else, so elsewhere they are refused rather than silently ignored.
"""

from __future__ import annotations

from stalecheck.axiomatic.isa_common import expect_operands
from stalecheck.axiomatic.machine import Handler, ThreadMachine
from stalecheck.litmus import ast

ALL_LINES = ("*", 0)  # the cell of an invalidate-all: same cache line as everything


def _require_ifetch(m: ThreadMachine, ins: ast.Instruction) -> None:
    if m.ctx.code is None or not m.ctx.code.fetching:
        raise m.unsupported(
            f"{ins.text}: cache maintenance is not supported without herd's ifetch variant "
            "(Variant=self, or --variant ifetch)"
        )


def _by_address(m: ThreadMachine, ins: ast.Instruction, name: str) -> None:
    ops = expect_operands(m, ins, 2)
    if not isinstance(ops[1], ast.Reg):
        raise m.bad_input(f"{ins.mnemonic} takes an address register")
    v, d, p = m.get(ops[1])
    if isinstance(v, int):
        # A numeric address names no location of the test: herd still makes the
        # effect (it accesses nothing, so it is not an error), on no cache line we track.
        cell: tuple[str, int] = (f"#{v:#x}", 0)
    else:
        addr = m.add_offset(v, 0)
        found = m.ctx.layout.cell_of(addr)  # a cache line: any location in it, whatever its size
        if found is None:
            raise m.unsupported(f"{ins.mnemonic} of {addr}, not a location of the test, is not supported")
        cell = found
    m.new_event("C", cell, 0, 0, d, p | d, cmo=name)


def _dc(m: ThreadMachine, ins: ast.Instruction) -> None:
    _require_ifetch(m, ins)
    op = ins.operands[0].name.upper() if ins.operands and isinstance(ins.operands[0], ast.Reg) else ""
    if op != "CVAU":
        raise m.unsupported(f"data cache operation DC {op} is not supported (only DC CVAU)")
    _by_address(m, ins, "DC.CVAU")


def _ic(m: ThreadMachine, ins: ast.Instruction) -> None:
    _require_ifetch(m, ins)
    op = ins.operands[0].name.upper() if ins.operands and isinstance(ins.operands[0], ast.Reg) else ""
    if op == "IVAU":
        _by_address(m, ins, "IC.IVAU")
    elif op in ("IALLU", "IALLUIS"):
        expect_operands(m, ins, 1)
        m.new_event("C", ALL_LINES, 0, 0, 0, 0, cmo=f"IC.{op}")
    else:
        raise m.unsupported(f"instruction cache operation IC {op} is not supported")


HANDLERS: dict[str, Handler] = {"DC": _dc, "IC": _ic}
