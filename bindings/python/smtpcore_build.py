# SPDX-License-Identifier: MIT
"""CFFI builder (API mode, out-of-line) for the smtpcore extension.

The engine's C sources are compiled into the extension itself, so the module needs no
shared library at run time. The sources are found at SMTPCORE_SOURCE_DIR, or two levels
above this file (bindings/python/ inside the repository).

The build happens out of the source tree (a read-only checkout installs): generated
files, objects and setuptools' metadata go to SMTPCORE_BUILD_DIR, by default a directory
per checkout under the system's temporary directory (kept, so rebuilds are incremental).
"""
import glob
import hashlib
import os
import re
import tempfile

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def source_dir():
    env = os.environ.get("SMTPCORE_SOURCE_DIR")
    candidates = [env] if env else [os.path.join(HERE, os.pardir, os.pardir)]
    for cand in candidates:
        if os.path.isfile(os.path.join(cand, "core", "include", "smtpcore", "smtpcore.h")):
            return os.path.abspath(cand)
    raise RuntimeError(
        "smtpcore C sources not found (tried %s); set SMTPCORE_SOURCE_DIR to the "
        "repository root" % ", ".join(repr(c) for c in candidates))


def build_dir():
    """Where everything the build writes goes (never the source tree)."""
    env = os.environ.get("SMTPCORE_BUILD_DIR")
    if env:
        return os.path.abspath(env)
    key = hashlib.sha256(HERE.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), "smtpcore-build-%d-%s" % (uid, key))


def _version_parts(root):
    with open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"project\s*\(\s*smtpcore\s+VERSION\s+(\d+)\.(\d+)\.(\d+)", text)
    if not m:
        raise RuntimeError("no project(smtpcore VERSION x.y.z) in CMakeLists.txt")
    return m.group(1), m.group(2), m.group(3)


def project_version():
    return ".".join(_version_parts(source_dir()))


def _generate_version_header(root, out_dir):
    """Fills version.h.in the way CMake's configure_file(@ONLY) would."""
    major, minor, patch = _version_parts(root)
    with open(os.path.join(root, "core", "include", "smtpcore", "version.h.in"),
              encoding="utf-8") as f:
        text = f.read()
    for key, value in (("PROJECT_VERSION_MAJOR", major), ("PROJECT_VERSION_MINOR", minor),
                       ("PROJECT_VERSION_PATCH", patch),
                       ("PROJECT_VERSION", "%s.%s.%s" % (major, minor, patch))):
        text = text.replace("@%s@" % key, value)
    dest = os.path.join(out_dir, "smtpcore")
    os.makedirs(dest, exist_ok=True)
    path = os.path.join(dest, "version.h")
    # Rewrite only on change so incremental builds stay incremental.
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def engine_sources():
    """The engine's C files, as absolute paths. setup() refuses absolute paths in its
    arguments, so setup.py adds them when build_ext runs; their objects then land under
    the build directory (distutils appends the absolute path to build_temp)."""
    return sorted(glob.glob(os.path.join(source_dir(), "core", "src", "*.c")))


def make_ffibuilder():
    root = source_dir()
    gen_include = os.path.join(build_dir(), "gen-include")
    _generate_version_header(root, gen_include)
    with open(os.path.join(root, "bindings", "cdef", "smtpcore_cdef.h"), encoding="utf-8") as f:
        cdef = f.read()
    builder = FFI()
    builder.cdef(cdef)
    builder.set_source(
        "smtpcore._smtpcore",
        "#include <smtpcore/smtpcore.h>\n",
        include_dirs=[gen_include, os.path.join(root, "core", "include"),
                      os.path.join(root, "core", "src")],
        define_macros=[("BUILDING_SMTPCORE", None)],
        extra_compile_args=["-std=gnu11", "-fvisibility=hidden", "-O2"],
    )
    return builder


ffibuilder = make_ffibuilder()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
