# SPDX-License-Identifier: MIT
# The CFFI extension built from smtpcore_build.py; its names come from the C headers
# (bindings/cdef/smtpcore_cdef.h), which a type checker cannot read.
from typing import Any

ffi: Any
lib: Any
