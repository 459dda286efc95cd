"""A cat model, loaded with its includes, and run over candidate executions in stages.

herd evaluates the whole model once per candidate execution.  Most of an
AArch64 model (``lob``, ``dob``, ``bob``, the dependency relations) depends
only on the thread paths, so we split the model's top-level instructions by
the latest stage among the names they read (see :mod:`~stalecheck.cat.structure`):
stage 0 runs once per event structure, stage 1 once per read-from choice,
stage 2 once per coherence choice.  The instructions still run in file order
within each stage and see exactly the bindings herd's sequential evaluation
would give them (a later stage replays the earlier stages' bindings in order),
so the verdicts are herd's.

herd prepends its ``stdlib.cat`` to every model; so do we, from the vendored
copy unless the model's own folder has one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from stalecheck.cat import syntax as s
from stalecheck.cat.evaluator import BASE, CatFailure, Closure, Evaluator, Proc, Scope
from stalecheck.cat.freevars import free_body, free_exp
from stalecheck.cat.parser import parse_file, parse_text
from stalecheck.cat.primitives import primitives
from stalecheck.cat.structure import CO_NAMES, PROVIDED_NAMES, RF_NAMES, Choice, EventStructure
from stalecheck.cat.values import Algebra, Value, VSet
from stalecheck.errors import InputError, Position, StalecheckError, UnsupportedError

STAGES = 3  # 0: thread paths, 1: rf, 2: co


def with_cat_line(err: StalecheckError) -> StalecheckError:
    """Attach the cat file's own line, so the caret points into the model, not the test."""
    pos = err.position
    if err.source_line is None and pos is not None and pos.line > 0:
        try:
            lines = Path(pos.path).read_text().splitlines()
        except OSError:
            return err
        if pos.line <= len(lines):
            err.source_line = lines[pos.line - 1]
    return err


def vendored_dir() -> Path:
    return Path(str(resources.files("stalecheck.cat").joinpath("models")))


@dataclass(frozen=True)
class CatModel:
    """A parsed model with every ``include`` resolved (both branches of variant tests)."""

    path: str
    body: tuple[s.Ins, ...]
    includes: dict[str, tuple[s.Ins, ...]]  # resolved path -> body, keyed per Include node id
    plans: dict[tuple[frozenset[str], frozenset[str], bool], Plan] = field(
        default_factory=dict, compare=False)


class _Loader:
    def __init__(self, search: list[Path]) -> None:
        self.search = search
        self.parsed: dict[Path, s.Model] = {}
        self.resolved: dict[int, tuple[s.Ins, ...]] = {}

    def find(self, name: str, here: Path, pos: Position) -> Path:
        for d in [here, *self.search]:
            p = d / name
            if p.is_file():
                return p.resolve()
        raise InputError(f"cat include not found: {name!r}", pos)

    def load(self, path: Path, stack: tuple[Path, ...]) -> tuple[s.Ins, ...]:
        if path in stack:
            raise InputError(f"cat include cycle through {path.name}", Position(str(path)))
        if path not in self.parsed:
            self.parsed[path] = parse_file(path)
        model = self.parsed[path]
        self.walk(model.body, path.parent, (*stack, path))
        return model.body

    def walk(self, body: tuple[s.Ins, ...], here: Path, stack: tuple[Path, ...]) -> None:
        for ins in body:
            if isinstance(ins, s.Include) and id(ins) not in self.resolved:
                target = self.find(ins.path, here, ins.pos)
                self.resolved[id(ins)] = self.load(target, stack)
            elif isinstance(ins, s.IfVariant):
                self.walk(ins.then, here, stack)
                self.walk(ins.orelse, here, stack)


def load_model(path: Path) -> CatModel:
    """Parse ``path`` and everything it includes; includes are looked up beside the
    including file, then among the vendored herd models."""
    loader = _Loader([vendored_dir()])
    top = path.resolve() if path.is_file() else path
    if not path.is_file():
        raise InputError(f"cannot read cat file: {path}", Position(str(path)))
    stdlib = loader.find("stdlib.cat", top.parent, Position(str(path)))
    std_ins = s.Include(Position(str(stdlib)), "stdlib.cat")
    loader.resolved[id(std_ins)] = loader.load(stdlib, ())
    body = (std_ins, *loader.load(top, ()))
    return CatModel(str(path), body, {str(k): v for k, v in loader.resolved.items()})


def load_text(text: str, path: str = "<cat>") -> CatModel:
    """A model from text (tests); includes resolve among the vendored models."""
    loader = _Loader([vendored_dir()])
    model = parse_text(text, path)
    stdlib = vendored_dir() / "stdlib.cat"
    std_ins = s.Include(Position(str(stdlib)), "stdlib.cat")
    loader.resolved[id(std_ins)] = loader.load(stdlib.resolve(), ())
    loader.walk(model.body, vendored_dir(), ())
    return CatModel(path, (std_ins, *model.body), {str(k): v for k, v in loader.resolved.items()})


def flatten(model: CatModel, variants: frozenset[str], ev: Evaluator) -> list[s.Ins]:
    """Top-level instructions in evaluation order, includes inlined, variant tests decided."""
    out: list[s.Ins] = []

    def go(body: tuple[s.Ins, ...], depth: int) -> None:
        if depth > 50:
            raise InputError("cat includes nested too deeply", body[0].pos if body else None)
        for ins in body:
            if isinstance(ins, s.Include):
                go(model.includes[str(id(ins))], depth + 1)
            elif isinstance(ins, s.IfVariant):
                go(ins.then if ev.variant(ins.cond) else ins.orelse, depth + 1)
            else:
                out.append(ins)

    go(model.body, 0)
    return out


@dataclass
class Outcome:
    """One stage's result: its bindings per instruction, the first failed check, raised flags."""

    bindings: dict[int, dict[str, Value]] = field(default_factory=dict)
    violation: str = ""
    flags: tuple[str, ...] = ()
    chosen: dict[str, Value] = field(default_factory=dict)  # rf, FW...: what the choices bound


def _ins_names(ins: s.Ins) -> tuple[set[str], set[str]]:
    """(names read, names bound) of one top-level instruction."""
    if isinstance(ins, s.Let):
        bound = {n for b in ins.bindings for n in b.pattern.names if n is not None}
        read = set().union(*(free_exp(b.exp) for b in ins.bindings))
        if ins.recursive:
            return read - bound, bound | {n + BASE for n in bound}
        return read, bound
    if isinstance(ins, s.Check):
        return free_exp(ins.exp), set()
    if isinstance(ins, s.Call):
        return {ins.name} | free_exp(ins.arg), set()
    if isinstance(ins, s.WithFrom):
        return free_exp(ins.exp), {ins.name}
    if isinstance(ins, s.Procedure):
        params = {n for n in ins.params.names if n is not None}
        return free_body(ins.body, params) - {ins.name}, {ins.name}
    return set(), set()


@dataclass(frozen=True)
class Plan:
    """The flattened instructions for one set of variants, each with its stage and bound names."""

    steps: tuple[s.Ins, ...]
    levels: tuple[int, ...]
    bound: tuple[frozenset[str], ...]


def make_plan(model: CatModel, ev: Evaluator, provided: frozenset[str], prune: bool = True) -> Plan:
    key = (ev.variants, provided, prune)
    plan = model.plans.get(key)
    if plan is not None:
        return plan
    steps = tuple(flatten(model, ev.variants, ev))
    level: dict[str, int] = dict.fromkeys(RF_NAMES, 1)
    level.update(dict.fromkeys(CO_NAMES | provided, 2))
    levels = []
    bound = []
    for ins in steps:
        read, names = _ins_names(ins)
        lv = max((level.get(n, 0) for n in read), default=0)
        if isinstance(ins, s.WithFrom) and ins.name in provided:
            lv = 2
        for n in names:
            level[n] = lv
        levels.append(lv)
        bound.append(frozenset(names))
    live = _live_steps(steps) if prune else [True] * len(steps)
    keep = [i for i in range(len(steps)) if live[i]]
    plan = model.plans[key] = Plan(
        tuple(steps[i] for i in keep), tuple(levels[i] for i in keep), tuple(bound[i] for i in keep)
    )
    return plan


def _live_steps(steps: tuple[s.Ins, ...]) -> list[bool]:
    """Which instructions can affect a verdict: checks, ``with``, calls, and the bindings
    they read (backwards liveness over the instruction list).  ``flag`` and ``show``
    never change a verdict (stalecheck prints no flags), so neither they nor what only
    they read is evaluated; herd, which evaluates bindings lazily, skips the same work."""
    live = [False] * len(steps)
    needed: set[str] = set()
    for i in range(len(steps) - 1, -1, -1):
        ins = steps[i]
        read, bound = _ins_names(ins)
        if isinstance(ins, s.Check):
            keep = ins.kind != "flag"
        elif isinstance(ins, (s.WithFrom, s.Call, s.Unsupported)):
            keep = True
        elif isinstance(ins, (s.Let, s.Procedure)):
            keep = bool(bound & needed)
        else:
            keep = False
        if keep:
            live[i] = True
            needed -= bound
            needed |= read
    return live


class Instance:
    """A model instantiated on one event structure: stage 0 done, ready for rf and co choices."""

    def __init__(
        self, model: CatModel, structure: EventStructure, variants: frozenset[str],
        provided: frozenset[str] = PROVIDED_NAMES, prune: bool = True,
    ) -> None:
        """``prune=False`` evaluates every binding, even those no check reads (for inspection)."""
        self.provided = provided
        self.alg = Algebra(structure.n)
        self.ev = Evaluator(self.alg, frozenset(v.lower() for v in variants))
        self.base: dict[str, Value] = primitives(self.alg, structure)
        self.base.update(structure.values())
        plan = make_plan(model, self.ev, provided, prune)
        self.steps, self.levels, self.bound = plan.steps, plan.levels, plan.bound
        self.ev.memoise = True
        self.static = self.run(0, Choice(), None)
        self.ev.memoise = False

    def run(self, stage: int, choice: Choice, prev: Outcome | None) -> Outcome:
        """Evaluate the instructions of ``stage``, replaying earlier stages from ``prev``."""
        if prev is not None and prev.violation:
            return prev
        env: dict[str, Value] = dict(self.base)
        chosen = dict(prev.chosen) if prev else {}
        chosen.update(choice.bound)
        env.update(chosen)
        scope = Scope(env, live=True)
        out = Outcome(flags=prev.flags if prev else (), chosen=chosen)
        flags = list(out.flags)
        for i, ins in enumerate(self.steps):
            lv = self.levels[i]
            if lv < stage:
                assert prev is not None
                env.update(prev.bindings.get(i, {}))
                continue
            if lv > stage:
                continue
            violation = self.exec(ins, scope, choice, flags)
            out.bindings[i] = {k: env[k] for k in self.bound[i] if k in env}
            if violation:
                out.violation = violation
                break
        if prev is not None:
            for j, b in prev.bindings.items():
                out.bindings.setdefault(j, b)
        out.flags = tuple(flags)
        return out

    def value(self, outcome: Outcome, name: str) -> Value:
        """The value ``name`` has at the end of the model, as far as ``outcome`` went."""
        for i in range(len(self.steps) - 1, -1, -1):
            b = outcome.bindings.get(i)
            if b and name in b:
                return b[name]
        if name in outcome.chosen:
            return outcome.chosen[name]
        return self.base[name]

    def exec(self, ins: s.Ins, scope: Scope, choice: Choice, flags: list[str]) -> str:
        """Run one instruction; the name of the failed check, or ''."""
        try:
            return self._exec(ins, scope, choice, flags)
        except CatFailure as e:
            raise with_cat_line(e.as_error()) from None
        except StalecheckError as e:
            raise with_cat_line(e) from None

    def _exec(self, ins: s.Ins, scope: Scope, choice: Choice, flags: list[str]) -> str:
        ev = self.ev
        if isinstance(ins, s.Let):
            if ins.recursive:
                ev.bind_rec(ins.bindings, scope, scope.vars, ins.pos)
            else:
                values = [(b, ev.eval(b.exp, scope)) for b in ins.bindings]
                for b, v in values:
                    scope.vars.update(ev.match_pattern(b.pattern, v, b.pos))
            return ""
        if isinstance(ins, s.Check):
            return self.check(ins, ev.eval(ins.exp, scope), flags)
        if isinstance(ins, s.Show):
            return ""
        if isinstance(ins, s.Procedure):
            proc = Proc(ins.params, ins.body, scope.captured(), ins.name)
            scope.vars[ins.name] = proc
            return ""
        if isinstance(ins, s.Call):
            try:
                proc = scope.lookup(ins.name)
            except KeyError:
                raise CatFailure(f"unknown procedure {ins.name}", ins.pos) from None
            if not isinstance(proc, Proc):
                raise CatFailure(f"{ins.name} is not a procedure", ins.pos)
            arg = ev.eval(ins.arg, scope)
            inner = Scope(ev.match_pattern(proc.params, arg, ins.pos), proc.env)
            inner.vars.setdefault(proc.name, proc)
            for body_ins in proc.body:
                failed = self._exec(body_ins, inner, choice, flags)
                if failed:
                    return ins.as_name or failed
            return ""
        if isinstance(ins, s.WithFrom):
            return self.with_from(ins, scope, choice)
        if isinstance(ins, s.Unsupported):
            raise UnsupportedError(f"unsupported cat construct: {ins.what}", ins.pos)
        if isinstance(ins, (s.Include, s.IfVariant)):  # only inside procedures
            raise UnsupportedError("unsupported cat construct: include or variant test inside a procedure",
                                   ins.pos)
        raise AssertionError(f"unknown instruction {ins!r}")

    def check(self, ins: s.Check, value: Value, flags: list[str]) -> str:
        alg = self.alg
        try:
            if ins.test == "acyclic":
                ok = alg.is_acyclic(value)
            elif ins.test == "irreflexive":
                ok = alg.is_irreflexive(value)
            else:
                ok = alg.is_empty(value)
        except Exception as err:  # a CatTypeError: the model tests a non-relation
            raise CatFailure(str(err), ins.pos) from None
        if ins.negated:
            ok = not ok
        name = ins.name or f"{ins.test} at {ins.pos}"
        if ins.kind == "flag":
            if ok:
                flags.append(name)
            return ""
        if ins.kind == "assert":
            if not ok:
                raise InputError(f"cat assertion failed: {name}", ins.pos)
            return ""
        return "" if ok else name

    def with_from(self, ins: s.WithFrom, scope: Scope, choice: Choice) -> str:
        choices = self.ev.eval(ins.exp, scope)
        members = self.alg.members(choices) if not isinstance(choices, VSet) else None
        if ins.name in choice.provided:
            mine = choice.provided[ins.name]
            if isinstance(choices, VSet):
                found = mine in choices.items or any(self.alg.same(mine, m) for m in choices.items)
            else:
                found = any(self.alg.same(mine, m) for m in members or [])
            scope.vars[ins.name] = mine
            return "" if found else f"with {ins.name} from"
        items = sorted(choices.items, key=repr) if isinstance(choices, VSet) else members or []
        if len(items) == 1:
            scope.vars[ins.name] = next(iter(choices.items)) if isinstance(choices, VSet) else items[0]
            return ""
        if not items:
            return f"with {ins.name} from (no choice)"
        raise UnsupportedError(
            f"unsupported: 'with {ins.name} from' offers {len(items)} choices here, and the "
            "candidate generator does not enumerate them", ins.pos)


def is_closure(v: Value) -> bool:
    return isinstance(v, Closure)
