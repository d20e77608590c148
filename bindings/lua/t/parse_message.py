#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Describes a message the way Python's email package reads it, for the Lua tests of
resty.smtpcore.message: one line per fact, values JSON-encoded (UTF-8 kept).

    defects N                       every defect Python found, headers included
    header NAME VALUE               each header, decoded (RFC 2047) as Python reads it
    addr NAME DISPLAY-NAME ADDRESS  each mailbox of From/To/Cc/Reply-To
    part N TYPE [k=v ...]           each MIME part, depth first (k: charset, cte,
                                    disposition, filename, cid)
    text N CONTENT                  decoded content of a text part, CRLF as LF
    bytes N HEX                     decoded content of any other leaf part
    line-max N                      the longest line of the raw message (without CRLF)

Usage: parse_message.py FILE
"""
import email
import email.policy
import json
import sys


def j(v):
    return json.dumps(v, ensure_ascii=False)


def main(path):
    with open(path, "rb") as f:
        raw = f.read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out = []
    defects = list(msg.defects)
    for name, value in msg.items():
        defects.extend(getattr(value, "defects", ()))
        out.append(f"header {name} {j(str(value))}")
        if name.lower() in ("from", "to", "cc", "reply-to"):
            for a in value.addresses:
                out.append(f"addr {name} {j(a.display_name)} {j(a.addr_spec)}")
    for n, part in enumerate(msg.walk()):
        defects.extend(part.defects)
        facts = [f"part {n} {part.get_content_type()}"]
        if part.get_content_maintype() != "multipart":
            if part.get_content_maintype() == "text":
                facts.append(f"charset={part.get_content_charset()}")
            facts.append(f"cte={part.get('Content-Transfer-Encoding', '7bit')}")
            if part.get_content_disposition():
                facts.append(f"disposition={part.get_content_disposition()}")
            if part.get_filename() is not None:
                facts.append(f"filename={j(part.get_filename())}")
            if part.get("Content-ID"):
                facts.append(f"cid={part.get('Content-ID')}")
        out.append(" ".join(facts))
        if part.get_content_maintype() == "text":
            out.append(f"text {n} {j(part.get_content().replace(chr(13) + chr(10), chr(10)))}")
        elif part.get_content_maintype() != "multipart":
            out.append(f"bytes {n} {part.get_payload(decode=True).hex()}")
    out.insert(0, f"defects {len(defects)}")
    for d in defects:
        out.insert(1, f"defect {j(repr(d))}")
    longest = max(len(line) for line in raw.split(b"\r\n"))
    out.append(f"line-max {longest}")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
