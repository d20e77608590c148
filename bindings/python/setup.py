"""setuptools glue: the version comes from the C project and the extension from CFFI."""
import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtpcore_build import project_version  # noqa: E402

setup(
    version=project_version(),
    cffi_modules=["smtpcore_build.py:ffibuilder"],
)
