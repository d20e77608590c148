#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Builds raw seed inputs for every fuzz target from the transcript suites.

    fuzz/make_corpus.py OUTDIR        # writes OUTDIR/<target>/<sha1>

The result is not committed as is: fuzz/update_corpus.sh merges it with -merge=1 into
fuzz/corpus/<target>/, keeping only inputs that add coverage. The seed layouts below must match the targets' input formats
(fuzz_common.h: wire bytes at the front, decision bytes at the back).
"""
import hashlib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRANSCRIPTS = os.path.join(ROOT, "tests", "transcripts")

EXT = ["PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES",
       "CHUNKING", "BINARYMIME", "STARTTLS", "AUTH", "VRFY", "HELP"]
DEFAULT_EXT = sum(1 << EXT.index(n) for n in
                  ["PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "DSN",
                   "ENHANCEDSTATUSCODES", "CHUNKING"])


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "x" and i + 3 < len(s):
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            out += {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}.get(
                n, ("\\" + n).encode())
            i += 2
            continue
        out += c.encode("utf-8")
        i += 1
    return bytes(out)


def parse(path):
    """Returns (client bytes, server bytes, config dict, bodies, command lines)."""
    cbytes, sbytes, bodies, lines = bytearray(), bytearray(), [], []
    config = {}
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("C: ") or line == "C:":
                text = line[3:]
                cbytes += text.encode("utf-8", "surrogateescape") + b"\r\n"
                lines.append(text.encode("utf-8", "surrogateescape"))
            elif line.startswith("C| "):
                cbytes += unescape(line[3:])
            elif line.startswith("S: ") or line == "S:":
                sbytes += line[3:].encode("utf-8", "surrogateescape") + b"\r\n"
            elif line.startswith("S| "):
                sbytes += unescape(line[3:])
            elif line.startswith("B| "):
                bodies.append(unescape(line[3:]))
            elif line.startswith("H: body "):
                bodies.append(unescape(line[8:]))
            elif line.startswith("@config "):
                for kv in line[8:].split():
                    if "=" in kv:
                        k, v = kv.split("=", 1)
                        config[k] = v
    return bytes(cbytes), bytes(sbytes), config, bodies, lines


def server_header(cfg):
    """The 8 configuration bytes server_fuzzer.c reads first (all zero = defaults)."""
    ext = DEFAULT_EXT
    if "ext" in cfg:
        ext = sum(1 << EXT.index(n) for n in cfg["ext"].split(",") if n in EXT)
    for n in cfg.get("ext+", "").split(","):
        if n in EXT:
            ext |= 1 << EXT.index(n)
    for n in cfg.get("ext-", "").split(","):
        if n in EXT:
            ext &= ~(1 << EXT.index(n))
    toggle = ext ^ DEFAULT_EXT
    pol = 0
    pol |= 1 if cfg.get("helo") == "optional" else 0
    pol |= 2 if cfg.get("bare_lf") == "accept" else 0
    pol |= 4 if cfg.get("talker") == "reject" else 0
    pol |= 8 if cfg.get("injection") == "discard" else 0
    pol |= 16 if cfg.get("plaintext_auth") == "1" else 0
    pol |= 32 if cfg.get("tls_active") == "1" else 0
    pol |= 64 if "own_names" in cfg else 0
    errs = min(int(cfg.get("max_errors", "0") or 0), 15)
    rcpts = min(int(cfg.get("max_recipients", "0") or 0), 15)
    size = int(cfg.get("max_message_size", "0") or 0)
    lmtp = 0x80 if cfg.get("lmtp") == "1" else 0
    return bytes([toggle & 0xff, ((toggle >> 8) & 0x0f) | lmtp, pol, errs | (rcpts << 4),
                  0, 0, 0, min(size // 16, 255) if size else 0])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build/fuzz-seeds"
    seeds = {}

    def add(target, data):
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        name = hashlib.sha1(data).hexdigest()
        seeds.setdefault(target, 0)
        p = os.path.join(d, name)
        if not os.path.exists(p):
            with open(p, "wb") as f:
                f.write(data)
            seeds[target] += 1

    addr_re = re.compile(rb"<([^<>]*)>")
    for role in ("server", "client"):
        d = os.path.join(TRANSCRIPTS, role)
        if not os.path.isdir(d):
            continue
        for fn in sorted(os.listdir(d)):
            if not fn.endswith(".txt"):
                continue
            cb, sb, cfg, bodies, lines = parse(os.path.join(d, fn))
            hdr = server_header(cfg) if role == "server" else bytes(8)
            # client_fuzzer.c: bit 0 of the eighth byte is LMTP mode.
            chdr = bytes(7) + bytes([1 if cfg.get("lmtp") == "1" else 0])
            add("server", hdr + cb)
            add("server_split", bytes([hdr[0], hdr[1] & 0x7f, hdr[2] & 0x3f, hdr[3]]) + cb + bytes(4))
            add("client", chdr + sb)
            # The same server bytes in one read (the last byte is the first decision:
            # 0 = take everything), every later decision 0: the host starts a transaction
            # at READY, feeds the body before pulling events, and starts the next
            # transaction behind the "." where the server pipelines.
            add("client", chdr + sb + b"\0")
            # ... and in release mode (bit 4 of the eighth byte): the buffers given back
            # whenever the host sees the session idle.
            add("client", chdr[:7] + bytes([chdr[7] | 16]) + sb + b"\0")
            add("reply", sb + bytes(5))
            if b"XCLIENT" in sb:
                # ... and with XCLIENT asked for at READY (decisions are read from the
                # end).
                # The first decision reads exactly the server's bytes (at most 255), the
                # later ones (0x0f) ask for XCLIENT at READY and take output 15 at a time.
                if len(sb) <= 255:
                    add("client", chdr + sb + bytes([0x0f] * 12) + bytes([len(sb)]))
            # Each PROXY header mode (bits 1-3 of the eighth byte).
            if fn.startswith("proxy_header") or fn.startswith("xclient"):
                for mode in (2, 4, 6, 14):
                    add("client", chdr[:7] + bytes([chdr[7] | mode]) + sb + b"\0")
            for b in bodies:
                add("stuffing", b + bytes(6))
                add("stuffing", b + bytes([1, 0, 0, 0, 0, 0]))
            if b"DATA\r\n" in cb:
                add("stuffing", cb.split(b"DATA\r\n", 1)[1] + bytes(6))
            for ln in lines:
                add("command", ln + b"\0\0")
                for m in addr_re.finditer(ln):
                    add("syntax", m.group(1))
                    add("syntax", m.group(0))
                words = ln.split(b" ")
                if len(words) >= 2 and words[0].upper() in (b"EHLO", b"HELO"):
                    add("syntax", words[1])
                if len(words) >= 3 and words[0].upper() == b"AUTH":
                    add("syntax", words[2])
                for w in words:
                    if b"=" in w:
                        add("syntax", w.split(b"=", 1)[1])
    # server_fuzzer's structured mode (bit 7 of the third byte): unit selectors, with a
    # few decision bytes at the end (0 = accept).
    for units in ([0, 5, 12, 22, 36], [0, 5, 12, 25, 26, 15, 16, 17, 18, 19, 20, 21],
                  [0, 27, 29, 30, 31, 0, 5, 13, 14, 22], [1, 6, 7, 8, 9, 10, 11, 12, 24],
                  [0, 32, 33, 34, 35, 2, 3, 4, 23, 28], list(range(36, 58)),
                  [0, 5, 12, 36, 37, 38, 5, 55, 56, 12, 22, 57]):
        add("server", bytes([0, 0x07, 0x80 | 0x10, 0, 0, 0, 0, 0]) + bytes(units) + bytes(8))
    # The same in LMTP mode (bit 7 of the second byte); unit 58 is LHLO: LHLO, HELO/EHLO
    # refused, transactions ended by DATA and BDAT LAST with several recipients.
    for units in ([58, 5, 12, 13, 14, 22, 0, 58, 5, 12, 13, 25, 36], [58, 5, 12, 13, 24, 23]):
        add("server", bytes([0, 0x87, 0x80 | 0x10, 0, 0, 0, 0, 0]) + bytes(units) + bytes(8))
    # Round trips have no transcript form: a few hand-made seeds per mode.
    for sel in range(5):
        add("writeparse", b"alice@example.org\0ENV+2BID\0" + bytes([1, 3, 0, 0, 0, 7, sel]))
        add("writeparse", b"Ok\nline two\n" + bytes([0, 9, 1, 1, 4, sel]))
    for k, v in sorted(seeds.items()):
        print(f"{k}: {v} new seeds")


if __name__ == "__main__":
    main()
