"""How the config readers (``loader``, ``yaml_conf``, ``secrets``) find and decode a file: one
rule for all three, so an include, a YAML file and a secrets file map and read alike."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Mapping

__all__ = ["longest_first", "map_path", "decode_text", "read_file", "FileRefused", "MAX_FILE_BYTES"]

# A config or secrets file larger than this is refused: the largest real ones (thousands of conns,
# hundreds of raw RSA keys) are a few MiB, and reading one costs about three times its size in memory.
MAX_FILE_BYTES = 16 * 1024 * 1024


def longest_first(path_map: Mapping[str, str] | None) -> list[tuple[str, str]]:
    """``path_map``'s (prefix, target) pairs, the most specific prefix first."""
    return sorted((path_map or {}).items(), key=lambda kv: -len(kv[0]))


def map_path(path: str, pairs: Iterable[tuple[str, str]]) -> str:
    """``path`` with the first matching whole-component prefix replaced by its target (tests map
    ``/testing`` onto the corpus, ``--ipsecdir`` stands in for ``/etc/ipsec.d``)."""
    for prefix, target in pairs:
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return target + path[len(prefix):]
    return path


def decode_text(data: bytes) -> str:
    """UTF-8, else Latin-1 (which never fails): Libreswan reads bytes, and old files are Latin-1."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class FileRefused(OSError):
    """A file we could open but will not read: not a regular file, or too large. ``strerror`` is
    the sentence for the operator; ``errno`` is None so callers do not add "(errno N)"."""

    def __init__(self, reason: str) -> None:
        super().__init__(None, reason)


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def read_file(path: str) -> tuple[bytes, int]:
    """The bytes and ``st_mode`` of the config or secrets file ``path``. Raises OSError: the
    open's own (ENOENT, EACCES, ELOOP, EISDIR), or FileRefused for a FIFO, a device or a socket
    (a FIFO with no writer would block the open, /dev/zero would never end: the open is
    non-blocking and the type is checked before any read) and for a file over MAX_FILE_BYTES."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "of an unknown type")
            raise FileRefused(f"it is {kind}, not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise FileRefused(f"it is larger than the {MAX_FILE_BYTES >> 20} MiB limit ({st.st_size} bytes)")
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            data = fh.read(MAX_FILE_BYTES + 1)  # a file that grows while read is still bounded
        if len(data) > MAX_FILE_BYTES:
            raise FileRefused(f"it is larger than the {MAX_FILE_BYTES >> 20} MiB limit")
        return data, st.st_mode
    finally:
        if fd >= 0:
            os.close(fd)
