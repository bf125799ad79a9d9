"""Regenerate robust_regression.json: Keras 3 and optax numbers for log_cosh, half_mse, mape, msle.

Keras 3 and optax are not dependencies of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install keras jax optax
    KERAS_BACKEND=numpy /tmp/oracle/bin/python tests/goldens/make_robust_regression.py

Keras computes in float32 on every backend but TensorFlow (it maps float64 to float32), so its
numbers are float32 ones; the inputs are float32-representable so both sides see the same
values. optax runs with ``jax_enable_x64`` in float64, and its gradients come from ``jax.grad``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "numpy")

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

OUT = Path(__file__).parent / "robust_regression.json"


def f32(a: np.ndarray) -> list:
    """Round to float32 and return as nested lists of Python floats (exact in JSON)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64).tolist()


def keras_case(loss: str, cls: type, fn, x: list, y: list, note: str = "") -> dict:
    """Keras (y_true, y_pred) order; per-sample = the function (mean over the last axis)."""
    yt, yp = np.asarray(y, dtype=np.float32), np.asarray(x, dtype=np.float32)
    per_sample = np.asarray(fn(yt, yp), dtype=np.float64)
    value = float(np.asarray(cls()(yt, yp)))  # default reduction: sum_over_batch_size
    return {"loss": loss, "library": "keras", "dtype": "float32",
            "call": f"keras.losses.{cls.__name__}()(targets, predictions)", "note": note,
            "inputs": {"predictions": x, "targets": y}, "params": {"convention": "keras"},
            "per_sample": per_sample.tolist(), "value": value}


def optax_case(loss: str, fn, x: list, y: list, note: str = "") -> dict:
    xp, yp = jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y, dtype=jnp.float64)
    out = fn(xp, yp)
    grad = jax.grad(lambda a: jnp.sum(fn(a, yp)))(xp)
    return {"loss": loss, "library": "optax", "dtype": "float64",
            "call": f"optax.losses.{fn.__name__}(predictions, targets)", "note": note,
            "inputs": {"predictions": x, "targets": y}, "params": {},
            "unreduced": np.asarray(out).tolist(), "grad_of_sum": np.asarray(grad).tolist()}


def main() -> None:
    rng = np.random.default_rng(20240605)
    x = f32(rng.normal(size=(3, 4)) * 2)
    y = f32(rng.normal(size=(3, 4)) * 2)
    big_x, big_y = [[1000.0, -1000.0, 0.0, 3.0]], [[0.0, 0.0, 0.0, -2.0]]
    ymape = f32(rng.uniform(0.5, 2.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4)))
    xmape = f32(np.asarray(ymape) + rng.normal(size=(3, 4)))
    xmsle = f32(rng.exponential(2.0, size=(3, 4)))
    ymsle = f32(rng.exponential(2.0, size=(3, 4)))
    xmsle[0][0], ymsle[1][1], xmsle[2][3], ymsle[2][3] = -0.5, -2.0, 0.0, 0.0
    cases = [
        keras_case("log_cosh", keras.losses.LogCosh, keras.losses.log_cosh, x, y),
        keras_case("log_cosh", keras.losses.LogCosh, keras.losses.log_cosh, big_x, big_y,
                   "errors of +-1000: log cosh 1000 = 1000 - log 2"),
        keras_case("mape", keras.losses.MeanAbsolutePercentageError,
                   keras.losses.mean_absolute_percentage_error, xmape, ymape),
        keras_case("mape", keras.losses.MeanAbsolutePercentageError,
                   keras.losses.mean_absolute_percentage_error,
                   [[0.5, 0.0, -2.0]], [[0.0, 0.0, 4.0]], "a target of 0: 1e9 |x|"),
        keras_case("msle", keras.losses.MeanSquaredLogarithmicError,
                   keras.losses.mean_squared_logarithmic_error, xmsle, ymsle,
                   "negatives and zeros are clipped to eps = 1e-7"),
        optax_case("log_cosh", optax.losses.log_cosh, x, y),
        optax_case("log_cosh", optax.losses.log_cosh, big_x, big_y, "errors of +-1000"),
        optax_case("half_mse", optax.losses.l2_loss, x, y),
    ]
    data = {
        "generator": "tests/goldens/make_robust_regression.py",
        "libraries": {"keras": keras.__version__, "keras_backend": keras.backend.backend(),
                      "jax": jax.__version__, "optax": optax.__version__,
                      "numpy": np.__version__},
        "cases": cases,
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
