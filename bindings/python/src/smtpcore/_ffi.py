# SPDX-License-Identifier: MIT
"""The compiled CFFI module (API mode). Everything else goes through these two names."""
from ._smtpcore import ffi, lib

__all__ = ["ffi", "lib"]
