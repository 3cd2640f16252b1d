"""python -m ircache: --version, build flags for C runtimes, and the demo."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ircache
from trie_support import assert_pre_order, parse_dot

PACKAGE_DIR = Path(ircache.__file__).resolve().parent


def run_cli(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "ircache", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_version_prints_the_package_and_library_versions():
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert ircache.__version__ in result.stdout
    assert ircache.__c_version__ in result.stdout


def test_cflags_name_the_directory_of_the_installed_header():
    result = run_cli("--cflags")
    assert result.returncode == 0, result.stderr
    includes = [w[2:] for w in shlex.split(result.stdout) if w.startswith("-I")]
    assert includes, result.stdout
    headers = [Path(d) / "ircache.h" for d in includes if (Path(d) / "ircache.h").is_file()]
    assert headers, f"no ircache.h under {includes}"
    assert "IRCACHE_VERSION_MAJOR" in headers[0].read_text()
    assert PACKAGE_DIR in headers[0].resolve().parents


def test_libs_name_the_packaged_libircache():
    result = run_cli("--libs")
    assert result.returncode == 0, result.stderr
    words = shlex.split(result.stdout)
    libraries = [Path(w) for w in words if Path(w).name == "libircache.so.0"]
    assert libraries, result.stdout
    assert libraries[0].is_file()
    assert libraries[0].resolve().parent == PACKAGE_DIR


@pytest.mark.skipif("IRCACHE_LIBRARY" in os.environ, reason="IRCACHE_LIBRARY loads another file on purpose")
def test_the_library_the_libs_name_is_the_one_this_process_loaded():
    result = run_cli("--libs")
    [library] = [Path(w).resolve() for w in shlex.split(result.stdout) if Path(w).name == "libircache.so.0"]
    with open("/proc/self/maps", encoding="utf-8") as maps:
        loaded = {Path(line.split()[-1]).resolve() for line in maps if "libircache" in line}
    if not loaded:
        pytest.skip("libircache is not visible in /proc/self/maps")
    assert library in loaded


def test_pkgconfig_dir_holds_ircache_pc():
    result = run_cli("--pkgconfig-dir")
    assert result.returncode == 0, result.stderr
    directory = Path(result.stdout.strip())
    pc = directory / "ircache.pc"
    assert pc.is_file()
    text = pc.read_text()
    assert "Name: ircache" in text
    assert f"Version: {ircache.__c_version__}" in text or f"Version: {ircache.__version__}" in text


def test_pkg_config_finds_the_packaged_header_and_library():
    pkg_config = shutil.which("pkg-config")
    if pkg_config is None:
        pytest.skip("pkg-config is not installed")
    directory = run_cli("--pkgconfig-dir").stdout.strip()
    env = dict(os.environ, PKG_CONFIG_PATH=directory)
    cflags = subprocess.run([pkg_config, "--cflags", "ircache"], capture_output=True, text=True, env=env, check=True)
    libs = subprocess.run([pkg_config, "--libs", "ircache"], capture_output=True, text=True, env=env, check=True)
    includes = [w[2:] for w in shlex.split(cflags.stdout) if w.startswith("-I")]
    assert any((Path(d) / "ircache.h").is_file() for d in includes), cflags.stdout
    assert any(Path(w).name == "libircache.so.0" and Path(w).is_file() for w in shlex.split(libs.stdout)), libs.stdout


def test_demo_exits_0_and_writes_a_dot_file_graphviz_accepts(tmp_path):
    out = tmp_path / "demo.dot"
    result = run_cli("demo", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    nodes = parse_dot(out.read_text(encoding="utf-8"))
    assert nodes, "the demo's trie is empty"
    assert_pre_order(nodes)
    assert any(n.hits > 0 for n in nodes), "a demo of several steps reuses nodes"
    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("Graphviz dot is not installed")
    svg = subprocess.run([dot, "-Tsvg", str(out)], capture_output=True, timeout=60, check=False)
    assert svg.returncode == 0, svg.stderr
    assert b"<svg" in svg.stdout


@pytest.mark.parametrize("steps", ["0", "-3", "x"])
def test_demo_refuses_a_step_count_below_one(tmp_path, steps):
    result = run_cli("demo", "--steps", steps, "--out", str(tmp_path / "d.dot"), cwd=tmp_path)
    assert result.returncode == 2
    assert "--steps" in result.stderr
    assert not (tmp_path / "d.dot").exists()


def test_demo_reports_an_unwritable_dump_without_a_traceback(tmp_path):
    out = tmp_path / "missing" / "d.dot"
    result = run_cli("demo", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot write the dump" in result.stderr and str(out) in result.stderr


def test_demo_on_a_disabled_default_cache_says_so_without_a_traceback(tmp_path):
    env = {**os.environ, "IRCACHE_DISABLE": "1"}
    result = run_cli("demo", "--out", str(tmp_path / "d.dot"), cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "disabled" in result.stderr
    assert not (tmp_path / "d.dot").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--cflags", "--library"],
        ["--libs", "--pkgconfig-dir"],
        ["--cflags", "--libs", "--include-dir"],
        ["demo", "--cflags"],
        ["demo", "--pkgconfig-dir"],
    ],
)
def test_options_whose_answers_do_not_mix_are_refused(tmp_path, args):
    """Flags print on one line for a shell to split, paths one per line, and the
    demo prints neither: a mixed request used to print one joined line, or the
    flags instead of running the demo."""
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "cannot be combined" in result.stderr or "demo takes no build-flag option" in result.stderr
    assert not (tmp_path / "ircache-demo.dot").exists()


def test_cflags_and_libs_together_print_one_line_to_split():
    result = run_cli("--cflags", "--libs")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    words = shlex.split(result.stdout)
    assert f"-I{PACKAGE_DIR / 'include'}" in words
    assert str(PACKAGE_DIR / "libircache.so.0") in words
