# SPDX-License-Identifier: MIT
"""The cdef the extension is built from must match the public headers, and every C
constant must have a Python mirror."""
import subprocess
import sys

import smtpcore
from smtpcore._ffi import lib

from conftest import REPO


def test_gen_cdef_check_passes():
    r = subprocess.run([sys.executable if sys.executable else "/usr/bin/python3",
                        str(REPO / "scripts" / "gen_cdef.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_gen_cdef_check_detects_drift(tmp_path):
    stale = tmp_path / "cdef.h"
    stale.write_text((REPO / "bindings" / "cdef" / "smtpcore_cdef.h").read_text()
                     + "int smtpcore_not_in_header(void);\n")
    r = subprocess.run(["/usr/bin/python3", str(REPO / "scripts" / "gen_cdef.py"), "--check",
                        "--out", str(stale)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0


PREFIXES = {
    "SMTPCORE_ERR_": smtpcore.ErrorCode, "SMTPCORE_V_": smtpcore.Violation,
    "SMTPCORE_REPLY_": smtpcore.ReplyFlag, "SMTPCORE_EXT_": smtpcore.Extension,
    "SMTPCORE_AUTH_": smtpcore.AuthMech, "SMTPCORE_HELO_": None,
    "SMTPCORE_BODY_": smtpcore.BodyType, "SMTPCORE_RET_": smtpcore.DsnRet,
    "SMTPCORE_NOTIFY_": smtpcore.DsnNotify, "SMTPCORE_BARE_LF_": smtpcore.BareLfPolicy,
    "SMTPCORE_TALKER_": smtpcore.TalkerPolicy, "SMTPCORE_INJECTION_": smtpcore.InjectionPolicy,
    "SMTPCORE_SYNC_": smtpcore.SyncPolicy, "SMTPCORE_NUL_": smtpcore.NulPolicy,
    "SMTPCORE_SHUTDOWN_": smtpcore.ShutdownReason,
    "SMTPCORE_SEV_": smtpcore.ServerEventType, "SMTPCORE_QUIRK_": smtpcore.Quirk,
    "SMTPCORE_TLS_": smtpcore.TlsPolicy, "SMTPCORE_CEV_": smtpcore.ClientEventType,
    "SMTPCORE_FAIL_": smtpcore.Failure, "SMTPCORE_PROXY_": smtpcore.ProxyMode,
    "SMTPCORE_PROXY_CMD_": smtpcore.ProxyCommand, "SMTPCORE_PROXY_AF_": smtpcore.ProxyFamily,
    "SMTPCORE_PROXY_TRANSPORT_": smtpcore.ProxyTransport,
    "SMTPCORE_PP2_TYPE_": smtpcore.ProxyTlvType, "SMTPCORE_PP2_SUBTYPE_": smtpcore.ProxyTlvType,
    "SMTPCORE_PP2_CLIENT_": smtpcore.ProxySslClient, "SMTPCORE_XCLIENT_": smtpcore.XclientState,
}
# SMTPCORE_HELO_* holds two C enums: the HELO classes and the HELO policy.
HELO_POLICY = {"SMTPCORE_HELO_REQUIRED", "SMTPCORE_HELO_OPTIONAL"}


def _mirror_for(name):
    if name in HELO_POLICY:
        return smtpcore.HeloPolicy
    if name.startswith("SMTPCORE_HELO_"):
        return smtpcore.HeloClass
    if name in ("SMTPCORE_OK",):
        return smtpcore.ErrorCode
    if name == "SMTPCORE_SUCCESS":
        return smtpcore.Failure
    for prefix, enum in sorted(PREFIXES.items(), key=lambda kv: -len(kv[0])):
        if name.startswith(prefix):
            return enum
    return None


def test_every_c_constant_is_mirrored():
    names = [n for n in dir(lib) if n.startswith("SMTPCORE_") and isinstance(getattr(lib, n), int)]
    assert len(names) > 100
    missing = []
    for n in names:
        enum = _mirror_for(n)
        if enum is None:
            missing.append(n)
            continue
        if getattr(lib, n) not in {int(m) for m in enum} and not (
                issubclass(enum, int) and getattr(lib, n) == 0 and enum.__name__ in (
                    "ReplyFlag", "Extension", "AuthMech", "DsnNotify", "Quirk")):
            missing.append(n)
    assert not missing, missing


def test_mirrors_have_no_extra_values():
    for enum in set(PREFIXES.values()) | {smtpcore.HeloPolicy, smtpcore.HeloClass}:
        if enum is None:
            continue
        values = {getattr(lib, n) for n in dir(lib) if n.startswith("SMTPCORE_")
                  and _mirror_for(n) is enum}
        for member in enum:
            assert int(member) in values, (enum, member)
