"""Atomic file writes: a temporary file in the same directory, fsync, then rename.

A reader (or a crash at any moment) sees either the old file or the new one,
never a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed.

    Example:
        >>> with atomic_path("curves.png") as tmp:   # doctest: +SKIP
        ...     figure.savefig(tmp, format="png")
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(path))  # mkstemp makes 0600; keep the old file's mode, else the umask's
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def check_suffix(path, suffixes, argument, hint="") -> str:
    """``path`` as a string, if its suffix (any case) is one of ``suffixes`` and it is not a directory:
    numcnn writes the format a file's suffix names, never PNG bytes under ``.txt``.

    Args:
        path: where a file will be written.
        suffixes: the suffixes allowed, e.g. ``(".safetensors",)``.
        argument: the argument's name (``"path"``) or a command-line flag (``"--out"``), for the message.
        hint: more for the message, e.g. where another format is written.
    """
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"The `{argument}` argument must be a file path. Received: {argument}={path!r}") from None
    if os.path.splitext(path)[1].lower() not in suffixes or os.path.isdir(path):
        flag = argument.startswith("-")
        raise ValueError(f"{argument if flag else f'The `{argument}` argument'} must name a new "
                         f"{' or '.join(suffixes)} file: numcnn writes the format a file's suffix names{hint}. "
                         f"Received: {f'{argument} {path}' if flag else f'{argument}={path!r}'}")
    return path


def remove_stale_temporaries(directory, name=None) -> list:
    """Delete the temporary files that writes cut by a crash (SIGKILL, power loss) left in ``directory``
    (``.NAME.*.tmp``, of :func:`atomic_path`), for the file ``name`` or for every file; returns their paths.

    Only the owner of a directory should call it, before it writes there again: a temporary
    file of a write still in progress would go too.
    """
    pattern = re.compile(r"\.%s\.[^/]+\.tmp" % (re.escape(name) if name else r"[^/]+?"))
    try:
        stale = [entry.path for entry in os.scandir(directory) if entry.is_file() and pattern.fullmatch(entry.name)]
    except FileNotFoundError:
        return []
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return stale


def _mode_for(path) -> int:
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(directory):
    with contextlib.suppress(OSError):  # not every OS / file system lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))
