"""Regenerate conventions_regression.json: Keras 3 and optax numbers for the ``convention``
parameter of mse, l1, huber, log_cosh, mape and msle.

Keras 3 and optax are not dependencies of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install keras jax optax
    /tmp/oracle/bin/python tests/goldens/make_conventions_regression.py

Recorded with keras 3.15.1 (JAX backend), jax 0.10.2, optax 0.2.8, numpy 2.4.6 (the file's
``libraries`` says which versions wrote it).

Everything runs on JAX in float64: ``jax_enable_x64`` and ``keras.config.set_floatx("float64")``
(Keras' float64 mode; with the float32 default floatx, Keras builds ``log 2`` in LogCosh and the
1e-7 of MSLE as float32 constants, which moves float64 results by about 1e-9). Keras cases call
the loss class, ``cls(reduction=r)(targets, predictions, sample_weight=w)``, for the reductions
``None`` (per-sample values), ``"sum"`` and ``"sum_over_batch_size"`` (Keras' default), which are
this service's ``none``, ``sum`` and ``mean`` under ``convention="keras"``; gradients are
``jax.grad`` of the reduced value (of the sum for ``None``) with respect to the predictions. A 1-D
input is one sample to Keras. For a 3-D input Keras needs ``sample_weight`` of shape (N, 1) (an
(N,) weight does not broadcast against its (N, T) per-sample loss); the case stores the (N,)
weights the service takes.

optax cases call the elementwise function (optax does not reduce): the service's ``none`` under
``convention="optax"``, with ``jax.grad`` of the sum.

Keras 3.15.1 computes ``ops.mean`` in float32 even for float64 inputs (its ``result_type`` maps
64-bit dtypes to 32-bit ones, and the JAX backend's ``mean`` calls ``jnp.mean(x,
dtype=float32)``), so its float64 losses carry float32 rounding (about 1e-8 relative) in the mean
over the last axis, and so do their gradients. Each Keras case therefore records two sets of
numbers: ``value``/``grad`` from Keras as shipped, and ``value_exact``/``grad_exact`` from the same
Keras code with its backend ``mean`` computing in the input's dtype (``_Float64Mean``), which
pins Keras' semantics to float64 precision.

Kinks are kept out of the gradients: JAX differentiates ``abs`` at 0 as 1 and splits ``maximum``
ties 0.5/0.5, where the service takes sign(0) = 0 and the unclipped side (stated in the specs).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

keras.config.set_floatx("float64")

OUT = Path(__file__).parent / "conventions_regression.json"

KERAS_REDUCTIONS = {None: "none", "sum": "sum", "sum_over_batch_size": "mean"}


class _Float64Mean:
    """Keras' JAX-backend ``mean`` computing in the input's dtype (not float32) while active."""

    def __enter__(self) -> None:
        from keras.src.backend.jax import numpy as backend_numpy

        self.module, self.saved = backend_numpy, backend_numpy.mean
        backend_numpy.mean = lambda x, axis=None, keepdims=False: jnp.mean(
            jnp.asarray(x), axis=axis, keepdims=keepdims)

    def __exit__(self, *exc: object) -> None:
        self.module.mean = self.saved


def keras_cases(loss: str, cls: type, x: np.ndarray, y: np.ndarray, *, kwargs: dict | None = None,
                params: dict | None = None, weights: np.ndarray | None = None,
                note: str = "") -> list[dict]:
    """One case per Keras reduction, unweighted and (when ``weights``) weighted."""
    kwargs = kwargs or {}
    xj, yj = jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y, dtype=jnp.float64)
    out = []
    for w in (None, weights):
        if w is None and out:
            continue
        wk = None
        if w is not None:
            w = np.asarray(w, dtype=np.float64)
            wk = jnp.asarray(w.reshape((w.shape[0],) + (1,) * (x.ndim - 2)))
        for red, ours in KERAS_REDUCTIONS.items():
            fn = cls(reduction=red, **kwargs)

            def reduced(a, fn=fn, wk=wk):
                return jnp.sum(fn(yj, a, sample_weight=wk))

            value = np.asarray(fn(yj, xj, sample_weight=wk), dtype=np.float64)
            grad = np.asarray(jax.grad(reduced)(xj))
            with _Float64Mean():
                exact = np.asarray(fn(yj, xj, sample_weight=wk), dtype=np.float64)
                grad_exact = np.asarray(jax.grad(reduced)(xj))
            call = (f"keras.losses.{cls.__name__}(reduction={red!r}"
                    + "".join(f", {k}={v!r}" for k, v in kwargs.items())
                    + f")(targets, predictions{', sample_weight=w' if w is not None else ''})")
            out.append({
                "loss": loss, "library": "keras", "call": call, "note": note,
                "params": {"convention": "keras", **(params or {})},
                "inputs": {"predictions": x.tolist(), "targets": y.tolist()},
                "sample_weight": None if w is None else w.tolist(),
                "reduction": ours, "value": value.tolist(), "grad": grad.tolist(),
                "value_exact": exact.tolist(), "grad_exact": grad_exact.tolist(),
            })
        if weights is None:
            break
    return out


def optax_case(loss: str, fn, x: np.ndarray, y: np.ndarray, *, kwargs: dict | None = None,
               params: dict | None = None, note: str = "") -> dict:
    kwargs = kwargs or {}
    xj, yj = jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y, dtype=jnp.float64)
    value = np.asarray(fn(xj, yj, **kwargs))
    grad = np.asarray(jax.grad(lambda a: jnp.sum(fn(a, yj, **kwargs)))(xj))
    args = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    return {"loss": loss, "library": "optax", "note": note,
            "call": f"optax.losses.{fn.__name__}(predictions, targets{args})",
            "params": {"convention": "optax", **(params or {})},
            "inputs": {"predictions": x.tolist(), "targets": y.tolist()},
            "sample_weight": None, "reduction": "none",
            "value": value.tolist(), "grad": grad.tolist()}


def _away_from(x: np.ndarray, y: np.ndarray, gap: float = 1e-3) -> np.ndarray:
    """``x`` moved off ``y`` where they are closer than ``gap`` (no kink in the gradients)."""
    return np.where(np.abs(x - y) < gap, y + 0.5, x)


def main() -> None:
    rng = np.random.default_rng(20250611)
    x2, y2 = np.round(rng.normal(size=(4, 3)) * 2, 6), np.round(rng.normal(size=(4, 3)) * 2, 6)
    x2 = _away_from(x2, y2)
    w4 = np.array([0.5, 2.0, 0.0, 1.25])
    x1, y1 = np.round(rng.normal(size=5) * 2, 6), np.round(rng.normal(size=5) * 2, 6)
    x1 = _away_from(x1, y1)
    x3, y3 = np.round(rng.normal(size=(2, 3, 4)), 6), np.round(rng.normal(size=(2, 3, 4)), 6)
    x3 = _away_from(x3, y3)
    w2 = np.array([0.3, 1.7])
    # huber: errors on both sides of delta, none exactly at it
    xh = np.array([[0.2, -0.9, 1.5], [3.0, -2.5, 0.7], [0.0, 0.45, -0.1]])
    yh = np.array([[0.0, 0.0, 0.0], [1.0, 0.5, -0.2], [1.2, -0.6, 0.3]])
    # mape: negative targets, a zero target (|x| / eps), targets below 1 in magnitude
    ym = np.array([[3.0, -0.5, 0.0], [1.5, -2.0, 0.25], [-0.1, 4.0, 1e-9], [2.0, 2.0, -1.0]])
    xm = np.array([[2.5, 0.25, 0.5], [1.0, -2.5, 0.3], [0.2, 3.0, 1.0], [1.0, 2.6, 1.5]])
    # msle: negatives (clipped to 1e-7 by Keras: gradient 0), values in (-1, 0), zeros
    xs = np.array([[1.0, -0.5, 2.0], [0.0, 3.5, 0.25], [7.0, 0.5, -0.95], [0.1, 1.0, 4.0]])
    ys = np.array([[1.5, 2.0, -0.25], [0.5, 3.0, 0.0], [6.0, -0.75, 1.0], [0.2, 0.9, 2.0]])
    big_x, big_y = np.array([[1000.0, -1000.0, 0.5], [3.0, -2.0, 0.0]]), np.zeros((2, 3))

    mse, mae, hub = (keras.losses.MeanSquaredError, keras.losses.MeanAbsoluteError,
                     keras.losses.Huber)
    lc, mp, ms = (keras.losses.LogCosh, keras.losses.MeanAbsolutePercentageError,
                  keras.losses.MeanSquaredLogarithmicError)
    cases: list[dict] = []
    cases += keras_cases("mse", mse, x2, y2, weights=w4, note="(N, C)")
    cases += keras_cases("mse", mse, x1, y1, note="1-D: one sample")
    cases += keras_cases("mse", mse, x3, y3, weights=w2, note="(N, T, C): per-sample (N, T)")
    cases += keras_cases("l1", mae, x2, y2, weights=w4, note="(N, C)")
    cases += keras_cases("l1", mae, x1, y1, note="1-D: one sample")
    cases += keras_cases("huber", hub, xh, yh, weights=np.array([1.0, 0.5, 3.0]),
                         note="delta 1")
    cases += keras_cases("huber", hub, xh, yh, kwargs={"delta": 0.7}, params={"delta": 0.7},
                         note="delta 0.7")
    cases += keras_cases("huber", hub, x1, y1, note="1-D: one sample")
    cases += keras_cases("log_cosh", lc, x2, y2, weights=w4, note="(N, C)")
    cases += keras_cases("log_cosh", lc, big_x, big_y, note="errors of +-1000")
    cases += keras_cases("log_cosh", lc, x1, y1, note="1-D: one sample")
    cases += keras_cases("mape", mp, xm, ym, weights=w4, note="a percentage; a zero target")
    cases += keras_cases("mape", mp, xm[0], ym[0], note="1-D: one sample")
    cases += keras_cases("msle", ms, xs, ys, weights=w4, note="clipped below at 1e-7")
    cases += keras_cases("msle", ms, xs[1], ys[1], note="1-D: one sample")

    cases.append(optax_case("mse", optax.losses.squared_error, x2, y2))
    cases.append(optax_case("huber", optax.losses.huber_loss, xh, yh))
    cases.append(optax_case("huber", optax.losses.huber_loss, xh, yh, kwargs={"delta": 0.7},
                            params={"delta": 0.7}, note="delta 0.7"))
    cases.append(optax_case("log_cosh", optax.losses.log_cosh, x2, y2))
    cases.append(optax_case("log_cosh", optax.losses.log_cosh, big_x, big_y, note="+-1000"))

    payload = {
        "generator": "tests/goldens/make_conventions_regression.py",
        "libraries": {"keras": keras.__version__, "keras_backend": keras.backend.backend(),
                      "keras_floatx": keras.config.floatx(), "jax": jax.__version__,
                      "optax": optax.__version__, "numpy": np.__version__},
        "cases": cases,
    }
    head = {k: v for k, v in payload.items() if k != "cases"}
    lines = [json.dumps(c, separators=(",", ":")) for c in cases]
    OUT.write_text(json.dumps(head)[:-1] + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
