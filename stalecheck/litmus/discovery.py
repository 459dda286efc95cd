"""Turn command-line paths into the list of litmus files to check.

A path may be a ``.litmus`` file, a folder (searched recursively, sorted so
runs are reproducible) or a herd-style index file such as ``@all``: one
path per line, relative to the index, ``#`` comments, and nested indexes.

An index is recognised by its name (herd's start with ``@``) or by its content
(every entry names a ``.litmus`` file or another ``@`` index), it must be a
small regular file, and it is read with a size limit: a stray binary, a FIFO
or ``/dev/zero`` given by mistake is refused instead of read forever.
"""

from __future__ import annotations

from pathlib import Path

from stalecheck.errors import InputError, Position, UsageError
from stalecheck.litmus.parser import read_text_file

# herd's largest index (aarch64-VMSA/tests/@all) is about 20 KB.
MAX_INDEX_BYTES = 1 << 20


def _entries(text: str) -> list[tuple[int, str, str]]:
    """``(line number, entry, raw line)`` for each line that names something."""
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            out.append((number, line, raw))
    return out


def _looks_like_index(path: Path, entries: list[tuple[int, str, str]]) -> bool:
    if path.name.startswith("@"):
        return True
    return bool(entries) and all(
        e.endswith(".litmus") or Path(e).name.startswith("@") for _, e, _ in entries
    )


def _from_index(index: Path, seen: set[Path]) -> list[Path]:
    if index.resolve() in seen:
        raise InputError("index file includes itself", Position(str(index)))
    seen = seen | {index.resolve()}
    text = read_text_file(index, "herd index file", MAX_INDEX_BYTES)
    entries = _entries(text)
    if "\0" in text or not _looks_like_index(index, entries):
        raise UsageError(
            f"{index}: not a litmus file (*.litmus), a folder, or a herd index file "
            "(named @..., one .litmus path per line)"
        )
    out: list[Path] = []
    for number, line, raw in entries:
        target = index.parent / line
        if not target.exists():
            raise InputError(
                f"index entry {line!r} does not exist", Position(str(index), number, 1), raw
            )
        out.extend(_expand(target, seen))
    return out


def _expand(path: Path, seen: set[Path]) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.rglob("*.litmus") if p.is_file())
        if not found:
            raise UsageError(f"no .litmus files in the folder {path}")
        return found
    if path.suffix == ".litmus":
        if not path.is_file():  # a FIFO would block the run; a device never ends
            raise InputError("not a regular file, so not a litmus file", Position(str(path)))
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
    if not out:
        raise UsageError("the index files name no litmus tests")
    return out
