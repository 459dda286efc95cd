"""Which VMSA (herd ``-variant vmsa``/``kvm``, ``ets2``, ``ets3``) tests the base model decides.

The engine has no translation-table walks yet.  Under herd's ``vmsa`` variant
every explicit access is preceded by a walk: an implicit read (``Imp & TTD &
R``) of the location's page-table entry (Arm ARM D8.2, translation table walk;
``aarch64util.cat``: ``TTD = PTE`` when ``vmsa``).  A test that never names a
page-table entry, a physical address, a TLBI, ``AT``, a fault or an exception
cannot write a PTE, so each walk reads the initial entry (valid, access flag
set: herd's default mapping of each variable to its own physical page) and no
walk faults.  In such an execution the walks add no ``ob`` cycle to the
vendored ``aarch64.cat``:

- the only ``ob`` edge *into* a walk without ETS2/ETS3 is ``rf; [Imp & TTD]``
  (``TTD-obs``) from the initial write, which has no ``ob`` predecessor
  (no write is ``ca``-before it, nothing reads-from into it);
- with ETS2/ETS3, ``DSB-ob`` also orders ``X`` before a walk after a DSB
  (aarch64hwreqs.cat ``DSB-ob``, Arm ARM B2.3.7); then ``X`` is already
  ``DSB-ob``-before every ``ob`` successor of that walk (its access ``tr-ib``,
  the writes ``dob`` puts after that access, the events after an ``IFB``),
  because they are all po-after the same DSB and are not walks;
- with no PTE write there is no ``fr``/``ca`` out of a walk, no TLBI
  (``TLBI-ob``, ``TLBI-ca`` empty), no fault (``ets-ob``,
  ``TLBuncacheable-ca`` empty) and no hardware update (``HU`` empty).

So the executions and final states are the base model's, and such a test is
decided by it.  Anything that might touch translation is refused as
unsupported (``variants.py``) until walks are modelled.
"""

from __future__ import annotations

import re

from stalecheck.litmus import ast

# herd variants that switch on translation (herd/variant.ml: kvm is vmsa).
TRANSLATION_VARIANTS = frozenset({"kvm", "vmsa", "ets2", "ets3"})

# Anything that names translation state or exceptions, matched case-insensitively
# on the test text below its title line (conservative: a hit means "refuse").
_TRANSLATION_WORDS = re.compile(
    r"pte|phy_|\bPA\s*\(|tlbi|\bAT\b|fault|\bERET\b|\bELR|\bSVC\b|\bHVC\b|\bSMC\b"
    r"|\bMSR\b|\bMRS\b|\bP\d+\.F\b|TTHM|attrs|\bel0\b|\boa\s*:|\bvalid\s*:|\baf\s*:"
    r"|\bdbm?\s*:|\bUDF\b|\bBRK\b|instr\s*:|\bIC\b|\bDC\b|\bADR\b|label\s*:",
    re.IGNORECASE,
)


def translation_free(test: ast.LitmusTest) -> bool:
    """True if the test cannot write a page-table entry, fault, or use TLB maintenance."""
    if not test.source:
        return False
    body = test.source.split("\n", 1)[1] if "\n" in test.source else ""
    return _TRANSLATION_WORDS.search(body) is None
