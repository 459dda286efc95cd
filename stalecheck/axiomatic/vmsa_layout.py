"""herd's VMSA spellings in a test's text: page-table entries, physical pages, PTE records.

Under herd's ``vmsa`` variant (``kvm``) every location ``x`` is a *virtual*
address mapped by its own page-table entry ``PTE(x)`` (also written ``pte_x``
or ``TTD(x)``) to its own physical page ``PA(x)`` (also ``phy_x``); an entry
the test does not initialise is herd's default, valid with the access flag
and the dirty bit set (herd: eventsMonad.ml ``add_initpte``, AArch64PteVal.ml
``prot_default``; Arm ARM D8.2, translation tables).  Memory is physical: the
cell ``x`` holds the contents of ``PA(x)``, which is also what a final-state
``x`` names (herd reports a physical location by its virtual name).

Spellings of values (registers and initial memory):

* ``pte_x``, ``PTE(x)``, ``TTD(x)`` -> :class:`Addr` ``PTE(x)``: the entry's address;
* ``phy_x``, ``PA(x)`` -> :class:`Addr` ``PA(x)``: an address that is not translated;
* ``(oa:PA(x), valid:0, ...)`` -> :class:`PteVal`; when a record initialises or is
  compared with an entry ``PTE(x)`` and names no ``oa``, its ``oa`` is ``x``
  (herd's ``add_oa_if_none``).
"""

from __future__ import annotations

from stalecheck.axiomatic.values import (
    PTE_FIELDS,
    Addr,
    PteVal,
    phys_base,
    pte_cell_base,
    unwrap,
)
from stalecheck.errors import InputError, Position, UnsupportedError
from stalecheck.litmus import ast

PTE_FUNCS = ("PTE", "TTD")


def location_base(name: str) -> str | None:
    """The cell base of a named location under VMSA: ``pte_x`` -> ``PTE(x)``, ``phy_x`` -> ``x``."""
    if name.startswith("pte_"):
        return pte_cell_base(name[4:])
    if name.startswith("phy_"):
        return name[4:]
    return None


def call_location_base(func: str, arg: str, pos: Position) -> str:
    """``PTE(x)``/``TTD(x)`` -> ``PTE(x)``; ``PA(x)`` -> ``x`` (the physical page's cell)."""
    if func in PTE_FUNCS:
        return pte_cell_base(arg)
    if func == "PA":
        return arg
    raise UnsupportedError(f"location {func}({arg}) is not supported", pos)


def address_value(v: ast.Value, pos: Position) -> Addr | None:
    """An address spelled the VMSA way, or None for an ordinary value."""
    if isinstance(v, ast.NameValue) and v.tag is None:
        if v.name.startswith("pte_"):
            return Addr(pte_cell_base(v.name[4:]))
        if v.name.startswith("phy_"):
            return Addr(phys_base(v.name[4:]))
        return None
    if isinstance(v, ast.CallValue):
        if len(v.args) != 1 or not isinstance(v.args[0], ast.NameValue):
            raise UnsupportedError(f"value {v.func}(...) is not supported", pos)
        name = v.args[0].name
        if v.func in PTE_FUNCS:
            return Addr(pte_cell_base(name))
        if v.func == "PA":
            return Addr(phys_base(name))
        raise UnsupportedError(f"value {v.func}(...) is not supported", pos)
    return None


def _oa(v: ast.Value, pos: Position) -> str:
    addr = address_value(v, pos)
    if addr is None or unwrap(addr.base, "PA") is None:
        raise UnsupportedError("an output address other than a physical page (PA(x), phy_x) "
                               "is not supported", pos)
    name = unwrap(addr.base, "PA")
    assert name is not None
    return name


def pte_value(v: ast.RecordValue, default_oa: str, pos: Position) -> PteVal:
    """A page-table entry record; fields missing take herd's defaults (AArch64PteVal.ml)."""
    oa = default_oa
    bits: dict[str, int] = {}
    for name, value in v.fields:
        if name == "oa":
            oa = _oa(value, pos)
        elif name in PTE_FIELDS:
            if not isinstance(value, ast.IntValue):
                raise InputError(f"PTE field {name} should be an integer", pos)
            bits[name] = value.value
        elif name == "attrs":
            raise UnsupportedError("page-table entry memory attributes (attrs) are not "
                                   "supported", pos)
        else:
            raise InputError(f"Illegal AArch64 page table entry property {name}", pos)
    return PteVal(oa, **bits)


def entry_of(base: str) -> str | None:
    """For a PTE cell base ``PTE(x)``, ``x``."""
    return unwrap(base, "PTE")
