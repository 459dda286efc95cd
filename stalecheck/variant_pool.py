"""Check many variants at once, each in its own worker process (``run-all -j N``).

Every variant is still one ordinary search on one core (``runner.run_variant``),
so its verdict, counts and witness are those of a run without ``-j``; only the
variants run side by side.  That is what makes ``make run`` use both cores: its
85 variants are independent, whereas ``check -j`` splits one search and pays for
the states it sends between workers.  Results come back pickled, in the order
asked for, as soon as each one and those before it are done.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from stalecheck.explore.reduced import PLAIN, SearchMode
from stalecheck.explore.search import Budget, Store
from stalecheck.runner import Result, load_scenario, run_variant
from stalecheck.workers import process_pool, worker_count


def check_one(source: str, variant: str, budget: Budget, store: Store, mode: SearchMode) -> Result:
    """One variant, loaded by name or file path in whichever process runs it."""
    scenario = load_scenario(source)
    return run_variant(scenario, scenario.variants[variant], budget, store=store, mode=mode)


def check_many(
    tasks: Sequence[tuple[str, str]],
    jobs: int,
    budget: Budget = Budget(),
    store: Store = Store.EXACT,
    mode: SearchMode = PLAIN,
) -> Iterator[Result]:
    """The results of ``tasks`` (scenario source, variant name), in that order, computed
    on up to ``jobs`` processes (``workers.worker_count``); with one, in this process."""
    workers = worker_count(jobs, len(tasks))
    if workers <= 1:
        for source, variant in tasks:
            yield check_one(source, variant, budget, store, mode)
        return
    with process_pool(workers) as pool:
        futures = [pool.submit(check_one, source, variant, budget, store, mode) for source, variant in tasks]
        for future in futures:
            yield future.result()
