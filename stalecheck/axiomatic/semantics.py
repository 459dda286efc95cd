"""The instruction table, and the driver that runs one thread over every read value.

Semantics live in the ``isa_*`` modules (one effect defined once); this
module maps mnemonics to them and enumerates a thread's paths: every read
takes each value of its cell's *domain* (the values some write could put
there), by replaying the thread with a growing list of read values.  Traces
whose read values no write can justify are dropped later, when read-from is
chosen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stalecheck.axiomatic import isa_cache, isa_control, isa_data, isa_memory, isa_tlbi
from stalecheck.axiomatic.code_data import CodeLayout
from stalecheck.axiomatic.code_nav import UNROLL, PathCut
from stalecheck.axiomatic.events import ThreadTrace
from stalecheck.axiomatic.initial_state import InitialState
from stalecheck.axiomatic.machine import Context, Handler, NeedRead, ThreadMachine
from stalecheck.axiomatic.mixed_size import Granules
from stalecheck.axiomatic.translation import Hardware, PathDropped
from stalecheck.axiomatic.values import Val
from stalecheck.errors import Position, UnsupportedError
from stalecheck.litmus import ast

Cell = tuple[str, int]

_HANDLERS: dict[str, Handler] = {
    **isa_data.HANDLERS, **isa_control.HANDLERS, **isa_memory.HANDLERS, **isa_cache.HANDLERS,
    **isa_tlbi.HANDLERS,
}

# Operand counts of the data-processing and control instructions (memory
# instructions check their own operands), so a malformed line is an input error.
_ARITY: dict[str, tuple[int, int]] = {
    "MOV": (2, 2), "MOVZ": (2, 3), "MOVN": (2, 3), "MOVK": (2, 3), "MVN": (2, 3),
    "NEG": (2, 3), "NEGS": (2, 3), "CMP": (2, 3), "CMN": (2, 3), "TST": (2, 3),
    "LSL": (3, 3), "LSR": (3, 3), "ASR": (3, 3), "ROR": (3, 3),
    "MUL": (3, 3), "MNEG": (3, 3), "MADD": (4, 4), "MSUB": (4, 4),
    "SMULL": (3, 3), "UMULL": (3, 3), "SMNEGL": (3, 3), "UMNEGL": (3, 3),
    "SMADDL": (4, 4), "UMADDL": (4, 4), "SMSUBL": (4, 4), "UMSUBL": (4, 4),
    "CSEL": (4, 4), "CSINC": (4, 4), "CSINV": (4, 4), "CSNEG": (4, 4),
    "CSET": (2, 2), "CSETM": (2, 2), "CINC": (3, 3), "CINV": (3, 3), "CNEG": (3, 3),
    "UBFM": (4, 4), "SBFM": (4, 4), "ISB": (0, 1), "NOP": (0, 0), "RET": (0, 1),
    "BR": (1, 1), "BLR": (1, 1), "UDF": (0, 1), "SVC": (0, 1), "ERET": (0, 0), "DC": (2, 2),
    "IC": (1, 2), "TLBI": (1, 2),
}
for _m in ("AND", "ANDS", "ORR", "EOR", "EON", "ORN", "BIC", "BICS", "ADD", "ADDS", "SUB", "SUBS"):
    _ARITY[_m] = (3, 4)

SUPPORTED_MNEMONICS = frozenset(_HANDLERS)


def decode(mnemonic: str) -> tuple[Handler | None, tuple[int, int] | None]:
    """The handler of a mnemonic and its operand-count bounds (memory ones check their own)."""
    handler = _HANDLERS.get(mnemonic)
    if handler is None:
        handler = isa_memory.family_handler(mnemonic)
    return handler, _ARITY.get(mnemonic)


def is_supported(mnemonic: str) -> bool:
    """Whether we model this mnemonic at all (operand forms may still be refused)."""
    return mnemonic in _HANDLERS or isa_memory.family_handler(mnemonic) is not None


def check_supported(thread: ast.Thread, path: str) -> None:
    """Refuse a thread up front if it names an instruction we do not model."""
    for line in (*thread.code, *thread.handler):
        ins = line.instruction
        if ins is not None and not is_supported(ins.mnemonic):
            raise UnsupportedError(
                f"instruction {ins.mnemonic} is not supported ({ins.text})",
                Position(path, ins.line, ins.column),
            )


@dataclass
class ThreadPaths:
    """All paths of one thread under a value domain; ``cut`` if a loop bound pruned some."""

    traces: list[ThreadTrace]
    cut: bool
    # writes of the paths the loop bound cut, up to the cut: values stored in some
    # execution prefix (a handler loop may be what stores the value that ends it)
    cut_writes: list[tuple[Cell, Val]] = field(default_factory=list)


def thread_traces(
    thread: ast.Thread,
    layout: InitialState,
    domain: Mapping[Cell, Sequence[Val]],
    path: str,
    programs: Mapping[int, Sequence[ast.CodeLine]] | None = None,
    variants: frozenset[str] = frozenset(),
    code: CodeLayout | None = None,
    granules: Granules | None = None,
    el0: frozenset[int] = frozenset(),
    hardware: Mapping[int, Hardware] | None = None,
    fault_handling: str = "fatal",
) -> ThreadPaths:
    """Every path of ``thread`` with each read taking each value of its cell's domain."""
    ctx = Context(
        thread.proc, layout, path, decode, programs or {thread.proc: thread.code}, variants,
        code, granules, el0, hardware or {},
        {thread.proc: thread.handler} if thread.handler else {}, fault_handling,
        bool(variants & {"vmsa", "kvm"}),
    )
    out: list[ThreadTrace] = []
    cut = False
    cut_writes: list[tuple[Cell, Val]] = []
    stack: list[list[Val]] = [[]]
    while stack:
        choices = stack.pop()
        machine = ThreadMachine(ctx, thread.code, choices)
        try:
            out.append(machine.run())
        except NeedRead as need:
            if need.cell[0] == "<stxr>":
                options: Sequence[Val] = (1, 0)
            else:
                options = domain.get(need.cell, (0,))
            for v in reversed(list(options)):
                stack.append([*choices, v])
        except PathDropped:
            pass
        except PathCut:
            if machine.back_taken and any(c >= UNROLL for c in machine.back_taken.values()):
                cut = True
            cut_writes.extend((ev.cell, ev.value) for ev in machine.trace.events if ev.kind == "W")
    return ThreadPaths(out, cut, cut_writes)


__all__ = ["ThreadPaths", "check_supported", "decode", "is_supported", "thread_traces"]
