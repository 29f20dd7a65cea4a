"""Reading one file of a folder safely: regular files only, up to a size limit, names that can be shown.

A folder can hold anything: a FIFO (reading it waits for a writer forever), a symlink to ``/dev/zero``
(reading it never ends), a symlink loop, a name that is not UTF-8. Each is a failure with a reason, never
a hang, a traceback or unbounded memory. The file is opened non-blocking (so a FIFO opens at once), then
``fstat`` of the open file decides: the check and the read see the same file.
"""

from __future__ import annotations

import os
import stat

from ingest.loaders.documents import UnreadableError

DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def read_regular_file(path: str, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is (or links to) a regular file of at most ``max_bytes``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:  # ELOOP (a symlink loop), ENOENT (a dangling link), EACCES, ...
        raise UnreadableError(exc.strerror or type(exc).__name__) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a file")
            raise UnreadableError(f"not a regular file ({kind}); only regular files are read")
        if info.st_size > max_bytes:
            raise UnreadableError(too_large(info.st_size, max_bytes))
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read(max_bytes + 1)
    except OSError as exc:
        raise UnreadableError(exc.strerror or type(exc).__name__) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew since fstat
        raise UnreadableError(too_large(len(data), max_bytes))
    return data


def too_large(size: int, max_bytes: int) -> str:
    return f"file too large ({size} bytes; the limit RAG_MAX_FILE_BYTES is {max_bytes})"


def printable(path: str) -> str:
    """``path`` as it can be printed and stored: bytes that are not UTF-8 shown as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_unicode(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no lone surrogates, e.g. from a file name that is not UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
