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

DEFAULT_SAMPLE_SECONDS = 10.0


def sample_seconds() -> float:
    """Sampling period: ``PIPETRACK_MONITOR_SECONDS`` (default 10 s), read when a monitor starts."""
    raw = os.environ.get("PIPETRACK_MONITOR_SECONDS")
    try:
        return max(0.05, float(raw)) if raw else DEFAULT_SAMPLE_SECONDS
    except ValueError:
        from ..errors import ValidationError
        raise ValidationError(f"PIPETRACK_MONITOR_SECONDS={raw!r} is not a number of seconds") from None


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
    """A daemon thread sampling this process and machine every ``interval`` seconds."""

    def __init__(self, task: Any, interval: Optional[float] = None):
        self.task = task
        self.interval = interval if interval is not None else sample_seconds()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipetrack-monitor", daemon=True)
        self._start = time.time()

    def start(self) -> "ResourceMonitor":
        self._thread.start()
        return self

    def sample(self) -> None:
        """Report one sample as ``:monitor:*`` scalars (iteration = seconds since the start)."""
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
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def start_resource_monitor(task: Any, option: Any) -> Optional[ResourceMonitor]:
    """Start the monitor (``option`` may be True or a ResourceMonitor subclass)."""
    cls = option if isinstance(option, type) and issubclass(option, ResourceMonitor) else ResourceMonitor
    return cls(task).start()
