# SPDX-License-Identifier: MIT
"""Packaging (issue 17): the package builds out of tree from a read-only checkout, and
`pip wheel` gives a wheel with the compiled extension that installs and runs in another
venv with no compiler and no C sources around."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from conftest import REPO

NEEDED = ["CMakeLists.txt", "core/include", "core/src", "bindings/cdef",
          "bindings/python/pyproject.toml", "bindings/python/setup.py",
          "bindings/python/smtpcore_build.py", "bindings/python/README.md",
          "bindings/python/src"]


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _set_writable(root: Path, writable: bool) -> None:
    for p in [root, *root.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP
                                                               | stat.S_IWOTH))


def test_wheel_from_read_only_checkout_installs_without_compiler(tmp_path: Path) -> None:
    src = tmp_path / "checkout"
    for rel in NEEDED:
        a, b = REPO / rel, src / rel
        if a.is_dir():
            shutil.copytree(a, b, ignore=shutil.ignore_patterns(
                "__pycache__", "*.so", "*.egg-info", "_smtpcore.c", "*.o"))
        else:
            b.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(a, b)
    before = _listing(src)
    _set_writable(src, False)  # read-only for a non-root user; the listing checks root too
    wheels = tmp_path / "wheels"
    env = dict(os.environ, SMTPCORE_BUILD_DIR=str(tmp_path / "build"))
    env.pop("SMTPCORE_SOURCE_DIR", None)
    try:
        r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation",
                            "--no-deps", "--no-index", "-q", "-w", str(wheels),
                            str(src / "bindings" / "python")],
                           capture_output=True, text=True, env=env, timeout=900)
        assert r.returncode == 0, r.stdout + r.stderr
        assert _listing(src) == before, "the build wrote into the source tree"
    finally:
        _set_writable(src, True)
    (wheel,) = wheels.glob("smtpcore-*.whl")
    assert not wheel.name.endswith("-none-any.whl")  # a platform wheel: it has the extension
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("smtpcore/_smtpcore") and n.endswith(".so") for n in names)
    assert "smtpcore/py.typed" in names and "smtpcore/aio/compat.py" in names

    # A second venv (cffi from the system, as any install needs it), no compiler on
    # PATH, nothing of the checkout around: the wheel alone must do.
    shutil.rmtree(src)
    shutil.rmtree(tmp_path / "build", ignore_errors=True)
    v2 = tmp_path / "v2"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(v2)
    py = str(v2 / "bin" / "python")
    bare = {"PATH": str(v2 / "bin"), "CC": "/bin/false", "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "pip", "--python", py, "install", "--no-index",
                        "--no-deps", "-q", str(wheel)] if _pip_has_python_option() else
                       [py, "-m", "pip", "install", "--no-index", "--no-deps", "-q", str(wheel)],
                       capture_output=True, text=True, env=bare, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    probe = ("import smtpcore, sys; c = smtpcore.ServerConnection(hostname='mx.example.org');"
             "c.receive_data(b'EHLO x.example\\r\\n');"
             "[c.accept() for e in c if e.answer_required];"
             "out = c.data_to_send(); assert b'250' in out, out;"
             "print(smtpcore.__file__, smtpcore.version())")
    r = subprocess.run([py, "-c", probe], capture_output=True, text=True, env=bare,
                       cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(str(v2)), r.stdout


def _pip_has_python_option() -> bool:
    r = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True,
                       text=True, timeout=60)
    try:
        major = int(r.stdout.split()[1].split(".")[0])
    except (IndexError, ValueError):
        return False
    return major >= 22
