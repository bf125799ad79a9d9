"""Every accelerated loss against its reference, registry-wide, from the table of
``service/losses/accel/``.

For each row of :data:`service.losses.accel.table.ROWS` (every loss that has a kernel), each of
its warm-up variants (parameters, row length), above the row's size threshold: every reduction
x sample weights or none x gradient or not x float64 / float32, the accelerated evaluation
(a spy checks that the kernel produced it) equals the reference with all acceleration off
(:data:`service.losses.accel.OFF`: no kernels, no NumPy fast paths) within the documented
tolerance (``tests/losses/fused_support.py``: ``RTOL``, or ``ATOL`` times the largest
magnitude). Also: no kernel without a row nor a row without its kernels, and the fused
reduction's cotangent and value against :mod:`service.losses.reduce`.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from service.losses import accel, evaluate, get_loss
from service.losses.accel import reduction as accel_reduction
from service.losses.accel.table import ROWS
from service.losses.reduce import reduce_loss
from service.losses.spec import LossOutput
from tests.losses.fused_support import assert_same, close, spy_runs

pytest.importorskip("numba")

CASES = [(name, i) for name, row in sorted(ROWS.items()) for i in range(len(row.warm))]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "variant"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_the_kernel_matches_the_reference_without_acceleration(monkeypatch, name, variant,
                                                                dtype):
    row = ROWS[name]
    params, k = row.warm[variant]
    spec = get_loss(name)
    rng = np.random.default_rng(variant)
    n = row.min_size // k + 1  # above the threshold
    inputs = accel.sample_inputs(spec, rng, n, k, dtype)
    sw = rng.uniform(0.5, 2.0, size=n).astype(dtype)
    runs = spy_runs(monkeypatch, accel_reduction, "run")
    for reduction, weights, want_grad in itertools.product(("none", "mean", "sum"), (None, sw),
                                                           (False, True)):
        kw = {"reduction": reduction, "sample_weight": weights, "dtype": dtype,
              "want_grad": want_grad}
        got = evaluate(name, inputs, params, **kw)
        assert runs[-1] is True, kw
        ref = evaluate(name, inputs, params, **kw, acceleration=accel.OFF)
        assert_same(got, ref, dtype)
    below = {key: v[:row.min_size // k - 1] for key, v in inputs.items()}  # below: the reference
    runs.clear()
    evaluate(name, below, params, want_grad=True, dtype=dtype)
    assert runs == []


def test_every_kernel_has_a_row_and_every_row_its_kernels():
    kernels = accel.kernels()
    assert kernels is not None
    named = {k for row in ROWS.values() for k in row.kernels}
    assert named == set(kernels)
    for name, row in ROWS.items():
        assert get_loss(name).name == name == row.loss


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(("shape", "weights_in_mean"), [((40,), True), ((30, 7), True),
                                                         ((30, 7), False)])
def test_the_fused_reduction_is_reduce_py(dtype, weighted, reduction, shape, weights_in_mean):
    """The cotangent, denominator and value of :mod:`service.losses.accel.reduction`, from
    per-row totals as the kernels make them, against :func:`service.losses.reduce.reduce_loss`."""
    rng = np.random.default_rng(len(shape))
    dt = np.dtype(dtype)
    loss = rng.uniform(size=shape).astype(dt)
    n, k = shape[0], loss.size // shape[0]
    sw = rng.uniform(0.5, 2.0, size=n).astype(dt) if weighted else None
    ref = reduce_loss(np, LossOutput(loss), reduction, sw, weights_in_mean=weights_in_mean)
    got = accel_reduction.cotangent(reduction, sw, dt, k if weights_in_mean else 0,
                                    float(n * k))
    assert got is not None
    denom, cot = got
    cot = cot.reshape((-1,) + (1,) * (loss.ndim - 1)) if cot.size > 1 else cot
    close(np.broadcast_to(cot, loss.shape), np.asarray(ref.cotangent), dtype, "cotangent")
    weighted_loss = loss if sw is None else loss * sw.reshape((-1,) + (1,) * (loss.ndim - 1))
    totals = weighted_loss.reshape(n, k).sum(axis=1, dtype=np.float64)
    ev = accel_reduction.result(get_loss("mse"), {}, reduction, dtype, totals, denom,
                                weighted_loss, None, n, None)
    close(ev.value, ref.value, dtype, "value")
    if reduction == "mean" and weighted and weights_in_mean:  # an all-zero weight: undefined
        assert accel_reduction.cotangent("mean", np.zeros(n, dt), dt, k, float(n * k)) is None
