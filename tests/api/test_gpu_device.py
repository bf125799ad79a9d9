"""The CuPy backend on a real CUDA device, end to end (skipped where CuPy sees no device).

The core's namespace-parametrized tests (``xp`` = cupy) show each kernel runs on CuPy arrays; these
show the service around it: the engine's one copy in and one copy out give the NumPy backend's
numbers for every registry loss, the HTTP API answers with ``backend: cupy`` and the same bytes as
on the CPU, ``auto`` moves to the GPU at its threshold, concurrent requests share the one device
thread, and the health endpoints name the device. ``bench/gpu_check.sh`` runs them on a lent GPU.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
import numpy as np
import pytest

from service import engine
from service.backends import availability
from service.backends.worker import DeviceWorker
from service.config import Settings
from service.losses import LOSSES, get_loss
from service.main import create_app
from tests.conftest import assert_close, sample

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not availability()["cupy"]["available"],
                       reason="the cupy backend is not usable here (no CuPy or no CUDA device)"),
]

NAMES = sorted(LOSSES)


@pytest.mark.parametrize("name", NAMES)
def test_engine_on_cupy_matches_numpy(name: str) -> None:
    spec = get_loss(name)
    inputs, params = sample(name, seed=11, n=7, c=5)
    worker = DeviceWorker(capacity=2)
    try:
        for reduction in spec.reductions:
            cpu = engine.run(name, inputs, params, reduction=reduction,
                             want_grad=spec.differentiable, backend="numpy")
            gpu = engine.run(name, inputs, params, reduction=reduction,
                             want_grad=spec.differentiable, backend="cupy", worker=worker)
            assert gpu.backend == "cupy"
            got, ref = gpu.evaluation, cpu.evaluation
            assert isinstance(got.value, np.ndarray)  # brought back to the host
            assert np.shape(got.value) == np.shape(ref.value), reduction
            assert_close(got.value, ref.value, rtol=1e-12, err_msg=reduction)
            assert_close(got.per_sample, ref.per_sample, rtol=1e-12, err_msg=reduction)
            assert got.n_samples == ref.n_samples
            for k, g in (ref.gradients or {}).items():
                assert isinstance(got.gradients[k], np.ndarray)
                assert_close(got.gradients[k], g, rtol=1e-12, atol=1e-13,
                             err_msg=f"{reduction} {k}")
    finally:
        worker.shutdown()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_large_cross_entropy_and_mse_match_numpy(dtype: str) -> None:
    rng = np.random.default_rng(3)
    n, c = 200_000, 10
    ce = {"predictions": rng.normal(size=(n, c)) * 4, "targets": rng.integers(0, c, size=n)}
    reg = {"predictions": rng.normal(size=n * c), "targets": rng.normal(size=n * c)}
    rtol = 1e-11 if dtype == "float64" else 2e-5
    for name, inputs in (("cross_entropy", ce), ("mse", reg)):
        cpu = engine.run(name, inputs, dtype=dtype, want_grad=True, backend="numpy").evaluation
        gpu = engine.run(name, inputs, dtype=dtype, want_grad=True, backend="cupy").evaluation
        assert gpu.value.dtype == np.dtype(dtype)
        assert_close(gpu.value, cpu.value, rtol=rtol)
        assert_close(gpu.per_sample, cpu.per_sample, rtol=rtol, atol=1e-6)
        assert_close(gpu.gradients["predictions"], cpu.gradients["predictions"], rtol=rtol,
                     atol=1e-12 if dtype == "float64" else 1e-9)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_api_answers_on_the_gpu_with_the_cpu_numbers() -> None:
    app = create_app(Settings(backend="numpy", gpu_min_elements=1000))
    rng = np.random.default_rng(5)
    big = {"predictions": rng.normal(size=(200, 10)).tolist(),
           "targets": rng.integers(0, 10, size=200).tolist()}
    small = {"predictions": [[1.0, 2.0, 0.5], [0.1, 0.2, 0.3]], "targets": [0, 2]}
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ready = (await c.get("/readyz")).json()
        assert ready["backends"]["cupy"]["available"] is True
        assert ready["backends"]["cupy"]["device"]
        version = (await c.get("/version")).json()
        assert version["backends"]["cupy"]["available"] is True
        for path in ("/loss/cross_entropy", "/gradient/cross_entropy"):
            cpu = await c.post(path, json=big)
            gpu = await c.post(path, json={**big, "backend": "cupy"})
            assert cpu.status_code == gpu.status_code == 200, gpu.text
            cj, gj = cpu.json(), gpu.json()
            assert cj["backend"] == "numpy" and gj["backend"] == "cupy"
            assert type(gj["value"]) is float  # a 0-d value comes back 0-d, not as a list
            assert set(gj) == set(cj)
            assert_close(gj["value"], cj["value"], rtol=1e-12)
            assert_close(gj["per_sample"], cj["per_sample"], rtol=1e-12)
            if "gradient" in cj:
                assert_close(gj["gradient"], cj["gradient"], rtol=1e-12, atol=1e-15)
        # auto: 2000 elements >= 1000 go to the GPU, 6 stay on the CPU
        assert (await c.post("/loss/cross_entropy",
                             json={**big, "backend": "auto"})).json()["backend"] == "cupy"
        assert (await c.post("/loss/cross_entropy",
                             json={**small, "backend": "auto"})).json()["backend"] == "numpy"
        # a b64 float32 request and a binary body on the device
        r = await c.post("/gradient/mse", json={
            "predictions": {"shape": [3], "dtype": "float32", "data": [1.0, 2.0, 3.0]},
            "targets": [0.5, 2.0, 4.0], "dtype": "float32", "backend": "cupy"})
        assert r.status_code == 200, r.text
        assert r.json()["backend"] == "cupy"
        assert_close(r.json()["value"], np.mean(np.square([0.5, 0.0, -1.0])), rtol=1e-6)


@pytest.mark.anyio
async def test_concurrent_gpu_requests_share_the_device_thread() -> None:
    app = create_app(Settings(backend="cupy", gpu_queue_size=64))
    rng = np.random.default_rng(8)
    bodies = [{"predictions": rng.normal(size=(50, 4)).tolist(),
               "targets": rng.integers(0, 4, size=50).tolist()} for _ in range(24)]
    seen: set[str] = set()
    from service.backends import registry

    cupy_backend = registry.BACKENDS["cupy"]
    original = cupy_backend.to_device

    def recording(arrays):
        seen.add(threading.current_thread().name)
        return original(arrays)

    cupy_backend.to_device = recording  # type: ignore[method-assign]
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            assert (await c.get("/readyz")).status_code == 200
            gpu = await asyncio.gather(*(c.post("/gradient/cross_entropy", json=b)
                                         for b in bodies))
            cpu = await asyncio.gather(*(c.post("/gradient/cross_entropy",
                                                json={**b, "backend": "numpy"})
                                         for b in bodies))
    finally:
        del cupy_backend.to_device
    assert all(r.status_code == 200 for r in gpu), [r.text for r in gpu if r.status_code != 200]
    for g, p in zip(gpu, cpu, strict=True):
        assert g.json()["backend"] == "cupy"
        assert_close(g.json()["gradient"], p.json()["gradient"], rtol=1e-12, atol=1e-15)
    assert seen and all(name.startswith("device") for name in seen), seen
