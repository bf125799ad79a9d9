"""Start a real `loss-service serve` process on a free port for tests, and stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _drain(proc: subprocess.Popen) -> None:
    if proc.stdout is None:
        return
    try:
        while proc.stdout.read(65536):
            pass
    except (OSError, ValueError):  # closed when the server is stopped
        pass


@contextmanager
def running_server(*args: str, env: dict[str, str] | None = None,
                   ready_timeout: float = 90.0) -> Iterator[tuple[str, subprocess.Popen]]:
    """Yield (base url, process) once /readyz answers 200; terminate it afterwards."""
    port = free_port()
    full_env = {**os.environ, "LOSS_SERVICE_LOG_LEVEL": "warning", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), *args],
        env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"server did not become ready:\n{out}")
            time.sleep(0.2)
        # Read the server's output from now on: a pipe nobody reads fills at 64 KiB and then
        # blocks the server on its next log line (a test that makes it log a lot would hang).
        threading.Thread(target=_drain, args=(proc,), daemon=True).start()
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()
