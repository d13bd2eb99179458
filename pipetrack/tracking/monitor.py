"""Optional resource monitor: CPU, memory (and GPU through nvidia-smi) as ``:monitor:`` scalars.

Started only when ``auto_resource_monitoring`` is truthy; when it is off nothing runs. Reads
``/proc`` directly (no psutil dependency); on systems without ``/proc`` only process CPU time
from ``os.times`` is reported.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from typing import Any, Optional

SAMPLE_SECONDS = float(os.environ.get("PIPETRACK_MONITOR_SECONDS", "10"))


def _meminfo() -> dict[str, float]:
    out = {}
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                out[key] = float(rest.split()[0]) / 1024  # MiB
    except OSError:
        pass
    return out


def _rss_mib() -> Optional[float]:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return float(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _gpu() -> list[tuple[float, float]]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [tuple(float(v) for v in line.split(",")) for line in out.strip().splitlines() if "," in line]


class ResourceMonitor:
    def __init__(self, task: Any, interval: float = SAMPLE_SECONDS):
        self.task = task
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipetrack-monitor", daemon=True)
        self._start = time.time()

    def start(self) -> "ResourceMonitor":
        self._thread.start()
        return self

    def sample(self) -> None:
        logger = self.task.get_logger()
        now = time.time()
        times = os.times()
        cpu = (times.user + times.system - self._last_cpu) / max(now - self._last_wall, 1e-6) * 100
        self._last_cpu, self._last_wall = times.user + times.system, now
        it = int(now - self._start)
        buf, tid = self.task._reports, self.task.id
        buf.add_scalar(tid, ":monitor:cpu", "process_cpu_percent", it, cpu)
        rss = _rss_mib()
        if rss is not None:
            buf.add_scalar(tid, ":monitor:memory", "process_used_mib", it, rss)
        mem = _meminfo()
        if mem.get("MemTotal"):
            buf.add_scalar(tid, ":monitor:memory", "system_used_percent", it,
                           100 * (1 - mem.get("MemAvailable", 0) / mem["MemTotal"]))
        if hasattr(os, "getloadavg"):
            buf.add_scalar(tid, ":monitor:cpu", "load_1min", it, os.getloadavg()[0])
        for index, (util, used) in enumerate(_gpu()):
            buf.add_scalar(tid, ":monitor:gpu", f"gpu_{index}_utilization", it, util)
            buf.add_scalar(tid, ":monitor:gpu", f"gpu_{index}_mem_used_mib", it, used)
        del logger

    def _run(self) -> None:
        times = os.times()
        self._last_cpu, self._last_wall = times.user + times.system, time.time()
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception:
                pass

    def stop(self) -> None:
        self._stop.set()


def start_resource_monitor(task: Any, option: Any) -> Optional[ResourceMonitor]:
    """Start the monitor (``option`` may be True or a ResourceMonitor subclass)."""
    cls = option if isinstance(option, type) and issubclass(option, ResourceMonitor) else ResourceMonitor
    return cls(task).start()
