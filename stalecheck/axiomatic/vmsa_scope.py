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
decided by it (faster: no walk events).

Every other test under ``vmsa``/``kvm`` is decided with walks
(:mod:`~stalecheck.axiomatic.translation`, :mod:`~stalecheck.axiomatic.vmsa_model`)
when it stays within what those model: walks, page-table entries written by
explicit stores, and MMU faults that end their thread.  :func:`walk_refusal`
names the first feature beyond that (TLB maintenance, hardware AF/DB updates,
ETS2/ETS3, fault handlers, exclusives and most atomics), and the test is
refused with it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from stalecheck.axiomatic.translation import Hardware
from stalecheck.errors import InputError, Position
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


# Memory instructions the walk model translates (translation.py): plain loads and
# stores, acquire/release, exclusives, SWP and the LD<op>/ST<op> atomics (one walk for
# the read and the write of an atomic).
_TRANSLATED = re.compile(
    r"^(LDA?P?R|STL?R|LDA?XR|STL?XR|SWPA?L?|CASA?L?|(LD|ST)(ADD|CLR|SET|EOR|SMAX|SMIN|UMAX|UMIN)A?L?)"
    r"[BH]?$")
# Instructions that need more than walks: TLB and cache maintenance, address
# translation, exceptions, system registers, exclusives and the other atomics.
_NOT_WITH_WALKS = re.compile(
    r"^(AT|DC|IC|HVC|SMC|BRK|LD[AX]|ST[LX]X|LDX|STX|CAS|LD(ADD|CLR|SET|EOR"
    r"|SMAX|SMIN|UMAX|UMIN)|ST(ADD|CLR|SET|EOR|SMAX|SMIN|UMAX|UMIN)|LDP|STP|STG|LDG)"
)
# herd's fault handling tags (lib/fault.ml Handling.parse).
_HANDLING = {"imprecise": "handled", "handled": "handled", "precise": "fatal",
             "fatal": "fatal", "faulttonext": "skip", "skip": "skip"}


def walk_refusal(test: ast.LitmusTest, tags: frozenset[str]) -> str:
    """Why the walk model cannot decide this VMSA test exactly ("" if it can)."""
    if tags & {"ifetch", "self"}:
        return "translation with instruction fetch (herd flags vmsa with ifetch) is not supported"
    for thread in test.threads:
        for line in thread.code:
            ins = line.instruction
            if ins is None:
                continue
            mn = ins.mnemonic
            if _NOT_WITH_WALKS.match(mn) and not _TRANSLATED.match(mn):
                return f"{mn} with translation-table walks is not supported yet"
            if mn.startswith("CAS") and any(h.hd for h in tthm(test).values()):
                # herd (AArch64Sem.ml do_cas_fail_with): a failing CAS without write-back
                # may or may not set the dirty state under HD; only one is modelled
                return f"{mn} with hardware dirty-state management (TTHM=HD) is not supported yet"
    return ""


def walks_modelled(test: ast.LitmusTest, tags: frozenset[str]) -> bool:
    """Whether walks are events of this test (VMSA, and not decided without them)."""
    return bool(tags & {"vmsa", "kvm"}) and not translation_free(test)


def translation_free(test: ast.LitmusTest) -> bool:
    """True if the test cannot write a page-table entry, fault, or use TLB maintenance."""
    if not test.source:
        return False
    body = test.source.split("\n", 1)[1] if "\n" in test.source else ""
    return _TRANSLATION_WORDS.search(body) is None


def tthm(test: ast.LitmusTest) -> dict[int, Hardware]:
    """Each thread's hardware AF/DB management from herd's ``TTHM`` key (lib/dirtyBit.mll):
    ``HA``/``HD`` for every thread, ``P1:HD`` for one, ``P0:SW`` for none; HD implies HA."""
    found = test.info_value("TTHM")
    if found is None:
        return {}
    procs = [t.proc for t in test.threads]
    ha: set[int] = set()
    hd: set[int] = set()
    soft: set[int] = set()
    for item in re.split(r"[\s]+", found[0].strip()):
        m = re.fullmatch(r"(?:P?(\d+):)?([A-Za-z]+)", item)
        key = m.group(2).lower() if m else ""
        if not m or key not in ("sw", "ha", "hd"):
            raise InputError(f"Incorrect dirty bit managment specification '{found[0].strip()}'",
                             Position(test.path, found[1]))
        who = [int(m.group(1))] if m.group(1) else procs
        if key == "sw":
            soft.update(who if m.group(1) else [])
            continue
        ha.update(who)
        if key == "hd":
            hd.update(who)
    return {p: Hardware(p in ha or p in hd, p in hd) for p in procs if p not in soft}


def fault_handling(test: ast.LitmusTest, extra: Sequence[str]) -> str:
    """herd's fault handling: the test's ``Variant`` line overrides the command line, the
    last tag winning (lib/testVariant.ml); ``fatal`` by default (lib/fault.ml)."""
    found = test.info_value("Variant")
    for tags in ([t.lower() for t in re.split(r"[\s,]+", found[0]) if t] if found else [],
                 [t.lower() for e in extra for t in re.split(r"[\s,]+", e) if t]):
        chosen = [_HANDLING[t] for t in tags if t in _HANDLING]
        if chosen:
            return chosen[-1]
    return "fatal"
