"""Turn command-line paths into the list of litmus files to check.

A path may be a ``.litmus`` file, a folder (searched recursively, sorted so
runs are reproducible) or a herd-style index file such as ``@all``: one
path per line, relative to the index, ``#`` comments, and nested indexes.
"""

from __future__ import annotations

from pathlib import Path

from stalecheck.errors import InputError, Position, UsageError


def _from_index(index: Path, seen: set[Path]) -> list[Path]:
    if index.resolve() in seen:
        raise InputError("index file includes itself", Position(str(index)))
    seen = seen | {index.resolve()}
    try:
        text = index.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read index file: {exc}", Position(str(index))) from None
    out: list[Path] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        target = (index.parent / line)
        if not target.exists():
            raise InputError(
                f"index entry {line!r} does not exist", Position(str(index), number, 1), raw
            )
        out.extend(_expand(target, seen))
    return out


def _expand(path: Path, seen: set[Path]) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*.litmus") if p.is_file())
    if path.suffix == ".litmus":
        return [path]
    return _from_index(path, seen)


def discover(paths: list[Path]) -> list[Path]:
    """All litmus files named by ``paths``, in order, without duplicates."""
    if not paths:
        raise UsageError("give at least one litmus file, folder or index file")
    out: list[Path] = []
    known: set[Path] = set()
    for p in paths:
        if not p.exists():
            raise UsageError(f"no such file or folder: {p}")
        for f in _expand(p, set()):
            key = f.resolve()
            if key not in known:
                known.add(key)
                out.append(f)
    return out
