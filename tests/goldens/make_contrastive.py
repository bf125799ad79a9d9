"""Regenerate contrastive.json: Keras and optax numbers for ``service/losses/contrastive.py`` and
``cosine_similarity.py`` (cosine_similarity and circle from Keras 3, ntxent from optax), with
``jax.grad`` gradients.

Neither library is a dependency of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install keras jax optax
    /tmp/oracle/bin/python tests/goldens/make_contrastive.py

Everything runs in float64 (``jax_enable_x64``; Keras on its jax backend with floatx float64).
Keras's loss functions (``keras.losses.cosine_similarity``, ``keras.losses.circle``) give the
per-sample values, the loss classes (``CosineSimilarity()``, ``Circle()``) the reduced number
(``sum_over_batch_size``, which honours Circle's ``loss > 0`` mask). optax's ntxent gives one
scalar. Gradients are of the sum of the per-sample values (of the scalar for ntxent) with respect
to the predictions / embeddings.
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
import optax  # noqa: E402

keras.config.set_floatx("float64")
OUT = Path(__file__).parent / "contrastive.json"


def dump(data: dict) -> str:
    """Indented JSON with each innermost list of numbers on one line (small, diff-friendly)."""
    text = json.dumps(data, indent=1)
    return re.sub(r"\[[^\[\]{}\"]*\]", lambda m: re.sub(r"\s+", " ", m.group(0)), text) + "\n"


def _list(a) -> list:
    return np.asarray(a, dtype=np.float64).tolist()


def cosine_case(x: np.ndarray, y: np.ndarray, note: str) -> dict:
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    per = keras.losses.cosine_similarity(yj, xj)  # Keras order: (y_true, y_pred)
    reduced = keras.losses.CosineSimilarity()(yj, xj)
    grad = jax.grad(lambda a: jnp.sum(keras.losses.cosine_similarity(yj, a)))(xj)
    return {"loss": "cosine_similarity", "library": "keras",
            "call": "keras.losses.cosine_similarity(targets, predictions); "
                    "keras.losses.CosineSimilarity()(targets, predictions)",
            "note": note, "inputs": {"predictions": _list(x), "targets": _list(y)},
            "params": {}, "unreduced": _list(per), "reduced": float(reduced),
            "grad_of_sum": {"predictions": _list(grad)}}


def optax_cosine_case(x: np.ndarray, y: np.ndarray) -> dict:
    sim = optax.losses.cosine_similarity(jnp.asarray(x), jnp.asarray(y))
    return {"loss": "cosine_similarity", "library": "optax",
            "call": "optax.losses.cosine_similarity(predictions, targets)",
            "note": "optax returns the similarity itself (the negation of Keras's loss)",
            "inputs": {"predictions": _list(x), "targets": _list(y)}, "params": {},
            "optax_similarity": _list(sim)}


def ntxent_case(x: np.ndarray, labels: np.ndarray, temperature: float, note: str) -> dict:
    xj, lj = jnp.asarray(x), jnp.asarray(labels)

    def f(a):
        return optax.losses.ntxent(a, lj, temperature)

    value = f(xj)
    grad = jax.grad(f)(xj)
    return {"loss": "ntxent", "library": "optax",
            "call": "optax.losses.ntxent(embeddings, targets, temperature)", "note": note,
            "inputs": {"embeddings": _list(x), "targets": labels.tolist()},
            "params": {"temperature": temperature}, "reduced": float(value),
            "grad_of_reduced": {"embeddings": _list(grad)}}


def circle_case(x: np.ndarray, labels: np.ndarray, params: dict, note: str) -> dict:
    xj, lj = jnp.asarray(x), jnp.asarray(labels)
    per = keras.losses.circle(lj, xj, **params)
    reduced = keras.losses.Circle(**params)(lj, xj)
    grad = jax.grad(lambda a: jnp.sum(keras.losses.circle(lj, a, **params)))(xj)
    return {"loss": "circle", "library": "keras",
            "call": "keras.losses.circle(targets, embeddings, **params); "
                    "keras.losses.Circle(**params)(targets, embeddings)",
            "note": note, "inputs": {"embeddings": _list(x), "targets": labels.tolist()},
            "params": params, "unreduced": _list(per), "reduced": float(reduced),
            "grad_of_sum": {"embeddings": _list(grad)}}


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d))
    return np.round(x / np.linalg.norm(x, axis=1, keepdims=True), 6)


def main() -> None:
    rng = np.random.default_rng(2024)
    x = np.round(rng.normal(size=(5, 3)), 4)
    y = np.round(rng.normal(size=(5, 3)), 4)
    x[3] = 0.0  # a zero prediction: loss 0
    y[4] *= 1e-9  # a target below the 1e-7 norm bound
    x3 = np.round(rng.normal(size=(2, 3, 4)), 4)
    y3 = np.round(rng.normal(size=(2, 3, 4)), 4)
    e6 = np.round(rng.normal(size=(6, 3)), 4)
    e7 = np.round(rng.normal(size=(7, 4)), 4)
    e7[6] = 0.0
    e3 = np.round(rng.normal(size=(3, 2)), 4)
    cases = [
        cosine_case(x, y, "(N, D) with a zero prediction row and a tiny target row; the "
                    "gradient of the zero row is NaN on jax (rsqrt(0)) and is left out"),
        cosine_case(x3, y3, "3-D input: one value per (n, t)"),
        cosine_case(np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]),
                    np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]]), "Keras's docstring example"),
        optax_cosine_case(x3, y3),
        ntxent_case(e6, np.array([0, 1, 2, 0, 2, 1]), 0.07, "three pairs, default temperature"),
        ntxent_case(e7, np.array([0, 0, 0, 1, 1, 2, 3]), 0.3,
                    "a group of 3, a pair, two anchors without positives, a zero embedding"),
        ntxent_case(e3, np.array([5, 5, 5]), 0.5, "one group: no negatives, loss 0"),
        circle_case(unit_rows(rng, 6, 4), np.array([0, 0, 1, 1, 2, 2]), {}, "defaults"),
        circle_case(unit_rows(rng, 7, 3), np.array([0, 0, 0, 1, 1, 2, 3]),
                    {"gamma": 32.0, "margin": 0.25},
                    "anchors 5 and 6 have no positive: masked out of Keras's mean"),
        circle_case(unit_rows(rng, 5, 3), np.array([0, 1, 1, 2, 2]),
                    {"gamma": 16.0, "margin": 0.4, "remove_diagonal": False},
                    "remove_diagonal=False: anchor 0's only positive is itself"),
    ]
    # the gradient of a zero-norm row is NaN on jax (rsqrt(0)) and JSON has no NaN: such rows
    # are zeroed and left out of "rows_checked"
    for c in cases:
        for key in ("grad_of_sum", "grad_of_reduced"):
            for name, val in list(c.get(key, {}).items()):
                arr = np.asarray(val)
                if not np.all(np.isfinite(arr)):
                    c[key]["rows_checked"] = [i for i in range(len(arr))
                                              if np.all(np.isfinite(arr[i]))]
                    arr[~np.isfinite(arr)] = 0.0
                    c[key][name] = arr.tolist()
    data = {"generator": "tests/goldens/make_contrastive.py",
            "libraries": {"keras": keras.__version__, "keras_backend": "jax",
                          "jax": jax.__version__, "optax": optax.__version__,
                          "numpy": np.__version__},
            "dtype": "float64", "cases": cases}
    OUT.write_text(dump(data))
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
