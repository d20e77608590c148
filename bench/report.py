#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Turns the raw outputs of the benchmarks (bench/run writes them into RAW_DIR/*.txt) into
one table, bench/results/latest.json, latest.md (the table in Markdown) and a chart of
every sample against the targets (latest.png).

Method: every benchmark runs several times (rounds); a raw file holds its rounds one after
the other, each after a line "== round K ==" (bench/run adds the markers around a program
it runs again; the network scripts and bench_aio.py print them themselves, interleaving
the two sides of a pair within each round). A row's figures are extracted from each round
separately; the table shows the median and the range (min-max) over the rounds, the
verdict is taken on the medians, and the JSON keeps every sample.

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
import statistics
import subprocess
import sys
import time
from typing import Callable

NUM = r"([0-9]+(?:\.[0-9]+)?)"
ROUND = re.compile(r"^== round ([0-9]+) ==[ \t]*$", re.M)
END = re.compile(r"^== end ==[ \t]*$", re.M)


class Missing(Exception):
    """A figure could not be found; the message is the reason shown in the table."""


# ---------------------------------------------------------------------------- raw files

def _err_line(raw: str, name: str) -> str:
    """The last line the program wrote to stderr (its own reason), if any."""
    path = os.path.join(raw, name + ".err")
    lines = []
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
    return lines[-1][:70] if lines else ""


def split_rounds(text: str) -> list:
    """The rounds of a raw output: each round's text with the lines before the first
    round (a header) in front. Output without markers is one round; lines after
    "== end ==" (trailers, such as an information-only run) belong to no round."""
    end = END.search(text)
    trailer = ""
    if end:
        text, trailer = text[:end.start()], text[end.end():]
    marks = list(ROUND.finditer(text))
    if not marks:
        return [text + trailer] if text.strip() else []
    head = text[:marks[0].start()]
    out = []
    for i, m in enumerate(marks):
        stop = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out.append(head + text[m.end():stop])
    return out


class Raw:
    """The raw directory seen at one round: read(name) is that round's text of name."""

    def __init__(self, path: str, k: int):
        self.path, self.k = path, k
        self.beyond = False  # a read asked for a round the file does not have
        self._cache: dict = {}

    def rounds(self, name: str) -> list:
        if name not in self._cache:
            path = os.path.join(self.path, name + ".txt")
            if not os.path.exists(path):
                raise Missing(f"{name} not run")
            with open(path, encoding="utf-8", errors="replace") as f:
                self._cache[name] = split_rounds(f.read())
        return self._cache[name]

    def read(self, name: str) -> str:
        rounds = self.rounds(name)
        if self.k >= len(rounds):
            self.beyond = True
            raise Missing(self.reason(name) or f"{name}: no round {self.k + 1}")
        return rounds[self.k]

    def reason(self, name: str) -> str:
        """Why name has no (more) output: its exit status and last stderr line."""
        status_path = os.path.join(self.path, name + ".status")
        if not os.path.exists(status_path):
            return ""
        with open(status_path, encoding="utf-8") as f:
            status = f.read().strip()
        if not status or status == "0":
            return ""
        first = _err_line(self.path, name)
        if status == "n/a":  # bench/run did not start it; .err says why
            return first or f"{name} not run"
        if status.isdigit():
            status = f"exited with {status}"
        return f"{name} {status}{': ' + first if first else ''}"

    def json(self, name: str) -> dict:
        path = os.path.join(self.path, name + ".json")
        if not os.path.exists(path):
            raise Missing(f"no {name} run")
        with open(path, encoding="utf-8") as f:
            return json.load(f)


def find(text: str, pattern: str, what: str, flags: int = 0) -> float:
    m = re.search(pattern, text, flags)
    if not m:
        raise Missing(f"no '{what}' in output")
    return float(m.group(1))


def kv(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k.strip()] = v.strip()
    return out


# bench/measure.py's line, after a label: the label is everything before the rate.
MEASURED = re.compile(
    r"^[ \t]*(?P<label>\S.*?)\s+" + NUM + r" msg/s " + NUM + r" us server CPU/msg " + NUM +
    r" us generator CPU/msg " + NUM + r"% server busy " + NUM + r"% generator busy", re.M)


def measured(text: str) -> dict:
    """{label (spaces squeezed): (msg/s, server us/msg, generator us/msg, server %, gen %)}"""
    return {" ".join(m.group("label").split()): tuple(float(m.group(i)) for i in range(2, 7))
            for m in MEASURED.finditer(text)}


# ---------------------------------------------------------------------------- rows
#
# A row is (id, name, extract, present). extract(raw) -> {figure: number} reads one round;
# present(med, rng, n) -> (value text, target or None) is given the medians of the figures
# over the rounds, their ranges and the number of rounds. A target is
# {text, met, score}: score >= 1.0 means met (the chart's scale).


def target(text: str, score: float, bound: str = "") -> dict:
    """bound: why a not-met target cannot be met on this load (a floor below it); the
    verdict stays on the score, the text only explains it."""
    out = {"text": text, "met": bool(score >= 1.0), "score": score}
    if bound and not out["met"]:
        out["bound"] = bound
    return out


def verdict_text(t: dict, met: str, not_met: str) -> str:
    if t["met"]:
        return f"{met} ({t['text']})"
    if t.get("bound"):
        return f"{not_met}: bounded, {t['bound']} ({t['text']})"
    return f"{not_met} ({t['text']})"


class Agg:
    """Medians and ranges of a row's figures; f(key, fmt) formats "median [min-max]"."""

    def __init__(self, samples: list):
        self.samples = samples
        keys: list = []
        for s in samples:
            keys += [k for k in s if k not in keys]
        self.med, self.rng = {}, {}
        for k in keys:
            vals = [s[k] for s in samples if isinstance(s.get(k), (int, float))]
            if vals:
                self.med[k] = statistics.median(vals)
                self.rng[k] = (min(vals), max(vals))

    def __contains__(self, key: str) -> bool:
        return key in self.med

    def __getitem__(self, key: str) -> float:
        return self.med[key]

    def f(self, key: str, fmt: str = ".2f") -> str:
        v = format(self.med[key], fmt)
        lo, hi = (format(x, fmt) for x in self.rng[key])
        return v if lo == hi else f"{v} [{lo}-{hi}]"


def callgrind(raw: Raw, mode: str) -> float:
    data = raw.json("callgrind")
    if mode not in data:
        raise Missing(f"no callgrind figure for {mode}")
    return float(data[mode])


def cputime(raw: Raw, mode: str) -> float:
    """Best CPU-time ns per unit of a bench_profile mode (round-independent)."""
    path = os.path.join(raw.path, "cputime.txt")
    if not os.path.exists(path):
        raise Missing("no cputime run")
    with open(path, encoding="utf-8", errors="replace") as f:
        found = [float(m.group(1)) for m in
                 re.finditer(r"mode=" + mode + r"\b.*?cpu_ns_per_unit=" + NUM, f.read())]
    if not found:
        raise Missing(f"no CPU time for {mode}")
    return min(found)


def optional(fig: dict, key: str, fn: Callable[[], float]) -> None:
    try:
        fig[key] = fn()
    except Missing:
        pass


# -- 1: instructions per pipelined command (callgrind), ns as information

def x_commands(raw: Raw) -> dict:
    t = raw.read("bench_server")
    fig = {"ns_per_command": find(t, r"ns per command\s+" + NUM, "ns per command"),
           "commands_per_s": find(t, r"commands per second\s+" + NUM, "commands per second"),
           "allocations_per_command": find(t, r"allocations/command\s+" + NUM,
                                           "allocations/command")}
    optional(fig, "parse_only_ns_per_command",
             lambda: 1e3 / find(raw.read("bench_wire"), NUM + r"\s*M cmds/s", "M cmds/s"))
    optional(fig, "instructions_per_command", lambda: callgrind(raw, "server"))
    optional(fig, "cpu_time_ns_per_command", lambda: cputime(raw, "server"))
    return fig


def p_commands(a: Agg, n: int) -> tuple:
    value = f"{a.f('ns_per_command', '.0f')} ns/cmd, {a['allocations_per_command']:g} alloc/cmd"
    if "parse_only_ns_per_command" in a:
        value += f"; parser alone {a.f('parse_only_ns_per_command', '.0f')} ns"
    if "cpu_time_ns_per_command" in a:
        value += f"; CPU time {a['cpu_time_ns_per_command']:.0f} ns/cmd"
    if "instructions_per_command" not in a:
        return value + "; no callgrind (valgrind missing): not judged", None
    ir = a["instructions_per_command"]
    value = f"{ir:.0f} instr/cmd; " + value
    score = 700.0 / ir if a["allocations_per_command"] == 0 else 0.0
    return value, target("<= 700 instr/cmd (callgrind), 0 alloc/cmd", score)


# -- 2, 2b, 3: DATA (bench_wire, bench_server)

def wire_data(raw: Raw, size: str) -> tuple:
    w = raw.read("bench_wire")
    m = re.search(r"DATA body " + size + r"\s*KiB.*?\n(.*?)\n(.*?)\n", w, re.S)
    if not m:
        raise Missing(f"no {size} KiB DATA section in bench_wire output")
    un = re.search(r"unstuff\s+" + NUM + r"\s*GB/s.*?memchr\S*\s+" + NUM, m.group(1))
    st = re.search(r"stuff\s+" + NUM + r"\s*GB/s.*?memcpy\s+" + NUM, m.group(2))
    if not un or not st:
        raise Missing("DATA lines of bench_wire not understood")
    return float(un.group(1)), float(un.group(2)), float(st.group(1)), float(st.group(2))


def x_unstuff(raw: Raw) -> dict:
    u64, m64, _, _ = wire_data(raw, "64")
    fig = {"unstuff_gbps_64k": u64, "memchr_gbps_64k": m64, "ratio_64k": u64 / m64}
    u8, m8, _, _ = wire_data(raw, "8192")
    fig.update(unstuff_gbps_8m=u8, memchr_gbps_8m=m8, ratio_8m=u8 / m8)
    return fig


def p_unstuff(a: Agg, n: int) -> tuple:
    value = (f"64 KiB {a.f('ratio_64k')} of memchr ({a['unstuff_gbps_64k']:.2f} vs "
             f"{a['memchr_gbps_64k']:.2f} GB/s); 8 MiB {a.f('ratio_8m')}")
    return value, target(">= 0.8 of memchr at 64 KiB and 8 MiB",
                         min(a["ratio_64k"], a["ratio_8m"]) / 0.8)


def x_session_data(raw: Raw) -> dict:
    t = raw.read("bench_server")
    d = find(t, r"DATA\s+" + NUM + r"\s*GB/s", "DATA GB/s")
    m = find(t, r"memchr\s+" + NUM + r"\s*GB/s", "memchr GB/s")
    fig = {"session_data_gbps": d, "memchr_gbps": m, "ratio": d / m}
    optional(fig, "session_bdat_gbps", lambda: find(t, r"BDAT\s+" + NUM + r"\s*GB/s", "BDAT"))
    optional(fig, "instructions_per_byte", lambda: callgrind(raw, "data"))
    return fig


def p_session_data(a: Agg, n: int) -> tuple:
    value = (f"{a['session_data_gbps']:.2f} GB/s vs memchr {a['memchr_gbps']:.2f}: "
             f"{a.f('ratio')}")
    if "session_bdat_gbps" in a:
        value += f"; BDAT {a.f('session_bdat_gbps')} GB/s"
    if "instructions_per_byte" in a:
        value += f"; {a['instructions_per_byte']:.2f} instr/B"
    return value, None


def x_stuff(raw: Raw) -> dict:
    _, _, s64, c64 = wire_data(raw, "64")
    fig = {"stuff_gbps_64k": s64, "memcpy_gbps_64k": c64, "ratio_64k": s64 / c64}
    _, _, s8, c8 = wire_data(raw, "8192")
    fig.update(stuff_gbps_8m=s8, memcpy_gbps_8m=c8, ratio_8m=s8 / c8)
    return fig


def p_stuff(a: Agg, n: int) -> tuple:
    value = (f"64 KiB {a.f('ratio_64k')} of memcpy ({a['stuff_gbps_64k']:.2f} vs "
             f"{a['memcpy_gbps_64k']:.2f} GB/s); 8 MiB {a.f('ratio_8m')}")
    return value, target(">= 0.5 of memcpy at 64 KiB, >= 0.8 at 8 MiB",
                         min(a["ratio_64k"] / 0.5, a["ratio_8m"] / 0.8))


# -- 4, 5a, 5b, i: engine information and memory

def x_reply(raw: Raw) -> dict:
    fig = {"ns_per_reply": find(raw.read("bench_wire"), NUM + r"\s*ns/reply", "ns/reply")}
    optional(fig, "cpu_time_ns_per_reply", lambda: cputime(raw, "reply"))
    optional(fig, "instructions_per_reply", lambda: callgrind(raw, "reply"))
    return fig


def p_reply(a: Agg, n: int) -> tuple:
    value = f"{a.f('ns_per_reply', '.0f')} ns/reply"
    if "cpu_time_ns_per_reply" in a:
        value += f"; CPU time {a['cpu_time_ns_per_reply']:.0f} ns"
    if "instructions_per_reply" in a:
        value += f"; {a['instructions_per_reply']:.0f} instr/reply"
    return value, None


def x_memory_idle(raw: Raw) -> dict:
    m = kv(raw.read("bench_memory"))
    if "server_default_allocated" not in m:
        raise Missing(m.get("server_default_error", "no server_default_allocated"))
    fig = {"server_idle_bytes": int(m["server_default_allocated"])}
    for key, src in (("server_input_buffer", "server_default_input_buffer"),
                     ("server_output_buffer", "server_default_output_buffer"),
                     ("server_idle_bytes_4k_buffers", "server_4k_allocated"),
                     ("server_released_bytes", "server_default_released_allocated"),
                     ("server_released_rss_bytes", "rss_released_per_session_bytes"),
                     ("client_idle_bytes", "client_default_allocated"),
                     ("client_released_bytes", "client_default_released_allocated")):
        if src in m:
            fig[key] = int(m[src])
    return fig


def p_memory_idle(a: Agg, n: int) -> tuple:
    srv = a["server_idle_bytes"]
    value = f"server {srv:.0f} B"
    if "server_input_buffer" in a:
        value += f" (buffers {a['server_input_buffer']:.0f}+{a['server_output_buffer']:.0f})"
    if "server_idle_bytes_4k_buffers" in a:
        value += f", {a['server_idle_bytes_4k_buffers']:.0f} B with 4 KiB buffers"
    if "client_idle_bytes" in a:
        value += f", client {a['client_idle_bytes']:.0f} B"
    # Not judged: the same server session idle after smtpcore_server_release_idle().
    if "server_released_bytes" in a:
        value += f"; idle after release {a['server_released_bytes']:.0f} B"
        if "server_released_rss_bytes" in a:
            value += f" (RSS {a['server_released_rss_bytes']:.0f} B each)"
    # ... and the client after smtpcore_client_release_idle().
    if "client_released_bytes" in a:
        value += f"; client after release {a['client_released_bytes']:.0f} B"
    return value, target("server <= 2 KiB", 2048 / srv if srv else 0)


def x_memory_rss(raw: Raw) -> dict:
    m = kv(raw.read("bench_memory"))
    if "rss_delta_kib" not in m:
        raise Missing(m.get("rss_error", "no rss_delta_kib"))
    return {"sessions": int(m["rss_sessions"]), "rss_delta_mib": int(m["rss_delta_kib"]) / 1024,
            "rss_bytes_per_session": float(m.get("rss_per_session_bytes", 0))}


def p_memory_rss(a: Agg, n: int) -> tuple:
    mib, sessions = a["rss_delta_mib"], a["sessions"]
    value = (f"{a.f('rss_delta_mib', '.0f')} MiB for {sessions:.0f} sessions "
             f"({a['rss_bytes_per_session']:.0f} B each)")
    scaled = mib * 100000 / sessions if sessions else float("inf")
    return value, target("< 256 MiB", 256 / scaled if scaled else 0)


def x_client_engine(raw: Raw) -> dict:
    t = raw.read("bench_client")
    return {"tx_per_s": find(t, NUM + r"\s*tx/s", "tx/s"),
            "ns_per_tx": find(t, NUM + r"\s*ns/tx", "ns/tx"),
            "allocations": find(t, r"allocations during [0-9]+ tx:\s*" + NUM, "allocations")}


def p_client_engine(a: Agg, n: int) -> tuple:
    return (f"{a.f('ns_per_tx', '.0f')} ns/tx, {a['tx_per_s'] / 1e3:.0f} k tx/s, "
            f"{a['allocations']:g} allocations"), None


# -- 6, 6b: servers under smtp-source (bench/sink_vs_postfix.sh, bench/lmtp.sh)

SHAPES = (("d", "-d"), ("c", "conn/msg"))


# The pipelined shape (bench_loadgen) of sink_vs_postfix.sh: shown, not judged.
PAIR_SHAPES = SHAPES + (("p", "pipelined"),)


def x_pair(raw: Raw, name: str) -> dict:
    """One round of sink_vs_postfix.sh/lmtp.sh: per shape, both servers' figures and the
    round's ratios (ours over theirs in the same round). When the round also ran the floor
    (bench/bench_floor_sink: canned replies, no SMTP engine), its figures and its ratios
    to theirs too: {shape}_floor_cpu_ratio is the lowest CPU ratio any server reached."""
    lines = measured(raw.read(name))
    fig = {}
    for key, shape in PAIR_SHAPES:
        ours, theirs = lines.get(f"{shape} smtpcore-sink"), lines.get(f"{shape} smtp-sink")
        if not ours or not theirs:
            continue
        floor = lines.get(f"{shape} floor")
        for who, v in (("ours", ours), ("theirs", theirs), ("floor", floor)):
            if v:
                fig.update({f"{key}_{who}_msgs_per_s": v[0], f"{key}_{who}_cpu_us": v[1],
                            f"{key}_{who}_gen_cpu_us": v[2], f"{key}_{who}_busy": v[3],
                            f"{key}_{who}_gen_busy": v[4]})
        fig[f"{key}_msgs_ratio"] = ours[0] / theirs[0]
        fig[f"{key}_cpu_ratio"] = ours[1] / theirs[1]
        if floor:
            fig[f"{key}_floor_msgs_ratio"] = floor[0] / theirs[0]
            fig[f"{key}_floor_cpu_ratio"] = floor[1] / theirs[1]
    if not fig:
        raise Missing(f"{name} output not understood")
    return fig


def describe_pair(a: Agg, theirs_name: str) -> str:
    parts = []
    for key, shape in PAIR_SHAPES:
        if f"{key}_cpu_ratio" not in a:
            continue
        if key == "p":
            shape = "pipelined (bench_loadgen, not judged)"
        if f"{key}_floor_cpu_ratio" in a:
            # ours X, floor Y, theirs Z: the floor is what the load alone costs a server.
            text = (f"{shape}: server CPU/msg ours {a[f'{key}_ours_cpu_us']:.1f}, floor "
                    f"{a[f'{key}_floor_cpu_us']:.1f}, {theirs_name} "
                    f"{a[f'{key}_theirs_cpu_us']:.1f} us = ours {a.f(f'{key}_cpu_ratio')}x, "
                    f"floor {a.f(f'{key}_floor_cpu_ratio')}x; msg/s ours "
                    f"{a[f'{key}_ours_msgs_per_s']:.0f}, floor "
                    f"{a[f'{key}_floor_msgs_per_s']:.0f}, {theirs_name} "
                    f"{a[f'{key}_theirs_msgs_per_s']:.0f} = ours {a.f(f'{key}_msgs_ratio')}x")
        else:
            text = (f"{shape}: server CPU/msg {a[f'{key}_ours_cpu_us']:.1f} vs "
                    f"{a[f'{key}_theirs_cpu_us']:.1f} us = {a.f(f'{key}_cpu_ratio')}x, msg/s "
                    f"{a[f'{key}_ours_msgs_per_s']:.0f} vs "
                    f"{a[f'{key}_theirs_msgs_per_s']:.0f} = {a.f(f'{key}_msgs_ratio')}x")
        gen = max(a[f"{key}_ours_gen_busy"], a[f"{key}_theirs_gen_busy"])
        text += (f", generator {a[f'{key}_ours_gen_cpu_us']:.0f} us/msg, busy "
                 f"{gen:.0f}%")
        if gen >= 90:
            text += " (generator-bound: msg/s is its ceiling)"
        parts.append(text)
    return f"ours vs {theirs_name}; " + "; ".join(parts)


def p_sink(a: Agg, n: int) -> tuple:
    value = describe_pair(a, "smtp-sink")
    need = [k for k in ("d_cpu_ratio", "c_cpu_ratio", "d_msgs_ratio", "c_msgs_ratio")
            if k not in a]
    if need:
        return value + f" (missing {', '.join(need)})", target("both shapes", 0.0)
    score = min(0.5 / a["d_cpu_ratio"], 0.5 / a["c_cpu_ratio"], a["d_msgs_ratio"],
                a["c_msgs_ratio"])
    text = "CPU/msg <= 0.5x and msg/s >= 1.0x, both smtp-source shapes"
    # The verdict stays on the target; when the floor itself is above it, say so.
    bounded = [f"{a[f'{k}_floor_cpu_ratio']:.2f}x ({shape})" for k, shape in SHAPES
               if f"{k}_floor_cpu_ratio" in a and a[f"{k}_floor_cpu_ratio"] > 0.5
               and a[f"{k}_cpu_ratio"] > 0.5]
    if score < 1.0 and bounded:
        text += ("; not met: bounded, a server that parses nothing uses "
                 + ", ".join(bounded))
    return value, target(text, score)


def p_lmtp(a: Agg, n: int) -> tuple:
    value = describe_pair(a, "smtp-sink -L")
    if "d_msgs_ratio" not in a:
        return value, target("msg/s >= 1.0x (-d)", 0.0)
    return value, target("msg/s >= 1.0x (-d)", a["d_msgs_ratio"])


# -- 7a, 7b: Python (bench/python/bench_aio.py)

# The Python floor of each row (bench_aio.py --floor): a bare BufferedProtocol with canned
# replies on the same event loop, under the same load in the same round.
PYTHON_FLOOR = {"smtpcore": "python-floor", "smtpcore-uvloop": "python-floor-uvloop"}


def x_python_server(raw: Raw, ours_label: str) -> dict:
    lines = measured(raw.read("python"))
    ours, theirs = lines.get(f"server {ours_label}"), lines.get("server aiosmtpd")
    if not ours or not theirs:
        t = raw.read("python")
        m = re.search(r"^server " + re.escape(ours_label) + r"\s+(n/a.*)$", t, re.M)
        raise Missing(m.group(1)[5:-1] if m else f"no 'server {ours_label}' line")
    fig = {}
    for who, v in (("ours", ours), ("theirs", theirs)):
        fig.update({f"{who}_msgs_per_s": v[0], f"{who}_cpu_us": v[1], f"{who}_gen_cpu_us": v[2],
                    f"{who}_busy": v[3], f"{who}_gen_busy": v[4]})
    fig["msgs_ratio"] = ours[0] / theirs[0]
    fig["cpu_ratio"] = theirs[1] / ours[1]  # > 1: ours uses less CPU per message
    po, pt = lines.get(f"pipelined {ours_label}"), lines.get("pipelined aiosmtpd")
    if po and pt:  # bench_loadgen: not judged, shown
        fig.update(p_ours_msgs_per_s=po[0], p_theirs_msgs_per_s=pt[0],
                   p_msgs_ratio=po[0] / pt[0], p_cpu_ratio=pt[1] / po[1])
    floor = lines.get("server smtpcore-sink")
    if floor:  # the C sink under the same load: what the kernel alone costs a server
        fig["floor_cpu_us"] = floor[1]
        fig["floor_cpu_ratio"] = theirs[1] / floor[1]
    pyfloor = lines.get(f"server {PYTHON_FLOOR.get(ours_label, '')}")
    if pyfloor:  # the least any Python server on this loop can do under this load
        fig.update(pyfloor_msgs_per_s=pyfloor[0], pyfloor_cpu_us=pyfloor[1],
                   pyfloor_gen_busy=pyfloor[4], pyfloor_cpu_ratio=theirs[1] / pyfloor[1],
                   pyfloor_msgs_ratio=pyfloor[0] / theirs[0])
    return fig


def python_server_present(x: float) -> Callable:
    def present(a: Agg, n: int) -> tuple:
        value = (f"msg/s {a['ours_msgs_per_s']:.0f} vs {a['theirs_msgs_per_s']:.0f} = "
                 f"{a.f('msgs_ratio')}x; server CPU/msg {a['ours_cpu_us']:.0f} vs "
                 f"{a['theirs_cpu_us']:.0f} us = {a.f('cpu_ratio')}x less; server busy "
                 f"{a['ours_busy']:.0f}%, generator {a['ours_gen_busy']:.0f}%")
        if a["ours_gen_busy"] >= 90:
            value += " (generator-bound: compare CPU/msg)"
        if "p_msgs_ratio" in a:
            value += (f"; pipelined (bench_loadgen, not judged): msg/s "
                      f"{a['p_ours_msgs_per_s']:.0f} vs {a['p_theirs_msgs_per_s']:.0f} = "
                      f"{a.f('p_msgs_ratio')}x, server CPU/msg {a.f('p_cpu_ratio')}x less")
        if "pyfloor_cpu_us" in a:
            value += (f"; Python floor on this loop: {a['pyfloor_cpu_us']:.0f} us/msg, at most "
                      f"{a.f('pyfloor_cpu_ratio')}x less than aiosmtpd; msg/s at most "
                      f"{a.f('pyfloor_msgs_ratio')}x")
        if "floor_cpu_us" in a:
            value += (f"; C floor: smtpcore-sink {a['floor_cpu_us']:.0f} us/msg, so at most "
                      f"{a.f('floor_cpu_ratio')}x less than aiosmtpd for any server")
        score = min(a["msgs_ratio"], a["cpu_ratio"]) / x
        # The verdict stays on our medians; a floor below the target (on its median) says
        # that no Python server on this loop could have met it under this load.
        short = [f"{a[key]:.2f}x on {what}" for key, what in
                 (("pyfloor_msgs_ratio", "msg/s"), ("pyfloor_cpu_ratio", "CPU/msg"))
                 if key in a and a[key] < x]
        bound = ("the Python floor on this loop reaches only " + " and ".join(short)
                 if short else "")
        return value, target(f">= {x:g}x aiosmtpd in msg/s and in server CPU/msg", score,
                             bound)
    return present


CLIENT_LINE = re.compile(r"^client (\S+)\s+(\S+)\s+" + NUM + r" msg/s " + NUM + r" us CPU/msg",
                         re.M)


def x_python_client(raw: Raw) -> dict:
    c = {m.group(1): (float(m.group(3)), float(m.group(4)))
         for m in CLIENT_LINE.finditer(raw.read("python"))}
    if "batch-blocking-raw" not in c or "sendmail-raw" not in c:
        raise Missing("no client lines in bench_aio output")
    lib_raw, lib_msg = c["sendmail-raw"], c.get("send_message")
    fig = {"smtpcore_msgs_per_s": c["batch-blocking-raw"][0], "smtplib_msgs_per_s": lib_raw[0],
           "ratio": c["batch-blocking-raw"][0] / lib_raw[0],
           "cpu_ratio": lib_raw[1] / c["batch-blocking-raw"][1]}
    if "batch-asyncio-raw" in c:
        fig["ratio_asyncio_raw"] = c["batch-asyncio-raw"][0] / lib_raw[0]
    if lib_msg:
        for variant, key in (("batch-asyncio-message", "ratio_asyncio_emailmessage"),
                             ("loop-asyncio-message", "ratio_asyncio_send_message_loop")):
            if variant in c:
                fig[key] = c[variant][0] / lib_msg[0]
    return fig


def p_python_client(a: Agg, n: int) -> tuple:
    value = (f"{a['smtpcore_msgs_per_s']:.0f} vs smtplib {a['smtplib_msgs_per_s']:.0f} msg/s = "
             f"{a.f('ratio')}x (blocking send_many, raw bytes; client CPU {a.f('cpu_ratio')}x "
             "less)")
    for key, shown in (("ratio_asyncio_raw", "asyncio send_many raw"),
                       ("ratio_asyncio_emailmessage", "asyncio send_many EmailMessage"),
                       ("ratio_asyncio_send_message_loop", "asyncio send_message loop")):
        if key in a:
            value += f"; {shown} {a.f(key)}x"
    return value, target(">= 5x smtplib", a["ratio"] / 5)


# -- 8: LuaJIT
# bench/lua/run.sh runs PAIRS interleaved pairs (C, then LuaJIT) per round and prints each
# pair. The verdict is the median of every pair's ratio over all rounds, as every other
# row is judged on the median of one ratio per interleaved pair; the round's own summary
# (the ratio of its two sides' medians) is shown beside it.

PAIR_RE = re.compile(r"pair \d+: C " + NUM + r", LuaJIT " + NUM + r" M events/s")


def x_lua(raw: Raw) -> dict:
    t = raw.read("lua")
    fig = {"ratio_luajit_to_c": find(t, r"ratio:?\s*" + NUM, "LuaJIT/C ratio")}
    mc = re.search(r"^C\b.*?events/s=" + NUM, t, re.M)
    ml = re.search(r"^LuaJIT\b.*?events/s=" + NUM, t, re.M)
    if mc and ml:
        fig.update(c_events_per_s=float(mc.group(1)), luajit_events_per_s=float(ml.group(1)))
    pairs = [float(m.group(2)) / float(m.group(1)) for m in PAIR_RE.finditer(t)
             if float(m.group(1)) > 0]
    if pairs:
        fig["pair_ratios"] = pairs
    return fig


def p_lua(a: Agg, n: int) -> tuple:
    pairs = [r for s in a.samples for r in s.get("pair_ratios", [])]
    if pairs:
        med = statistics.median(pairs)
        value = (f"LuaJIT/C events/s {med:.2f} [{min(pairs):.2f}-{max(pairs):.2f}] over "
                 f"{len(pairs)} interleaved pairs (per round, the ratio of the two sides' "
                 f"medians: {a.f('ratio_luajit_to_c')})")
    else:
        med = a["ratio_luajit_to_c"]
        value = f"LuaJIT/C events/s {a.f('ratio_luajit_to_c')}"
    if "c_events_per_s" in a:
        value += (f" ({a['luajit_events_per_s'] / 1e6:.2f} vs {a['c_events_per_s'] / 1e6:.2f}"
                  " M events/s)")
    return value, target(">= 0.9 of C", med / 0.9)


# -- 9: Python server RSS per idle connection (bench/python/idle_rss.py)

def x_idle_rss(raw: Raw) -> dict:
    """bench/python/idle_rss.py: '<name> N idle connections (...): RSS ... X KiB per connection'."""
    t = raw.read("idle_rss")
    ours = find(t, r"^smtpcore\s.*?" + NUM + r"\s*KiB per connection", "smtpcore KiB/conn", re.M)
    theirs = find(t, r"^aiosmtpd\s.*?" + NUM + r"\s*KiB per connection", "aiosmtpd KiB/conn", re.M)
    fig = {"smtpcore_kib_per_conn": ours, "aiosmtpd_kib_per_conn": theirs,
           "ratio": ours / theirs}
    optional(fig, "connections", lambda: find(t, r"([0-9]+) idle connections", "connections"))
    optional(fig, "floor_kib_per_conn",
             lambda: find(t, r"^asyncio-floor\s.*?" + NUM + r"\s*KiB per connection",
                          "asyncio-floor KiB/conn", re.M))
    if "floor_kib_per_conn" in fig:
        fig["floor_ratio"] = fig["floor_kib_per_conn"] / theirs
    return fig


def p_idle_rss(a: Agg, n: int) -> tuple:
    value = (f"{a.f('smtpcore_kib_per_conn', '.1f')} vs aiosmtpd "
             f"{a.f('aiosmtpd_kib_per_conn', '.1f')} KiB per idle connection = {a.f('ratio')}x")
    if "connections" in a:
        value += f" ({a['connections']:.0f} connections)"
    if "floor_kib_per_conn" in a:
        value += (f"; a bare asyncio Protocol holds {a.f('floor_kib_per_conn', '.1f')} KiB"
                  f" = {a.f('floor_ratio')}x")
    return value, target("<= 0.25x aiosmtpd", 0.25 / a["ratio"] if a["ratio"] > 0 else 99.0)


# -- 9a, 9b: deployment shapes (bench/deploy.sh)

def x_workers(raw: Raw) -> dict:
    d = measured(raw.read("deploy"))
    fig = {}
    for key, sfx in SHAPES:
        one = d.get(f"smtpcore-sink --workers 1 ({sfx})")
        two = d.get(f"smtpcore-sink --workers 2 (reuseport) ({sfx})")
        shared = d.get(f"smtpcore-sink --workers 2 shared socket ({sfx})")
        if one and two:
            fig.update({f"{key}_w1_msgs_per_s": one[0], f"{key}_w2_msgs_per_s": two[0],
                        f"{key}_w1_cpu_us": one[1], f"{key}_w2_cpu_us": two[1],
                        f"{key}_ratio": two[0] / one[0], f"{key}_cpu_ratio": two[1] / one[1]})
            if shared:
                fig[f"{key}_shared_ratio"] = shared[0] / one[0]
    if "d_ratio" not in fig:
        raise Missing("no --workers lines in deploy output")
    return fig


def p_workers(a: Agg, n: int) -> tuple:
    parts = []
    for key, sfx in SHAPES:
        if f"{key}_ratio" in a:
            text = (f"{sfx}: {a[f'{key}_w2_msgs_per_s']:.0f} vs {a[f'{key}_w1_msgs_per_s']:.0f} "
                    f"msg/s = {a.f(f'{key}_ratio')}x, server CPU/msg {a[f'{key}_w2_cpu_us']:.1f}"
                    f" vs {a[f'{key}_w1_cpu_us']:.1f} us")
            if f"{key}_shared_ratio" in a:
                text += f", shared socket {a.f(f'{key}_shared_ratio')}x"
            parts.append(text)
    return "; ".join(parts), None


def x_haproxy(raw: Raw) -> dict:
    t = raw.read("deploy")
    d = measured(t)
    fig = {}
    for key, sfx in SHAPES:
        direct = d.get(f"direct to smtpcore-sink ({sfx})")
        behind = d.get(f"through HAProxy (send-proxy-v2) ({sfx})")
        hap = d.get(f"HAProxy's own CPU in that path ({sfx})")
        if direct and behind:
            fig.update({f"{key}_direct_msgs_per_s": direct[0], f"{key}_haproxy_msgs_per_s": behind[0],
                        f"{key}_ratio": behind[0] / direct[0], f"{key}_direct_cpu_us": direct[1],
                        f"{key}_behind_cpu_us": behind[1]})
            if hap:
                fig[f"{key}_haproxy_cpu_us"] = hap[1]
    if not fig:
        m = re.search(r"^haproxy: (n/a.*)$", t, re.M)
        raise Missing(m.group(1)[5:-1] if m else "no HAProxy lines in deploy output")
    return fig


def p_haproxy(a: Agg, n: int) -> tuple:
    parts = []
    for key, sfx in SHAPES:
        if f"{key}_ratio" in a:
            text = (f"{sfx}: {a[f'{key}_haproxy_msgs_per_s']:.0f} vs "
                    f"{a[f'{key}_direct_msgs_per_s']:.0f} msg/s = {a.f(f'{key}_ratio')}x, sink "
                    f"CPU/msg {a[f'{key}_behind_cpu_us']:.1f} vs {a[f'{key}_direct_cpu_us']:.1f} us")
            if f"{key}_haproxy_cpu_us" in a:
                text += f", HAProxy itself {a[f'{key}_haproxy_cpu_us']:.1f} us"
            parts.append(text)
    return "; ".join(parts), None


ROWS = [
    ("1", "server session, pipelined MAIL/RCPT/RSET", x_commands, p_commands),
    ("2", "DATA unstuffing + end-of-data (sc_unstuff_next)", x_unstuff, p_unstuff),
    ("2b", "same through a server session (DATA, 64 MiB)", x_session_data, p_session_data),
    ("3", "client dot-stuffing + CRLF normalisation", x_stuff, p_stuff),
    ("4", "reply parsing, 12-line EHLO reply", x_reply, p_reply),
    ("5a", "memory per idle session (state + default buffers)", x_memory_idle, p_memory_idle),
    ("5b", "RSS, 100k server sessions mid-DATA", x_memory_rss, p_memory_rss),
    ("6", "smtpcore-sink vs Postfix smtp-sink (smtp-source)",
     lambda r: x_pair(r, "sink_vs_postfix"), p_sink),
    ("6b", "smtpcore-sink --lmtp vs smtp-sink -L (smtp-source -L)",
     lambda r: x_pair(r, "lmtp"), p_lmtp),
    ("7a", "Python asyncio server vs aiosmtpd",
     lambda r: x_python_server(r, "smtpcore"), python_server_present(4)),
    ("7u", "Python server on uvloop (optional) vs aiosmtpd",
     lambda r: x_python_server(r, "smtpcore-uvloop"), python_server_present(6)),
    ("7b", "Python client vs smtplib", x_python_client, p_python_client),
    ("8", "LuaJIT FFI binding vs C, same event loop", x_lua, p_lua),
    ("9", "Python server RSS per idle connection vs aiosmtpd", x_idle_rss, p_idle_rss),
    ("9a", "smtpcore-sink --workers 2 vs 1 (smtp-source)", x_workers, p_workers),
    ("9b", "through HAProxy vs direct", x_haproxy, p_haproxy),
    ("i", "(info) client engine, pipelined 3-RCPT transactions", x_client_engine,
     p_client_engine),
]

MAX_ROUNDS = 100


def build_row(raw_dir: str, rid: str, name: str, extract: Callable, present: Callable) -> dict:
    samples, reasons = [], []
    for k in range(MAX_ROUNDS):
        raw = Raw(raw_dir, k)
        try:
            samples.append(extract(raw))
        except Missing as e:
            reasons.append(str(e))
            if raw.beyond:
                break
        except (ValueError, ZeroDivisionError, KeyError) as e:
            reasons.append(f"parse error: {e}")
    if not samples:
        return {"id": rid, "name": name, "value": f"n/a ({reasons[0] if reasons else '?'})",
                "figures": {}, "target": None, "missing": True}
    agg = Agg(samples)
    try:
        value, tgt = present(agg, len(samples))
    except (KeyError, ZeroDivisionError) as e:
        return {"id": rid, "name": name, "value": f"n/a (figure missing: {e})",
                "figures": {}, "target": None, "missing": True, "samples": samples}
    row = {"id": rid, "name": name, "value": value, "rounds": len(samples),
           "figures": agg.med, "range": {k: list(v) for k, v in agg.rng.items()},
           "samples": samples, "target": tgt}
    if tgt:
        # Each round judged alone too: the chart shows the spread of the verdicts.
        scores = []
        for s in samples:
            try:
                _, t = present(Agg([s]), 1)
                scores.append(t["score"] if t else None)
            except (KeyError, ZeroDivisionError):
                scores.append(None)
        row["sample_scores"] = scores
    return row


def build_rows(raw_dir: str) -> list:
    return [build_row(raw_dir, *r) for r in ROWS]


# ---------------------------------------------------------------------------- output

def print_table(rows: list) -> None:
    w_id, w_name = 3, max(len(r["name"]) for r in rows)
    w_val = 100
    head = f"{'#':<{w_id}} {'benchmark':<{w_name}}  {'result: median [min-max] over the rounds':<{w_val}}  target"
    print(head)
    print("-" * len(head) + "-" * 30)
    for r in rows:
        t = r.get("target")
        verdict = verdict_text(t, "MET", "NOT MET") if t else ""
        value = r["value"] + (f" (n={r['rounds']})" if r.get("rounds") else "")
        lines = []
        while len(value) > w_val:
            cut = value.rfind(" ", 0, w_val)
            cut = cut if cut > 0 else w_val
            lines.append(value[:cut])
            value = value[cut:].lstrip()
        lines.append(value)
        print(f"{r['id']:<{w_id}} {r['name']:<{w_name}}  {lines[0]:<{w_val}}  {verdict}")
        for more in lines[1:]:
            print(f"{'':<{w_id}} {'':<{w_name}}  {more}")


SHORT = {"1": "instr/command", "2": "unstuff/memchr", "3": "stuff/memcpy", "5a": "idle bytes",
         "5b": "RSS 100k", "6": "sink/Postfix", "6b": "LMTP sink/Postfix",
         "7a": "py server/aiosmtpd", "7u": "uvloop/aiosmtpd", "7b": "py client/smtplib",
         "8": "LuaJIT/C", "9": "py idle RSS"}


def markdown_table(rows: list) -> str:
    out = ["| # | benchmark | result: median [min-max] | target |", "|---|---|---|---|"]
    for r in rows:
        t = r.get("target")
        verdict = verdict_text(t, "**met**", "**not met**") if t else ""
        n = f" (n={r['rounds']})" if r.get("rounds") else ""
        out.append(f"| {r['id']} | {r['name']} | {r['value'].replace('|', '/')}{n} | {verdict} |")
    return "\n".join(out) + "\n"


def write_chart(rows: list, out_dir: str) -> str:
    """A bar per target at the median score (achieved / target, log scale, 1.0 = met) and
    a point per round, so the spread is visible."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return "gnuplot not found"
    scored = [r for r in rows if r.get("target")]
    if not scored:
        return "no targets to plot"
    data = os.path.join(out_dir, "latest.dat")
    points = os.path.join(out_dir, "latest-samples.dat")
    with open(data, "w", encoding="utf-8") as f, open(points, "w", encoding="utf-8") as g:
        for i, r in enumerate(scored):
            score = max(r["target"]["score"], 1e-3)
            met = 1 if r["target"]["met"] else 0
            label = f"{r['id']} {SHORT.get(r['id'], r['name'][:20])}".replace('"', "'")
            f.write(f'{i} {score:.4f} {met} "{label}"\n')
            for s in r.get("sample_scores") or []:
                if s is not None:
                    g.write(f"{i} {max(s, 1e-3):.4f}\n")
    png = os.path.join(out_dir, "latest.png")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plot.gp")
    try:
        subprocess.run([gnuplot, "-e", f"datafile='{data}'; samplefile='{points}'; "
                        f"outfile='{png}'", script],
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
    print(f"\ntargets met on the median: {met} of {len(targets)} measured "
          f"({sum(1 for r in rows if r.get('missing'))} rows n/a)")
    meta = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "loadavg_at_report": os.getloadavg()}
    for key, fname in (("loadavg_at_start", "loadavg.txt"), ("run", "run.txt")):
        path = os.path.join(raw, fname)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            meta[key] = text.split()[:3] if key == "loadavg_at_start" else kv(text)
    run = meta.get("run", {})
    if run.get("seconds"):
        print(f"bench/run: {run.get('rounds', '?')} rounds, {float(run['seconds']) / 60:.1f} "
              f"minutes{' (--quick)' if run.get('quick') == '1' else ''}")
    print(f"machine: {meta['cpus']} CPUs, load average at start "
          f"{' '.join(meta.get('loadavg_at_start', ['?']))}, at end "
          f"{' '.join('%.2f' % x for x in meta['loadavg_at_report'])} "
          "(other load inflates absolute times; pairs are interleaved within each round)")
    try:
        meta["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True, timeout=10,
                                     cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except OSError:
        pass
    with open(os.path.join(out_dir, "latest.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
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
