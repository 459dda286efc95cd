"""The two engines check each other (docs/design.md section 2).

A litmus test that both engines can express (loads, stores, acquire/release
and acquire-PC accesses to cacheable memory, barriers, constants moved into
registers) is translated into a machine-engine system: one PE per thread, each
location its own Normal write-back line, coherent caches, and out-of-order
execution inside each PE (``Options.weak_ordering``, machine/ordering.py).  The
machine engine's final states must *equal* the axiomatic engine's allowed
states (docs/design.md section 2): a state on one side only is a bug in one of the
two engines, found without a hardware reference.  What the notation cannot
express is refused with the reason, never approximated.
"""

from __future__ import annotations

from dataclasses import dataclass

from stalecheck.errors import UnsupportedError
from stalecheck.explore.search import Budget, collect
from stalecheck.litmus import ast
from stalecheck.machine.caches import coherent_value
from stalecheck.machine.state import State
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder

_BARRIERS = {"DMB", "DSB"}
_ACCESSES = ("LDR", "LDAR", "LDAPR", "STR", "STLR")
_OPTIONS = {"SY", "ST", "LD", "ISH", "ISHST", "ISHLD", "OSH", "OSHST", "OSHLD", "NSH", "NSHST", "NSHLD"}


@dataclass(frozen=True)
class Translated:
    machine: Machine
    columns: tuple[str, ...]  # herd's column names, e.g. ``1:X0`` and ``[x]``
    constants: dict[tuple[int, str], int]  # registers never loaded: their final value


def _reg_number(name: str) -> int | None:
    upper = name.upper()
    if upper[:1] in ("X", "W") and upper[1:].isdigit():
        return int(upper[1:])
    return None


def _unsupported(test: ast.LitmusTest, why: str, line: int = 0) -> UnsupportedError:
    from stalecheck.errors import Position

    return UnsupportedError(f"not expressible in the machine engine: {why}", Position(test.path, line))


def translate(test: ast.LitmusTest, columns: tuple[str, ...]) -> Translated:
    """Build a machine system for ``test``; ``columns`` are the axiomatic result's columns."""
    pointers: dict[tuple[int, int], str] = {}
    values: dict[tuple[int, int], int] = {}
    memory: dict[str, int] = {}
    locations: list[str] = []
    for item in test.init:
        loc, value = item.location, item.value
        if isinstance(loc, ast.RegLoc):
            n = _reg_number(loc.reg)
            if n is None:
                raise _unsupported(test, f"register {loc.reg}", item.line)
            if isinstance(value, ast.NameValue) and value.tag is None:
                pointers[(loc.proc, n)] = value.name
                if value.name not in locations:
                    locations.append(value.name)
            elif isinstance(value, ast.IntValue):
                values[(loc.proc, n)] = value.value
            elif value is not None:
                raise _unsupported(test, "initial register value form", item.line)
        elif isinstance(loc, ast.GlobalLoc) and loc.index is None:
            if loc.name not in locations:
                locations.append(loc.name)
            if isinstance(value, ast.IntValue):
                memory[loc.name] = value.value
            elif value is not None:
                raise _unsupported(test, "initial memory value form", item.line)
        else:
            raise _unsupported(test, "initial state entry", item.line)
    for col in columns:
        if col.startswith("[") and col[1:-1] not in locations:
            locations.append(col[1:-1])
    b = Builder()
    b.system(pes=max(1, len(test.threads)))
    b.options(weak_ordering=True)
    for name in locations:
        b.page(f"page_{name}", name)
    b.init(**memory)
    loaded: set[tuple[int, int]] = set()
    for thread in test.threads:
        program = _program(test, thread, pointers, values, loaded)
        b.host(f"P{thread.proc}", program or "NOP", pe=thread.proc)
    b.bad_when(lambda v: False, "(outcome collection)")
    machine = Machine(b.build())
    constants = {(proc, f"X{n}"): value for (proc, n), value in values.items() if (proc, n) not in loaded}
    return Translated(machine, columns, constants)


def _program(
    test: ast.LitmusTest,
    thread: ast.Thread,
    pointers: dict[tuple[int, int], str],
    values: dict[tuple[int, int], int],
    loaded: set[tuple[int, int]],
) -> str:
    out: list[str] = []
    p = thread.proc
    for cell in thread.code:
        ins = cell.instruction
        if ins is None:
            continue
        m = ins.mnemonic.upper()
        ops = ins.operands
        if m == "MOV" and len(ops) == 2 and isinstance(ops[0], ast.Reg) and isinstance(ops[1], ast.Imm):
            n = _reg_number(ops[0].name)
            if n is None:
                raise _unsupported(test, ins.text, ins.line)
            if (p, n) in loaded:
                raise _unsupported(test, f"register X{n} overwritten after a load in {ins.text}", ins.line)
            values[(p, n)] = ops[1].value
            continue
        if (
            m in _BARRIERS
            and len(ops) == 1
            and isinstance(ops[0], ast.Reg)
            and ops[0].name.upper() in _OPTIONS
        ):
            out.append(f"{m} {ops[0].name.upper()}")
            continue
        if m == "ISB" and not ops:
            out.append("ISB")
            continue
        if m in _ACCESSES and len(ops) == 2 and isinstance(ops[0], ast.Reg):
            mem = ops[1]
            if not (isinstance(mem, ast.Mem) and len(mem.parts) == 1 and isinstance(mem.parts[0], ast.Reg)):
                raise _unsupported(test, f"addressing mode in {ins.text}", ins.line)
            base = _reg_number(mem.parts[0].name)
            loc = pointers.get((p, base)) if base is not None else None
            n = _reg_number(ops[0].name)
            if loc is None or n is None or (p, base) in loaded:
                raise _unsupported(test, f"address not a fixed location in {ins.text}", ins.line)
            if m in ("LDR", "LDAR", "LDAPR"):
                if (p, n) in loaded:
                    raise _unsupported(
                        test, f"register X{n} loaded twice (needs renaming) in {ins.text}", ins.line
                    )
                out.append(f"{m} r{n}, {loc}")
                loaded.add((p, n))
            else:
                src = f"r{n}" if (p, n) in loaded else str(values.get((p, n), 0))
                out.append(f"{m} {loc}, {src}")
            continue
        raise _unsupported(test, f"instruction {ins.text}", ins.line)
    return "\n".join(out)


def machine_outcomes(t: Translated, budget: Budget = Budget()) -> tuple[frozenset[tuple[str, ...]], bool]:
    """Final states of the machine engine in herd's spelling, and whether complete."""
    m = t.machine

    def project(state: State) -> tuple[str, ...]:
        cells = []
        for col in t.columns:
            if col.startswith("["):
                line, offset = m.loc_index(col[1:-1])
                # the location's final value is the newest copy, wherever it is
                value = coherent_value(state.copies, state.mem, m.h, -1, line, m.nl)[offset]
            else:
                proc_text, reg = col.split(":")
                proc = int(proc_text)
                n = _reg_number(reg)
                try:
                    r = m.reg_index(m.thread_index(f"P{proc}"), f"r{n}")
                    value = state.threads[proc].regs[r]
                except Exception:
                    value = t.constants.get((proc, f"X{n}"), 0)
            cells.append(f"{col}={value}")
        return tuple(cells)

    def final(state: State) -> bool:
        return m.is_complete(state) and not any(state.bufs)

    result = collect(m, final, project, budget)
    return frozenset(result.values), result.complete  # type: ignore[arg-type]
