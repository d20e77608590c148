# SPDX-License-Identifier: MIT
"""Unit tests of the thin layer: versions, errors, value types, syntax helpers."""
import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import smtpcore
from smtpcore import errors
from smtpcore._ffi import ffi, lib

from conftest import REPO


def test_version_matches_cmake_project():
    text = (REPO / "CMakeLists.txt").read_text()
    m = re.search(r"project\(smtpcore VERSION (\d+)\.(\d+)\.(\d+)", text)
    assert smtpcore.version() == ".".join(m.groups()) == smtpcore.__version__
    major, minor, patch = map(int, m.groups())
    assert smtpcore.version_num() == (major << 16) | (minor << 8) | patch


def test_py_typed_is_installed():
    assert (Path(smtpcore.__file__).parent / "py.typed").is_file()


def test_extension_is_self_contained():
    # The engine is compiled into the extension: no libsmtpcore.so is needed at run time.
    so = Path(smtpcore._ffi.__file__).parent
    ext = [p for p in so.iterdir() if p.name.startswith("_smtpcore") and p.suffix == ".so"]
    assert ext
    assert b"libsmtpcore" not in ext[0].read_bytes()


@pytest.mark.parametrize("code", [int(c) for c in smtpcore.ErrorCode if c != 0])
def test_each_error_code_maps_to_its_exception(code):
    exc = errors.error_for(code)
    assert isinstance(exc, smtpcore.SMTPCoreError)
    assert exc.code == code
    assert type(exc).code == code
    text = ffi.string(lib.smtpcore_strerror(code)).decode()
    assert text in str(exc)


def test_check_passes_non_negative_and_raises_negative():
    assert errors.check(0) == 0
    assert errors.check(7) == 7
    with pytest.raises(smtpcore.InjectionError) as ei:
        errors.check(lib.SMTPCORE_ERR_INJECTION, "text")
    assert ei.value.code == smtpcore.ErrorCode.INJECTION
    assert isinstance(ei.value, ValueError)
    with pytest.raises(smtpcore.SMTPCoreError):
        errors.check(-999)


def test_violation_description_comes_from_engine():
    assert smtpcore.Violation.BARE_LF.description == "bare LF"
    for v in smtpcore.Violation:
        assert v.description and v.description != "unknown violation"


@pytest.mark.parametrize("name,cls", [
    ("mail.example.org", smtpcore.HeloClass.FQDN),
    ("localhost", smtpcore.HeloClass.SINGLE_LABEL),
    ("[192.0.2.1]", smtpcore.HeloClass.IPV4_LITERAL),
    ("[IPv6:2001:db8::1]", smtpcore.HeloClass.IPV6_LITERAL),
    ("bad name!", smtpcore.HeloClass.INVALID),
])
def test_helo_classify(name, cls):
    assert smtpcore.helo_classify(name) is cls


def test_address_literal():
    assert smtpcore.address_literal("192.0.2.1") == "[192.0.2.1]"
    assert smtpcore.address_literal("2001:db8::1") == "[IPv6:2001:db8::1]"
    with pytest.raises(smtpcore.SMTPSyntaxError):
        smtpcore.address_literal("300.1.1.1")


def _xtext_encode(b: bytes) -> bytes:
    return b"".join(bytes([c]) if 33 <= c <= 126 and c not in (43, 61) else b"+%02X" % c
                    for c in b)


@given(st.binary(max_size=200))
def test_xtext_roundtrip(data):
    assert smtpcore.xtext_decode(_xtext_encode(data)) == data


def test_xtext_invalid():
    with pytest.raises(smtpcore.SMTPSyntaxError):
        smtpcore.xtext_decode(b"+ZZ")


def test_events_are_slotted_dataclasses():
    for mod, base in ((smtpcore.server, smtpcore.server.ServerEvent),
                      (smtpcore.client, smtpcore.client.ClientEvent)):
        classes = [c for c in vars(mod).values()
                   if isinstance(c, type) and issubclass(c, base) and c is not base]
        assert len(classes) >= 12
        types = set()
        for c in classes:
            assert dataclasses.is_dataclass(c)
            assert "__slots__" in c.__dict__
            inst = c()
            with pytest.raises(AttributeError):
                inst.not_a_field = 1
            types.add(c.type)
        enum = smtpcore.ServerEventType if base is smtpcore.server.ServerEvent \
            else smtpcore.ClientEventType
        assert types == {t for t in enum if t != 0}


def test_caps_parse_uses_engine():
    raw = (b"250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
           b"250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n")
    reply = smtpcore.Reply(250, None, (), smtpcore.ReplyFlag(0), raw)
    caps = smtpcore.Caps.parse(reply)
    assert smtpcore.Extension.PIPELINING in caps
    assert smtpcore.Extension.STARTTLS in caps
    assert smtpcore.Extension.CHUNKING not in caps
    assert caps.size_limit == 1000
    assert caps.auth_mechs == smtpcore.AuthMech.PLAIN | smtpcore.AuthMech.LOGIN


def test_reply_str_and_classes():
    r = smtpcore.Reply(550, "5.1.1", ("5.1.1 No such user",))
    assert r.is_permanent and not r.is_success and not r.is_transient
    assert str(r) == "550 5.1.1 No such user"
