"""Build the hot modules with mypyc, in place (`make compiled`; `make clean-compiled` undoes it).

Why opt-in: the pure-Python package is the default and the fallback (CI needs no
compiler); a compiled module is an extension file beside its `.py`, which Python
imports first, so removing the extension files restores the pure package.
`stalecheck.compiled.COMPILED_MODULES` is the one list of the modules built here.
"""

import sys

from setuptools import setup

from stalecheck.compiled import COMPILED_MODULES


def main() -> None:
    """Run `setup.py build_ext --inplace` on the chosen modules only."""
    from mypyc.build import mypycify

    paths = [name.replace(".", "/") + ".py" for name in COMPILED_MODULES]
    # group_name puts the shared runtime library inside the package (stalecheck/hot__mypyc*.so),
    # where the editable install's finder looks; the default name would land beside setup.
    extensions = mypycify(paths, opt_level="3", group_name="stalecheck.hot")
    args = ["build_ext", "--inplace", *sys.argv[1:]]
    setup(name="stalecheck-compiled", ext_modules=extensions, script_args=args)


if __name__ == "__main__":
    main()
