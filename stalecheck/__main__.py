"""``python -m stalecheck``: the same entry point as the ``stalecheck`` console script."""

from stalecheck.launch import main

main()
