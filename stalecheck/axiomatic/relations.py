"""Relations as bitmask rows, and the few graph algorithms the model needs.

A relation over n events is a list of n ints: ``rel[i] >> j & 1`` means
``i -> j``.  Executions of litmus tests have tens of events, so rows fit in
one machine word or two and union/composition are cheap integer operations.
"""

from __future__ import annotations

from collections.abc import Sequence


def transitive_closure(rel: list[int]) -> list[int]:
    """Warshall's algorithm on bitmask rows."""
    out = list(rel)
    n = len(out)
    for k in range(n):
        bit = 1 << k
        row_k = out[k]
        for i in range(n):
            if out[i] & bit:
                out[i] |= row_k
    return out


def is_acyclic(succ: Sequence[int]) -> bool:
    """Kahn's algorithm on bitmask rows (n is tens of events)."""
    n = len(succ)
    indeg = [0] * n
    for row in succ:
        r = row
        while r:
            low = r & -r
            indeg[low.bit_length() - 1] += 1
            r ^= low
    ready = [i for i in range(n) if indeg[i] == 0]
    seen = 0
    while ready:
        i = ready.pop()
        seen += 1
        r = succ[i]
        while r:
            low = r & -r
            j = low.bit_length() - 1
            indeg[j] -= 1
            if indeg[j] == 0:
                ready.append(j)
            r ^= low
    return seen == n


def find_cycle(succ: Sequence[int]) -> list[int]:
    """One cycle of a bitmask graph (as a node list), or [] if it is acyclic."""
    n = len(succ)
    colour = [0] * n
    parent = [-1] * n
    for root in range(n):
        if colour[root]:
            continue
        stack = [(root, succ[root])]
        colour[root] = 1
        while stack:
            node, rest = stack[-1]
            if not rest:
                colour[node] = 2
                stack.pop()
                continue
            low = rest & -rest
            stack[-1] = (node, rest ^ low)
            nxt = low.bit_length() - 1
            if colour[nxt] == 1:
                cycle = [nxt]
                cur = node
                while cur != nxt:
                    cycle.append(cur)
                    cur = parent[cur]
                return cycle[::-1]
            if colour[nxt] == 0:
                colour[nxt] = 1
                parent[nxt] = node
                stack.append((nxt, succ[nxt]))
    return []
