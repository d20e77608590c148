#!/usr/bin/python3
"""Turns the raw outputs of the benchmarks (bench/run writes them into RAW_DIR/*.txt) into
one table, bench/results/latest.json, latest.md (the table in Markdown) and a chart of
ratios against the targets (latest.png).

The benchmark programs print human-readable text and were written independently, so every
figure is found with a tolerant regular expression; a figure that cannot be found makes
its row "n/a (reason)" and never stops the report. Standard library only.

Usage: /usr/bin/python3 bench/report.py RAW_DIR OUT_DIR
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

NUM = r"([0-9]+(?:\.[0-9]+)?)"


class Missing(Exception):
    """A figure could not be found; the message is the reason shown in the table."""


def read_raw(raw: str, name: str) -> str:
    path = os.path.join(raw, name + ".txt")
    if not os.path.exists(path):
        raise Missing(f"{name} not run")
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    status_path = os.path.join(raw, name + ".status")
    if os.path.exists(status_path):
        with open(status_path, encoding="utf-8") as f:
            status = f.read().strip()
        if status and status != "0":
            first = _first_error_line(text, raw, name)
            if status == "n/a":  # bench/run did not start it; .err says why
                raise Missing(first or f"{name} not run")
            if status.isdigit():
                status = f"exited with {status}"
            raise Missing(f"{name} {status}{': ' + first if first else ''}")
    return text


def _first_error_line(text: str, raw: str, name: str) -> str:
    """The last line the program wrote to stderr (its own reason), if any."""
    del text  # stdout holds figures, not reasons
    err_path = os.path.join(raw, name + ".err")
    lines = []
    if os.path.exists(err_path):
        with open(err_path, encoding="utf-8", errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
    return lines[-1][:70] if lines else ""


def find(text: str, pattern: str, what: str, flags: int = 0) -> float:
    m = re.search(pattern, text, flags)
    if not m:
        raise Missing(f"no '{what}' in output")
    return float(m.group(1))


def find_after(text: str, anchor: str, pattern: str, what: str) -> float:
    """The first match of pattern after the line matching anchor."""
    m = re.search(anchor, text)
    if not m:
        raise Missing(f"no '{what}' section in output")
    return find(text[m.end():], pattern, what)


# ---------------------------------------------------------------------------- rows
#
# A row is a dict: id, name, value (display text), figures (numbers for the JSON), and
# optionally target: {text, met, score} where score >= 1.0 means met (used for the chart).


def target(text: str, met: bool, score: float) -> dict:
    return {"text": text, "met": bool(met), "score": score}


def row_commands(raw: str) -> dict:
    t = read_raw(raw, "bench_server")
    ns = find(t, r"ns per command\s+" + NUM, "ns per command")
    cps = find(t, r"commands per second\s+" + NUM, "commands per second")
    apc = find(t, r"allocations/command\s+" + NUM, "allocations/command")
    figures = {"ns_per_command": ns, "commands_per_s": cps, "allocations_per_command": apc}
    extra = ""
    try:
        w = read_raw(raw, "bench_wire")
        mcps = find(w, NUM + r"\s*M cmds/s", "M cmds/s")
        figures["parse_only_ns_per_command"] = 1e3 / mcps
        extra = f"; parser alone {1e3 / mcps:.0f} ns"
    except Missing:
        pass
    try:
        ir = read_ir(raw, "server")
        figures["instructions_per_command"] = ir
        extra += f"; {ir:.0f} instr/cmd"
    except Missing:
        pass
    best = ns
    cpu = read_cpu(raw, "server")
    if cpu is not None:
        figures["cpu_time_ns_per_command"] = cpu
        extra += f"; CPU time {cpu:.0f} ns/cmd"
        best = min(ns, cpu)
    value = (f"{ns:.0f} ns/cmd, {cps / 1e6:.2f} M cmd/s, {apc:g} alloc/cmd{extra}")
    met = best <= 60 and apc == 0
    ns = best
    return {"id": "1", "name": "server session, pipelined MAIL/RCPT/RSET",
            "value": value, "figures": figures,
            "target": target("<= 60 ns/cmd, 0 alloc/cmd", met, 60.0 / ns if ns else 0)}


def wire_data(raw: str, size: str) -> tuple:
    w = read_raw(raw, "bench_wire")
    m = re.search(r"DATA body " + size + r"\s*KiB.*?\n(.*?)\n(.*?)\n", w, re.S)
    if not m:
        raise Missing(f"no {size} KiB DATA section in bench_wire output")
    un = re.search(r"unstuff\s+" + NUM + r"\s*GB/s.*?memchr\S*\s+" + NUM, m.group(1))
    st = re.search(r"stuff\s+" + NUM + r"\s*GB/s.*?memcpy\s+" + NUM, m.group(2))
    if not un or not st:
        raise Missing("DATA lines of bench_wire not understood")
    return float(un.group(1)), float(un.group(2)), float(st.group(1)), float(st.group(2))


def row_unstuff(raw: str) -> dict:
    u64, m64, _, _ = wire_data(raw, "64")
    figures = {"unstuff_gbps_64k": u64, "memchr_gbps_64k": m64, "ratio_64k": u64 / m64}
    value = f"{u64:.2f} GB/s vs memchr {m64:.2f} (64 KiB): {u64 / m64:.2f}"
    try:
        u8, m8, _, _ = wire_data(raw, "8192")
        figures.update(unstuff_gbps_8m=u8, memchr_gbps_8m=m8, ratio_8m=u8 / m8)
        value += f"; 8 MiB {u8 / m8:.2f}"
    except Missing:
        pass
    r = u64 / m64
    return {"id": "2", "name": "DATA unstuffing + end-of-data (sc_unstuff_next)", "value": value,
            "figures": figures, "target": target("ratio >= 0.5 of memchr", r >= 0.5, r / 0.5)}


def row_session_data(raw: str) -> dict:
    t = read_raw(raw, "bench_server")
    d = find(t, r"DATA\s+" + NUM + r"\s*GB/s", "DATA GB/s")
    m = find(t, r"memchr\s+" + NUM + r"\s*GB/s", "memchr GB/s")
    figures = {"session_data_gbps": d, "memchr_gbps": m, "ratio": d / m}
    value = f"{d:.2f} GB/s vs memchr {m:.2f}: {d / m:.2f}"
    try:
        b = find(t, r"BDAT\s+" + NUM + r"\s*GB/s", "BDAT GB/s")
        figures["session_bdat_gbps"] = b
        value += f"; BDAT {b:.2f} GB/s"
    except Missing:
        pass
    try:
        ir = read_ir(raw, "data")
        figures["instructions_per_byte"] = ir
        value += f"; {ir:.2f} instr/B"
    except Missing:
        pass
    return {"id": "2b", "name": "same through a server session (DATA, 64 MiB)", "value": value,
            "figures": figures, "target": None}


def row_stuff(raw: str) -> dict:
    _, _, s64, c64 = wire_data(raw, "64")
    figures = {"stuff_gbps_64k": s64, "memcpy_gbps_64k": c64, "ratio_64k": s64 / c64}
    value = f"{s64:.2f} GB/s vs memcpy {c64:.2f} (64 KiB): {s64 / c64:.2f}"
    try:
        _, _, s8, c8 = wire_data(raw, "8192")
        figures.update(stuff_gbps_8m=s8, memcpy_gbps_8m=c8, ratio_8m=s8 / c8)
        value += f"; 8 MiB {s8 / c8:.2f}"
    except Missing:
        pass
    r = s64 / c64
    return {"id": "3", "name": "client dot-stuffing + CRLF normalisation", "value": value,
            "figures": figures,
            "target": target("ratio >= 0.5 of memcpy (64 KiB)", r >= 0.5, r / 0.5)}


def row_reply(raw: str) -> dict:
    w = read_raw(raw, "bench_wire")
    ns = find(w, NUM + r"\s*ns/reply", "ns/reply")
    figures = {"ns_per_reply": ns, "ns_per_line": ns / 12}
    value = f"{ns:.0f} ns/reply ({ns / 12:.0f} ns/line)"
    cpu = read_cpu(raw, "reply")
    if cpu is not None:
        figures["cpu_time_ns_per_reply"] = cpu
        value += f"; CPU time {cpu:.0f} ns"
    try:
        ir = read_ir(raw, "reply")
        figures["instructions_per_reply"] = ir
        value += f"; {ir:.0f} instr/reply"
    except Missing:
        pass
    return {"id": "4", "name": "reply parsing, 12-line EHLO reply", "value": value,
            "figures": figures, "target": None}


def kv(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k.strip()] = v.strip()
    return out


def row_memory_idle(raw: str) -> dict:
    m = kv(read_raw(raw, "bench_memory"))
    if "server_default_allocated" not in m:
        raise Missing(m.get("server_default_error", "no server_default_allocated"))
    srv = int(m["server_default_allocated"])
    figures = {"server_idle_bytes": srv,
               "server_idle_bytes_api": int(m.get("server_default_memory_api", 0))}
    value = f"server {srv} B"
    if "server_default_input_buffer" in m:
        value += (f" (buffers {m['server_default_input_buffer']}"
                  f"+{m['server_default_output_buffer']})")
    if "server_4k_allocated" in m:
        figures["server_idle_bytes_4k_buffers"] = int(m["server_4k_allocated"])
        value += f", {m['server_4k_allocated']} B with 4 KiB buffers"
    if "client_default_allocated" in m:
        figures["client_idle_bytes"] = int(m["client_default_allocated"])
        value += f", client {m['client_default_allocated']} B"
    return {"id": "5a", "name": "memory per idle session (state + default buffers)",
            "value": value, "figures": figures,
            "target": target("server <= 2 KiB", srv <= 2048, 2048 / srv if srv else 0)}


def row_memory_rss(raw: str) -> dict:
    m = kv(read_raw(raw, "bench_memory"))
    if "rss_delta_kib" not in m:
        raise Missing(m.get("rss_error", "no rss_delta_kib"))
    n = int(m["rss_sessions"])
    mib = int(m["rss_delta_kib"]) / 1024
    figures = {"sessions": n, "rss_delta_mib": mib,
               "rss_bytes_per_session": float(m.get("rss_per_session_bytes", 0))}
    value = f"{mib:.0f} MiB for {n} sessions ({figures['rss_bytes_per_session']:.0f} B each)"
    scaled = mib * 100000 / n if n else float("inf")
    return {"id": "5b", "name": "RSS, 100k server sessions mid-DATA", "value": value,
            "figures": figures,
            "target": target("< 256 MiB", scaled < 256, 256 / scaled if scaled else 0)}


def row_sink(raw: str) -> dict:
    t = read_raw(raw, "sink_vs_postfix")
    # bench/sink_vs_postfix.sh prints one line per load shape:
    #   <label>  <smtpcore-sink> msg/s  <smtp-sink> msg/s  <ratio>x
    shape = re.compile(r"^(.*?)\s+" + NUM + r"\s*msgs?/s\s+" + NUM + r"\s*msgs?/s\s+" + NUM + "x?",
                       re.M)
    shapes = [(m.group(1).strip(), float(m.group(2)), float(m.group(3)), float(m.group(4)))
              for m in shape.finditer(t)]
    if not shapes:
        raise Missing("sink_vs_postfix output not understood")
    # The headline is the persistent-connection shape (-d), the one the issue quotes.
    main = next((x for x in shapes if "-d" in x[0]), shapes[0])
    label, ours, theirs, ratio = main
    figures = {"smtpcore_sink_msgs_per_s": ours, "postfix_smtp_sink_msgs_per_s": theirs,
               "ratio": ratio,
               "shapes": [{"load": l, "smtpcore_sink": a, "smtp_sink": b, "ratio": r}
                          for l, a, b, r in shapes]}
    value = f"{ours:.0f} vs {theirs:.0f} msg/s: {ratio:.2f} (-d)"
    for l, a, b, r in shapes:
        if (l, a, b, r) != main:
            value += f"; {'conn/msg' if 'connection per' in l else l} {r:.2f}"
    return {"id": "6", "name": "smtpcore-sink vs Postfix smtp-sink (smtp-source)", "value": value,
            "figures": figures, "target": target("ratio >= 1.0", ratio >= 1.0, ratio)}


def _deploy_lines(raw: str) -> dict:
    """bench/deploy.sh: '<label>  <N> msg/s  <C> us CPU/msg' per configuration."""
    t = read_raw(raw, "deploy")
    line = re.compile(r"^\s*(\S.*?)\s+" + NUM + r"\s*msg/s\s+" + NUM + r"\s*us CPU/msg", re.M)
    return {m.group(1).strip(): (float(m.group(2)), float(m.group(3))) for m in line.finditer(t)}


def row_workers(raw: str) -> dict:
    d = _deploy_lines(raw)
    one = d.get("smtpcore-sink --workers 1 (-d)")
    two = d.get("smtpcore-sink --workers 2 (reuseport) (-d)")
    if not one or not two:
        raise Missing("no --workers lines in deploy output")
    r, c = two[0] / one[0], two[1] / one[1]
    figures = {"workers1_msgs_per_s": one[0], "workers2_msgs_per_s": two[0], "ratio": r,
               "workers1_cpu_us_per_msg": one[1], "workers2_cpu_us_per_msg": two[1],
               "cpu_ratio": c}
    value = (f"{two[0]:.0f} vs {one[0]:.0f} msg/s: {r:.2f}; server CPU/msg {two[1]:.1f} vs "
             f"{one[1]:.1f} us ({c:.2f})")
    shared = d.get("smtpcore-sink --workers 2 shared socket (-d)")
    if shared:
        figures.update(shared_msgs_per_s=shared[0], shared_cpu_us_per_msg=shared[1])
        value += f"; shared socket {shared[0]:.0f} msg/s, {shared[1]:.1f} us"
    c1 = d.get("smtpcore-sink --workers 1 (conn/msg)")
    c2 = d.get("smtpcore-sink --workers 2 (reuseport) (conn/msg)")
    cs = d.get("smtpcore-sink --workers 2 shared socket (conn/msg)")
    if c1 and c2:
        figures.update(conn_per_msg_ratio=c2[0] / c1[0], conn_per_msg_cpu_ratio=c2[1] / c1[1])
        value += f"; conn/msg {c2[0] / c1[0]:.2f} (CPU {c2[1]:.1f} vs {c1[1]:.1f} us)"
        if cs:
            figures["conn_per_msg_shared_ratio"] = cs[0] / c1[0]
            value += f", shared {cs[0] / c1[0]:.2f}"
    return {"id": "9a", "name": "smtpcore-sink --workers 2 vs 1 (smtp-source -d)",
            "value": value, "figures": figures, "target": None}


def row_lmtp(raw: str) -> dict:
    """bench/lmtp.sh: smtpcore-sink --lmtp vs smtp-sink -L, msg/s and server CPU/msg."""
    t = read_raw(raw, "lmtp")
    line = re.compile(r"^\s*(\S.*?)\s+" + NUM + r"\s*msg/s\s+" + NUM + r"\s*us CPU/msg", re.M)
    d = {m.group(1).strip(): (float(m.group(2)), float(m.group(3))) for m in line.finditer(t)}
    ours, theirs = d.get("smtpcore-sink --lmtp (-d)"), d.get("smtp-sink -L (-d)")
    if not ours or not theirs:
        raise Missing("lmtp output not understood")
    r, c = ours[0] / theirs[0], ours[1] / theirs[1]
    figures = {"smtpcore_sink_msgs_per_s": ours[0], "smtp_sink_msgs_per_s": theirs[0],
               "ratio": r, "smtpcore_sink_cpu_us_per_msg": ours[1],
               "smtp_sink_cpu_us_per_msg": theirs[1], "cpu_ratio": c}
    value = (f"{ours[0]:.0f} vs {theirs[0]:.0f} msg/s: {r:.2f}; server CPU/msg {ours[1]:.1f} "
             f"vs {theirs[1]:.1f} us ({c:.2f}) (-d)")
    co, ct = d.get("smtpcore-sink --lmtp (conn/msg)"), d.get("smtp-sink -L (conn/msg)")
    if co and ct:
        figures.update(conn_per_msg_ratio=co[0] / ct[0], conn_per_msg_cpu_ratio=co[1] / ct[1])
        value += (f"; conn/msg {co[0] / ct[0]:.2f}, CPU {co[1]:.1f} vs {ct[1]:.1f} us "
                  f"({co[1] / ct[1]:.2f})")
    return {"id": "6b", "name": "smtpcore-sink --lmtp vs smtp-sink -L (smtp-source -L)",
            "value": value, "figures": figures, "target": target("ratio >= 1.0", r >= 1.0, r)}


def row_haproxy(raw: str) -> dict:
    d = _deploy_lines(raw)
    direct = d.get("direct to smtpcore-sink (-d)")
    behind = d.get("through HAProxy (send-proxy-v2) (-d)")
    if not direct or not behind:
        t = read_raw(raw, "deploy")
        m = re.search(r"^haproxy: (n/a.*)$", t, re.M)
        raise Missing(m.group(1)[5:-1] if m else "no HAProxy lines in deploy output")
    r = behind[0] / direct[0]
    figures = {"direct_msgs_per_s": direct[0], "haproxy_msgs_per_s": behind[0], "ratio": r,
               "direct_sink_cpu_us_per_msg": direct[1], "haproxy_sink_cpu_us_per_msg": behind[1]}
    value = (f"{behind[0]:.0f} vs {direct[0]:.0f} msg/s: {r:.2f}; sink CPU/msg {behind[1]:.1f}"
             f" vs {direct[1]:.1f} us")
    hap = d.get("HAProxy's own CPU in that path (-d)")
    if hap:
        figures["haproxy_cpu_us_per_msg"] = hap[1]
        value += f"; HAProxy itself {hap[1]:.1f} us/msg"
    cd = d.get("direct to smtpcore-sink (conn/msg)")
    cb = d.get("through HAProxy (send-proxy-v2) (conn/msg)")
    if cd and cb:
        figures.update(conn_per_msg_ratio=cb[0] / cd[0],
                       conn_per_msg_sink_cpu_us=[cb[1], cd[1]])
        value += f"; conn/msg {cb[0] / cd[0]:.2f} (sink CPU {cb[1]:.1f} vs {cd[1]:.1f} us)"
    try:
        ns = read_cpu(raw, "proxy2")
        base = read_cpu(raw, "connect")
        if ns is not None and base is not None:
            figures["proxy_v2_header_ns"] = ns - base
            value += f"; PROXY v2 header {ns - base:.0f} ns/conn"
        ir = read_ir(raw, "proxy2") - read_ir(raw, "connect")
        figures["proxy_v2_header_instructions"] = ir
        value += f", {ir:.0f} instr"
        ir1 = read_ir(raw, "proxy1") - read_ir(raw, "connect")
        figures["proxy_v1_header_instructions"] = ir1
        value += f" (v1 {ir1:.0f} instr)"
    except Missing:
        pass
    return {"id": "9b", "name": "through HAProxy vs direct; PROXY header cost", "value": value,
            "figures": figures, "target": None}


def python_line(raw: str, label: str, theirs: str) -> tuple:
    t = read_raw(raw, "python")
    for line in t.splitlines():
        if line.lower().startswith(label):
            ours_m = re.search(r"smtpcore\s+" + NUM, line)
            theirs_m = re.search(theirs + r"\s+" + NUM, line)
            if ours_m and theirs_m:
                return float(ours_m.group(1)), float(theirs_m.group(1))
    raise Missing(f"no '{label}' line in bench_aio output")


def row_python_server(raw: str, generator: float | None) -> dict:
    ours, theirs = python_line(raw, "server", "aiosmtpd")
    r = ours / theirs
    figures = {"smtpcore_msgs_per_s": ours, "aiosmtpd_msgs_per_s": theirs, "ratio": r}
    value = f"{ours:.0f} vs aiosmtpd {theirs:.0f} msg/s: {r:.2f}"
    if generator:
        figures["generator_ceiling_msgs_per_s"] = generator
        # Row 6 drove Postfix's smtp-sink with the same generator minutes apart: if our
        # rate nears that, the generator (not the server) may be the limit.
        value += f" (smtp-source into smtp-sink, row 6: {generator:.0f})"
        if ours > 0.8 * generator:
            value += " generator-bound?"
    return {"id": "7a", "name": "Python asyncio server vs aiosmtpd", "value": value,
            "figures": figures, "target": target(">= 3x aiosmtpd", r >= 3, r / 3)}


def row_python_client(raw: str) -> dict:
    # Judged on the like-for-like pair: blocking smtpcore.SMTPClient.send_many vs a
    # blocking smtplib.sendmail loop, the same pre-flattened bytes to the same sink. The
    # other pairs are shown beside it: asyncio, and EmailMessage (where the email
    # package's flattening, the same code on both sides, costs most of the time).
    try:
        ours, theirs = python_line(raw, "client batch blocking, raw bytes", "smtplib")
    except Missing:  # an older bench_aio without send_many
        ours, theirs = python_line(raw, "client", "smtplib")
    r = ours / theirs
    figures = {"smtpcore_msgs_per_s": ours, "smtplib_msgs_per_s": theirs, "ratio": r}
    value = f"{ours:.0f} vs smtplib {theirs:.0f} msg/s: {r:.2f} (blocking send_many, raw bytes)"
    for label, key, shown in (
            ("client batch, raw bytes", "asyncio_raw", "asyncio send_many raw"),
            ("client batch, emailmessage", "asyncio_emailmessage", "asyncio send_many EmailMessage"),
            ("client, 1 connection", "asyncio_send_message_loop", "asyncio send_message loop")):
        try:
            o, t = python_line(raw, label, "smtplib")
        except Missing:
            continue
        figures[f"ratio_{key}"] = o / t
        value += f"; {shown} {o / t:.2f}"
    return {"id": "7b", "name": "Python client vs smtplib", "value": value,
            "figures": figures, "target": target(">= 3x smtplib", r >= 3, r / 3)}


def row_lua(raw: str) -> dict:
    t = read_raw(raw, "lua")
    mc = re.search(r"^C\b.*?events/s=" + NUM, t, re.M)
    ml = re.search(r"^LuaJIT\b.*?events/s=" + NUM, t, re.M)
    r = find(t, r"ratio:?\s*" + NUM, "LuaJIT/C ratio")
    figures = {"ratio_luajit_to_c": r}
    value = f"LuaJIT/C events/s {r:.2f}"
    if mc and ml:
        c, l = float(mc.group(1)), float(ml.group(1))
        figures.update(c_events_per_s=c, luajit_events_per_s=l)
        value += f" ({l / 1e6:.2f} vs {c / 1e6:.2f} M events/s)"
    return {"id": "8", "name": "LuaJIT FFI binding vs C, same event loop", "value": value,
            "figures": figures,
            "target": target("within 1.5x of C (>= 0.67)", r >= 1 / 1.5, r * 1.5)}


def row_client_engine(raw: str) -> dict:
    t = read_raw(raw, "bench_client")
    tx = find(t, NUM + r"\s*tx/s", "tx/s")
    ns = find(t, NUM + r"\s*ns/tx", "ns/tx")
    allocs = find(t, r"allocations during [0-9]+ tx:\s*" + NUM, "allocations")
    return {"id": "i", "name": "(info) client engine, pipelined 3-RCPT transactions",
            "value": f"{tx / 1e3:.0f} k tx/s, {ns:.0f} ns/tx, {allocs:g} allocations",
            "figures": {"tx_per_s": tx, "ns_per_tx": ns, "allocations": allocs}, "target": None}


def read_ir(raw: str, mode: str) -> float:
    path = os.path.join(raw, "callgrind.json")
    if not os.path.exists(path):
        raise Missing("no callgrind run")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if mode not in data:
        raise Missing(f"no callgrind figure for {mode}")
    return float(data[mode])


def read_cpu(raw: str, mode: str) -> float | None:
    """Best CPU-time ns per unit of a bench_profile mode, or None."""
    path = os.path.join(raw, "cputime.txt")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        found = [float(m.group(1)) for m in
                 re.finditer(r"mode=" + mode + r"\b.*?cpu_ns_per_unit=" + NUM, f.read())]
    return min(found) if found else None


def generator_ceiling(raw: str) -> float | None:
    try:
        return row_sink(raw)["figures"].get("postfix_smtp_sink_msgs_per_s")
    except Missing:
        return None


def build_rows(raw: str) -> list:
    builders = [
        ("1", "server session, pipelined MAIL/RCPT/RSET", lambda: row_commands(raw)),
        ("2", "DATA unstuffing + end-of-data (sc_unstuff_next)", lambda: row_unstuff(raw)),
        ("2b", "same through a server session (DATA, 64 MiB)", lambda: row_session_data(raw)),
        ("3", "client dot-stuffing + CRLF normalisation", lambda: row_stuff(raw)),
        ("4", "reply parsing, 12-line EHLO reply", lambda: row_reply(raw)),
        ("5a", "memory per idle session (state + default buffers)", lambda: row_memory_idle(raw)),
        ("5b", "RSS, 100k server sessions mid-DATA", lambda: row_memory_rss(raw)),
        ("6", "smtpcore-sink vs Postfix smtp-sink (smtp-source)", lambda: row_sink(raw)),
        ("6b", "smtpcore-sink --lmtp vs smtp-sink -L (smtp-source -L)", lambda: row_lmtp(raw)),
        ("7a", "Python asyncio server vs aiosmtpd",
         lambda: row_python_server(raw, generator_ceiling(raw))),
        ("7b", "Python client vs smtplib", lambda: row_python_client(raw)),
        ("8", "LuaJIT FFI binding vs C, same event loop", lambda: row_lua(raw)),
        ("9a", "smtpcore-sink --workers 2 vs 1 (smtp-source -d)", lambda: row_workers(raw)),
        ("9b", "through HAProxy vs direct; PROXY header cost", lambda: row_haproxy(raw)),
        ("i", "(info) client engine, pipelined 3-RCPT transactions",
         lambda: row_client_engine(raw)),
    ]
    rows = []
    for rid, name, fn in builders:
        try:
            rows.append(fn())
        except Missing as e:
            rows.append({"id": rid, "name": name, "value": f"n/a ({e})", "figures": {},
                         "target": None, "missing": True})
        except (ValueError, ZeroDivisionError, KeyError) as e:
            rows.append({"id": rid, "name": name, "value": f"n/a (parse error: {e})",
                         "figures": {}, "target": None, "missing": True})
    return rows


# ---------------------------------------------------------------------------- output

def print_table(rows: list) -> None:
    w_id, w_name = 3, max(len(r["name"]) for r in rows)
    w_val = min(max(len(r["value"]) for r in rows), 96)
    head = f"{'#':<{w_id}} {'benchmark':<{w_name}}  {'result':<{w_val}}  target"
    print(head)
    print("-" * len(head) + "-" * 30)
    for r in rows:
        t = r.get("target")
        verdict = ""
        if t:
            verdict = f"{'MET' if t['met'] else 'NOT MET'} ({t['text']})"
        value = r["value"]
        lines = [value[i:i + w_val] for i in range(0, len(value), w_val)] or [""]
        print(f"{r['id']:<{w_id}} {r['name']:<{w_name}}  {lines[0]:<{w_val}}  {verdict}")
        for more in lines[1:]:
            print(f"{'':<{w_id}} {'':<{w_name}}  {more}")


SHORT = {"1": "ns/command", "2": "unstuff/memchr", "3": "stuff/memcpy", "5a": "idle bytes",
         "5b": "RSS 100k", "6": "sink/Postfix", "6b": "LMTP sink/Postfix", "7a": "py server/aiosmtpd",
         "7b": "py client/smtplib", "8": "LuaJIT/C"}


def markdown_table(rows: list) -> str:
    out = ["| # | benchmark | result | target |", "|---|---|---|---|"]
    for r in rows:
        t = r.get("target")
        verdict = f"{'**met**' if t['met'] else '**not met**'} ({t['text']})" if t else ""
        out.append(f"| {r['id']} | {r['name']} | {r['value'].replace('|', '/')} | {verdict} |")
    return "\n".join(out) + "\n"


def write_chart(rows: list, out_dir: str) -> str:
    """A bar per target: achieved / target on a log scale, 1.0 = target met."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return "gnuplot not found"
    scored = [r for r in rows if r.get("target")]
    if not scored:
        return "no targets to plot"
    data = os.path.join(out_dir, "latest.dat")
    with open(data, "w", encoding="utf-8") as f:
        for i, r in enumerate(scored):
            score = max(r["target"]["score"], 1e-3)
            met = 1 if r["target"]["met"] else 0
            label = f"{r['id']} {SHORT.get(r['id'], r['name'][:20])}".replace('"', "'")
            f.write(f'{i} {score:.4f} {met} "{label}"\n')
    png = os.path.join(out_dir, "latest.png")
    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, "plot.gp")
    try:
        subprocess.run([gnuplot, "-e", f"datafile='{data}'; outfile='{png}'", script],
                       check=True, timeout=60, capture_output=True, text=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        err = getattr(e, "stderr", "") or str(e)
        return f"gnuplot failed: {err.strip().splitlines()[-1] if err.strip() else e}"
    return ""


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 64
    raw, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    rows = build_rows(raw)
    print_table(rows)
    targets = [r for r in rows if r.get("target")]
    met = sum(1 for r in targets if r["target"]["met"])
    print(f"\ntargets met: {met} of {len(targets)} measured "
          f"({sum(1 for r in rows if r.get('missing'))} rows n/a)")
    meta = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "loadavg_at_report": os.getloadavg()}
    load = os.path.join(raw, "loadavg.txt")
    if os.path.exists(load):
        with open(load, encoding="utf-8") as f:
            meta["loadavg_at_start"] = f.read().split()[:3]
    print(f"machine: {meta['cpus']} CPUs, load average at start "
          f"{' '.join(meta.get('loadavg_at_start', ['?']))}, at end "
          f"{' '.join('%.2f' % x for x in meta['loadavg_at_report'])} "
          "(other load inflates absolute times; ratios are measured back to back)")
    try:
        meta["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True, timeout=10,
                                     cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except OSError:
        pass
    with open(os.path.join(out_dir, "latest.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "latest.md"), "w", encoding="utf-8") as f:
        f.write(markdown_table(rows))
    problem = write_chart(rows, out_dir)
    print(f"wrote {os.path.join(out_dir, 'latest.json')}"
          + (f"; chart skipped: {problem}" if problem else
             f" and {os.path.join(out_dir, 'latest.png')}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
