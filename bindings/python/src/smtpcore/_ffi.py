"""The compiled CFFI module (API mode). Everything else goes through these two names."""
from ._smtpcore import ffi, lib  # type: ignore[import-not-found]

__all__ = ["ffi", "lib"]
