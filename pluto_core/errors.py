"""The one exception family of pluto (see docs/architecture.md).

Every error an operator can cause or meet carries the place it came from:
``ConfigError`` a file and line, ``ProtocolError`` the notify a responder
answers with, ``KernelError`` the kernel operation and errno.
"""

from __future__ import annotations

import errno as _errno
import os


class PlutoError(Exception):
    """Base of every error pluto raises on purpose."""


class ConfigError(PlutoError):
    """Bad configuration: names ``file:line`` where it can."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.file is not None and self.line is not None:
            return f"{self.file}:{self.line}: {self.message}"
        if self.file is not None:
            return f"{self.file}: {self.message}"
        return self.message


class ProtocolError(PlutoError):
    """A protocol violation; ``notify`` is the Notify type a responder sends back (or None)."""

    def __init__(self, message: str, notify: int | None = None, offset: int | None = None) -> None:
        self.message = message
        self.notify = notify
        self.offset = offset
        super().__init__(message)


class KernelError(PlutoError):
    """A kernel operation failed: ``operation``, ``errno`` and a sentence for the operator."""

    def __init__(self, operation: str, errno: int | None, explanation: str = "") -> None:
        self.operation = operation
        self.errno = errno
        self.explanation = explanation
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [f"kernel {self.operation} failed"]
        if self.errno is not None:
            name = _errno.errorcode.get(self.errno, str(self.errno))
            parts.append(f"({name}: {os.strerror(self.errno)})")
        text = " ".join(parts)
        if self.explanation:
            text += f": {self.explanation}"
        return text
