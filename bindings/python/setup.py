# SPDX-License-Identifier: MIT
"""setuptools glue: the version comes from the C project and the extension from CFFI."""
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtpcore_build import build_dir, engine_sources, project_version  # noqa: E402

_OUT = build_dir()


class build_ext_engine(build_ext):
    """Compiles the engine's C sources into the extension (added here, see
    smtpcore_build.engine_sources)."""

    def run(self):
        for ext in self.extensions:
            if ext.name == "smtpcore._smtpcore":
                ext.sources += [s for s in engine_sources() if s not in ext.sources]
        super().run()


setup(
    version=project_version(),
    cffi_modules=["smtpcore_build.py:ffibuilder"],
    cmdclass={"build_ext": build_ext_engine},
    # Out of the source tree: build/ and the egg-info would otherwise be written there.
    options={"build": {"build_base": os.path.join(_OUT, "build")},
             "egg_info": {"egg_base": _OUT}},
)
