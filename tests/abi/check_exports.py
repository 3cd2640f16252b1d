"""The library exports exactly the functions the header declares.

usage: check_exports.py LIBRARY HEADER VERSION_SCRIPT

Compares three lists that must agree: the IRCACHE_API functions declared in
include/ircache.h, the global names in lib/ircache.map, and the defined
dynamic symbols of the built library (nm -D), which must also carry a
version from the map.
"""

import re
import subprocess
import sys


def header_functions(text: str) -> set:
    return set(re.findall(r"^IRCACHE_API\s[^;(]*?\b(ircache_\w+)\s*\(", text, re.MULTILINE))


def map_functions(text: str) -> set:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    names = set()
    for block in re.findall(r"global:(.*?)local:", text, re.DOTALL):
        names.update(name.strip() for name in block.split(";") if name.strip())
    return names


def exported(library: str) -> dict:
    out = subprocess.run(["nm", "-D", "--defined-only", library], check=True, capture_output=True, text=True)
    symbols = {}
    for line in out.stdout.splitlines():
        fields = line.split()
        if len(fields) != 3 or fields[1] == "A":  # "A": the version nodes themselves
            continue
        name, _, version = fields[2].partition("@")
        symbols[name] = version.lstrip("@")
    return symbols


def main(library: str, header: str, version_script: str) -> int:
    with open(header, encoding="utf-8") as f:
        declared = header_functions(f.read())
    with open(version_script, encoding="utf-8") as f:
        listed = map_functions(f.read())
    symbols = exported(library)
    problems = []
    if not declared:
        problems.append("no IRCACHE_API declarations found in the header")
    for name in sorted(declared - listed):
        problems.append(f"{name}: declared in the header, missing from the version script")
    for name in sorted(listed - declared):
        problems.append(f"{name}: in the version script, not declared in the header")
    for name in sorted(declared - symbols.keys()):
        problems.append(f"{name}: declared, not exported by the library")
    for name in sorted(symbols.keys() - declared):
        problems.append(f"{name}: exported by the library, not declared in the header")
    for name, version in sorted(symbols.items()):
        if not version.startswith("IRCACHE_"):
            problems.append(f"{name}: exported without a version node ({version or 'none'})")
    for problem in problems:
        print(problem)
    print(f"{len(declared)} functions declared, {len(symbols)} exported, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    sys.exit(main(*sys.argv[1:]))
