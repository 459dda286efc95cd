"""Generated litmus families for scaling measurements and tests.

``mp_chain(n)`` and ``iriw(n)`` write herd-format text for n threads, so the
engine can be timed (``benchmarks/litmus_speed.py``) and checked (their
verdicts are known: both are Forbidden for every n) on tests larger than the
catalogue's.
"""

from __future__ import annotations


def mp_chain(n: int) -> str:
    """ISA2-like chain over n threads: P0 writes data then flag f1; each next thread
    passes the flag on with a data dependency; the last reads the data through an
    address dependency.  Forbidden for every n >= 2."""
    init_parts = []
    cols: list[list[str]] = []
    for p in range(n):
        if p == 0:
            init_parts.append("0:X1=d; 0:X3=f1;")
            cols.append(["MOV W0,#1", "STR W0,[X1]", "DMB SY", "STR W0,[X3]"])
        elif p < n - 1:
            init_parts.append(f"{p}:X1=f{p}; {p}:X3=f{p + 1};")
            cols.append(["LDR W0,[X1]", "EOR W4,W0,W0", "ADD W4,W4,#1", "STR W4,[X3]"])
        else:
            init_parts.append(f"{p}:X1=f{p}; {p}:X3=d;")
            cols.append(["LDR W0,[X1]", "EOR W4,W0,W0", "LDR W2,[X3,W4,SXTW]"])
    cond = " /\\ ".join(f"{p}:X0=1" for p in range(1, n)) + f" /\\ {n - 1}:X2=0"
    return _layout(f"MPchain{n}", " ".join(init_parts), cols, cond)


def iriw(n: int) -> str:
    """Two writers and n-2 readers that read the two locations in alternating orders."""
    init = " ".join(f"{p}:X1=x; {p}:X3=y;" for p in range(n))
    cols = [["MOV W0,#1", "STR W0,[X1]"], ["MOV W0,#1", "STR W0,[X3]"]]
    conds = []
    for p in range(2, n):
        first, second = ("X1", "X3") if p % 2 == 0 else ("X3", "X1")
        cols.append([f"LDR W0,[{first}]", "DMB LD", f"LDR W2,[{second}]"])
        conds.append(f"{p}:X0=1 /\\ {p}:X2=0")
    return _layout(f"IRIW{n}", init, cols, " /\\ ".join(conds))


def _layout(name: str, init: str, cols: list[list[str]], cond: str) -> str:
    depth = max(len(c) for c in cols)
    rows = [" | ".join(f"P{p}" for p in range(len(cols))) + " ;"]
    for i in range(depth):
        rows.append(" | ".join(c[i] if i < len(c) else "" for c in cols) + " ;")
    return f"AArch64 {name}\n{{ {init} }}\n" + "\n".join(rows) + f"\nexists ({cond})\n"


