"""Output files written whole or not at all.

Every file lrkit writes for a user (``report.html``, ``results.json``, ``compare.png``,
``lr_find.png``, ``lrkit plot -o``) goes through :func:`replace`: the content is written
to a temporary file in the same folder (``.<name>.<random>.tmp``), flushed to disk
(``fsync``), then renamed over the target with ``os.replace``, which is atomic on POSIX
and Windows. A write that fails midway (a full disk, a killed process, an error while
drawing) leaves the old file as it was, or no file, never a partial one; the temporary
file is removed. The new file gets the mode ``open()`` would give it (``0o666`` less
the umask), or the old file's mode when it replaces one.

An ``OSError`` names the target path (not the temporary file), e.g.
``out/report.html: Read-only file system``.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
>>> write_text(path, "hello\\n") == path
True
>>> open(path).read(), os.listdir(os.path.dirname(path))
('hello\\n', ['a.txt'])
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from typing import IO, Any

__all__ = ["replace", "write_text", "save_figure"]


def _mode(path: str) -> int:
    """The mode of the file at ``path``, or what ``open()`` would create it with."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def replace(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> str:
    """Write a file atomically: ``write(f)`` fills a temporary binary file next to
    ``path``, which then replaces ``path``. Returns ``path`` as a string. Any error (of
    ``write`` too) leaves ``path`` untouched and removes the temporary file."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.",
                                   suffix=".tmp")
    except OSError as e:  # name the file the user asked for, not the temporary one
        raise OSError(e.errno, e.strerror, target) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode(target))
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename in (None, tmp):
            raise OSError(e.errno, e.strerror, target) from None
        raise
    _sync_folder(folder)
    return target


def _sync_folder(folder: str) -> None:
    """Make the rename itself durable (where the platform can open a folder)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path: str | os.PathLike[str], text: str) -> str:
    """:func:`replace` with ``text`` in UTF-8."""
    data = text.encode("utf-8")
    return replace(path, lambda f: f.write(data))


def save_figure(fig: Any, path: str | os.PathLike[str], **kwargs: Any) -> str:
    """``fig.savefig`` through :func:`replace`; the format follows the extension of
    ``path`` (matplotlib's default, PNG, without one) unless ``format=`` is given."""
    suffix = os.path.splitext(os.fspath(path))[1][1:].lower()
    if suffix and "format" not in kwargs:
        kwargs["format"] = suffix
    return replace(path, lambda f: fig.savefig(f, **kwargs))
