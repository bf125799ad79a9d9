"""Backend selection, the unavailable-backend error, the device worker and its 503 when full.

There is no GPU here, so the GPU path is exercised with a fake device backend that keeps arrays in
NumPy but records its copies and the thread it runs on; real CuPy is covered by the namespace-
parametrized core tests where a CUDA device exists.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import numpy as np
import pytest

from service.backends import BackendUnavailable, availability, resolve
from service.backends import registry as backend_registry
from service.backends.base import Availability, pack, unpack
from service.backends.worker import DeviceWorker, QueueFull
from service.config import Settings
from service.main import create_app

pytestmark = pytest.mark.anyio

BODY = {"predictions": [[1.0, 2.0, 0.5], [0.1, 0.2, 0.3]], "targets": [0, 2]}


class FakeDevice:
    """Available 'cupy' that stays in NumPy and records what a real device backend would do."""

    name = "cupy"

    def __init__(self, gate: threading.Event | None = None):
        self.copies_in = 0
        self.copies_out = 0
        self.threads: list[str] = []
        self.gate = gate

    def availability(self) -> Availability:
        return Availability(True, device="fake")

    def to_device(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        self.threads.append(threading.current_thread().name)
        if self.gate is not None:
            self.gate.wait(10)
        self.copies_in += 1
        buf, layout = pack(arrays)
        return unpack(buf.copy(), layout)

    def to_host(self, arrays: dict[str, Any]) -> dict[str, np.ndarray]:
        self.copies_out += 1
        return {k: np.asarray(v) for k, v in arrays.items()}


@pytest.fixture
def fake_gpu(monkeypatch):
    device = FakeDevice()
    monkeypatch.setitem(backend_registry.BACKENDS, "cupy", device)
    return device


def test_pack_roundtrip_keeps_dtypes_and_shapes():
    arrays = {"a": np.arange(6.0).reshape(2, 3), "t": np.array([1, 0, 2]),
              "s": np.float32([0.5])}
    buf, layout = pack(arrays)
    back = unpack(buf, layout)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and np.array_equal(back[k], v)


def test_resolve_without_a_gpu():
    if availability()["cupy"]["available"]:
        pytest.skip("a GPU is usable here")
    assert resolve("auto", 10**9, 1000) == "numpy"
    assert resolve("numpy", 5, 1000) == "numpy"
    with pytest.raises(BackendUnavailable) as exc:
        resolve("cupy", 5, 1000)
    assert exc.value.code == "backend_unavailable" and exc.value.reason


def test_resolve_auto_uses_the_gpu_only_for_large_requests(fake_gpu):
    assert resolve("auto", 999, 1000) == "numpy"
    assert resolve("auto", 1000, 1000) == "cupy"
    assert resolve("cupy", 1, 1000) == "cupy"


async def test_asking_for_an_unavailable_backend_is_a_4xx(client):
    if availability()["cupy"]["available"]:
        pytest.skip("a GPU is usable here")
    r = await client.post("/loss/cross_entropy", json={**BODY, "backend": "cupy"})
    assert r.status_code == 422
    problem = r.json()
    assert problem["code"] == "backend_unavailable"
    assert problem["errors"][0]["loc"] == ["body", "backend"]
    assert "not available" in problem["detail"]


async def test_gpu_requests_run_on_the_device_thread_with_one_copy_each_way(client, fake_gpu):
    cpu = (await client.post("/gradient/cross_entropy", json=BODY)).json()
    r = await client.post("/gradient/cross_entropy", json={**BODY, "backend": "cupy"})
    assert r.status_code == 200, r.text
    gpu = r.json()
    assert gpu["backend"] == "cupy" and cpu["backend"] == "numpy"
    assert gpu["value"] == cpu["value"] and gpu["gradient"] == cpu["gradient"]
    assert fake_gpu.copies_in == 1 and fake_gpu.copies_out == 1
    assert fake_gpu.threads == ["device_0"]


@pytest.fixture
def settings() -> Settings:
    return Settings(gpu_queue_size=1, retry_after_s=3)


async def test_full_device_queue_answers_503_with_retry_after(app, monkeypatch):
    gate = threading.Event()
    device = FakeDevice(gate)
    monkeypatch.setitem(backend_registry.BACKENDS, "cupy", device)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        first = asyncio.create_task(c.post("/loss/mse", json={
            "predictions": [1.0], "targets": [0.0], "backend": "cupy"}))
        for _ in range(200):  # wait until the first request holds the only slot
            if device.threads:
                break
            await asyncio.sleep(0.01)
        second = await c.post("/loss/mse", json={"predictions": [1.0], "targets": [0.0],
                                                 "backend": "cupy"})
        gate.set()
        assert (await first).status_code == 200
    assert second.status_code == 503
    assert second.json()["code"] == "backend_busy"
    assert second.headers["retry-after"] == "3"


def test_device_worker_bounds_its_queue():
    release = threading.Event()
    worker = DeviceWorker(capacity=2, retry_after=1)
    results = []
    threads = [threading.Thread(target=lambda: results.append(worker.run(release.wait, 10)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for _ in range(200):
        if worker._slots._value == 0:  # both slots taken
            break
        threading.Event().wait(0.01)
    with pytest.raises(QueueFull):
        worker.run(lambda: None)
    release.set()
    for t in threads:
        t.join(5)
    assert results == [True, True]
    assert worker.run(lambda: 42) == 42
    worker.shutdown()


async def test_not_ready_when_the_configured_backend_is_unusable():
    if availability()["cupy"]["available"]:
        pytest.skip("a GPU is usable here")
    app = create_app(Settings(backend="cupy"))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=transport, base_url="http://t"
    ) as c:
        r = await c.get("/readyz")
        assert r.status_code == 503 and r.json()["code"] == "not_ready"
        assert "cupy" in r.json()["detail"]


class _FakeCupyArray(np.ndarray):
    """NumPy standing in for cupy.ndarray: ``set`` copies in, ``get(out=)`` copies out."""

    def set(self, arr: np.ndarray) -> None:
        assert isinstance(arr, np.ndarray) and arr.flags.c_contiguous
        assert arr.shape == self.shape and arr.dtype == self.dtype
        np.copyto(np.asarray(self), arr)

    def get(self, out: np.ndarray) -> np.ndarray:
        assert out.shape == self.shape and out.flags.c_contiguous
        np.copyto(out, np.asarray(self))
        return out


class _FakeCupy:
    """The corner of CuPy that the backend's transfers use, over NumPy."""

    uint8 = np.uint8

    def __init__(self) -> None:
        self.pinned: list[int] = []
        fake = self

        class cuda:  # noqa: N801 (cupy.cuda)
            @staticmethod
            def alloc_pinned_memory(size: int) -> bytearray:
                fake.pinned.append(size)
                return bytearray(size)

        self.cuda = cuda

    @staticmethod
    def empty(n: int, dtype: Any) -> _FakeCupyArray:
        return np.empty(n, dtype).view(_FakeCupyArray)

    @staticmethod
    def ascontiguousarray(a: Any) -> _FakeCupyArray:
        return np.ascontiguousarray(a).view(_FakeCupyArray)


@pytest.mark.parametrize("staging", [64, 1 << 20, 256 << 20])
def test_cupy_transfers_through_the_staging_buffer_keep_every_byte(monkeypatch, staging):
    """Packing into the pinned buffer, slice by slice when it is smaller than the request, with
    the copies split among threads: every array (dtypes, 0-d, strided, empty) comes back equal."""
    from service.backends import cupy_backend

    fake = _FakeCupy()
    monkeypatch.setitem(__import__("sys").modules, "cupy", fake)
    monkeypatch.setattr(cupy_backend, "STAGING_BYTES", staging)
    monkeypatch.setattr(cupy_backend, "_MIN_SPLIT", 1024)
    backend = cupy_backend.CupyBackend()
    rng = np.random.default_rng(0)
    arrays = {
        "x": rng.normal(size=(301, 7)),
        "t": rng.integers(0, 7, size=301),
        "f32": rng.normal(size=1001).astype(np.float32),
        "strided": rng.normal(size=(50, 40))[:, ::3],
        "scalar": np.array(2.5),
        "empty": np.zeros((0, 3)),
    }
    dev = backend.to_device(arrays)
    for k, a in arrays.items():
        assert dev[k].dtype == a.dtype and dev[k].shape == a.shape
        np.testing.assert_array_equal(np.asarray(dev[k]), a, err_msg=k)
    back = backend.to_host(dev)
    for k, a in arrays.items():
        assert type(back[k]) is np.ndarray
        assert back[k].shape == a.shape and back[k].dtype == a.dtype, k
        np.testing.assert_array_equal(back[k], a, err_msg=k)
    assert max(fake.pinned) <= staging  # the pinned buffer never outgrows its cap
    assert backend.to_host({}) == {}
