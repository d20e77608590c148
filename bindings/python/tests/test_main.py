# SPDX-License-Identifier: MIT
"""``python -m smtpcore``: the debugging server prints what it receives (issue 17)."""
from __future__ import annotations

import re
import smtplib
import subprocess
import sys


def test_debugging_server_prints_messages() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtpcore", "-n", "-l", "127.0.0.1:0", "--count", "2",
         "--hostname", "debug.example.net"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", first)
        assert m, first
        port = int(m.group(1))
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            code, banner = s.ehlo("client.example.org")
            assert banner.startswith(b"debug.example.net")
            s.sendmail("a@example.org", ["b@example.com", "c@example.com"],
                       b"Subject: one\r\n\r\nfirst body\r\n.leading dot\r\n")
            s.sendmail("", ["d@example.com"], "Subject: two\r\n\r\nzwei \u00fc\r\n".encode())
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    blocks = out.split("---------- MESSAGE FOLLOWS ----------\n")[1:]
    assert len(blocks) == 2
    assert "X-Mail-From: <a@example.org>\nX-Rcpt-To: <b@example.com>\n" \
           "X-Rcpt-To: <c@example.com>\n" in blocks[0]
    assert "X-Helo: client.example.org" in blocks[0]
    assert "Subject: one\n\nfirst body\n.leading dot\n------------ END MESSAGE" in blocks[0]
    assert "X-Mail-From: <>\n" in blocks[1] and "zwei \u00fc" in blocks[1]


def test_help_and_bad_arguments() -> None:
    r = subprocess.run([sys.executable, "-m", "smtpcore", "--help"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and "aiosmtpd -n" in r.stdout
    r = subprocess.run([sys.executable, "-m", "smtpcore", "--tls-cert", "x.pem"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "go together" in r.stderr


def test_loop_option() -> None:
    """--loop uvloop runs the same server on uvloop (optional: python3-uvloop); a name
    that is not a loop is refused by argparse."""
    r = subprocess.run([sys.executable, "-m", "smtpcore", "--loop", "tornado"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "invalid choice" in r.stderr
    try:
        import uvloop  # noqa: F401
    except ImportError:
        r = subprocess.run([sys.executable, "-m", "smtpcore", "--loop", "uvloop"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "python3-uvloop" in r.stderr
        return
    proc = subprocess.Popen(
        [sys.executable, "-c",
         "import asyncio, sys, smtpcore.__main__ as m\n"
         "orig = m._run\n"
         "async def probe(args, out):\n"
         "    print('loop', type(asyncio.get_running_loop()).__module__, file=sys.stderr,"
         " flush=True)\n"
         "    await orig(args, out)\n"
         "m._run = probe\n"
         "sys.exit(m.main(['--loop', 'uvloop', '-l', '127.0.0.1:0', '--count', '1']))\n"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        m = None
        while m is None and len(lines) < 20:
            lines.append(proc.stderr.readline())
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", lines[-1])
        assert m, lines
        assert any(line.startswith("loop uvloop") for line in lines), lines
        with smtplib.SMTP("127.0.0.1", int(m.group(1)), timeout=30) as s:
            s.sendmail("a@example.org", ["b@example.com"], b"Subject: uv\r\n\r\nbody\r\n")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Subject: uv\n\nbody\n" in out
