"""Regenerate overlap.json: Keras 3 numbers for dice and tversky (``service/losses/overlap.py``),
with ``jax.grad`` gradients.

Keras is not a dependency of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install keras jax
    /tmp/oracle/bin/python tests/goldens/make_overlap.py

Keras runs on its jax backend in float64. ``per_sample`` is ``keras.losses.dice(y, x, axis=(1,
..., ndim-1))`` (our unreduced loss), ``reduced`` the loss class with that axis (Keras's
``sum_over_batch_size``, our ``mean``), ``keras_axis_none`` Keras's default ``axis=None`` (the
whole batch as one sample). Gradients are of the sum of the per-sample values.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

keras.config.set_floatx("float64")
OUT = Path(__file__).parent / "overlap.json"


def dump(data: dict) -> str:
    """Indented JSON with each innermost list of numbers on one line (small, diff-friendly)."""
    text = json.dumps(data, indent=1)
    return re.sub(r"\[[^\[\]{}\"]*\]", lambda m: re.sub(r"\s+", " ", m.group(0)), text) + "\n"


def case(loss: str, x: np.ndarray, y: np.ndarray, params: dict, note: str) -> dict:
    fn = {"dice": keras.losses.dice, "tversky": keras.losses.tversky}[loss]
    cls = {"dice": keras.losses.Dice, "tversky": keras.losses.Tversky}[loss]
    axis = tuple(range(1, x.ndim))
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    per = fn(yj, xj, axis=axis, **params)
    grad = jax.grad(lambda a: jnp.sum(fn(yj, a, axis=axis, **params)))(xj)
    return {"loss": loss, "library": "keras",
            "call": f"keras.losses.{loss}(targets, predictions, axis={axis}, **params); "
                    f"keras.losses.{cls.__name__}(axis=..., **params)(targets, predictions)",
            "note": note, "inputs": {"predictions": x.tolist(), "targets": y.tolist()},
            "params": params, "per_sample": np.asarray(per).tolist(),
            "reduced": float(cls(axis=axis, **params)(yj, xj)),
            "keras_axis_none": float(cls(**params)(yj, xj)),
            "grad_of_sum": {"predictions": np.asarray(grad).tolist()}}


def main() -> None:
    rng = np.random.default_rng(7)
    x = np.round(rng.uniform(size=(3, 2, 4)), 4)
    y = (rng.uniform(size=(3, 2, 4)) < 0.5).astype(np.float64)
    y[1, 0, :] = np.array([0.25, 0.5, 0.75, 1.0])  # soft targets
    x4 = np.round(rng.uniform(size=(2, 2, 2, 3)), 4)
    y4 = (rng.uniform(size=(2, 2, 2, 3)) < 0.3).astype(np.float64)
    x4[1] = 0.0
    y4[1] = 0.0  # an empty prediction for an empty target: Keras gives 1
    cases = [
        case("dice", x, y, {}, "(N, H, W) with soft targets in sample 1"),
        case("dice", x4, y4, {}, "(N, H, W, C); sample 1 is empty in both"),
        case("tversky", x, y, {}, "alpha = beta = 0.5"),
        case("tversky", x, y, {"alpha": 0.7, "beta": 0.3},
             "Keras puts alpha on sum(y (1 - x)), the false negatives"),
        case("tversky", x4, y4, {"alpha": 0.2, "beta": 0.9}, "(N, H, W, C), an empty sample"),
    ]
    data = {"generator": "tests/goldens/make_overlap.py",
            "libraries": {"keras": keras.__version__, "keras_backend": "jax",
                          "jax": jax.__version__, "numpy": np.__version__},
            "dtype": "float64", "cases": cases}
    OUT.write_text(dump(data))
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
