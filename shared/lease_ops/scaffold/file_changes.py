"""Write a set of files all at once or not at all.

`new-workload` changes several files (a new app folder, a new test, platform.toml, the platform app's
config). A half-written workload is worse than none: platform.toml naming an app that is not all there
breaks every command. So each file is written whole (a new one created exclusively, an existing one
replaced through a temporary file), what each write changed is remembered, and any failure (a write, the
final check, even Ctrl-C) puts back every file and removes every folder it made before the error goes on.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lease_ops.errors import OperatorError


class WriteFailed(OperatorError):
    """A file could not be written; the message says whether everything was put back."""


@dataclass(frozen=True)
class FileWrite:
    path: Path
    text: str
    new: bool  # the file must not exist yet (never overwrite what someone else put there)


@dataclass
class _Undo:
    """What the writes so far changed: files made, files replaced (with their old bytes), folders made."""

    created: list[Path]
    replaced: list[tuple[Path, bytes]]
    folders: list[Path]

    def run(self) -> list[str]:
        """Put everything back, newest first; returns what could not be."""
        left = []
        for path, original in reversed(self.replaced):
            try:
                _replace(path, original)
            except OSError as exc:
                left.append(f"{path} ({exc.strerror or exc})")
        for path in reversed(self.created):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                left.append(f"{path} ({exc.strerror or exc})")
        for folder in reversed(self.folders):
            try:
                folder.rmdir()
            except OSError as exc:
                left.append(f"{folder}/ ({exc.strerror or exc})")
        return left


def _replace(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename, so that it is never seen half written."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _make_folders(folder: Path, undo: _Undo) -> None:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        made.mkdir()
        undo.folders.append(made)


def _write_file(write: FileWrite, undo: _Undo) -> None:
    data = write.text.encode()
    if write.new:
        with open(write.path, "xb") as file:  # fails if the file appeared since the checks
            undo.created.append(write.path)
            file.write(data)
    else:
        original = write.path.read_bytes()
        _replace(write.path, data)
        undo.replaced.append((write.path, original))


def write_all(writes: Sequence[FileWrite], verify: Callable[[], None] = lambda: None) -> None:
    """Write every file in order, then call ``verify``; if anything fails, undo every write and raise."""
    undo = _Undo([], [], [])
    current: Path | None = None
    try:
        for write in writes:
            current = write.path
            _make_folders(write.path.parent, undo)
            _write_file(write, undo)
        current = None
        verify()
    except BaseException as exc:
        left = undo.run()
        outcome = "nothing was changed" if not left else "could not put back: " + ", ".join(left)
        if isinstance(exc, OSError):
            raise WriteFailed(f"could not write {current}: {exc.strerror or exc}; {outcome}") from exc
        if isinstance(exc, OperatorError):
            raise type(exc)(f"{exc}; {outcome}") from exc
        raise
