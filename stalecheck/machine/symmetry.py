"""Symmetry reduction for the machine engine: interchangeable threads, PEs and lines.

Two vCPUs that run the same program on PEs placed alike in the cache topology
make states that differ only by which vCPU is where: exploring one of each such
pair is enough.  A *symmetry* is a renaming ``p`` of thread, PE and line indices
(and with them cache instances, pages, locations and interned code) such that
the renamed system is the system itself; the search then keeps one state per
*orbit* ``{p(s) | p in G}`` (``canonical``: the smallest of them, comparing
states as tuples) and explores the real successors of the real states it keeps
(``explore/reduced.py``), so every witness is a real run.

*What "interchangeable" must mean* (``find``, ``_valid``): each thread ``t`` and
its image ``p(t)`` have the same context, VM, SCTLR bits, migratability and
coherence, the image runs on ``p``'s image of ``t``'s PE, and its program is
``t``'s with every line, location and page renamed by ``p`` (the same interned
code when no line moves); each line and its image have the same number of
locations, the same initial values, the same host, stage-1 and stage-2 memory
types and the same VM RAM ownership, and pages map to pages; each VM's mapped
and MMIO pages are unchanged as sets; the quiet lines (``reduction.py``) are
unchanged; and ``p`` fixes the initial state.  The cache topology is symmetric by
construction (private levels one instance per PE, shared levels one instance:
``Hierarchy``), so a PE permutation renames private cache instances.  Hypervisor
policies are Python code: ``PolicyCheck`` runs each policy call on the renamed
trap context too and stops the symmetric search (``SymmetryBroken``) when the
code differs from the renamed code, so a policy that reads a thread's name
cannot make a verdict wrong.  Lines move only without the translation model
(descriptors in memory encode pages), without out-of-order execution (buffers
hold entries in an order that compares line indices, ``buffer.insert``) and
without register programs (registers may hold addresses).

*Why it is sound.*  With those conditions every rule of the engine reads names
only through the indices ``p`` renames, so ``p`` maps the steps of ``s`` onto
the steps of ``p(s)``: ``succ(p(s)) = p(succ(s))`` (checked on random systems by
``tests/explore/test_symmetry.py``).  The orbits reachable from the initial state
(which ``p`` fixes) are then exactly the orbits the quotient search reaches.  The
bad-state predicate needs no symmetry of its own: the search asks it of every
member of each orbit (``orbit``), so "unreachable" means no reachable state is
bad, and a bad member found by renaming has its witness re-found along the
renamed path (``explore/reduced.py``).
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, NamedTuple

from stalecheck.errors import ScenarioError
from stalecheck.explore.reduced import SymmetryBroken
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.spec import Context, TrapContext
from stalecheck.machine.state import DCVA, SETWAY, STORE, Entry, State, Thread
from stalecheck.machine.system import Machine

__all__ = ["Perm", "Symmetry", "SymmetryBroken", "find"]


class Perm(NamedTuple):
    """One renaming: ``threads[t]`` is the image of thread ``t``, and so on.  ``src_*`` are
    the inverses the state permutation reads from (``new[i] = old[src[i]]``)."""

    threads: tuple[int, ...]
    pes: tuple[int, ...]
    lines: tuple[int, ...]
    pages: tuple[int, ...]  # page index -> image page index
    instances: tuple[int, ...]  # cache instance -> image instance
    src_threads: tuple[int, ...]
    src_pes: tuple[int, ...]
    src_lines: tuple[int, ...]
    src_copies: tuple[int, ...]  # flat ``copies`` index -> the index it is read from
    names: dict[str, str]  # line, location and page names -> their images (empty: lines fixed)


def _inverse(images: Sequence[int]) -> tuple[int, ...]:
    out = [0] * len(images)
    for i, j in enumerate(images):
        out[j] = i
    return tuple(out)


class Symmetry:
    """The non-identity renamings of one machine that ``find`` proved, and what the
    search needs from them: the canonical representative, the orbit, the renamed
    observation set of a partial-order reduction."""

    def __init__(self, machine: Machine, group: tuple[Perm, ...], why: str) -> None:
        self.m = machine
        self.group = group
        self.why = why  # which blocks, and whether declared or found (printed with the verdict)
        self.size = len(group) + 1
        self._ident_maps: list[dict[int, int]] = [{} for _ in group]
        self._getters = [
            _Getters(_getter(p.src_lines), _getter(p.src_copies), _getter(p.src_pes), _getter(p.src_threads))
            for p in group
        ]
        self.check = PolicyCheck(self)

    def start(self) -> None:
        """The symmetric search starts: check the policies it calls (``PolicyCheck``)."""
        self.check.install()

    def done(self) -> None:
        self.check.remove()

    # ---- renaming a state ---------------------------------------------------------------------

    def ident(self, k: int, ident: int) -> int:
        """Interned code ``ident`` with its names renamed by ``group[k]``."""
        p = self.group[k]
        if not p.names:
            return ident
        cache = self._ident_maps[k]
        got = cache.get(ident)
        if got is None:
            lay = self.m.layout
            got = lay.intern(rename_instr(lay.code[ident], p.names))
            cache[ident] = got
        return got

    def _entry(self, k: int, entry: Entry) -> Entry:
        p = self.group[k]
        kind = entry[0]
        if kind != SETWAY and not p.names:
            return entry
        fields = list(entry)
        if kind == SETWAY:  # SetWayEntry(kind, op, inst, line, instr): the instance moves with its PE
            fields[2] = p.instances[entry[2]]
            at = 3
        elif kind == STORE:  # StoreEntry(kind, line, ...)
            at = 1
        elif kind == DCVA:  # DcEntry(kind, op, line, ...)
            at = 2
        else:
            return entry  # markers; TLBI and IC entries (lines never move with the translation model)
        if p.names:
            fields[at] = p.lines[entry[at]]
            fields[-1] = self.ident(k, entry[-1])  # the interned instruction is the last field
        elif kind != SETWAY:
            return entry
        make = getattr(type(entry), "_make", None)
        return make(fields) if make is not None else tuple(fields)

    def _thread(self, k: int, th: Thread) -> Thread:
        p = self.group[k]
        if p.names and (th.hyp or th.res):
            hyp = tuple(self.ident(k, i) for i in th.hyp)
            res = tuple((p.lines[r[0]], *r[1:]) for r in th.res)
            th = th._replace(hyp=hyp, res=res)
        if th.pe < 0:
            return th
        return _new(Thread, (*th[:3], p.pes[th.pe], *th[4:]))  # pe is field 3

    def apply(self, state: State, k: int) -> State:
        """``state`` renamed by ``group[k]`` (called for every successor: written for speed)."""
        p = self.group[k]
        get = self._getters[k]
        mem, copies, bufs, threads, hcr, mapped, events, migrations, tlbs, icaches = state
        if p.names:
            mem = get.lines(mem)
            mapped = tuple(_permute_bits(bits, p.pages) for bits in mapped)
        copies = get.copies(copies)
        bufs = get.pes(bufs)
        if any(bufs):
            entry = self._entry
            bufs = tuple(tuple(entry(k, e) for e in buf) for buf in bufs)
        thread = self._thread
        threads = tuple(thread(k, th) for th in get.threads(threads))
        if tlbs:
            tlbs = get.pes(tlbs)
        if icaches:
            icaches = get.pes(icaches)
        return _new(State, (mem, copies, bufs, threads, hcr, mapped, events, migrations, tlbs, icaches))

    def orbit(self, state: State) -> list[State]:
        """``state`` and its images (possibly repeated)."""
        return [state, *(self.apply(state, k) for k in range(len(self.group)))]

    def canonical(self, state: State) -> State:
        """The representative of ``state``'s orbit: the smallest member, ordered by its cache
        copies first, then as a whole tuple (any total order of states would do; the copies
        are the cheapest part to rename, and they tell most members apart, so most renamings
        are rejected before the rest of the state is renamed)."""
        best = state
        copies = best_copies = state[1]
        for k, get in enumerate(self._getters):
            renamed = get.copies(copies)
            if renamed > best_copies:
                continue
            other = self.apply(state, k)
            if renamed < best_copies or other < best:
                best, best_copies = other, renamed
        return best

    def close(self, observed: frozenset[tuple[int, str]]) -> frozenset[tuple[int, str]]:
        """A partial-order reduction's observed (thread, what) pairs, with every renamed
        thread's too: the search asks the bad-state predicate of renamed states, whose
        thread ``p(t)`` is the real state's ``t``."""
        out = set(observed)
        for p in self.group:
            out.update((p.src_threads[t], what) for t, what in observed)
            out.update((p.threads[t], what) for t, what in observed)
        return frozenset(out)


_new = tuple.__new__


class _Getters(NamedTuple):
    """``operator.itemgetter``s that reorder a tuple by one renaming's inverse (C speed)."""

    lines: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    copies: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    pes: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    threads: Callable[[tuple[Any, ...]], tuple[Any, ...]]


def _getter(src: tuple[int, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    if len(src) == 1:
        return lambda xs: (xs[src[0]],)
    getter: Callable[[tuple[Any, ...]], tuple[Any, ...]] = operator.itemgetter(*src)
    return getter


def _permute_bits(bits: int, images: Sequence[int]) -> int:
    out = 0
    i = 0
    while bits:
        if bits & 1:
            out |= 1 << images[i]
        bits >>= 1
        i += 1
    return out


def rename_instr(instr: Instr, names: dict[str, str]) -> Instr:
    """``instr`` with its line, location or page name renamed (events and levels stay)."""
    if instr.loc and instr.loc in names and instr.op not in (Op.SIGNAL, Op.WAIT):
        return dataclasses.replace(instr, loc=names[instr.loc])
    return instr


# ---- hypervisor policies ----------------------------------------------------------------------


class PolicyCheck:
    """Wraps the machine's policy calls: each one is also made on the renamed trap context,
    and must return the renamed code (module doc)."""

    def __init__(self, sym: Symmetry) -> None:
        self.sym = sym
        self.calls = 0

    def install(self) -> None:
        """Check every policy call from now until ``remove`` (the symmetric search)."""
        traps = self.sym.m.traps
        if "policy_code" in vars(traps):
            return
        setattr(traps, "policy_code", self._checked(traps.policy_code))  # noqa: B010 (an instance attribute)

    def remove(self) -> None:
        vars(self.sym.m.traps).pop("policy_code", None)

    def _checked(
        self, original: Callable[[TrapContext], tuple[int, ...]]
    ) -> Callable[[TrapContext], tuple[int, ...]]:
        def policy_code(trap: TrapContext) -> tuple[int, ...]:
            code = original(trap)
            self.calls += 1
            lay = self.sym.m.layout
            for k, p in enumerate(self.sym.group):
                other = original(self._rename(trap, p))
                renamed = tuple(self.sym.ident(k, i) for i in code)
                if [lay.code[i] for i in other] != [lay.code[i] for i in renamed]:
                    raise SymmetryBroken(
                        f"the {trap.kind} policy of VM {trap.vm.name!r} runs different code for "
                        f"{trap.thread!r} than for the thread it is interchangeable with"
                    )
            return code

        return policy_code

    def _rename(self, trap: TrapContext, p: Perm) -> TrapContext:
        lay = self.sym.m.layout
        t = lay.thread_index(trap.thread)
        names = p.names

        def page(name: str) -> str:
            return names.get(name, name)

        order = {name: i for i, name in enumerate(lay.pages)}
        mapped = tuple(sorted((page(x) for x in trap.mapped), key=lambda x: order.get(x, -1)))
        pages = tuple(
            sorted(
                ((page(pg), tuple(names.get(ln, ln) for ln in lines)) for pg, lines in trap.pages),
                key=lambda item: order.get(item[0], -1),
            )
        )
        return dataclasses.replace(
            trap,
            thread=lay.threads[p.threads[t]].name,
            instr=rename_instr(trap.instr, names),
            page=page(trap.page) if trap.page else trap.page,
            mapped=mapped,
            pages=pages,
            pe=p.pes[trap.pe] if trap.pe >= 0 else trap.pe,
        )


# ---- finding the group ------------------------------------------------------------------------


def find(machine: Machine, declared: bool = True, automatic: bool = True) -> Symmetry | None:
    """The symmetry group of ``machine``: the declared blocks (``SystemSpec.symmetry``,
    each a tuple of thread and line names, the blocks interchangeable position by
    position), else, with ``automatic``, the classes of threads with identical programs
    and attributes, one per PE (lines fixed).  None when there is none; a declared
    block that is not a symmetry is the user's error (``ScenarioError``)."""
    lay = machine.layout
    spec = machine.spec
    if declared and spec.symmetry:
        blocks = spec.symmetry
        declared_group = _group_of_blocks(machine, blocks)
        why = "declared: " + " ~ ".join("(" + ", ".join(b) + ")" for b in blocks)
        for p in declared_group:
            reason = _invalid(machine, p)
            if reason is not None:
                raise ScenarioError(f"interchangeable {' ~ '.join(map(str, blocks))}: {reason}")
        return Symmetry(machine, declared_group, why) if declared_group else None
    if not automatic:
        return None
    classes = _thread_classes(machine)
    if not classes:
        return None
    group: list[Perm] = []
    # The group is the product of each class's symmetric group (threads with their PEs).
    factors: list[list[tuple[int, ...]]] = []
    for cls in classes:
        factors.append([tuple(x) for x in itertools.permutations(cls)])
    identity = tuple(range(len(lay.threads)))
    for choice in itertools.product(*factors):
        images = list(identity)
        for cls, perm in zip(classes, choice, strict=True):
            for t, u in zip(cls, perm, strict=True):
                images[t] = u
        if tuple(images) == identity:
            continue
        found = _perm(machine, tuple(images), None)
        if found is None or _invalid(machine, found) is not None:
            continue
        group.append(found)
    if not group:
        return None
    names = ", ".join("{" + ", ".join(lay.threads[t].name for t in cls) + "}" for cls in classes)
    return Symmetry(machine, tuple(group), f"found: threads {names} with their PEs")


def _thread_classes(machine: Machine) -> list[tuple[int, ...]]:
    """Threads with the same program and attributes, each alone on its PE."""
    lay = machine.layout
    on_pe: dict[int, list[int]] = {}
    for t, spec in enumerate(lay.threads):
        if spec.context != Context.DEVICE:
            on_pe.setdefault(spec.pe, []).append(t)
    keyed: dict[Hashable, list[int]] = {}
    for t, spec in enumerate(lay.threads):
        if spec.context == Context.DEVICE or len(on_pe[spec.pe]) != 1:
            continue
        key = (
            lay.programs[t],
            spec.context,
            spec.vm,
            spec.migratable,
            spec.sctlr,
            spec.source,
            spec.registers,
            spec.unroll,
        )
        keyed.setdefault(key, []).append(t)
    return [tuple(ts) for ts in keyed.values() if len(ts) > 1]


def _group_of_blocks(machine: Machine, blocks: tuple[tuple[str, ...], ...]) -> tuple[Perm, ...]:
    """Every renaming that permutes the declared blocks (each name onto the name at the
    same position of the other block)."""
    lay = machine.layout
    if len(blocks) < 2:
        raise ScenarioError("interchangeable(...) needs at least two blocks")
    if len({len(b) for b in blocks}) != 1:
        raise ScenarioError("interchangeable(...): every block must name as many things")
    for block in blocks:
        for name in block:
            if name not in lay.thread_indices and name not in lay.line_index:
                raise ScenarioError(f"interchangeable(...): {name!r} is neither a thread nor a line")
    out: list[Perm] = []
    n = len(blocks)
    for order in itertools.permutations(range(n)):
        if order == tuple(range(n)):
            continue
        threads = list(range(len(lay.threads)))
        lines = list(range(lay.nl))
        for i, j in enumerate(order):
            for a, b in zip(blocks[i], blocks[j], strict=True):
                if (a in lay.thread_indices) != (b in lay.thread_indices):
                    raise ScenarioError(f"interchangeable(...): {a!r} and {b!r} are not of one kind")
                if a in lay.thread_indices:
                    threads[lay.thread_indices[a]] = lay.thread_indices[b]
                else:
                    lines[lay.line_index[a]] = lay.line_index[b]
        if sorted(threads) != list(range(len(threads))) or sorted(lines) != list(range(lay.nl)):
            raise ScenarioError("interchangeable(...): a name appears in two blocks")
        p = _perm(machine, tuple(threads), tuple(lines))
        if p is None:
            raise ScenarioError(
                "interchangeable(...): the threads' PEs, or the lines' pages, do not correspond one to one"
            )
        out.append(p)
    return tuple(out)


def _perm(machine: Machine, threads: tuple[int, ...], lines: tuple[int, ...] | None) -> Perm | None:
    """The whole renaming a thread (and line) permutation induces: PEs follow their threads,
    cache instances their PEs, pages their lines.  None if that is not a bijection."""
    lay = machine.layout
    n_pes = lay.h.n_pes
    pes: dict[int, int] = {}
    for t, u in enumerate(threads):
        ta, tb = lay.threads[t], lay.threads[u]
        if ta.context == Context.DEVICE or tb.context == Context.DEVICE:
            if (ta.context == Context.DEVICE) != (tb.context == Context.DEVICE):
                return None
            continue
        if pes.setdefault(ta.pe, tb.pe) != tb.pe:
            return None
    free_from = [q for q in range(n_pes) if q not in pes]
    free_to = [q for q in range(n_pes) if q not in pes.values()]
    if len(free_from) != len(free_to):
        return None
    pes.update(zip(free_from, free_to, strict=True))  # PEs no thread starts on stay in order
    pe_images = tuple(pes[q] for q in range(n_pes))
    if sorted(pe_images) != list(range(n_pes)):
        return None
    line_images = lines if lines is not None else tuple(range(lay.nl))
    page_of = {page: i for i, page in enumerate(lay.pages)}
    page_images: dict[int, int] = {}
    for line, image in enumerate(line_images):
        a, b = page_of[lay.lines[line].page], page_of[lay.lines[image].page]
        if page_images.setdefault(a, b) != b:
            return None
    pages = tuple(page_images.get(i, i) for i in range(len(lay.pages)))
    if sorted(pages) != list(range(len(pages))):
        return None
    h = lay.h
    where = {(inst.level, inst.pe): i for i, inst in enumerate(h.instances)}
    instances = tuple(
        where[(inst.level, pe_images[inst.pe] if inst.pe is not None else None)] for inst in h.instances
    )
    nl = lay.nl
    src_inst = _inverse(instances)
    src_line = _inverse(line_images)
    src_copies = tuple(src_inst[i // nl] * nl + src_line[i % nl] for i in range(len(h.instances) * nl))
    names: dict[str, str] = {}
    if line_images != tuple(range(nl)):
        for line, image in enumerate(line_images):
            la, lb = lay.lines[line], lay.lines[image]
            if len(la.locations) != len(lb.locations):
                return None
            names[la.name] = lb.name
            names.update(zip(la.locations, lb.locations, strict=True))
        for i, j in enumerate(pages):
            if names.setdefault(lay.pages[i], lay.pages[j]) != lay.pages[j]:
                return None
    return Perm(
        threads,
        pe_images,
        line_images,
        pages,
        instances,
        _inverse(threads),
        _inverse(pe_images),
        src_line,
        src_copies,
        names,
    )


def _invalid(machine: Machine, p: Perm) -> str | None:
    """Why ``p`` is not a symmetry of the machine (module doc), or None."""
    lay = machine.layout
    spec = machine.spec
    moves_lines = bool(p.names)
    if moves_lines:
        if spec.xlate is not None:
            return "lines can be interchanged only without the translation model"
        if spec.options.weak_ordering:
            return "lines can be interchanged only without weak_ordering (buffer order compares lines)"
        if any(t.source for t in lay.threads):
            return "lines can be interchanged only when no program uses registers or branches"
    for t, u in enumerate(p.threads):
        a, b = lay.threads[t], lay.threads[u]
        for what in ("context", "vm", "migratable", "coherent", "sctlr", "source", "registers", "unroll"):
            if getattr(a, what) != getattr(b, what):
                return f"threads {a.name!r} and {b.name!r} differ in {what}"
        if a.context != Context.DEVICE and p.pes[a.pe] != b.pe:
            return f"thread {b.name!r} does not run on the image of {a.name!r}'s PE"
        renamed = tuple(
            lay.ids.get(rename_instr(lay.code[i], p.names), -1) if moves_lines else i for i in lay.programs[t]
        )
        if renamed != lay.programs[u]:
            return f"threads {a.name!r} and {b.name!r} run different programs (after renaming)"
        if spec.xlate is not None:
            x = spec.xlate
            if x.thread_regime.get(a.name) != x.thread_regime.get(b.name):
                return f"threads {a.name!r} and {b.name!r} translate through different regimes"
            if x.on_fault.get(a.name, "fatal") != x.on_fault.get(b.name, "fatal"):
                return f"threads {a.name!r} and {b.name!r} handle faults differently"
    if moves_lines:
        for line, image in enumerate(p.lines):
            la, lb = lay.lines[line], lay.lines[image]
            if la.ram_of != lb.ram_of:
                return f"lines {la.name!r} and {lb.name!r} belong to different VMs' RAM"
            if lay.host_types[line] != lay.host_types[image]:
                return f"lines {la.name!r} and {lb.name!r} have different host memory types"
            for vm in lay.vms:
                if vm.s1_type(la.name) != vm.s1_type(lb.name) or vm.s2_type(la.name) != vm.s2_type(lb.name):
                    return f"lines {la.name!r} and {lb.name!r} have different types in VM {vm.name!r}"
        for vm in lay.vms:
            if {p.names.get(x, x) for x in vm.mapped} != set(vm.mapped):
                return f"VM {vm.name!r}'s mapped pages are not interchanged among themselves"
            if {p.names.get(x, x) for x in vm.mmio} != set(vm.mmio):
                return f"VM {vm.name!r}'s MMIO pages are not interchanged among themselves"
    if {p.lines[x] for x in machine.quiet} != set(machine.quiet):
        return "the quiet lines (quiet_coherent_lines) are not interchanged among themselves"
    sym = Symmetry(machine, (p,), "")
    init = machine.initial_state()
    if sym.apply(init, 0) != init:
        return "the initial state is not the same after renaming (initial values, TLB or I-cache contents)"
    return None


def describe_group(sym: Symmetry | None) -> str:
    """One line for the verdict's assumptions."""
    if sym is None:
        return "none"
    return f"{sym.why} (group of {sym.size})"


def renamed_names(sym: Symmetry) -> Iterable[dict[str, str]]:
    return (p.names for p in sym.group)
