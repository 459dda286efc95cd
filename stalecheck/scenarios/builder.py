"""The scenario API: declare lines, caches, PEs, VMs, programs, policies and the
bad state; each fix is a named variant built by its own small function.

    sc = Scenario("my-case", "Guest reads a page the VMM wrote", seed="002")

    @sc.variant("clean-to-poc", expect="unreachable")
    def _(b: Builder) -> None:
        b.system(pes=1, system_cache=True)
        b.page("P0", "X", vm="vm")
        b.vm("vm", on_stage2_fault=map_on_fault(clean="poc"))
        b.host("vmm", "STR X, 1; DSB SY; SIGNAL loaded")
        b.guest("vcpu", "WAIT loaded; LDR r1, X", vm="vm", sctlr=(0, 0, 0))
        b.bad_when(lambda v: v.done("vcpu") and v.reg("vcpu", "r1") != 1, "vcpu reads stale X")
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stalecheck.errors import InputError, Position, ScenarioError, StalecheckError, UsageError
from stalecheck.machine.hierarchy import CacheConfig, Hierarchy
from stalecheck.machine.isa import Instr
from stalecheck.machine.memtypes import MemType, S2Force
from stalecheck.machine.paths import Src, from_instr
from stalecheck.machine.program import parse_elements
from stalecheck.machine.spec import (
    HCR,
    Context,
    LineSpec,
    Options,
    Policy,
    SystemSpec,
    ThreadSpec,
    VMSpec,
)
from stalecheck.machine.translation import IcacheInit, RegimeSpec, TlbInit, XlateSpec, page_desc, table_desc
from stalecheck.machine.view import StateView
from stalecheck.scenarios import callsite

_F = TypeVar("_F", bound=Callable[..., Any])


def _placed(method: _F) -> _F:
    """Check a builder call when it is made, and place its errors at the user's call.

    The call site is recorded (``self._site``) for checks that can only run in
    ``build`` (a guest naming a VM declared later); an error raised inside without
    a position gets the call's ``path:line:column``."""

    @functools.wraps(method)
    def wrapper(self: Builder, *args: Any, **kwargs: Any) -> Any:
        outer = self._site
        if outer is None:  # the user's call, not one builder method calling another
            self._site = callsite.caller()
        try:
            return method(self, *args, **kwargs)
        except StalecheckError as exc:
            if exc.position is None and self._site is not None:
                raise type(exc)(exc.message, self._site.position) from None
            raise
        finally:
            self._site = outer

    return wrapper  # type: ignore[return-value]


def _expect(value: Any, kinds: type | tuple[type, ...], what: str, wanted: str) -> None:
    """A type check that reads like the call: ``hcr=5: expected an HCR(...)``.
    (``bool`` is an ``int`` to Python, never to a user asking for a number.)"""
    numeric = kinds is int or (isinstance(kinds, tuple) and int in kinds and bool not in kinds)
    if not isinstance(value, kinds) or (numeric and isinstance(value, bool)):
        raise ScenarioError(f"{what}={value!r}: expected {wanted}")


def _expect_name(value: Any, what: str) -> None:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ScenarioError(f"{what}={value!r}: expected a name (a non-empty string without spaces)")


def _expect_policy(value: Any, what: str) -> None:
    if value is not None and not callable(value):
        raise ScenarioError(f"{what}={value!r}: expected a policy (a function of the trap), or None")


# A value a 64-bit register or memory word can hold.
_WORD = 1 << 64


class Builder:
    """Collects one variant's system; ``build`` checks it and returns plain data.

    Every call is checked when it is made (types, ranges, names declared twice)
    and an error names the user's file and the line of the call; what can only be
    checked once the whole system is known (a guest naming a VM declared after
    it) is checked in ``build``, still placed at the call that named it."""

    def __init__(self) -> None:
        self._pes = 1
        self._caches = CacheConfig()
        self._lines: list[LineSpec] = []
        self._threads: list[ThreadSpec] = []
        self._vms: list[VMSpec] = []
        self._host_types: dict[str, MemType] = {}
        self._options = Options()
        self._init: dict[str, int] = {}
        self._bad: Callable[[StateView], bool] | None = None
        self._bad_text = ""
        self._xlate: dict[str, Any] | None = None  # translation/ifetch settings, when used
        self._symmetry: tuple[tuple[str, ...], ...] = ()
        # Where each declaration was made, to place the checks ``build`` does.
        self._site: callsite.CallSite | None = None
        self._sites: dict[tuple[str, str], callsite.CallSite | None] = {}

    def _at(self, kind: str, name: str) -> Position | None:
        site = self._sites.get((kind, name))
        return site.position if site is not None else None

    def _remember(self, kind: str, name: str) -> None:
        if (kind, name) in self._sites:
            what = f"{kind} {name!r} is declared" if name else f"{kind}(...) is called"
            raise ScenarioError(f"{what} twice{self._where(kind, name)}")
        self._sites[(kind, name)] = self._site

    def _where(self, kind: str, name: str) -> str:
        pos = self._at(kind, name)
        return f" (first at line {pos.line})" if pos is not None and pos.line else ""

    @_placed
    def system(
        self,
        pes: int = 1,
        l2: bool = False,
        system_cache: bool = False,
        louu: int | None = None,
        louis: int | None = None,
        loc: int | None = None,
    ) -> None:
        """PEs and caches; LoUU/LoUIS/LoC are CLIDR_EL1's fields (default: PoU after L1)."""
        _expect(pes, int, "pes", "a number of PEs")
        if pes < 1:
            raise ScenarioError(f"pes={pes}: a system needs at least one PE")
        _expect(l2, bool, "l2", "True or False")
        _expect(system_cache, bool, "system_cache", "True or False")
        for field_name, value in (("louu", louu), ("louis", louis), ("loc", loc)):
            if value is not None:
                # CLIDR_EL1.LoUU/LoUIS/LoC are 3-bit fields (D24.2.32 CLIDR_EL1).
                _expect(value, int, field_name, "a cache level from 0 to 7")
                if not 0 <= value <= 7:
                    raise ScenarioError(f"{field_name}={value}: CLIDR_EL1 levels are 0 to 7")
        self._remember("system", "")
        caches = CacheConfig(l2=l2, system_cache=system_cache, louu=louu, louis=louis, loc=loc)
        Hierarchy(caches, 1)  # refuses impossible CLIDR settings now, at this call
        self._pes = pes
        self._caches = caches

    @_placed
    def page(self, name: str, lines: str, vm: str = "") -> None:
        """Declare a page of lines: ``"X Y"`` is two one-word lines; ``"X:a,b"`` is one
        line ``X`` with two sub-block locations ``a`` and ``b``."""
        _expect_name(name, "page")
        _expect(lines, str, "lines", 'a string such as "X Y" or "X:a,b"')
        _expect(vm, str, "vm", "a VM name")
        if not lines.split():
            raise ScenarioError(f"page {name!r} declares no lines")
        self._remember("page", name)
        for item in lines.split():
            line, _, locs = item.partition(":")
            locations = tuple(locs.split(",")) if locs else (line,)
            for word in (line, *locations):
                if not word.isidentifier():
                    raise ScenarioError(f"page {name!r}: {word!r} is not a name for a line or location")
            self._remember("line", line)
            for loc in locations:
                self._remember("location", loc)
            self._lines.append(LineSpec(line, locations, name, vm))

    @_placed
    def vm(
        self,
        name: str,
        hcr: HCR = HCR(),
        mapped: tuple[str, ...] = (),
        stage1: dict[str, MemType] | None = None,
        stage2: dict[str, MemType] | None = None,
        s2_force: S2Force = S2Force.FORCE_WB,
        on_stage2_fault: Policy | None = None,
        on_setway: Policy | None = None,
        on_sctlr: Policy | None = None,
        on_cmo: Policy | None = None,
        mmio: tuple[str, ...] = (),
        on_mmio: Policy | None = None,
        on_vcpu_load: Policy | None = None,
    ) -> None:
        _expect_name(name, "vm")
        _expect(hcr, HCR, "hcr", "HCR(...) from stalecheck.machine.spec, e.g. HCR(TVM=True)")
        _expect(s2_force, S2Force, "s2_force", "an S2Force member")
        for what, pages in (("mapped", mapped), ("mmio", mmio)):
            _expect(pages, (tuple, list), what, "a tuple of page names")
            for page in pages:
                _expect_name(page, what)
        for what, types in (("stage1", stage1), ("stage2", stage2)):
            if types is not None:
                _expect(types, dict, what, "a dict from line name to MemType")
                for key, value in types.items():
                    _expect_name(key, f"{what} key")
                    _expect(value, MemType, f"{what}[{key!r}]", "a MemType (e.g. NORMAL_WB, DEVICE)")
        for what, policy in (
            ("on_stage2_fault", on_stage2_fault), ("on_setway", on_setway), ("on_sctlr", on_sctlr),
            ("on_cmo", on_cmo), ("on_mmio", on_mmio), ("on_vcpu_load", on_vcpu_load),
        ):
            _expect_policy(policy, what)
        self._remember("vm", name)
        ram = tuple(line.name for line in self._lines if line.ram_of == name)
        self._vms.append(
            VMSpec(
                name,
                hcr,
                stage1 or {},
                stage2 or {},
                s2_force,
                tuple(mapped),
                ram,
                on_stage2_fault,
                on_setway,
                on_sctlr,
                on_cmo,
                tuple(mmio),
                on_mmio,
                on_vcpu_load,
            )
        )

    def _thread(self, name: str, program: str, context: Context, **kw: Any) -> None:
        _expect_name(name, "thread")
        _expect(program, str, "program", "the program's text")
        self._remember("thread", name)
        site = self._site
        origin = callsite.argument_origin(site, 1, "program") if site is not None else None
        path = site.path if site is not None else "<program>"
        try:
            instrs = parse_elements(program)  # positions relative to the program's text
        except InputError as exc:
            pos = exc.position
            line, column = callsite.place(origin, site, pos.line, pos.column) if pos else (0, 0)
            shown = callsite.file_line(path, line) if column else exc.source_line
            raise InputError(exc.message, Position(path, line, column), shown) from None
        placed: list[Instr | Src] = []
        for instr in instrs:
            line, column = callsite.place(origin, site, instr.line, instr.column)
            if isinstance(instr, Src):
                placed.append(instr._replace(source=path, line=line, column=column))
            else:
                placed.append(dataclasses.replace(instr, source=path, line=line, column=column))
        if any(isinstance(i, Src) for i in placed):  # registers, branches or atomics: paths
            source = tuple(i if isinstance(i, Src) else from_instr(i) for i in placed)
            self._threads.append(ThreadSpec(name, (), context, source=source, **kw))
        else:
            plain = tuple(i for i in placed if isinstance(i, Instr))
            self._threads.append(ThreadSpec(name, plain, context, **kw))

    @_placed
    def host(self, name: str, program: str, pe: int = 0) -> None:
        """A host thread (VMM, host kernel, hypervisor at EL2): host stage 1 only."""
        _expect(pe, int, "pe", "a PE number")
        self._thread(name, program, Context.HOST, pe=pe)

    @_placed
    def guest(
        self,
        name: str,
        program: str,
        vm: str,
        pe: int = 0,
        sctlr: tuple[int, int, int] = (1, 1, 1),
        migratable: bool = False,
    ) -> None:
        """A vCPU at EL1; ``sctlr`` is SCTLR_EL1 (M, C, I) when it starts."""
        _expect_name(vm, "vm")
        _expect(pe, int, "pe", "a PE number")
        _expect(migratable, bool, "migratable", "True or False")
        # SCTLR_EL1.M, .C and .I are single bits (D24.2.163 SCTLR_EL1).
        if (
            not isinstance(sctlr, tuple | list) or len(sctlr) != 3
            or any(isinstance(b, bool) or b not in (0, 1) for b in sctlr)
        ):
            raise ScenarioError(f"sctlr={sctlr!r}: expected (M, C, I), three bits of SCTLR_EL1, each 0 or 1")
        self._thread(name, program, Context.GUEST, pe=pe, vm=vm, sctlr=tuple(sctlr), migratable=migratable)

    @_placed
    def device(self, name: str, program: str, coherent: bool = False, inner_shareable: bool = False) -> None:
        """A DMA master: I/O-coherent (snoops, invalidates) or not (reads/writes the PoC).
        It is outside the PEs' Inner Shareable domain unless ``inner_shareable`` (then ISH
        barriers order accesses for it as for a PE: machine/shareability.py)."""
        _expect(coherent, bool, "coherent", "True or False")
        _expect(inner_shareable, bool, "inner_shareable", "True or False")
        self._thread(name, program, Context.DEVICE, coherent=coherent, inner=inner_shareable)

    @_placed
    def host_type(self, line: str, memtype: MemType) -> None:
        _expect_name(line, "line")
        _expect(memtype, MemType, "memtype", "a MemType (e.g. DEVICE)")
        self._remember("host_type", line)
        self._host_types[line] = memtype

    @_placed
    def options(self, **kw: Any) -> None:
        known = {f.name: f for f in dataclasses.fields(Options)}
        for key, value in kw.items():
            if key not in known:
                raise ScenarioError(f"unknown option {key!r} (options: {', '.join(known)})")
            default = known[key].default
            _expect(value, type(default), key, "True or False" if isinstance(default, bool) else "a number")
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise ScenarioError(f"{key}={value}: must not be negative")
        self._options = dataclasses.replace(self._options, **kw)

    @_placed
    def init(self, **values: int) -> None:
        for key, value in values.items():
            _expect(value, int, key, "an integer initial value")
            if not 0 <= value < _WORD:
                raise ScenarioError(f"{key}={value}: a memory word holds 0 to 2**64-1")
            self._sites[("init", key)] = self._site
        self._init.update(values)

    @_placed
    def bad_when(self, predicate: Callable[[StateView], bool], text: str) -> None:
        """The bad state: a predicate over a named view of the state, and its meaning."""
        if not callable(predicate):
            raise ScenarioError(f"bad_when({predicate!r}, ...): expected a function of the state view")
        _expect(text, str, "text", "a description of the bad state")
        self._remember("bad_when", "")
        self._bad = predicate
        self._bad_text = text

    @_placed
    def interchangeable(self, *blocks: Sequence[str]) -> None:
        """Declare blocks of threads and lines interchangeable, for symmetry reduction
        (``--symmetry``, machine/symmetry.py): ``b.interchangeable(("vcpu0", "X0"),
        ("vcpu1", "X1"))`` says that swapping vcpu0 with vcpu1 (and their PEs) and X0
        with X1 maps the system onto itself.  The search checks that it does (same
        programs after renaming, same attributes, same place in the cache topology) and
        refuses the declaration otherwise; the bad state need not be symmetric."""
        if len(blocks) < 2:
            raise ScenarioError("interchangeable(...) needs at least two blocks of names")
        out: list[tuple[str, ...]] = []
        for block in blocks:
            names = (block,) if isinstance(block, str) else tuple(block)
            for name in names:
                _expect_name(name, "interchangeable name")
            out.append(names)
        self._remember("interchangeable", "")
        self._symmetry = tuple(out)

    # ---- translation and instruction fetch (machine/mmu.py) ----------------------------

    def _x(self) -> dict[str, Any]:
        if self._xlate is None:
            self._xlate = {
                "regimes": [],
                "thread_regime": {},
                "on_fault": {},
                "icache_init": [],
                "tlb_init": [],
            }
        return self._xlate

    @_placed
    def regime(
        self,
        name: str,
        root: str,
        levels: tuple[int, ...],
        vas: dict[str, tuple[int, ...]],
        stage: int = 1,
        walk: str = "wb",
        s2: str = "",
        colour: dict[str, int] | None = None,
        vmid: int = 0,
        asid: int = -1,
        contig: int = 1,
    ) -> None:
        """A translation stage whose tables live in declared lines: ``root`` is the
        first-level table, ``vas`` gives each input address's entry index per level;
        ``walk`` is TCR_ELx.IRGN/ORGN ("wb", "nc") or "noncoherent".  Stage-1 regimes
        with the same ``vmid`` and ``asid`` (>= 0) and the same levels share TLB entries
        (two vCPUs of one VM, or two processes, with different tables and one ASID).
        ``contig`` is the number of last-level entries in a contiguous range (D8.7.1)."""
        _expect(contig, int, "contig", "a number of entries (a power of two)")
        if contig < 1 or contig & (contig - 1):
            raise ScenarioError(f"contig={contig!r}: expected a power of two")
        _expect(asid, int, "asid", "an ASID (an integer; -1: not shared)")
        _expect_name(name, "regime")
        if walk not in ("wb", "nc", "noncoherent"):
            raise ScenarioError(f"regime {name!r}: walk={walk!r} (expected wb, nc or noncoherent)")
        if stage not in (1, 2):
            raise ScenarioError(f"regime {name!r}: stage={stage!r} (expected 1 or 2)")
        self._remember("regime", name)
        spec = RegimeSpec(
            name, root, tuple(levels), dict(vas), stage, walk, s2, colour or {}, vmid, asid, contig
        )
        self._x()["regimes"].append(spec)

    @_placed
    def translate(self, thread: str, regime: str, on_fault: str = "fatal") -> None:
        """Thread ``thread`` accesses the VA names of ``regime`` through it; an abort is
        ``"fatal"`` or ``"retry"`` (the handler re-walks and retries, as Linux does)."""
        if on_fault not in ("fatal", "retry"):
            raise ScenarioError(f"on_fault={on_fault!r} (expected fatal or retry)")
        self._remember("translate", thread)
        self._x()["thread_regime"][thread] = regime
        self._x()["on_fault"][thread] = on_fault

    @_placed
    def fetch(
        self,
        icache: str = "none",
        idc: bool = False,
        dic: bool = False,
        ets2: bool = False,
        host_colour: int = 1,
        guest_colour: int = 0,
    ) -> None:
        """Instruction-fetch and translation knobs: I-cache type, CTR_EL0.IDC/DIC, FEAT_ETS2,
        and the VIPT alias bit of host and (stage-1-off) guest VAs."""
        for what, flag in (("idc", idc), ("dic", dic), ("ets2", ets2)):
            _expect(flag, bool, what, "True or False")
        self._x().update(
            icache=icache, idc=idc, dic=dic, ets2=ets2, host_colour=host_colour, guest_colour=guest_colour
        )

    @_placed
    def icache_holds(self, pe: int, line: str, value: int, colour: int = 0, vmid: int = 0) -> None:
        """PE ``pe``'s I-cache starts with ``line``=``value`` (code its previous owner ran)."""
        _expect(pe, int, "pe", "a PE number")
        _expect(value, int, "value", "an integer")
        self._x()["icache_init"].append(IcacheInit(pe, line, value, colour, vmid))

    @_placed
    def tlb_holds(self, pe: int, regime: str, va: str, desc: int) -> None:
        """PE ``pe``'s TLB starts with ``regime``'s leaf for ``va`` = ``desc`` (a ``page_desc``):
        a translation a previous context left there, under its VMID and ASID."""
        _expect(pe, int, "pe", "a PE number")
        _expect(desc, int, "desc", "a descriptor (page_desc(...))")
        self._x()["tlb_init"].append(TlbInit(pe, regime, va, desc))

    @_placed
    def table_desc(self, line: str) -> int:
        """The descriptor value of a Table entry pointing at table ``line`` (declared already)."""
        names = [ln.name for ln in self._lines]
        if line not in names:
            raise ScenarioError(f"table {line!r} is not a declared line (declare its page first)")
        return table_desc(names.index(line))

    @_placed
    def page_desc(
        self,
        page: str,
        attr: str = "wb",
        ro: bool = False,
        xn: bool = False,
        af: bool = True,
        contig: bool = False,
    ) -> int:
        """The descriptor value of a Page entry mapping ``page`` (declared already); ``contig``
        sets the Contiguous bit (D8.7.1)."""
        pages = list(dict.fromkeys(ln.page for ln in self._lines))
        if page not in pages:
            raise ScenarioError(f"page {page!r} is not declared yet")
        return page_desc(pages.index(page), attr, ro, xn, af, contig)

    def build(self) -> SystemSpec:
        if self._bad is None:
            raise ScenarioError("no bad state declared (call bad_when)")
        if not self._threads:
            raise ScenarioError("no threads declared")
        self._check_references()
        return SystemSpec(
            n_pes=self._pes,
            caches=self._caches,
            lines=tuple(self._lines),
            threads=tuple(self._threads),
            vms=tuple(self._vms),
            host_types=dict(self._host_types),
            options=self._options,
            init=dict(self._init),
            bad=self._bad,
            bad_text=self._bad_text,
            xlate=self._build_xlate(),
            symmetry=self._symmetry,
        )

    def _check_references(self) -> None:
        """Names used by one call and declared by another, checked once all are known
        and placed at the call that used them."""
        lines = {ln.name: ln for ln in self._lines}
        locations = {loc for ln in self._lines for loc in ln.locations}
        pages = {ln.page for ln in self._lines}
        vms = {vm.name for vm in self._vms}
        for vm in self._vms:
            at = self._at("vm", vm.name)
            for what, named in (("mapped", vm.mapped), ("mmio", vm.mmio)):
                for page in named:
                    if page not in pages:
                        raise ScenarioError(f"vm {vm.name!r}: {what} page {page!r} is not declared", at)
            for what, types in (("stage1", vm.stage1), ("stage2", vm.stage2)):
                for line in types:
                    if line not in lines:
                        raise ScenarioError(f"vm {vm.name!r}: {what} names {line!r}, not a declared line", at)
        for line in self._host_types:
            if line not in lines:
                raise ScenarioError(
                    f"host_type({line!r}, ...): not a declared line", self._at("host_type", line)
                )
        for key in self._init:
            if key not in locations:
                raise ScenarioError(
                    f"init({key}=...): {key!r} is not a declared location"
                    + (
                        f" (line {key!r} has sub-blocks: {', '.join(lines[key].locations)})"
                        if key in lines
                        else ""
                    ),
                    self._at("init", key),
                )
        hierarchy = Hierarchy(self._caches, 1)  # its levels (they do not depend on the PEs)
        for t in self._threads:
            at = self._at("thread", t.name)
            if t.context == Context.GUEST and t.vm not in vms:
                known = ", ".join(sorted(vms)) or "none declared"
                raise ScenarioError(f"guest {t.name!r}: no VM named {t.vm!r} (VMs: {known})", at)
            if t.context != Context.DEVICE and not 0 <= t.pe < self._pes:
                raise ScenarioError(
                    f"thread {t.name!r} starts on PE{t.pe}, but the system has PE0 to PE{self._pes - 1}", at
                )
            for instr in t.program:
                self._check_instruction(t, instr, lines, locations, pages, hierarchy)

    def _check_instruction(
        self,
        t: ThreadSpec,
        instr: Any,
        lines: dict[str, LineSpec],
        locations: set[str],
        pages: set[str],
        hierarchy: Hierarchy,
    ) -> None:
        where = Position(instr.source or "<program>", instr.line, instr.column) if instr.line else None
        if instr.op in ("STR", "LDR", "AWAIT") and instr.loc in lines and instr.loc not in locations:
            raise ScenarioError(
                f"{instr.text or instr.op}: line {instr.loc!r} has sub-blocks; name one of "
                f"{', '.join(lines[instr.loc].locations)}",
                where,
            )
        if instr.op in ("DCSW",):
            known = [lvl.name for lvl in hierarchy.levels]
            if instr.level not in known:
                raise ScenarioError(
                    f"{instr.text or instr.op}: no cache level {instr.level!r} in this system "
                    f"(levels: {', '.join(known)})",
                    where,
                )
        if instr.op == "MAP":
            if t.context != Context.GUEST:
                raise ScenarioError(
                    f"{instr.text or 'MAP'}: MAP installs a stage-2 mapping, so only a guest's "
                    "program (or its hypervisor policy) has a VM to map into",
                    where,
                )
            if instr.loc not in pages:
                raise ScenarioError(f"{instr.text or 'MAP'}: no page named {instr.loc!r}", where)

    def _build_xlate(self) -> XlateSpec | None:
        x = self._xlate
        if x is None:
            return None
        threads = {t.name for t in self._threads}
        for name in x["thread_regime"]:
            if name not in threads:
                raise ScenarioError(f"translate({name!r}, ...): no such thread", self._at("translate", name))
        lists = ("regimes", "thread_regime", "on_fault", "icache_init", "tlb_init")
        opts = {k: v for k, v in x.items() if k not in lists}
        return XlateSpec(
            regimes=tuple(x["regimes"]),
            thread_regime=dict(x["thread_regime"]),
            on_fault=dict(x["on_fault"]),
            icache_init=tuple(x["icache_init"]),
            tlb_init=tuple(x["tlb_init"]),
            **opts,
        )


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    expect: str  # what the seed analysis predicts; the verdict comes from exploring
    build_fn: Callable[[Builder], None]

    def build(self) -> SystemSpec:
        builder = Builder()
        self.build_fn(builder)
        return builder.build()


@dataclass(frozen=True)
class StressSweep:
    """Configurations too large to explore, swept by ``stalecheck stress``.

    ``build_fn(b, size, hypothesis=..., **flags)`` declares the system for one
    swept size, as a variant's function does; ``hypothesis`` is passed only when
    ``hypotheses`` are declared, and each name in ``flags`` is passed as a bool
    (``--flag NAME`` on the command line).  The runner wraps the result in a machine
    whose spontaneous cache steps (fill, drop, write-back) are ``hardware`` times as
    likely as a program or buffer step (``machine/schedule.py``)."""

    build_fn: Callable[..., None]
    sizes: tuple[Any, ...]
    hypotheses: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    label: str = "size"
    hardware: float = 0.05

    def check(self, hypothesis: str | None, flags: Sequence[str], sizes: Sequence[Any]) -> str | None:
        """The hypothesis to use (the first when none is given); a clear error for
        anything the sweep does not declare."""
        if self.hypotheses:
            chosen = hypothesis or self.hypotheses[0]
            if chosen not in self.hypotheses:
                raise UsageError(f"--hypothesis {chosen!r}: choose one of {', '.join(self.hypotheses)}")
        elif hypothesis is not None:
            raise UsageError(f"--hypothesis {hypothesis!r}: this sweep declares no hypotheses")
        else:
            chosen = None
        unknown = [f for f in flags if f not in self.flags]
        if unknown:
            known = ", ".join(self.flags) or "none"
            raise UsageError(f"--flag {', '.join(unknown)}: not a flag of this sweep (flags: {known})")
        missing = [size for size in sizes if size not in self.sizes]
        if missing:
            swept = ", ".join(map(str, self.sizes))
            raise UsageError(f"--sizes: {', '.join(map(str, missing))} not in the sweep ({swept})")
        return chosen

    def build(self, size: Any, hypothesis: str | None = None, flags: Sequence[str] = ()) -> SystemSpec:
        chosen = self.check(hypothesis, flags, [size])
        kw: dict[str, Any] = {name: name in flags for name in self.flags}
        if chosen is not None:
            kw["hypothesis"] = chosen
        builder = Builder()
        self.build_fn(builder, size, **kw)
        return builder.build()


Rows = Callable[[], list[dict[str, Any]]]


@dataclass(frozen=True)
class ExtraTable:
    """A table printed after the scenario's verdicts by ``run-all`` (e.g. the cost of
    each cleaning strategy): ``rows()`` returns one dict per row, the keys of the
    first row naming the columns."""

    title: str
    rows: Rows


@dataclass
class Scenario:
    """A real case: its variants (the buggy code and each fix), and optionally a
    stress sweep and extra tables.  Everything the commands need is declared here,
    so a user's file and a bundled or third-party scenario are run the same way."""

    name: str
    title: str
    seed: str = ""
    notes: str = ""
    variants: dict[str, Variant] = field(default_factory=dict)
    stress: StressSweep | None = None
    tables: list[ExtraTable] = field(default_factory=list)

    def variant(
        self, name: str, expect: str = "", summary: str = ""
    ) -> Callable[[Callable[[Builder], None]], Callable[[Builder], None]]:
        if expect not in ("", "reachable", "unreachable"):
            raise ScenarioError(f"variant {name!r}: expect must be 'reachable' or 'unreachable'")

        def register(fn: Callable[[Builder], None]) -> Callable[[Builder], None]:
            if name in self.variants:
                raise ScenarioError(f"scenario {self.name!r} declares variant {name!r} twice")
            self.variants[name] = Variant(name, summary or " ".join((fn.__doc__ or "").split()), expect, fn)
            return fn

        return register

    def stress_sweep(
        self,
        sizes: Sequence[Any],
        hypotheses: Sequence[str] = (),
        flags: Sequence[str] = (),
        label: str = "size",
        hardware: float = 0.05,
    ) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """Declare the stress sweep: decorates ``fn(b, size, [hypothesis=], **flags)``."""
        if not sizes:
            raise ScenarioError(f"scenario {self.name!r}: a stress sweep needs at least one size")
        if not hardware > 0:
            raise ScenarioError(f"scenario {self.name!r}: hardware={hardware} must be a positive weight")
        if len(set(map(str, sizes))) != len(sizes):
            raise ScenarioError(f"scenario {self.name!r}: stress sizes must print differently")

        def register(fn: Callable[..., None]) -> Callable[..., None]:
            if self.stress is not None:
                raise ScenarioError(f"scenario {self.name!r} declares two stress sweeps")
            self.stress = StressSweep(fn, tuple(sizes), tuple(hypotheses), tuple(flags), label, hardware)
            return fn

        return register

    def table(self, title: str) -> Callable[[Rows], Rows]:
        """Declare an extra table: decorates a function returning its rows."""

        def register(fn: Rows) -> Rows:
            self.tables.append(ExtraTable(title, fn))
            return fn

        return register
