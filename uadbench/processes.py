"""Telling a live uadbench process from a dead one, for the files it leaves behind.

A ``running`` record and a half-built cache folder carry the identity of the process that made
them: its pid and host, and on Linux the boot and the process's start time, which tell a
reused pid apart. Readers compute from it whether the work is still going on.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any


def process_info() -> dict[str, Any]:
    """This process: pid and host, and (on Linux) its boot and start time."""
    return {"pid": os.getpid(), "host": socket.gethostname(), **_identity(os.getpid())}


def _identity(pid: int) -> dict[str, str]:
    """The boot id and start time (clock ticks since boot) of ``pid``; empty without /proc."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return {}
    # fields after the parenthesised command name start at field 3; start time is field 22
    return {"boot": boot, "start": stat.rsplit(")", 1)[1].split()[19]}


def is_alive(process: dict[str, Any]) -> bool:
    """Whether the process ``process_info`` described is still running (on another host: we
    cannot tell, so yes)."""
    if process.get("host") != socket.gethostname():
        return True
    pid = process.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False  # no process of its own (0 and -1 would signal a whole group)
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass  # the pid exists, under another user
    except (OSError, OverflowError):
        return False
    current = _identity(pid)
    return all(current.get(key) == process[key] for key in ("boot", "start") if key in process)
