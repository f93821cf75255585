"""CPU seconds used by a process and all its descendants (Linux /proc), to see who the bottleneck is."""
from __future__ import annotations

import os
from typing import Mapping

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _table() -> tuple[dict[int, list[int]], dict[int, float]]:
    children: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:  # gone meanwhile
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        used[pid] = (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
    return children, used


def cpu_seconds(pids: Mapping[str, int]) -> dict[str, float]:
    """name -> CPU seconds of that process tree so far (threads included; exited children are not)."""
    if not os.path.isdir("/proc"):
        return {}
    children, used = _table()
    totals = {}
    for name, root in pids.items():
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            total += used.get(pid, 0.0)
            todo += children.get(pid, [])
        totals[name] = total
    return totals
