"""The optional compiled build (`make compiled`, stalecheck/compiled.py) against pure Python.

The suite itself runs pure (CI has no compiler). These tests run the same searches and the
same successor computations in two subprocesses of one checkout: one that imports the hot
modules from their sources (`force_pure`) and one that imports whatever is there (the
extension modules when `make compiled` was run, else the sources again). They must agree
exactly; when no compiled build exists the test still checks that both import paths work
and say which build ran. benchmarks/compiled_speed.py compares whole searches (and speed).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from stalecheck.compiled import COMPILED_MODULES

ROOT = Path(__file__).resolve().parents[1]

# Variants with translation (stage 1 and 2, walks, TLBs, faults) and without (DMA, caches).
VARIANTS = [
    ("osv-pte-barriers", "break-before-make"),
    ("kvm-stage2-map-modern", "pipt"),
    ("kvm-guest-faults-icache", "swap-in-clean-poc"),
    ("kvm-guest-faults-icache", "pipt-no-inval"),
    ("osv-pte-barriers", "no-barriers"),
    ("fcvm-vsock-nv2", "baseline-no-fwb"),
]

_WORKER = """
import hashlib, json, sys
if sys.argv[1] == "pure":
    from stalecheck.compiled import force_pure
    force_pure()
from stalecheck.compiled import build_name
from stalecheck.explore.search import Budget, check
from stalecheck.runner import load_scenario
from stalecheck.machine.system import Machine
out = {"build": build_name()}
for name, variant in json.loads(sys.argv[2]):
    spec = load_scenario(name).variants[variant].build()
    machine = Machine(spec)
    # successors state by state (actions, next_state), breadth-first, of the first 300 states
    seen, queue, digest = set(), [machine.initial_state()], hashlib.sha256()
    while queue and len(seen) < 300:
        state = queue.pop(0)
        if state in seen:
            continue
        seen.add(state)
        for step in machine.actions(state):
            succ = machine.next_state(state, step)
            digest.update(repr((step, succ)).encode())
            queue.append(succ)
    v = check(Machine(spec), Budget(max_states=20000))  # the planned search (machine/plan.py)
    out[name + "/" + variant] = [digest.hexdigest(), v.outcome.value, v.states, v.transitions,
                                 v.depth, list(v.witness)]
print(json.dumps(out))
"""


def _run(build: str) -> dict[str, object]:
    res = subprocess.run(
        [sys.executable, "-c", _WORKER, build, json.dumps(VARIANTS)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr
    out: dict[str, object] = json.loads(res.stdout)
    return out


def test_pure_and_default_imports_give_the_same_successors_and_verdicts() -> None:
    pure, default = _run("pure"), _run("default")
    assert pure.pop("build") == "pure Python"
    build = default.pop("build")
    assert build == "pure Python" or str(build).startswith("mypyc: ")
    assert pure.keys() == default.keys() == {f"{n}/{v}" for n, v in VARIANTS}
    for key in pure:
        assert pure[key] == default[key], f"{key} differs between pure and {build}"


def test_the_build_recipe_names_the_hot_modules_sources() -> None:
    # What `make compiled` runs: compiled_build.py over COMPILED_MODULES, whose sources exist.
    makefile = (ROOT / "Makefile").read_text()
    assert "compiled_build.py" in makefile and "clean-compiled:" in makefile
    for name in COMPILED_MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        assert (ROOT / (name.replace(".", "/") + ".py")).is_file(), name
