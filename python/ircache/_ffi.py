"""The only module that imports the compiled extension.

Which libircache the extension binds to: the dynamic loader satisfies the
extension's need for ``libircache.so.0`` with a library of that name already
loaded in the process (a host program that linked or loaded it, from any
file), and only otherwise with the copy beside the extension in this package.
``IRCACHE_LIBRARY=/path/to/libircache.so.0`` loads that file first, so that it
is the one used.
"""

from __future__ import annotations

import ctypes
import os


def _in_a_subinterpreter() -> bool:
    """True in an interpreter other than the main one, whose id is 0 (asked
    of CPython's C API; False where there is none to ask)."""
    try:
        api = ctypes.pythonapi
        api.PyInterpreterState_Get.restype = ctypes.c_void_p
        api.PyInterpreterState_GetID.restype = ctypes.c_int64
        api.PyInterpreterState_GetID.argtypes = [ctypes.c_void_p]
    except AttributeError:
        return False
    return bool(api.PyInterpreterState_GetID(api.PyInterpreterState_Get()) != 0)


# The extension's C side (the release callback into Python, the objects'
# tables) is one per process, bound to the interpreter that imported it
# first: another interpreter's releases would drop the first one's objects.
if _in_a_subinterpreter():
    raise ImportError("ircache can only be imported in the main interpreter, not a subinterpreter")

_override = os.environ.get("IRCACHE_LIBRARY")
_override_handle = None
if _override:
    # Loaded globally before the extension: the loader then matches the
    # extension's libircache.so.0 with this file instead of the packaged one.
    try:
        _override_handle = ctypes.CDLL(_override, mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        raise ImportError(f"IRCACHE_LIBRARY={_override!r} cannot be loaded: {exc}") from exc

from ._ircache_cffi import ffi, lib  # type: ignore[import-not-found]  # noqa: E402  (must follow the preload)

if _override_handle is not None:
    try:
        _override_handle.ircache_default.restype = ctypes.c_void_p
    except AttributeError:
        raise ImportError(f"IRCACHE_LIBRARY={_override!r} is not a libircache (no ircache_default)") from None
    _theirs = _override_handle.ircache_default()
    if _theirs != int(ffi.cast("uintptr_t", lib.ircache_default())):
        raise ImportError(
            f"IRCACHE_LIBRARY={_override!r} was loaded, but the extension bound to another "
            "libircache (is that file's SONAME libircache.so.0?)"
        )
    # The file takes the extension's calls (it was loaded globally first),
    # but the process may hold another libircache.so.0 all the same: the
    # packaged one, loaded for the extension when the file's SONAME is not
    # that name, or a copy a host loaded locally before. Whatever links the
    # name would then have a second cache.
    try:
        _by_soname = ctypes.CDLL("libircache.so.0", mode=os.RTLD_NOLOAD)
        _by_soname.ircache_default.restype = ctypes.c_void_p
        _two = _by_soname.ircache_default() != _theirs
    except (OSError, AttributeError):
        _two = False  # none loaded under that name but the file
    if _two:
        raise ImportError(
            f"IRCACHE_LIBRARY={_override!r} is not the libircache.so.0 the process loaded first "
            "(a file of another SONAME, or a host loaded another copy): the process would have "
            "two caches"
        )

if lib.ircache_version_number() // 10000 != lib.IRCACHE_VERSION_NUMBER // 10000:
    raise ImportError(
        f"libircache {ffi.string(lib.ircache_version()).decode()} is loaded, but this package was "
        f"built for major version {lib.IRCACHE_VERSION_MAJOR}"
    )

#: Version of the loaded C library, which may be newer than the package.
c_version: str = ffi.string(lib.ircache_version()).decode()

__all__ = ["ffi", "lib", "c_version"]
