# SPDX-License-Identifier: MIT
"""The package's modules import one way: each imports alone in a fresh interpreter, the
module-level imports between them form no circle, and no function imports a module of
the package at call time (which is how a circle used to be hidden: the asyncio server's
answer path imported aio.server from inside aio._protocol)."""
import ast
import os
import pkgutil
import subprocess
import sys

import pytest

import smtpcore

ROOT = os.path.dirname(smtpcore.__file__)


def modules():
    names = ["smtpcore"]
    for info in pkgutil.walk_packages([ROOT], "smtpcore."):
        names.append(info.name)
    return sorted(names)


def source_path(name):
    rel = name.split(".")[1:]
    base = os.path.join(ROOT, *rel)
    return os.path.join(base, "__init__.py") if os.path.isdir(base) else base + ".py"


def resolve(module, node):
    """The smtpcore modules an import statement in ``module`` names."""
    is_pkg = source_path(module).endswith("__init__.py")
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("smtpcore")]
    if node.level:
        parts = module.split(".")
        if not is_pkg:
            parts = parts[:-1]
        parts = parts[:len(parts) - node.level + 1]
        base = ".".join(parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if not base.startswith("smtpcore"):
        return []
    out = []
    for a in node.names:
        sub = f"{base}.{a.name}"
        out.append(sub if sub in ALL else base)
    return out


ALL = set(modules())
#: The modules written in Python (not the compiled _smtpcore).
PY = sorted(n for n in ALL if os.path.exists(source_path(n)))


def under_type_checking(tree):
    """Import nodes inside ``if TYPE_CHECKING:`` blocks (not run)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in ast.walk(node):
                skip.add(id(sub))
    return skip


def parse(name):
    with open(source_path(name), encoding="utf-8") as f:
        return ast.parse(f.read())


@pytest.mark.parametrize("name", sorted(ALL))
def test_module_imports_alone(name):
    r = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True,
                       text=True, timeout=60, cwd="/")
    assert r.returncode == 0, r.stderr


def test_no_circle_between_modules():
    """Module-level imports only (package __init__ files re-export, so edges into them
    are left out: importing a submodule runs its parents first anyway)."""
    edges = {}
    for name in PY:
        tree = parse(name)
        skip = under_type_checking(tree)
        targets = set()
        for node in tree.body:
            for sub in ast.walk(node):
                if id(sub) in skip or not isinstance(sub, (ast.Import, ast.ImportFrom)):
                    continue
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    continue  # call-time imports: the next test
                for t in resolve(name, sub):
                    if t != name and t in PY and not source_path(t).endswith("__init__.py"):
                        targets.add(t)
        edges[name] = targets
    state = {}

    def visit(n, path):
        state[n] = 1
        for t in sorted(edges.get(n, ())):
            if state.get(t) == 1:
                pytest.fail("import circle: " + " -> ".join(path + [n, t]))
            if t not in state:
                visit(t, path + [n])
        state[n] = 2
    for n in sorted(edges):
        if n not in state:
            visit(n, [])


# Call-time imports that stay: optional third-party modules.
ALLOWED_LATE = {("smtpcore.aio.loop", "uvloop")}


def test_no_call_time_imports():
    late = []
    for name in PY:
        tree = parse(name)
        skip = under_type_checking(tree)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for sub in ast.walk(node):
                if id(sub) in skip or not isinstance(sub, (ast.Import, ast.ImportFrom)):
                    continue
                targets = resolve(name, sub) or [a.name for a in sub.names]
                for t in targets:
                    if t.startswith("smtpcore") or (name, t) in ALLOWED_LATE:
                        if (name, t) not in ALLOWED_LATE:
                            late.append(f"{name}: {t} (line {sub.lineno})")
    assert late == []
