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

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stalecheck.errors import ScenarioError, UsageError
from stalecheck.machine.hierarchy import CacheConfig
from stalecheck.machine.memtypes import MemType, S2Force
from stalecheck.machine.program import parse_program
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
from stalecheck.machine.translation import IcacheInit, RegimeSpec, XlateSpec, page_desc, table_desc
from stalecheck.machine.view import StateView


def _caller() -> tuple[str, int]:
    """File and line of the scenario code that called the builder, to place errors.

    Frames: 0 is this function, 1 ``Builder._thread``, 2 the public ``host``/
    ``guest``/``device`` method, 3 the scenario code that called it."""
    frame = sys._getframe(3)
    return frame.f_code.co_filename, frame.f_lineno


class Builder:
    """Collects one variant's system; ``build`` checks it and returns plain data."""

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
        if pes < 1:
            raise ScenarioError(f"pes={pes}: a system needs at least one PE")
        self._pes = pes
        self._caches = CacheConfig(l2=l2, system_cache=system_cache, louu=louu, louis=louis, loc=loc)

    def page(self, name: str, lines: str, vm: str = "") -> None:
        """Declare a page of lines: ``"X Y"`` is two one-word lines; ``"X:a,b"`` is one
        line ``X`` with two sub-block locations ``a`` and ``b``."""
        for item in lines.split():
            line, _, locs = item.partition(":")
            locations = tuple(locs.split(",")) if locs else (line,)
            self._lines.append(LineSpec(line, locations, name, vm))

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
    ) -> None:
        ram = tuple(line.name for line in self._lines if line.ram_of == name)
        self._vms.append(
            VMSpec(
                name,
                hcr,
                stage1 or {},
                stage2 or {},
                s2_force,
                mapped,
                ram,
                on_stage2_fault,
                on_setway,
                on_sctlr,
                on_cmo,
                mmio,
                on_mmio,
            )
        )

    def _thread(self, name: str, program: str, context: Context, **kw: Any) -> None:
        # Errors are placed at the call's line plus the program's line: exact for a
        # triple-quoted program that starts on the line of the call.
        path, line = _caller()
        instrs = parse_program(program, source=path, first_line=line)
        self._threads.append(ThreadSpec(name, instrs, context, **kw))

    def host(self, name: str, program: str, pe: int = 0) -> None:
        """A host thread (VMM, host kernel, hypervisor at EL2): host stage 1 only."""
        self._thread(name, program, Context.HOST, pe=pe)

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
        self._thread(name, program, Context.GUEST, pe=pe, vm=vm, sctlr=sctlr, migratable=migratable)

    def device(self, name: str, program: str, coherent: bool = False) -> None:
        """A DMA master: I/O-coherent (snoops, invalidates) or not (reads/writes the PoC)."""
        self._thread(name, program, Context.DEVICE, coherent=coherent)

    def host_type(self, line: str, memtype: MemType) -> None:
        self._host_types[line] = memtype

    def options(self, **kw: Any) -> None:
        try:
            self._options = Options(**{**self._options.__dict__, **kw})
        except TypeError as err:
            raise ScenarioError(f"unknown option: {err}") from None

    def init(self, **values: int) -> None:
        self._init.update(values)

    def bad_when(self, predicate: Callable[[StateView], bool], text: str) -> None:
        """The bad state: a predicate over a named view of the state, and its meaning."""
        self._bad = predicate
        self._bad_text = text

    # ---- translation and instruction fetch (machine/mmu.py) ----------------------------

    def _x(self) -> dict[str, Any]:
        if self._xlate is None:
            self._xlate = {"regimes": [], "thread_regime": {}, "on_fault": {}, "icache_init": []}
        return self._xlate

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
    ) -> None:
        """A translation stage whose tables live in declared lines: ``root`` is the
        first-level table, ``vas`` gives each input address's entry index per level;
        ``walk`` is TCR_ELx.IRGN/ORGN ("wb", "nc") or "noncoherent"."""
        if walk not in ("wb", "nc", "noncoherent"):
            raise ScenarioError(f"regime {name!r}: walk={walk!r} (expected wb, nc or noncoherent)")
        spec = RegimeSpec(name, root, tuple(levels), dict(vas), stage, walk, s2, colour or {}, vmid)
        self._x()["regimes"].append(spec)

    def translate(self, thread: str, regime: str, on_fault: str = "fatal") -> None:
        """Thread ``thread`` accesses the VA names of ``regime`` through it; an abort is
        ``"fatal"`` or ``"retry"`` (the handler re-walks and retries, as Linux does)."""
        if on_fault not in ("fatal", "retry"):
            raise ScenarioError(f"on_fault={on_fault!r} (expected fatal or retry)")
        self._x()["thread_regime"][thread] = regime
        self._x()["on_fault"][thread] = on_fault

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
        self._x().update(
            icache=icache, idc=idc, dic=dic, ets2=ets2, host_colour=host_colour, guest_colour=guest_colour
        )

    def icache_holds(self, pe: int, line: str, value: int, colour: int = 0, vmid: int = 0) -> None:
        """PE ``pe``'s I-cache starts with ``line``=``value`` (code its previous owner ran)."""
        self._x()["icache_init"].append(IcacheInit(pe, line, value, colour, vmid))

    def table_desc(self, line: str) -> int:
        """The descriptor value of a Table entry pointing at table ``line`` (declared already)."""
        names = [ln.name for ln in self._lines]
        if line not in names:
            raise ScenarioError(f"table {line!r} is not a declared line (declare its page first)")
        return table_desc(names.index(line))

    def page_desc(
        self, page: str, attr: str = "wb", ro: bool = False, xn: bool = False, af: bool = True
    ) -> int:
        """The descriptor value of a Page entry mapping ``page`` (declared already)."""
        pages = list(dict.fromkeys(ln.page for ln in self._lines))
        if page not in pages:
            raise ScenarioError(f"page {page!r} is not declared yet")
        return page_desc(pages.index(page), attr, ro, xn, af)

    def build(self) -> SystemSpec:
        if self._bad is None:
            raise ScenarioError("no bad state declared (call bad_when)")
        if not self._threads:
            raise ScenarioError("no threads declared")
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
        )

    def _build_xlate(self) -> XlateSpec | None:
        x = self._xlate
        if x is None:
            return None
        threads = {t.name for t in self._threads}
        for name in x["thread_regime"]:
            if name not in threads:
                raise ScenarioError(f"translate({name!r}, ...): no such thread")
        lists = ("regimes", "thread_regime", "on_fault", "icache_init")
        opts = {k: v for k, v in x.items() if k not in lists}
        return XlateSpec(
            regimes=tuple(x["regimes"]),
            thread_regime=dict(x["thread_regime"]),
            on_fault=dict(x["on_fault"]),
            icache_init=tuple(x["icache_init"]),
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
