"""Shared fixtures: the array namespaces the core runs on, and helpers for oracle checks.

* ``xp``: parametrized over NumPy (through array_api_compat), ``array_api_strict`` (which rejects
  anything outside the array API standard, so a NumPy-only call in the core fails there), PyTorch
  on the CPU (through array_api_compat; skipped without torch) and CuPy (skipped unless a CUDA
  device is present). Passing on torch shows the core is library-agnostic, which is what lets it
  run on CuPy.
* ``torch`` helpers: ``pytest.importorskip`` keeps the oracle tests skipping cleanly where PyTorch
  (pinned to 2.13.0) is not installed.
* ``LOSS_SERVICE_TEST_REQUIRE``: the outside tools (chromium, node...) whose absence fails a test
  instead of skipping it (tests/toolenv.py); a name it does not know stops the run here.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from service.losses import evaluate, get_loss
from tests import toolenv


@pytest.fixture(autouse=True, scope="session")
def _torch_on_one_thread() -> None:
    """torch (the oracle, imported while the replays are collected) on one thread per test
    process: pytest-xdist already runs a process per core, and torch's own thread per core made
    the replays of its tiny test tensors wait on each other (the OpInfo replays: 37 s -> 26 s of
    wall time on 2 cores, measured)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)

HAS_TORCH = importlib.util.find_spec("torch") is not None


def pytest_configure(config: pytest.Config) -> None:
    unknown = toolenv.unknown_required()
    if unknown:
        raise pytest.UsageError(
            f"{toolenv.REQUIRE} names unknown tools {sorted(unknown)}; it takes "
            f"{', '.join(toolenv.TOOLS)}")

NAMESPACES = ["numpy", "array_api_strict", "torch", "cupy"]


def _namespace(name: str) -> Any:
    if name == "numpy":
        import array_api_compat.numpy as xnp

        return xnp
    if name == "torch":
        pytest.importorskip("torch")
        import array_api_compat.torch as xtorch

        return xtorch
    if name == "cupy":
        cupy = pytest.importorskip("cupy")
        if not cupy.cuda.is_available():
            pytest.skip("no CUDA device")
        import array_api_compat.cupy as xcupy

        return xcupy
    return pytest.importorskip(name)


@pytest.fixture(params=NAMESPACES)
def xp(request: pytest.FixtureRequest) -> Any:
    """An array-API namespace the core must run on."""
    return _namespace(request.param)


def to_xp(xp: Any, value: Any) -> Any:
    """NumPy array (or list) -> array of ``xp``, keeping integer dtypes integer."""
    a = np.asarray(value)
    return xp.asarray(a)


def to_np(value: Any) -> np.ndarray:
    if hasattr(value, "get") and type(value).__module__.startswith("cupy"):
        return value.get()
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def assert_close(actual: Any, expected: Any, rtol: float = 1e-10, atol: float = 1e-12,
                 err_msg: str = "") -> None:
    np.testing.assert_allclose(to_np(actual), to_np(expected), rtol=rtol, atol=atol,
                               err_msg=err_msg)


def finite_difference(name: str, inputs: Mapping[str, np.ndarray], params: Mapping[str, Any],
                      reduction: str, wrt: str, h: float = 1e-6,
                      sample_weight: Any = None) -> np.ndarray:
    """Central differences of the reduced value (the sum for 'none') w.r.t. input ``wrt``."""
    base = {k: np.array(v, copy=True) for k, v in inputs.items()}
    x = np.asarray(base[wrt], dtype=np.float64)
    grad = np.zeros_like(x)

    def value(xv: np.ndarray) -> float:
        args = dict(base)
        args[wrt] = xv
        r = evaluate(name, args, params, reduction=reduction, sample_weight=sample_weight)
        return float(np.sum(np.asarray(r.value)))

    flat = x.reshape(-1)
    g = grad.reshape(-1)
    for i in range(flat.size):  # test-only loop: one perturbation per element
        xp_, xm = flat.copy(), flat.copy()
        xp_[i] += h
        xm[i] -= h
        g[i] = (value(xp_.reshape(x.shape)) - value(xm.reshape(x.shape))) / (2 * h)
    return grad


def sample(name: str, seed: int = 0, n: int = 5, c: int = 4) -> tuple[dict, dict]:
    """Valid random inputs and params for loss ``name`` from its registry sampler."""
    rng = np.random.default_rng(seed)
    return get_loss(name).sampler(rng, n, c)


def torch_oracle(fn: Callable[..., Any], inputs: Mapping[str, np.ndarray],
                 differentiable: tuple[str, ...], reduction: str
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run ``fn(**torch_inputs)`` in float64 and return (value, autograd gradients).

    Gradients are of the output's sum (so of the value for mean/sum, of the sum for none), the
    same convention the service uses.
    """
    torch = pytest.importorskip("torch")
    t = {}
    for k, v in inputs.items():
        a = np.asarray(v)
        if a.dtype.kind in "iu":
            t[k] = torch.as_tensor(a, dtype=torch.int64)
        else:
            t[k] = torch.tensor(a, dtype=torch.float64, requires_grad=k in differentiable)
    out = fn(**t)
    grads = {}
    if differentiable:
        diff_tensors = [t[k] for k in differentiable]
        gs = torch.autograd.grad(out.sum(), diff_tensors, allow_unused=True)
        for k, g in zip(differentiable, gs, strict=True):
            grads[k] = np.zeros_like(inputs[k], dtype=np.float64) if g is None else g.numpy()
    return out.detach().numpy(), grads
