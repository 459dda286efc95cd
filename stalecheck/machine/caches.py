"""The data-cache rules, each defined once, as pure functions on plain tuples.

``copies`` is a flat tuple indexed ``instance * n_lines + line``; each entry is
``()`` (no copy: an empty tuple, not ``None``, whose hash is not stable across
processes before Python 3.12) or ``(dirty, values)`` where ``values`` holds one small
version number per location of the line (a line split into sub-blocks has
several).  ``mem`` is a tuple of ``values`` per line: the PoC.

Invariant kept by the coherent operations (D7.5.1 General behavior of the caches:
a Normal Inner or Outer Shareable location "is guaranteed to be coherent with all
Requesters in its shareability domain"): at most one L1 holds a line dirty and
then no other L1 holds it; a clean copy equals the first copy below it on its
path.  Only mismatched-attribute accesses break it, which is exactly the
architecture's freedom (B2.11 Mismatched memory attributes) that makes stale
reads possible.
"""

from __future__ import annotations

from stalecheck.machine.hierarchy import Hierarchy

Values = tuple[int, ...]
Copy = tuple[int, Values] | tuple[()]
NO_COPY: Copy = ()
Copies = tuple[Copy, ...]
Memory = tuple[Values, ...]


def _set(copies: Copies, index: int, copy: Copy) -> Copies:
    return (*copies[:index], copy, *copies[index + 1 :])


def first_below(copies: Copies, mem: Memory, h: Hierarchy, inst: int, line: int, nl: int) -> Values:
    """Value a fill of ``inst`` obtains: the nearest copy below it, else the PoC."""
    below = h.below[inst]
    while below >= 0:
        copy = copies[below * nl + line]
        if copy:
            return copy[1]
        below = h.below[below]
    return mem[line]


def dirty_l1(copies: Copies, h: Hierarchy, line: int, nl: int) -> int:
    """The L1 instance holding ``line`` dirty, or -1 (there is at most one)."""
    for inst in h.l1:
        copy = copies[inst * nl + line]
        if copy and copy[0]:
            return inst
    return -1


def coherent_value(copies: Copies, mem: Memory, h: Hierarchy, pe: int, line: int, nl: int) -> Values:
    """What a cacheable access sees: hardware coherence makes all cacheable
    observers in the shareability domain agree (D7.5.1), so the newest copy wins:
    own L1, a dirty L1 elsewhere (snooped), then the path down to the PoC."""
    if pe >= 0:
        path = h.paths[pe]
        own = copies[path[0] * nl + line]
        if own:
            return own[1]
        path = path[1:]
    else:  # an I/O-coherent device snoops the PEs' caches and looks up shared levels
        path = h.shared_path
    other = dirty_l1(copies, h, line, nl)
    if other >= 0:
        dirty = copies[other * nl + line]
        if dirty:  # always: dirty_l1 found it
            return dirty[1]
    for inst in path:
        copy = copies[inst * nl + line]
        if copy:
            return copy[1]
    return mem[line]


def coherent_write(
    copies: Copies, mem: Memory, h: Hierarchy, pe: int, line: int, offset: int, value: int, nl: int
) -> Copies:
    """A cacheable store: write-allocate into own L1, dirty; other L1 copies are
    invalidated by the coherence protocol (B2.3.1 Basic definitions: one Coherence
    order, a total order of the writes to each Location)."""
    base = coherent_value(copies, mem, h, pe, line, nl)
    new = (*base[:offset], value, *base[offset + 1 :])
    out = list(copies)
    for inst in h.l1:
        out[inst * nl + line] = NO_COPY
    out[h.paths[pe][0] * nl + line] = (1, new)
    return tuple(out)


def coherent_device_write(
    copies: Copies, mem: Memory, h: Hierarchy, line: int, offset: int, value: int, nl: int
) -> tuple[Copies, Memory]:
    """An I/O-coherent device write: merged with the newest data, written at the PoC,
    and every cached copy invalidated (docs/design.md section 1, Observers; B2.10.1.1.1
    Shareable, Inner Shareable, and Outer Shareable Normal memory)."""
    base = coherent_value(copies, mem, h, -1, line, nl)
    out = list(copies)
    for inst in range(len(h.instances)):
        out[inst * nl + line] = NO_COPY
    new = (*base[:offset], value, *base[offset + 1 :])
    return tuple(out), _set_mem(mem, line, new)


def bypass_read_options(
    copies: Copies, mem: Memory, h: Hierarchy, pe: int, line: int, offset: int, may_hit: bool, nl: int
) -> tuple[int, ...]:
    """Values a Non-cacheable or Device read may return.

    B2.11 (Mismatched memory attributes): with mismatched attributes "a read of the
    memory Location by one agent might not return the value most recently written"
    and coherency may be lost; the model realises this as a read with a
    non-cacheable type of a location that has a cached copy hitting that copy or
    going to the PoC (D7.5.6 Behavior of caches at reset also allows an
    implementation that "permits cache hits" when accesses are forced
    Non-cacheable).  For Device-nGnRnE, B2.10.2.1 Gathering forbids a read from a
    cache, but B2.11 lists the prohibition on Gathering among the properties a
    mismatched Device alias may lose.  With ``may_hit`` False ("strict bypass"
    hardware) only the PoC value is possible.
    """
    values = {mem[line][offset]}
    if may_hit:
        for inst in h.paths[pe]:
            copy = copies[inst * nl + line]
            if copy:
                values.add(copy[1][offset])
    return tuple(sorted(values))


def bypass_write(mem: Memory, line: int, offset: int, value: int) -> Memory:
    """A Non-cacheable or Device store goes to the PoC and leaves any cached copy
    as it was (B2.11: bytes written without the Write-Back attribute "might have
    their values reverted to the old values as a result of cache Write-Back")."""
    values = mem[line]
    return _set_mem(mem, line, (*values[:offset], value, *values[offset + 1 :]))


def _set_mem(mem: Memory, line: int, values: Values) -> Memory:
    return (*mem[:line], values, *mem[line + 1 :])


def write_back(
    copies: Copies, mem: Memory, h: Hierarchy, inst: int, line: int, nl: int
) -> tuple[Copies, Memory]:
    """Hardware write-back of a dirty copy one level down (D7.5.1 General behavior of
    the caches: "Software must not assume that an unlocked item that remains in the
    cache remains dirty"); the next level allocates it dirty."""
    index = inst * nl + line
    copy = copies[index]
    assert copy and copy[0]
    below = h.below[inst]
    out = _set(copies, index, (0, copy[1]))
    if below < 0:
        return out, _set_mem(mem, line, copy[1])
    return _set(out, below * nl + line, (1, copy[1])), mem


def drop_clean(copies: Copies, inst: int, line: int, nl: int) -> Copies:
    """A clean copy may be evicted silently at any time (D7.5.1: "An unlocked entry in
    a cache might not remain in that cache")."""
    return _set(copies, inst * nl + line, NO_COPY)


def fill_sources(
    copies: Copies, mem: Memory, h: Hierarchy, inst: int, line: int, nl: int
) -> tuple[Values, ...]:
    """Where a fill of ``inst`` may take the line from: the nearest copy below it, then,
    for an L1, each different value a peer L1 holds clean (a snoop hit on a clean line).

    While the coherence invariant holds the peers' clean copies equal the copy below, so
    only the first source exists.  After a mismatched-attribute write (a Non-cacheable
    or non-coherent store under a clean cached copy) they may differ, and B2.11
    (Mismatched memory attributes: "a read of the memory Location by one agent might not
    return the value most recently written") lets a coherent reader be served the stale
    clean copy; D7.5.1 lets any cacheable alias fill it."""
    first = first_below(copies, mem, h, inst, line, nl)
    if h.instances[inst].level != 0:
        return (first,)
    return _and_clean_l1_copies(first, copies, h, line, nl, skip=inst)


def _and_clean_l1_copies(
    first: Values, copies: Copies, h: Hierarchy, line: int, nl: int, skip: int = -1
) -> tuple[Values, ...]:
    """``first``, then each different value an L1 other than ``skip`` holds clean."""
    out = [first]
    for inst in h.l1:
        copy = copies[inst * nl + line]
        if inst != skip and copy and not copy[0] and copy[1] not in out:
            out.append(copy[1])
    return tuple(out)


def fill(copies: Copies, mem: Memory, h: Hierarchy, inst: int, line: int, nl: int, source: int = 0) -> Copies:
    """Speculative allocation of a clean copy (D7.5.1: a location that is Normal Cacheable
    at the current or a higher Exception level "can be allocated to a cache at any
    time"), from ``fill_sources``' entry ``source`` (0: the level below)."""
    if source == 0:
        values = first_below(copies, mem, h, inst, line, nl)
    else:
        values = fill_sources(copies, mem, h, inst, line, nl)[source]
    return _set(copies, inst * nl + line, (0, values))


def snoop_read_options(copies: Copies, mem: Memory, h: Hierarchy, line: int, nl: int) -> tuple[Values, ...]:
    """What an I/O-coherent device read may return: the coherent value, or a clean copy
    any PE's L1 holds (the snoop hits it; B2.11 when that copy is stale against
    memory after a mismatched-attribute write)."""
    return _and_clean_l1_copies(coherent_value(copies, mem, h, -1, line, nl), copies, h, line, nl)


def dirty_l1_lines(copies: Copies, h: Hierarchy, nl: int) -> int:
    """Bitmask of the lines some L1 holds dirty (``dirty_l1`` for every line at once)."""
    mask = 0
    for inst in h.l1:
        base = inst * nl
        for line in range(nl):
            copy = copies[base + line]
            if copy and copy[0]:
                mask |= 1 << line
    return mask


def may_fill(copies: Copies, h: Hierarchy, inst: int, line: int, nl: int, dirty: int | None = None) -> bool:
    """A fill is possible when there is no copy yet; an L1 fill waits while another
    L1 holds the line dirty (the protocol would snoop it; the write-back is a step
    of its own, so the same outcome stays reachable).  ``dirty`` is
    ``dirty_l1_lines`` of ``copies``, when the caller already has it."""
    if copies[inst * nl + line]:
        return False
    if h.instances[inst].level == 0:
        if dirty is None:
            dirty = dirty_l1_lines(copies, h, nl)
        return not dirty >> line & 1
    return True


def clean_to(
    copies: Copies, mem: Memory, h: Hierarchy, line: int, depth: int, pes: frozenset[int], nl: int
) -> tuple[Copies, Memory, int]:
    """Clean ``line`` in every cache before the point ``depth`` levels down, in the
    shareability scope ``pes``: each dirty copy is written to the next level, top
    level first, so the newest data reaches the point (D7.5.9.5 Effects of
    instructions that operate by VA to the PoC; D7.5.9.11 ... to the PoU).
    Returns how many dirty copies were written."""
    written = 0
    for level in range(depth):
        for inst, spec in enumerate(h.instances):
            if spec.level != level or not h.in_scope(inst, pes):
                continue
            copy = copies[inst * nl + line]
            if copy and copy[0]:
                copies, mem = write_back(copies, mem, h, inst, line, nl)
                written += 1
    return copies, mem, written


def invalidate_to(
    copies: Copies, h: Hierarchy, line: int, depth: int, pes: frozenset[int], nl: int
) -> Copies:
    """Invalidate ``line`` in every cache before the point, dirty data discarded
    (D7.5.8.1.2 Terminology for Clean, Invalidate, and Clean and Invalidate
    instructions: an invalidate "might result in the loss of updates"; a clean
    then an invalidate is a clean and invalidate)."""
    out = list(copies)
    for inst, spec in enumerate(h.instances):
        if spec.level < depth and h.in_scope(inst, pes):
            out[inst * nl + line] = NO_COPY
    return tuple(out)


def setway(
    copies: Copies, mem: Memory, h: Hierarchy, inst: int, line: int, clean: bool, invalidate: bool, nl: int
) -> tuple[Copies, Memory, int]:
    """A set/way operation on one line of one cache instance: clean writes the line
    to the next level of caching (D7.5.8.1.2: "For instructions operating by
    set/way, the point is defined to be to the next level of caching"; D7.5.8.2.2
    Cache maintenance instructions that operate by set/way: "through to at least
    the next level"; going further is the separate hardware write-back step), and
    invalidate acts at that level only.  A system cache cannot be named by set/way
    (D7.5.12 System level caches), though a clean may write into it."""
    written = 0
    copy = copies[inst * nl + line]
    if not copy:
        return copies, mem, 0
    if clean and copy[0]:
        copies, mem = write_back(copies, mem, h, inst, line, nl)
        written = 1
    if invalidate:
        copies = _set(copies, inst * nl + line, NO_COPY)
    return copies, mem, written
