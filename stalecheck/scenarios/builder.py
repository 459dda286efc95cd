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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stalecheck.errors import ScenarioError
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
from stalecheck.machine.view import StateView


def _caller() -> tuple[str, int]:
    """File and line of the scenario code that called the builder, to place errors."""
    frame = sys._getframe(3)  # _caller <- _thread <- host/guest/device <- scenario code
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
            )
        )

    def _thread(self, name: str, program: str, context: Context, **kw: Any) -> None:
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


@dataclass
class Scenario:
    """A real case with its variants (the buggy code and each fix)."""

    name: str
    title: str
    seed: str = ""
    notes: str = ""
    variants: dict[str, Variant] = field(default_factory=dict)

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
