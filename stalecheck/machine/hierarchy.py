"""Cache topology: which cache instances exist and where the PoU and PoC sit.

The PoU and PoC are read from the CLIDR_EL1-style fields of the configuration,
not from a fixed level (D7.5.8.1.2 Terminology for Clean, Invalidate, and Clean
and Invalidate instructions, and D24.2.33 CLIDR_EL1, Cache Level ID Register:
LoUU, LoUIS, LoC give the last architected cache level that maintenance to that
point must affect).  A system cache sits after the architected levels and before
the PoC; it is not described by CLIDR and set/way operations cannot name it, but
maintenance by VA to the PoC reaches it (class 2 of D7.5.12 System level caches;
D7.5.2 Cache identification; seed 002).
"""

from __future__ import annotations

from dataclasses import dataclass

from stalecheck.errors import ScenarioError


@dataclass(frozen=True)
class Level:
    """One level of the hierarchy: ``private`` means one instance per PE."""

    name: str
    private: bool
    architected: bool  # reachable by set/way and counted by CLIDR


@dataclass(frozen=True)
class CacheConfig:
    """Which caches exist. Defaults: private L1 only, PoU and PoC after L1."""

    l2: bool = False
    system_cache: bool = False
    louu: int | None = None  # CLIDR_EL1.LoUU; default: 1
    louis: int | None = None  # CLIDR_EL1.LoUIS; default: = LoUU
    loc: int | None = None  # CLIDR_EL1.LoC; default: number of architected levels


@dataclass(frozen=True)
class Instance:
    level: int
    pe: int | None  # None for a shared level

    def label(self, levels: tuple[Level, ...]) -> str:
        name = levels[self.level].name
        return f"{name}.PE{self.pe}" if self.pe is not None else name


class Hierarchy:
    """Static topology: instances, each PE's path to memory, and the two points."""

    def __init__(self, config: CacheConfig, n_pes: int) -> None:
        levels = [Level("L1", True, True)]
        if config.l2:
            levels.append(Level("L2", False, True))
        architected = len(levels)
        if config.system_cache:
            levels.append(Level("SC", False, False))
        self.levels: tuple[Level, ...] = tuple(levels)
        louu = 1 if config.louu is None else config.louu
        louis = louu if config.louis is None else config.louis
        loc = architected if config.loc is None else config.loc
        for name, value in (("LoUU", louu), ("LoUIS", louis), ("LoC", loc)):
            if not 0 <= value <= architected:
                raise ScenarioError(
                    f"CLIDR_EL1.{name}={value} but only {architected} architected cache "
                    f"level(s) exist (L1{', L2' if config.l2 else ''})"
                )
        if louu > loc or louis > loc:
            raise ScenarioError(f"LoUU={louu}/LoUIS={louis} cannot exceed LoC={loc}")
        if loc < architected:
            raise ScenarioError(f"LoC={loc} leaves architected levels beyond the PoC; not modelled")
        self.louu = louu
        self.louis = louis
        self.loc = loc
        # Depths: how many levels lie before each point.  The modelled system cache
        # is before the PoC (docs/design.md section 1; class 2 of D7.5.12 System level
        # caches; caches beyond the PoC, class 3, are invisible and not modelled).
        self.pou_depth = louu
        self.pouis_depth = louis
        self.poc_depth = len(self.levels)
        instances: list[Instance] = []
        for index, level in enumerate(self.levels):
            if level.private:
                instances.extend(Instance(index, pe) for pe in range(n_pes))
            else:
                instances.append(Instance(index, None))
        self.instances: tuple[Instance, ...] = tuple(instances)
        self.n_pes = n_pes
        self.paths: tuple[tuple[int, ...], ...] = tuple(
            tuple(i for i, inst in enumerate(self.instances) if inst.pe is None or inst.pe == pe)
            for pe in range(n_pes)
        )
        self.l1: tuple[int, ...] = tuple(i for i, inst in enumerate(self.instances) if inst.level == 0)
        # Next instance below each instance (shared levels have one next instance;
        # a private instance's next is on its own PE's path); -1 means memory.
        below: list[int] = []
        for i, inst in enumerate(self.instances):
            path = self.paths[inst.pe if inst.pe is not None else 0]
            pos = path.index(i)
            below.append(path[pos + 1] if pos + 1 < len(path) else -1)
        self.below: tuple[int, ...] = tuple(below)
        self.shared_path: tuple[int, ...] = tuple(
            i for i, inst in enumerate(self.instances) if inst.pe is None
        )

    def label(self, inst: int) -> str:
        return self.instances[inst].label(self.levels)

    def level_index(self, name: str) -> int:
        for index, level in enumerate(self.levels):
            if level.name == name:
                return index
        names = ", ".join(level.name for level in self.levels)
        raise ScenarioError(f"no cache level {name!r} in this system (levels: {names})")

    def in_scope(self, inst: int, pes: frozenset[int]) -> bool:
        pe = self.instances[inst].pe
        return pe is None or pe in pes
