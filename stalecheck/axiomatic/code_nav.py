"""Positions in a thread's code: labels, the instruction a label names, relative targets.

Pure functions over a code column (``ast.CodeLine`` rows, where a label may sit
on its own row before the instruction it names), shared by the thread machine's
branches, ``ADR``/``BL`` and fault recording.
"""

from __future__ import annotations

from collections.abc import Sequence

from stalecheck.litmus import ast

UNROLL = 2  # herd7's default -unroll: a backward branch is taken at most this often


class PathCut(Exception):
    """A loop exceeded the unrolling bound: herd drops such paths and prints ``Loop``."""


def labels_of(code: Sequence[ast.CodeLine]) -> dict[str, int]:
    """Each label's row."""
    labels: dict[str, int] = {}
    for i, line in enumerate(code):
        for label in line.labels:
            labels[label] = i
    return labels


def label_at(code: Sequence[ast.CodeLine], pc: int) -> str:
    """The label naming the instruction at ``pc`` (on its row or on label-only rows just
    before it), or ``#pc``."""
    if code[pc].labels:
        return code[pc].labels[0]
    for line in reversed(code[:pc]):
        if line.instruction is not None:
            break
        if line.labels:
            return line.labels[0]
    return f"#{pc}"


def label_after(code: Sequence[ast.CodeLine], pc: int) -> str:
    """The label of the instruction after the one at ``pc`` (a return address), or ``#pc+1``."""
    for line in code[pc + 1:]:
        if line.labels:
            return line.labels[0]
        if line.instruction is not None:
            break
    return f"#{pc + 1}"


def relative(code: Sequence[ast.CodeLine], pc: int, instructions: int) -> int | None:
    """Row of the instruction ``instructions`` away from the one at ``pc`` (``.+8``)."""
    order = [i for i, line in enumerate(code) if line.instruction is not None]
    k = order.index(pc) + instructions
    if k == len(order):
        return len(code)
    return order[k] if 0 <= k < len(order) else None
