"""``python -m ircache``: the demo, and build flags for C and C++ runtimes.

A runtime that links the very libircache this package uses (so that both
share one default cache) builds with::

    cc runtime.c $(python -m ircache --cflags) $(python -m ircache --libs)
    PKG_CONFIG_PATH=$(python -m ircache --pkgconfig-dir) pkg-config --libs ircache
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

PACKAGE_DIR = Path(__file__).resolve().parent


def _flags(args: argparse.Namespace) -> List[str]:
    lines = []
    if args.cflags:
        lines.append(f"-I{PACKAGE_DIR / 'include'}")
    if args.libs:
        lines.append(f"{PACKAGE_DIR / 'libircache.so.0'} -Wl,-rpath,{PACKAGE_DIR}")
    if args.include_dir:
        lines.append(str(PACKAGE_DIR / "include"))
    if args.library:
        lines.append(str(PACKAGE_DIR / "libircache.so.0"))
    if args.pkgconfig_dir:
        lines.append(str(PACKAGE_DIR / "pkgconfig"))
    return lines


def _positive(text: str) -> int:
    steps = int(text)
    if steps < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {steps}")
    return steps


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ircache", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=["demo"], help="demo: trace a few training steps")
    parser.add_argument("--out", default="ircache-demo.dot", help="where the demo writes its DOT dump")
    parser.add_argument("--steps", type=_positive, default=6, help="training steps the demo traces")
    parser.add_argument("--cflags", action="store_true", help="compiler flags for ircache.h")
    parser.add_argument("--libs", action="store_true", help="linker flags for the packaged libircache")
    parser.add_argument("--include-dir", action="store_true", help="the directory of ircache.h")
    parser.add_argument("--library", action="store_true", help="the path of the packaged libircache")
    parser.add_argument("--pkgconfig-dir", action="store_true", help="the directory of ircache.pc")
    parser.add_argument("--version", action="store_true", help="package and loaded C library versions")
    args = parser.parse_args(argv)

    if args.version:
        import ircache

        print(f"ircache {ircache.__version__} (libircache {ircache.__c_version__})")
        return 0
    lines = _flags(args)
    flags = args.cflags or args.libs
    paths = args.include_dir or args.library or args.pkgconfig_dir
    if args.command == "demo" and lines:
        parser.error("demo takes no build-flag option")
    if flags and paths:
        # Flags go on one line for a shell to split, paths one per line: a
        # mixed answer would be neither.
        parser.error("--cflags and --libs cannot be combined with --include-dir, --library or --pkgconfig-dir")
    if lines:
        print(" ".join(lines) if flags else "\n".join(lines))
        return 0
    if args.command == "demo":
        from ._demo import run
        from ._cache import default_cache

        if not default_cache().enabled:
            print("python -m ircache demo: the default cache is disabled (IRCACHE_DISABLE=1)", file=sys.stderr)
            return 1
        try:
            return run(args.out, args.steps)
        except OSError as exc:
            print(f"python -m ircache demo: cannot write the dump: {exc}", file=sys.stderr)
            return 1
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
