"""Regenerate hinge_variants.json: optax numbers for multiclass_hinge_cs, multiclass_perceptron and
perceptron, and Keras 3 numbers for categorical_hinge.

Keras 3 and optax are not dependencies of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install keras jax optax
    /tmp/oracle/bin/python tests/goldens/make_hinge_variants.py

Everything runs on JAX in float64 (``jax_enable_x64``; Keras on its JAX backend, which keeps
float64 inputs in float64). Gradients are ``jax.grad`` of the sum of the unreduced loss with
respect to the scores; JAX's ``max`` splits the gradient evenly between tied maxima, which the
tie rows record. Rows at a hinge's kink are recorded without gradients (``jnp.maximum`` gives
one half there, the service 0 by design).
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

OUT = Path(__file__).parent / "hinge_variants.json"


def _case(loss: str, library: str, call: str, fn, x, y, note: str = "", grad: bool = True,
          targets: object = None) -> dict:
    xj, yj = jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y)
    out = np.asarray(fn(xj, yj), dtype=np.float64)
    case = {"loss": loss, "library": library, "call": call, "note": note, "params": {},
            "inputs": {"predictions": np.asarray(x).tolist(),
                       "targets": np.asarray(y).tolist() if targets is None else targets},
            "unreduced": out.tolist()}
    if grad:
        g = jax.grad(lambda a: jnp.sum(fn(a, yj)))(xj)
        case["grad_of_sum"] = np.asarray(g).tolist()
    return case


def dump(payload: dict) -> str:
    """Compact JSON, one case per line."""
    head = {k: v for k, v in payload.items() if k != "cases"}
    lines = [json.dumps(c, separators=(",", ":")) for c in payload["cases"]]
    return json.dumps(head)[:-1] + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n"


def main() -> None:
    rng = np.random.default_rng(11)
    x = np.round(rng.normal(size=(5, 4)) * 1.5, 4)
    y = rng.integers(0, 4, size=5)
    # ties: two wrong classes share the max; the target ties a wrong class (multiclass_perceptron)
    ties = np.array([[1.0, 1.0, -0.5], [0.3, 0.3, 0.3], [2.0, 1.0, 2.0]])
    ties_y = np.array([2, 0, 0])
    # the hinge's kink (target and best wrong class tie after the margin): values only
    kink = np.array([[2.0, 1.0, 0.0], [0.5, 1.5, -3.0]])
    kink_y = np.array([0, 1])
    mh = optax.losses.multiclass_hinge_loss
    mp = optax.losses.multiclass_perceptron_loss
    cases = [
        _case("multiclass_hinge_cs", "optax", "optax.losses.multiclass_hinge_loss(scores, "
              "labels)", mh, x, y),
        _case("multiclass_hinge_cs", "optax", "optax.losses.multiclass_hinge_loss(scores, "
              "labels)", mh, ties, ties_y, "tied maxima share the gradient"),
        _case("multiclass_hinge_cs", "optax", "optax.losses.multiclass_hinge_loss(scores, "
              "labels)", mh, kink, kink_y, "at the kink: values only", grad=False),
        _case("multiclass_perceptron", "optax", "optax.losses.multiclass_perceptron_loss("
              "scores, labels)", mp, x, y),
        _case("multiclass_perceptron", "optax", "optax.losses.multiclass_perceptron_loss("
              "scores, labels)", mp, ties, ties_y, "tied maxima share the gradient (row 2: "
              "the target ties class 2)"),
    ]
    s = np.round(rng.normal(size=(3, 4)), 4)
    lab = rng.choice([-1.0, 1.0], size=(3, 4))
    cases.append(_case("perceptron", "optax", "optax.losses.perceptron_loss(scores, targets)",
                       optax.losses.perceptron_loss, s, lab))
    cases.append(_case("perceptron", "optax", "optax.losses.perceptron_loss(scores, targets)",
                       optax.losses.perceptron_loss, np.array([0.0, 0.0, 2.0]),
                       np.array([1.0, -1.0, 1.0]), "scores of 0: values only", grad=False))

    ch = keras.losses.categorical_hinge
    kx = np.round(rng.normal(size=(4, 4)), 4)
    kt = np.eye(4)[rng.integers(0, 4, size=4)]
    quirk = np.array([[-1.0, -0.5, -2.0], [-1.0, 0.5, -2.0], [0.3, -0.4, -0.2], [2.0, 1.0, -1.0]])
    quirk_t = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.25, 0.5, 0.25]])
    call = "keras.losses.categorical_hinge(targets, predictions)"
    cases.append(_case("categorical_hinge", "keras", call, lambda a, b: ch(b, a), kx, kt))
    cases.append(_case("categorical_hinge", "keras", call, lambda a, b: ch(b, a), quirk, quirk_t,
                       "row 0: Keras's 0 floor ([-1, -0.5, -2], class 1 gives 1.5); row 3: "
                       "probability targets"))

    payload = {
        "generator": "tests/goldens/make_hinge_variants.py",
        "libraries": {"keras": keras.__version__, "keras_backend": keras.backend.backend(),
                      "jax": jax.__version__, "optax": optax.__version__,
                      "numpy": np.__version__},
        "cases": cases,
    }
    OUT.write_text(dump(payload))
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
