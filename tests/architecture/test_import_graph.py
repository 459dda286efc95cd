"""The package's import graph has no cycles, and modules keep out of each other's privates.

Why a test: a cycle hidden by an import inside a function (or under
``TYPE_CHECKING``) still ties two modules into one unit a reader must hold in
mind at once, and it is how ``system.py`` and ``mmu.py`` grew into each other.
The graph is built from the source with ``ast``, so every import counts: at
module level, inside functions, and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "stalecheck"

# Cycles known and being removed, each as the sorted tuple of its modules (or of its
# subpackages, for the graph of subpackages).  This list may only shrink: a new cycle
# fails the test, and a listed cycle that is gone fails it too, so the entry is
# deleted as soon as the cycle is.  (The report/ <-> axiomatic/ and the
# axiomatic.candidates <-> axiomatic.model cycles of issue 9 are gone.)
ALLOWED_CYCLES: set[tuple[str, ...]] = set()

# Reads of another module's private names still to remove (may only shrink).
ALLOWED_PRIVATE_READS: set[str] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module of the package that ``name`` imports, wherever the import is."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import sub`` imports the submodule when there is one.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        else:
            continue
        out.update(target for target in targets if target in known and target != name)
    return out


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def package_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same graph between subpackages (``stalecheck.report``, ...) and top-level modules:
    two subpackages that import each other are one unit even when no two of their
    modules form a cycle."""

    def unit(name: str) -> str:
        return ".".join(name.split(".")[:2])

    out: dict[str, set[str]] = {unit(name): set() for name in edges}
    for name, targets in edges.items():
        out[unit(name)].update(unit(t) for t in targets if unit(t) != unit(name))
    return out


def cycles(edges: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: set[tuple[str, ...]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.add(tuple(sorted(component)))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_function_local_cycle(tmp_path: Path) -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == {("a", "b", "c")}
    source = "def f() -> None:\n    from stalecheck.x import y\n"
    (tmp_path / "m.py").write_text(source)
    assert imports_of("stalecheck.m", tmp_path / "m.py", {"stalecheck.x", "stalecheck.x.y"}) == {
        "stalecheck.x.y"
    }


def test_no_import_cycles() -> None:
    edges = graph()
    found = cycles(edges) | cycles(package_graph(edges))
    assert found - ALLOWED_CYCLES == set(), f"new import cycles: {sorted(found - ALLOWED_CYCLES)}"
    assert ALLOWED_CYCLES - found == set(), (
        f"cycles gone, delete them from ALLOWED_CYCLES: {sorted(ALLOWED_CYCLES - found)}"
    )


def test_no_module_reads_another_modules_private_names() -> None:
    """``obj._name`` where ``obj`` is not ``self``/``cls`` reaches into another object's
    privates; allowed only for names that are public despite the underscore
    (NamedTuple's ``_replace``/``_fields``/..., CPython's ``sys._getframe``)."""
    public_underscored = {"_replace", "_fields", "_make", "_asdict", "_field_defaults", "_getframe"}
    offenders: list[str] = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                not isinstance(node, ast.Attribute)
                or not node.attr.startswith("_")
                or node.attr.startswith("__")
            ):
                continue
            if node.attr in public_underscored:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            offenders.append(f"{name}: .{node.attr}")
    assert sorted(set(offenders)) == sorted(ALLOWED_PRIVATE_READS), "\n".join(offenders)
