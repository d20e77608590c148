#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Runs one load generator against a running server and prints what it cost both sides.

    bench/measure.py --messages N --server-pid PID[,PID...] -- GENERATOR ARGS...

Prints one line:

    <msgs/s> msg/s <server us> us server CPU/msg <generator us> us generator CPU/msg
    <server busy>% server busy <generator busy>% generator busy

- msgs/s: N over the wall-clock time of the generator run.
- server CPU: on-CPU time of the server processes (each PID, its threads and its children,
  such as sink workers) from the kernel's own accounting, read just before and just after
  the run: /proc/PID/task/*/schedstat (nanoseconds), or utime+stime of /proc/PID/stat
  (clock ticks) where schedstat is missing. It does not depend on the generator's speed.
- generator CPU: user+system time of the generator process (wait4's rusage).
- busy: CPU time over wall time, in % of one core. A generator near 100% is the ceiling:
  the server is then faster than the figure says, and only the CPU per message compares.

Exits with the generator's status when it fails. Standard library only; asserts nothing.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                    out += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def _task_ns(pid: int) -> int:
    """On-CPU nanoseconds of every thread of pid (0 if it is gone)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
                continue
        except (OSError, ValueError, IndexError):
            pass
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) * 10**9 // os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
    return total


def cpu_ns(pids: list[int]) -> int:
    """On-CPU nanoseconds so far of the processes, their threads and their live children."""
    seen: set[int] = set()
    todo = list(pids)
    total = 0
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        total += _task_ns(p)
        todo += _children(p)
    return total


def main() -> int:
    args = sys.argv[1:]
    if "--" not in args:
        print(__doc__, file=sys.stderr)
        return 64
    cut = args.index("--")
    opts, cmd = args[:cut], args[cut + 1:]
    messages, pids = 0, []
    i = 0
    while i < len(opts):
        if opts[i] == "--messages":
            messages = int(opts[i + 1])
        elif opts[i] == "--server-pid":
            pids = [int(p) for p in opts[i + 1].split(",") if p]
        else:
            print(f"measure.py: unknown option {opts[i]}", file=sys.stderr)
            return 64
        i += 2
    if messages <= 0 or not pids or not cmd:
        print(__doc__, file=sys.stderr)
        return 64
    c0 = cpu_ns(pids)
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    c1 = cpu_ns(pids)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"measure.py: {cmd[0]} exited with {code}", file=sys.stderr)
        return code if code > 0 else 1
    server = (c1 - c0) / 1e9
    gen = usage.ru_utime + usage.ru_stime
    print(f"{messages / wall:.0f} msg/s {server / messages * 1e6:.1f} us server CPU/msg "
          f"{gen / messages * 1e6:.1f} us generator CPU/msg "
          f"{server / wall * 100:.0f}% server busy {gen / wall * 100:.0f}% generator busy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
