"""Faults: a worker process killed mid-load is replaced, and the service keeps answering."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.serverutil import running_server

pytestmark = pytest.mark.slow  # real server processes

BODY = b'{"predictions": [1.0, 2.0], "targets": [0.0, 1.0]}'
JSON = {"content-type": "application/json"}


def _children(pid: int) -> set[int]:
    """Live worker processes of the supervisor ``pid`` (spawned, not zombies)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if not path.exists():
        pytest.skip("needs Linux /proc")
    workers = set()
    for child in path.read_text().split():
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"spawn_main" in cmdline and state != "Z":
            workers.add(int(child))
    return workers


def _wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_killed_worker_is_replaced_and_service_keeps_answering():
    with running_server("--workers", "2") as (url, proc):
        assert _wait_for(lambda: len(_children(proc.pid)) == 2)
        before = _children(proc.pid)
        results: list[int | str] = []
        stop = threading.Event()

        def load() -> None:  # bounded: stops on the event or after 30 s
            deadline = time.monotonic() + 30
            with httpx.Client(timeout=5) as client:
                while not stop.is_set() and time.monotonic() < deadline:
                    try:
                        results.append(client.post(f"{url}/loss/mse", content=BODY,
                                                   headers=JSON).status_code)
                    except httpx.TransportError as exc:
                        results.append(type(exc).__name__)

        t = threading.Thread(target=load)
        t.start()
        time.sleep(0.5)
        victim = sorted(before)[0]
        os.kill(victim, signal.SIGKILL)
        replaced = _wait_for(lambda: len(_children(proc.pid) - {victim}) == 2)
        n_at_replacement = len(results)
        time.sleep(1.0)
        stop.set()
        t.join(40)
        assert replaced, f"worker {victim} was not replaced: {_children(proc.pid)}"
        after_replacement = results[n_at_replacement:]
        assert after_replacement and all(r == 200 for r in after_replacement)
        errors = [r for r in results if r != 200]
        # only requests in flight on the killed worker may fail
        assert len(errors) <= 2, errors
        assert httpx.get(f"{url}/readyz").status_code == 200
