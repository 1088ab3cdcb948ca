"""Which trainer code a trial ran, and whether a long-lived process still holds it.

A worker (``tunebook worker --wait``, a notebook calling :func:`tunebook.run_study` again)
keeps the zygote that imported the trainer once; after the user edits ``train.py`` (or a
``git pull`` on a team's machines), a trial forked from it would run the old code. So the
modules imported from a study's folder are remembered with their content digest as they
were imported; before a trial runs, a module whose file changed since (size or mtime, then
the content) drops every module of that folder, so the trial imports them afresh, and the
zygote itself is started anew. Each trial records the digest of the code it ran.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Characters of the digest a trial records (hex): enough to tell versions apart.
DIGEST_CHARS = 12


@dataclass(frozen=True)
class CodeFile:
    """One source file as it was imported: where, its stat, and its content digest."""

    path: str
    mtime_ns: int
    size: int
    digest: str

    @classmethod
    def read(cls, path: str) -> CodeFile | None:
        try:
            stat = os.stat(path)
            data = Path(path).read_bytes()
        except OSError:
            return None
        return cls(path, stat.st_mtime_ns, stat.st_size, hashlib.sha256(data).hexdigest())

    def changed(self) -> bool:
        """The file on disk is not what was imported (stat first; content if it moved)."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return True
        if (stat.st_mtime_ns, stat.st_size) == (self.mtime_ns, self.size):
            return False
        now = CodeFile.read(self.path)
        return now is None or now.digest != self.digest


#: module name → the file it was imported from, as read then (this process's and, after a
#: fork, the child's: a child inherits what its zygote imported).
_SEEN: dict[str, CodeFile] = {}


def _roots(folders: Sequence[str]) -> tuple[str, ...]:
    """The folders as prefixes, as given and resolved (a module's path is the one it was
    imported by, through either)."""
    return tuple({os.path.join(os.path.abspath(f), "") for f in folders}
                 | {os.path.join(os.path.realpath(f), "") for f in folders})


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    """A string test, no file-system call: it runs over every imported module (torch
    brings ~2,000) at each trial's start, where resolving each path cost 60 ms."""
    return os.path.abspath(path).startswith(roots)


def _modules_in(folders: Sequence[str]) -> dict[str, str]:
    """Imported modules whose source lies in ``folders``: name → file."""
    roots = _roots(folders)
    out = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and path.endswith(".py") and _inside(path, roots):
            out[name] = path
    return out


def remember(folders: Sequence[str]) -> tuple[CodeFile, ...]:
    """Record the modules imported from ``folders`` not yet recorded (read now: call it
    right after importing them); returns every recorded file of those folders."""
    for name, path in _modules_in(folders).items():
        if name not in _SEEN or _SEEN[name].path != path:
            found = CodeFile.read(path)
            if found is not None:
                _SEEN[name] = found
    roots = _roots(folders)
    return tuple(f for f in _SEEN.values() if _inside(f.path, roots))


def changed(files: Iterable[CodeFile]) -> list[str]:
    """The files of ``files`` that changed on disk since they were read."""
    return [f.path for f in files if f.changed()]


def drop_stale(folder: str) -> list[str]:
    """When a module imported from ``folder`` changed on disk, forget every module of that
    folder (a helper's new code is only seen if the trainer importing it is re-imported
    too); returns the changed files."""
    roots = _roots([folder])
    mine = {n: f for n, f in _SEEN.items() if _inside(f.path, roots)}
    stale = changed(mine.values())
    if stale:
        for name in (*mine, *_modules_in([folder])):
            sys.modules.pop(name, None)
            _SEEN.pop(name, None)
    return stale


def digest(folder: str) -> str | None:
    """The digest of the code imported from ``folder`` (its files' paths relative to it and
    their contents); None when nothing was."""
    files = sorted(remember([folder]), key=lambda f: f.path)
    if not files:
        return None
    root = os.path.realpath(folder)
    text = "\n".join(f"{os.path.relpath(os.path.realpath(f.path), root)} {f.digest}"
                     for f in files)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]
