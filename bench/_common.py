"""Shared by the suites: the machine, best-of timing, targets (PASS/short), bounded servers."""

from __future__ import annotations

import contextlib
import gc
import importlib.metadata
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load() -> str:
    """The load averages (1, 5, 15 min), as ``uptime`` prints them."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def machine_lines() -> list[str]:
    return [
        f"machine: nproc={len(os.sched_getaffinity(0))}, cpu={cpu_model()!r}, "
        f"python={platform.python_version()}, numpy={_version('numpy')}, "
        f"torch={_version('torch')}, uvicorn={_version('uvicorn')}, "
        f"httptools={_version('httptools')}, uvloop={_version('uvloop')}",
        f"load average at start: {load()}",
    ]


def header(suite: str, argv: list[str]) -> None:
    print(f"# bench {suite}: python -m bench {suite} {' '.join(argv)}".rstrip())
    for line in machine_lines():
        print(f"# {line}")
    sys.stdout.flush()


def best_time(fn: Callable[[], object], *, budget_s: float = 0.3, min_runs: int = 2,
              max_runs: int = 200) -> float:
    """Seconds of the fastest of several runs after one warm-up run.

    Runs at least ``min_runs`` times and stops once ``budget_s`` is spent (or at ``max_runs``).
    The minimum is the number least disturbed by other processes on a shared machine.
    """
    t0 = time.perf_counter()
    fn()
    warm = time.perf_counter() - t0
    runs = max(min_runs, min(max_runs, int(budget_s / max(warm, 1e-7))))
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class Targets:
    """Targets met or missed, printed as they are measured and summarized at the end."""

    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def at_least(self, what: str, ratio: float, target: float, unit: str = "x") -> str:
        ok = ratio >= target
        text = "PASS" if ok else f"short of target ({ratio:.2f}{unit} < {target:g}{unit}, " \
            f"{target / ratio:.2f}x short)" if ratio > 0 else "short of target"
        self.results.append((what, ok, f"{ratio:.2f}{unit} (target >= {target:g}{unit}): {text}"))
        return text

    def at_most(self, what: str, ratio: float, target: float, unit: str = "x") -> str:
        ok = ratio <= target
        over = f", {ratio / target:.2f}x over" if target > 0 else ""
        text = "PASS" if ok else f"short of target ({ratio:.2f}{unit} > {target:g}{unit}{over})"
        self.results.append((what, ok, f"{ratio:.2f}{unit} (target <= {target:g}{unit}): {text}"))
        return text

    def summary(self) -> int:
        passed = sum(ok for _, ok, _ in self.results)
        print(f"\ntargets: {passed} of {len(self.results)} PASS")
        for what, ok, text in self.results:
            if not ok:
                print(f"  short: {what}: {text}")
        print(f"load average at end: {load()}")
        return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(app: str, *, workers: int = 1, lifetime_s: float = 600.0, http: str = "service",
           loop: str = "auto", env: dict[str, str] | None = None,
           ready_path: str = "/readyz") -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A uvicorn server (``bench.serve``) on a free 127.0.0.1 port; yields (url, process).

    The server stops itself after ``lifetime_s`` or when this process dies; it is sent SIGTERM
    (then killed) when the block ends. Its output goes to a temporary file, shown on failure.
    """
    port = free_port()
    fd, log_path = tempfile.mkstemp(prefix="bench-server-", suffix=".log")
    cmd = [sys.executable, "-m", "bench.serve", app, "--port", str(port), "--workers",
           str(workers), "--lifetime", str(lifetime_s), "--http", http, "--loop", loop]
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=fd, stderr=subprocess.STDOUT)
    os.close(fd)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + ready_path, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server {app} did not start:\n"
                                   + Path(log_path).read_text()[-3000:])
            time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        os.unlink(log_path)


def tune_malloc() -> dict[str, int]:
    """The server's malloc tuning (``service.tuning``) in this process; {} where the service
    predates it (the suites also measure older revisions, for before/after ratios)."""
    try:
        from service.tuning import tune_malloc as tune
    except ImportError:
        return {}
    return tune()


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"
