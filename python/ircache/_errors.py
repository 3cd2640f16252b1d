"""C error codes as the exceptions Python users expect."""

from __future__ import annotations

import os
from typing import NoReturn, Optional, Union

from ._ffi import ffi, lib


#: The negative codes of the C library, as IRCacheError.code carries them.
IRCACHE_EINVAL: int = lib.IRCACHE_EINVAL
IRCACHE_ENOMEM: int = lib.IRCACHE_ENOMEM
IRCACHE_EIO: int = lib.IRCACHE_EIO
IRCACHE_EDISABLED: int = lib.IRCACHE_EDISABLED


class IRCacheError(Exception):
    """An ircache error with no closer built-in exception.

    Attributes
    ----------
    code : int
        The negative ``IRCACHE_E*`` code the C library returned.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def last_error() -> str:
    """The C library's message for the last failure on this thread."""
    return ffi.string(lib.ircache_last_error()).decode("utf-8", "replace")


def raise_for(code: int, filename: Optional[Union[str, bytes]] = None) -> NoReturn:
    """Raise the exception for a negative C return code.

    ENOMEM becomes MemoryError, EINVAL ValueError, a failed file operation
    OSError with the system's errno and the filename (as ``open()`` raises,
    so FileNotFoundError, PermissionError, IsADirectoryError... apply), the
    rest IRCacheError.
    """
    message = last_error()
    if code == lib.IRCACHE_ENOMEM:
        raise MemoryError(message)
    if code == lib.IRCACHE_EINVAL:
        raise ValueError(message)
    if code == lib.IRCACHE_EIO:
        errno = lib.ircache_last_errno()
        if errno:
            raise OSError(errno, os.strerror(errno), filename)
        raise OSError(message)
    raise IRCacheError(code, message)


def check(code: int, filename: Optional[Union[str, bytes]] = None) -> int:
    """Return code if it is not an error, else raise (see raise_for)."""
    if code < 0:
        raise_for(code, filename)
    return code
