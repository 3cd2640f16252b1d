"""Which libircache `import ircache` binds to: one per process.

Each case runs in a fresh interpreter, since a process loads the library
once. A copy of the packaged library in a temporary directory stands for a
host's own libircache (same SONAME, another file).
"""

import ctypes.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ircache

PACKAGED = Path(ircache.__file__).resolve().parent / "libircache.so.0"

# Prints the libircache files the process has mapped, and whether the
# binding's default cache is the one the given ctypes handle sees.
REPORT = textwrap.dedent(
    """
    import ctypes, json, os, sys
    {preload}
    import ircache
    from ircache._ffi import ffi, lib
    maps = sorted({{line.split()[-1] for line in open("/proc/self/maps") if "libircache" in line}})
    same = None
    if host is not None:
        host.ircache_default.restype = ctypes.c_void_p
        same = host.ircache_default() == int(ffi.cast("uintptr_t", lib.ircache_default()))
    print(json.dumps({{"maps": maps, "same_default": same}}))
    """
)


def run(preload: str = "host = None", env: dict = None) -> dict:
    import json

    full_env = dict(os.environ)
    full_env.pop("IRCACHE_LIBRARY", None)
    full_env.update(env or {})
    out = subprocess.run(
        [sys.executable, "-c", REPORT.format(preload=preload)],
        env=full_env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.fixture
def host_copy(tmp_path):
    copy = tmp_path / "host-lib" / "libircache.so.0"
    copy.parent.mkdir()
    shutil.copy2(PACKAGED, copy)
    return copy


def test_by_default_the_packaged_library_is_the_only_one_loaded():
    assert run()["maps"] == [str(PACKAGED)]


def test_ircache_library_names_the_file_that_is_used(host_copy):
    report = run("host = None", {"IRCACHE_LIBRARY": str(host_copy)})
    assert report["maps"] == [str(host_copy)]


@pytest.mark.parametrize("mode", ["RTLD_LOCAL", "RTLD_GLOBAL"])
def test_a_library_the_host_loaded_first_is_the_one_used(host_copy, mode):
    preload = f"host = ctypes.CDLL({str(host_copy)!r}, mode=ctypes.{mode})"
    report = run(preload)
    assert report["maps"] == [str(host_copy)]
    assert report["same_default"] is True


def test_ircache_library_naming_a_missing_file_is_an_import_error(tmp_path):
    env = dict(os.environ, IRCACHE_LIBRARY=str(tmp_path / "no-such-libircache.so.0"))
    out = subprocess.run([sys.executable, "-c", "import ircache"], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "IRCACHE_LIBRARY" in out.stderr


def test_ircache_library_naming_another_library_is_an_import_error():
    other = ctypes.util.find_library("m")
    if other is None:
        pytest.skip("no libm to name")
    env = dict(os.environ, IRCACHE_LIBRARY=other)
    out = subprocess.run([sys.executable, "-c", "import ircache"], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "is not a libircache" in out.stderr


def test_ircache_library_naming_a_file_of_another_soname_is_an_import_error(tmp_path):
    """Such a file takes the extension's calls (it was loaded globally first), but
    the loader loads the packaged libircache.so.0 too: two caches in the process,
    one for Python and one for any C runtime that links libircache.so.0."""
    image = PACKAGED.read_bytes()
    soname = b"libircache.so.0\0"
    assert soname in image
    renamed = tmp_path / "libircache-renamed.so"
    renamed.write_bytes(image.replace(soname, b"libircachx.so.0\0"))  # same length
    env = dict(os.environ, IRCACHE_LIBRARY=str(renamed))
    out = subprocess.run([sys.executable, "-c", "import ircache"], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "SONAME" in out.stderr
