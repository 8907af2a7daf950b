"""Telling a live uadbench process from a dead one, for the files it leaves behind.

A ``running`` record, a claim on a cell and a half-built cache folder carry the identity of the
process that made them: its pid and host, and the time it started (from psutil), which tells a
reused pid apart. Readers compute from it whether the work is still going on; a process on
another host cannot be looked at from here (claims go by their heartbeat instead).
"""

from __future__ import annotations

import os
import socket
from typing import Any

import psutil

START_TOLERANCE_S = 0.05
"""How far two readings of one process's start time may lie apart (the system reports it in
clock ticks, 1/100 s)."""


def this_host() -> str:
    """The name of this machine, as processes and claims record it."""
    return socket.gethostname()


def process_info() -> dict[str, Any]:
    """This process: pid, host and the time it started (seconds since the epoch)."""
    return {"pid": os.getpid(), "host": this_host(), "started": psutil.Process().create_time()}


def is_alive(process: dict[str, Any]) -> bool:
    """Whether the process ``process_info`` described is still running (on another host: we
    cannot tell, so yes)."""
    if process.get("host") != this_host():
        return True
    pid = process.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False  # no process of its own (0 and -1 would signal a whole group)
    try:
        found = psutil.Process(pid)
        started, status = found.create_time(), found.status()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # the pid exists, under another user
    if status == psutil.STATUS_ZOMBIE:
        return False  # it has ended; only its exit status waits to be collected
    return abs(started - _recorded_start(process, started)) <= START_TOLERANCE_S


def _recorded_start(process: dict[str, Any], now: float) -> float:
    """When the recorded process started: ``started``, or from the boot time and clock ticks
    that records made before 2026-12 kept (``start``); ``now`` when neither is there."""
    if isinstance(process.get("started"), int | float):
        return float(process["started"])
    if isinstance(process.get("start"), str) and process["start"].isdigit():
        return psutil.boot_time() + int(process["start"]) / os.sysconf("SC_CLK_TCK")
    return now
