"""Shareability domains of barriers: what the model does with NSH, ISH and OSH.

B2.6.10 (Shareability and access limitations on the data barrier operations): a DMB
or DSB names the domain it operates over, Full system (SY), Outer Shareable (OSH),
Inner Shareable (ISH) or Non-shareable (NSH), and orders accesses only for the
observers in that domain.  The model has one domain:

- every PE is in one Inner Shareable domain.  The architecture assumes this of the
  PEs that one operating system or hypervisor runs on (B2.10.1.1 Shareable Normal
  memory), and the formal model of B2.3 is stated for it (B2.3: "All PEs are part of
  the same Inner Shareable domain ... as long as no barriers or TLB invalidations
  specify the Non-shareable domain").  So ISH and OSH barriers act like SY among PEs;
- a ``DMB`` that names the Non-shareable domain orders nothing for any other observer
  (the PE's own loads already read its own stores in program order), so it leaves no
  marker in the buffer (``orders_others``);
- a ``DSB`` that names the Non-shareable domain orders nothing for other observers
  either, and waits only for the PE's own maintenance: TLB maintenance that is not
  broadcast (D8.17 R_PSMWS: "A DSB NSH is sufficient to ensure completion of TLB
  maintenance instructions that apply to a single PE"), ``IC IALLU``, ``DC`` by VA to
  Non-shareable memory and set/way operations (``nsh_dsb_waits_for``).  Its stores may
  still be buffered after it, so the PE's own walker may see them late: more
  executions, never fewer (the formal model of B2.3 does not cover NSH at all);
- the rest is not modelled and stronger than the Arm ARM, so it is printed with each
  verdict it can affect (``assumption``): an ISH or OSH barrier orders accesses for DMA
  masters too, which may sit outside the PEs' Inner Shareable domain (B2.10.1.1.1: the
  domains are system specific; the distinction between SY and OSH applies to
  Non-cacheable and Device accesses).
"""

from __future__ import annotations

from collections.abc import Iterable

from stalecheck.machine.isa import Instr
from stalecheck.machine.state import DCVA, IC_ENTRY, IC_IALLU, SETWAY, TLBI_ENTRY, Entry

NON_SHAREABLE = ("NSH", "NSHST", "NSHLD")
INNER_OUTER = ("ISH", "ISHST", "ISHLD", "OSH", "OSHST", "OSHLD")


def orders_others(option: str) -> bool:
    """Whether a ``DMB`` or ``DSB <option>`` orders anything for other observers (B2.6.10)."""
    return option not in NON_SHAREABLE


def nsh_dsb_waits_for(entry: Entry) -> bool:
    """Whether a ``DSB NSH`` waits for a buffered entry: the PE's own maintenance only."""
    kind = entry[0]
    if kind == TLBI_ENTRY:
        return not entry[1]  # not broadcast
    if kind == IC_ENTRY:
        return entry[1] == IC_IALLU
    if kind == DCVA:
        return not entry[5]  # scope_all = 0: Non-shareable memory
    return kind == SETWAY


def assumption(code: Iterable[Instr], devices: bool) -> str | None:
    """The printed assumption for the barriers in ``code`` (every instruction the
    explored machine interned, policy code included), or None when no barrier in it
    names a domain the model widens to the full system."""
    barriers = sorted({(i.op, i.kind) for i in code if i.op in ("DMB", "DSB")})
    inner = [f"{op} {o}" for op, o in barriers if o in INNER_OUTER] if devices else []
    if not inner:
        return None
    return (
        f"barriers act system-wide: no shareability domains ({', '.join(inner)} act like SY; "
        "stronger than the Arm ARM where a DMA master lies outside the PEs' Inner or Outer "
        "Shareable domain: B2.6.10, B2.10.1.1.1)"
    )
