"""Keep ``tests/data/herdtools7`` an exact copy of the team's herd7 data.

The repository must pass its tests with nothing beside it, so the herd7 files the
tests read are vendored here.  Where the team's copy (``../shared/litmus`` beside
the clone) exists, this script re-syncs from it, and ``tests/test_vendored_data.py``
fails while the two differ.

    python tests/data/sync_herdtools7.py            # copy ../shared/litmus over the vendored tree
    python tests/data/sync_herdtools7.py --check    # list differences, exit 1 if any
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
from pathlib import Path

VENDORED = Path(__file__).resolve().parent / "herdtools7"
UPSTREAM = Path(__file__).resolve().parents[3] / "shared" / "litmus"


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def differences(source: Path = UPSTREAM, copy: Path = VENDORED) -> list[str]:
    """Every file that is missing, extra or different in ``copy``, one line each, sorted."""
    ours, theirs = _files(copy), _files(source)
    out = [f"missing: {name}" for name in theirs - ours]
    out += [f"extra: {name}" for name in ours - theirs]
    out += [
        f"differs: {name}"
        for name in ours & theirs
        if not filecmp.cmp(source / name, copy / name, shallow=False)
    ]
    return sorted(out)


def sync(source: Path = UPSTREAM, copy: Path = VENDORED) -> list[str]:
    """Make ``copy`` equal to ``source``; return what changed."""
    changed = differences(source, copy)
    for line in changed:
        kind, name = line.split(": ", 1)
        if kind == "extra":
            (copy / name).unlink()
        else:
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, copy / name)
    for folder in sorted((p for p in copy.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list differences; exit 1 if any")
    parser.add_argument("--source", type=Path, default=UPSTREAM, help=f"default: {UPSTREAM}")
    args = parser.parse_args()
    if not args.source.is_dir():
        print(f"no herd7 data at {args.source}: nothing to sync from", file=sys.stderr)
        return 2
    lines = differences(args.source) if args.check else sync(args.source)
    for line in lines:
        print(line)
    print(f"{len(lines)} file(s) {'differ' if args.check else 'synced'}", file=sys.stderr)
    return 1 if args.check and lines else 0


if __name__ == "__main__":
    sys.exit(main())
