"""Writes the C source of ircache's cffi extension (API mode) at build time.

Run by Meson as ``python _build_cffi.py include/ircache.h out.c``. The cdef is
the header's region between the ``ircache-cdef-begin`` and ``ircache-cdef-end``
markers, so the binding can never drift from the header; the error codes and
version macros are declared as ``...`` for the compiler to fill in.
"""

import os
import re
import sys

from cffi import FFI

BEGIN = "ircache-cdef-begin"
END = "ircache-cdef-end"

# What the package adds in C: a handle pairing a cache with the owner of the
# Python objects in it (its ctx names the cache's object table; its release
# calls back into Python), and lookup/insert shims that take that handle and
# the payload as the integer id of a Python object. Keys are `const void *`:
# bytes pass without a copy, and cffi refuses the lists and tuples it would
# turn into a `char *`. The handle owns an explicit cache: Python frees it
# (ffi.gc) when the last reference goes, a lookup closure's included.
SHIM_CDEF = """
typedef struct ircpy_cache ircpy_cache;
extern "Python" void _ircpy_release(void *payload, void *ctx);
ircpy_cache *ircpy_open(ircache *c, int owned, intptr_t table);
void ircpy_free(ircpy_cache *h);
intptr_t ircpy_lookup(const ircpy_cache *h, const void *key, size_t key_len);
intptr_t ircpy_begin_recovery(ircpy_cache *h);
void ircpy_end_recovery(ircpy_cache *h);
void ircpy_flush_held(ircpy_cache *h);
int ircpy_insert(const ircpy_cache *h, const void *key, size_t key_len, const char *op, intptr_t id);
void ircpy_start_releases(void);
void ircpy_stop_releases(void);
"""

# The shim's C source: a file of its own, so that the C tests can compile it.
SHIM_SOURCE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_shim.c")


def cdef_from_header(text: str) -> str:
    """The declarations of the marked region, plus the integer macros."""
    begin = text.index("*/", text.index(BEGIN)) + 2
    end = text.rindex("/*", 0, text.index(END, begin))
    region = text[begin:end].replace("IRCACHE_API ", "")
    if "#" in region:
        raise SystemExit("ircache.h: preprocessor lines inside the cdef region")
    macros = re.findall(r"^#define (IRCACHE_(?:E[A-Z]+|VERSION_[A-Z]+))\b", text, re.MULTILINE)
    return region + "".join(f"#define {name} ...\n" for name in macros)


def main(header: str, output: str) -> None:
    with open(header, encoding="utf-8") as f:
        text = f.read()
    ffi = FFI()
    ffi.cdef(cdef_from_header(text) + SHIM_CDEF)
    with open(SHIM_SOURCE_PATH, encoding="utf-8") as f:
        ffi.set_source("ircache._ircache_cffi", f.read())
    ffi.emit_c_code(output)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: _build_cffi.py include/ircache.h output.c")
    main(sys.argv[1], sys.argv[2])
