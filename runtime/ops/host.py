"""Load of the machine the core runs on, read from Linux's /proc and /sys (the container is Linux;
elsewhere the numbers are zero rather than an error).

CPU use is the share of non-idle time between two readings of /proc/stat, so a ``HostProbe`` keeps
the previous reading; the first reading compares against boot.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HostLoad:
    cpu_percent: float
    memory_percent: float
    memory_used_bytes: int
    disk_percent: float
    cpu_temp_c: float | None


def _cpu_times(proc: Path) -> tuple[int, int] | None:
    """(busy, total) jiffies since boot from the first line of /proc/stat."""
    try:
        fields = (proc / "stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    values = [int(v) for v in fields[:8]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def _memory(proc: Path) -> tuple[float, int]:
    info: dict[str, int] = {}
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            info[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return 0.0, 0
    total = info.get("MemTotal", 0)
    used = total - info.get("MemAvailable", info.get("MemFree", 0))
    return (round(100.0 * used / total, 1) if total else 0.0), max(used, 0)


def _disk(path: str) -> float:
    try:
        st = os.statvfs(path)
    except OSError:
        return 0.0
    total = st.f_blocks * st.f_frsize
    return round(100.0 * (total - st.f_bavail * st.f_frsize) / total, 1) if total else 0.0


def _temperature(sys_root: Path) -> float | None:
    """The hottest thermal zone in °C, or None where the host exposes none (most VMs)."""
    readings = []
    for zone in sys_root.glob("class/thermal/thermal_zone*/temp"):
        try:
            readings.append(int(zone.read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    return round(max(readings), 1) if readings else None


class HostProbe:
    def __init__(self, proc: Path = Path("/proc"), sys_root: Path = Path("/sys"), disk_path: str = "/"):
        self.proc, self.sys_root, self.disk_path = proc, sys_root, disk_path
        self._last: tuple[int, int] | None = None

    def read(self) -> HostLoad:
        now = _cpu_times(self.proc)
        cpu = 0.0
        if now is not None:
            busy0, total0 = self._last or (0, 0)
            if now[1] > total0:
                cpu = round(100.0 * (now[0] - busy0) / (now[1] - total0), 1)
            self._last = now
        memory_percent, memory_used = _memory(self.proc)
        return HostLoad(cpu_percent=max(0.0, min(cpu, 100.0)), memory_percent=memory_percent,
                        memory_used_bytes=memory_used, disk_percent=_disk(self.disk_path),
                        cpu_temp_c=_temperature(self.sys_root))
