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
  marker in the buffer (``dmb_orders``);
- the rest is not modelled and stronger than the Arm ARM, so it is printed with each
  verdict it can affect (``assumption``): a ``DSB`` NSH waits for every earlier access
  and maintenance as a DSB SY does, and an ISH or OSH barrier orders accesses for DMA
  masters too, which may sit outside the PEs' Inner Shareable domain (B2.10.1.1.1: the
  domains are system specific; the distinction between SY and OSH applies to
  Non-cacheable and Device accesses).
"""

from __future__ import annotations

from collections.abc import Iterable

from stalecheck.machine.isa import Instr

NON_SHAREABLE = ("NSH", "NSHST", "NSHLD")
INNER_OUTER = ("ISH", "ISHST", "ISHLD", "OSH", "OSHST", "OSHLD")


def dmb_orders(option: str) -> bool:
    """Whether a ``DMB <option>`` orders anything for other observers (B2.6.10)."""
    return option not in NON_SHAREABLE


def assumption(code: Iterable[Instr], n_pes: int, devices: bool) -> str | None:
    """The printed assumption for the barriers in ``code`` (every instruction the
    explored machine interned, policy code included), or None when no barrier in it
    names a domain the model widens to the full system."""
    barriers = sorted({(i.op, i.kind) for i in code if i.op in ("DMB", "DSB")})
    others = n_pes > 1 or devices
    nsh = [f"DSB {o}" for op, o in barriers if op == "DSB" and o in NON_SHAREABLE and others]
    inner = [f"{op} {o}" for op, o in barriers if o in INNER_OUTER] if devices else []
    if not nsh and not inner:
        return None
    widened = ", ".join([*nsh, *inner])
    return (
        f"barriers act system-wide: no shareability domains ({widened} act like SY; stronger than "
        "the Arm ARM where a DMA master lies outside the PEs' Inner or Outer Shareable domain, and "
        "for a DSB NSH on every other observer: B2.6.10, B2.10.1.1.1)"
    )
