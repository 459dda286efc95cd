"""The static description of a system: plain data that a scenario builds.

Nothing here changes during exploration; what changes lives in ``state.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from stalecheck.machine.hierarchy import CacheConfig
from stalecheck.machine.isa import Instr
from stalecheck.machine.memtypes import NORMAL_WB, MemType, S2Force
from stalecheck.machine.paths import UNROLL, Src
from stalecheck.machine.translation import XlateSpec

if TYPE_CHECKING:
    from stalecheck.machine.view import StateView


class Context(StrEnum):
    """Which translation regime a thread's accesses use."""

    HOST = "host"  # host kernel/VMM or hypervisor: EL2 (VHE) regime, its own stage 1
    GUEST = "guest"  # a vCPU at EL1: guest stage 1 (SCTLR_EL1) then stage 2
    DEVICE = "device"  # a DMA master: no PE, no buffer


@dataclass(frozen=True)
class LineSpec:
    """A cache line; ``locations`` are its sub-blocks (one per word the model tracks)."""

    name: str
    locations: tuple[str, ...]
    page: str
    ram_of: str = ""  # the VM whose RAM this line is ("" for host-only memory)


@dataclass(frozen=True)
class ThreadSpec:
    name: str
    program: tuple[Instr, ...]
    context: Context
    pe: int = 0  # initial PE (ignored for devices)
    vm: str = ""
    migratable: bool = False
    coherent: bool = False  # devices: I/O-coherent (snoops) or not (PoC)
    inner: bool = False  # devices: in the PEs' Inner Shareable domain (shareability.py)
    sctlr: tuple[int, int, int] = (1, 1, 1)  # SCTLR_EL1 (M, C, I) at start
    # A program with registers, branches or atomics (machine/paths.py): elaborated into
    # paths by the layout; ``program`` is then unused.  ``registers`` are initial values,
    # an int or a location's name (its address); ``unroll`` bounds backward branches.
    source: tuple[Src, ...] = ()
    registers: tuple[tuple[str, int | str], ...] = ()
    unroll: int = UNROLL


@dataclass(frozen=True)
class HCR:
    """HCR_EL2 bits the model knows, each as the Arm ARM names it (D24.2.62 HCR_EL2,
    Hypervisor Configuration Register), except ``TPC``, which the manual now calls
    TPCP ("This field was previously named TPC")."""

    TSW: bool = False  # trap DC ISW/CSW/CISW (set/way) at EL1
    TVM: bool = False  # trap writes to VM control registers (SCTLR_EL1, ...)
    TPC: bool = False  # TPCP: trap DC IVAC/CIVAC/CVAC/CVAP (to the PoC/PoP) at EL1
    TPU: bool = False  # trap DC CVAU, IC IVAU, IC IALLU(IS) (to the PoU) at EL1
    DC: bool = False  # Default Cacheability: SCTLR_EL1.M behaves as 0 and stage 1 is
    # Normal Non-shareable Inner/Outer Write-Back (the model applies it only while M=0)
    CD: bool = False  # stage 2 data accesses to Normal memory Non-cacheable
    ID: bool = False  # stage 2 instruction accesses to Normal memory Non-cacheable
    FWB: bool = False  # FEAT_S2FWB: stage 2 MemAttr[2:0] sets the combined type (D8.6.6)

    BITS = ("TSW", "TVM", "TPC", "TPU", "DC", "CD", "ID", "FWB")

    def to_int(self) -> int:
        return sum(1 << i for i, name in enumerate(self.BITS) if getattr(self, name))


def hcr_bit(name: str) -> int:
    return 1 << HCR.BITS.index(name)


class TrapKind(StrEnum):
    """Why a guest instruction traps to EL2 (a ``StrEnum``: equal to its value)."""

    STAGE2_FAULT = "stage2-fault"  # stage 2 Translation or Permission fault (D8.15.1)
    SETWAY = "setway"  # HCR_EL2.TSW: set/way maintenance
    SCTLR = "sctlr"  # HCR_EL2.TVM: a write to SCTLR_EL1
    CMO = "cmo"  # HCR_EL2.TPCP/TPU: cache maintenance by VA
    MMIO = "mmio"  # an access to an emulated device page (an MMIO exit)
    VCPU_LOAD = "vcpu-load"  # not a trap: the hypervisor loads the vCPU on a PE (KVM vcpu_load)


@dataclass(frozen=True)
class TrapContext:
    """What a hypervisor policy sees when a guest instruction traps."""

    kind: TrapKind
    thread: str
    vm: VMSpec
    instr: Instr
    page: str = ""  # faulting page (stage-2 fault)
    field: str = ""  # SCTLR_EL1 field written (sctlr)
    value: int = 0
    sctlr: tuple[int, int, int] = (1, 1, 1)  # guest's SCTLR_EL1 (M, C, I) before the write
    mapped: tuple[str, ...] = ()  # pages mapped at stage 2 when the trap is taken
    pages: tuple[tuple[str, tuple[str, ...]], ...] = ()  # the VM's RAM: page -> its lines
    hcr: int = 0  # the VM's HCR_EL2 bits when the trap is taken (``HCR.BITS`` order)

    def hcr_has(self, name: str) -> bool:
        return bool(self.hcr & hcr_bit(name))
    access: str = ""  # stage-2 fault: "read", "write" or "exec" (an instruction abort)
    icache: str = ""  # the I-cache type the hypervisor reads from CTR_EL0.L1Ip ("" = none modelled)
    idc: bool = False  # CTR_EL0.IDC
    dic: bool = False  # CTR_EL0.DIC
    pe: int = -1  # vcpu-load: the PE the vCPU is loaded on

    def lines_of(self, page: str) -> tuple[str, ...]:
        return dict(self.pages).get(page, ())

    def ram_lines(self, pages: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """The VM's RAM lines, all of them or only those of ``pages``."""
        return tuple(line for page, lines in self.pages if pages is None or page in pages for line in lines)


Policy = Callable[[TrapContext], Sequence[Instr]]


@dataclass(frozen=True)
class VMSpec:
    """A guest VM: its HCR_EL2 at start, its stage-1 and stage-2 types, its RAM."""

    name: str
    hcr: HCR = HCR()
    stage1: dict[str, MemType] = field(default_factory=dict, compare=False, hash=False)
    stage2: dict[str, MemType] = field(default_factory=dict, compare=False, hash=False)
    s2_force: S2Force = S2Force.FORCE_WB  # stage-2 MemAttr under FWB
    mapped: tuple[str, ...] = ()  # pages mapped at stage 2 before the guest runs
    ram: tuple[str, ...] = ()  # the VM's RAM lines, in address order
    on_stage2_fault: Policy | None = None
    on_setway: Policy | None = None
    on_sctlr: Policy | None = None
    on_cmo: Policy | None = None
    mmio: tuple[str, ...] = ()  # pages of emulated devices: every access exits to the hypervisor
    on_mmio: Policy | None = None  # the hypervisor's emulation of such an access (an MMIO exit)
    on_vcpu_load: Policy | None = None  # code at EL2 when a vCPU moves to a PE (TLB/I-cache maintenance)

    def s1_type(self, line: str) -> MemType:
        return self.stage1.get(line, NORMAL_WB)

    def s2_type(self, line: str) -> MemType:
        return self.stage2.get(line, NORMAL_WB)


@dataclass(frozen=True)
class Options:
    """Knobs a verdict depends on; each is printed with the verdict."""

    nc_reads_may_hit: bool = True  # B2.11 default; False = "strict bypass" hardware
    max_migrations: int = 1
    host_linear_map: bool = True  # EL2 maps all RAM Normal WB: fills may happen any time
    preemptible_policies: bool = False  # a vCPU may migrate while its trap handler runs
    setway_program_order: bool = False  # ARMv7 rule; AArch64 needs a DMB/DSB (D7.5.9.15)
    prune_dead_lines: bool = False  # reduction: no hardware steps on lines nobody touches again
    quiet_coherent_lines: bool = False  # skip spontaneous steps on cacheable-only lines (reduce.py)
    # reduction: no fill of TLB entries no remaining translation can use, dropped at once (dead_tlb.py)
    prune_dead_tlb: bool = True
    weak_ordering: bool = True  # out-of-order execution inside a PE (machine/ordering.py)
    record_executions: bool = False  # litmus counts: record read-from and coherence order (machine/rfco.py)


@dataclass(frozen=True)
class SystemSpec:
    """Everything static about one variant of a scenario."""

    n_pes: int
    caches: CacheConfig
    lines: tuple[LineSpec, ...]
    threads: tuple[ThreadSpec, ...]
    vms: tuple[VMSpec, ...] = ()
    host_types: dict[str, MemType] = field(default_factory=dict, compare=False, hash=False)
    options: Options = Options()
    init: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    # Locations placed at a byte offset from another (a litmus array's elements,
    # litmus_machine.py): name -> (location, offset); the others get addresses apart.
    placed: dict[str, tuple[str, int]] = field(default_factory=dict, compare=False, hash=False)
    bad: Callable[[StateView], bool] | None = None
    bad_text: str = ""
    xlate: XlateSpec | None = None  # translation and instruction fetch (machine/mmu.py)
    # Interchangeable blocks of thread and line names (``Builder.interchangeable``,
    # machine/symmetry.py): swapping whole blocks, name by name, maps the system onto itself.
    symmetry: tuple[tuple[str, ...], ...] = ()
