"""Regenerate cross_entropy_variants.json: Keras 3 and optax numbers for binary_focal,
categorical_focal, generalized_cross_entropy and poly1_cross_entropy.

Keras 3 and optax are not dependencies of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install keras jax optax
    /tmp/oracle/bin/python tests/goldens/make_cross_entropy_variants.py

Everything runs on JAX in float64 (``jax_enable_x64``; Keras on its JAX backend, which keeps
float64 inputs in float64, unlike its NumPy backend, which casts them to float32). One exception:
Keras's ``ops.mean`` computes in float32 even for float64 inputs, and BinaryFocalCrossentropy ends
with a mean over the last axis, so its values carry one float32 rounding (relative error below
6e-8; the test compares them at 1e-7). Its gradients do not: with a last axis of size 1 the mean
is a cast, whose transpose passes the cotangent 1 exactly. Gradients are ``jax.grad`` of the sum
of the unreduced loss with respect to the predictions.
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
from keras.src.losses import losses as losses_module  # noqa: E402

OUT = Path(__file__).parent / "cross_entropy_variants.json"


def _r(a: np.ndarray) -> np.ndarray:
    """Inputs rounded to 4 decimals: short in JSON, and exactly what both sides compute on."""
    return np.round(a, 4)


def dump(payload: dict) -> str:
    """Compact JSON, one case per line."""
    head = {k: v for k, v in payload.items() if k != "cases"}
    lines = [json.dumps(c, separators=(",", ":")) for c in payload["cases"]]
    return (json.dumps(head)[:-1] + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n")


def _case(loss: str, library: str, call: str, fn, x: np.ndarray, y: np.ndarray, params: dict,
          note: str = "", grad: bool = True, targets: object = None) -> dict:
    """``fn(x, y)`` -> unreduced loss (jnp); the gradient is d sum(loss) / d x."""
    xj, yj = jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y)
    out = np.asarray(fn(xj, yj), dtype=np.float64)
    case = {"loss": loss, "library": library, "call": call, "note": note, "params": params,
            "inputs": {"predictions": np.asarray(x).tolist(),
                       "targets": np.asarray(y).tolist() if targets is None else targets},
            "unreduced": out.tolist()}
    if grad:
        g = jax.grad(lambda a: jnp.sum(fn(a, yj)))(xj)
        case["grad_of_sum"] = np.asarray(g).tolist()
    if loss == "binary_focal":
        # Keras's ops.mean computes in float32 even for float64 inputs; the same call with only
        # that mean (here over a last axis of size 1) done in float64 gives the float64 number
        real_mean = losses_module.ops.mean
        losses_module.ops.mean = lambda t, axis=None: jnp.mean(t, axis=axis)
        try:
            case["unreduced_float64_mean"] = np.asarray(fn(xj, yj), dtype=np.float64).tolist()
        finally:
            losses_module.ops.mean = real_mean
    return case


def _binary_focal(params: dict):
    kw = {"apply_class_balancing": params.get("apply_class_balancing", False),
          "alpha": params.get("alpha", 0.25), "gamma": params.get("gamma", 2.0),
          "from_logits": params.get("from_logits", False),
          "label_smoothing": params.get("label_smoothing", 0.0)}
    # a trailing axis of size 1 makes Keras's mean over the last axis the identity: elementwise
    return lambda x, y: keras.losses.binary_focal_crossentropy(
        y[..., None], x[..., None], **kw)


def _categorical_focal(params: dict):
    kw = {"alpha": params.get("alpha", 0.25), "gamma": params.get("gamma", 2.0),
          "from_logits": params.get("from_logits", False),
          "label_smoothing": params.get("label_smoothing", 0.0)}
    return lambda x, y: keras.losses.categorical_focal_crossentropy(y, x, **kw)


def main() -> None:
    rng = np.random.default_rng(5)
    cases = []

    # ---- binary_focal: keras.losses.binary_focal_crossentropy (BinaryFocalCrossentropy)
    p = _r(rng.uniform(0.02, 0.98, size=(3, 3)))
    t = rng.integers(0, 2, size=(3, 3)).astype(float)
    t[0, :2] = [0.3, 0.8]  # soft labels
    edge_p = np.array([0.0, 1.0, 1e-9, 1.0 - 1e-9, 0.0, 1.0, 0.5, 3e-7])
    edge_t = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    z = np.concatenate([_r(rng.normal(size=4) * 3.0),
                        [1000.0, -1000.0, 100.0, -100.0, 0.0, 20.0]])
    zt = np.array([1, 0, 1, 0, 1, 0, 0, 1, 0, 1], dtype=float)
    call = ("keras.losses.binary_focal_crossentropy(targets[..., None], predictions[..., None], "
            "**params)")
    for params, x, y, note in [
        ({}, p, t, "defaults: gamma 2, no class balancing"),
        ({"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5, "label_smoothing": 0.1},
         p, t, ""),
        ({"gamma": 0.0}, p, t, "gamma 0: Keras's clipped binary cross-entropy"),
        ({"gamma": 0.5, "apply_class_balancing": True}, p, t, ""),
        ({}, edge_p, edge_t, "probabilities 0, 1 and beyond the clip bounds"),
        ({"from_logits": True}, z, zt, "sigmoid then clip: a logit of -1000 with y = 1 gives "
         "-log(1e-7), not 1000"),
        ({"from_logits": True, "apply_class_balancing": True, "gamma": 3.0,
          "label_smoothing": 0.2}, z, zt, ""),
    ]:
        cases.append(_case("binary_focal", "keras", call, _binary_focal(params), x, y, params,
                           note))

    # ---- categorical_focal: keras.losses.categorical_focal_crossentropy
    c = 4
    q = rng.uniform(0.05, 1.0, size=(3, c))
    q = q / q.sum(axis=1, keepdims=True)
    oh = np.eye(c)[rng.integers(0, c, size=3)]
    soft = rng.uniform(0.0, 1.0, size=(3, c))
    soft = soft / soft.sum(axis=1, keepdims=True)
    raw = np.array([[1.0, 2.0, 1.0, 0.0], [0.0, 0.0, 3.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
    raw_t = np.eye(c)[[1, 2, 0]]
    logits = _r(rng.normal(size=(3, c)) * 2.0)
    logits[0] = [1000.0, -1000.0, 0.0, 3.0]
    call = "keras.losses.categorical_focal_crossentropy(targets, predictions, **params)"
    for params, x, y, note in [
        ({}, q, oh, "defaults: alpha 0.25, gamma 2"),
        ({"alpha": [0.1, 0.2, 0.3, 0.4], "gamma": 1.5, "label_smoothing": 0.2}, q, soft, ""),
        ({"gamma": 0.0, "alpha": 1.0}, q, soft, "gamma 0, alpha 1: Keras's categorical CE"),
        ({}, raw, raw_t, "rows renormalised ([1, 2, 1, 0] sums to 4), zeros clipped to 1e-7"),
        ({"from_logits": True, "gamma": 2.5}, logits, oh, "softmax first; a row of +-1000"),
    ]:
        cases.append(_case("categorical_focal", "keras", call, _categorical_focal(params), x, y,
                           params, note))

    # ---- generalized_cross_entropy: keras.losses.categorical_generalized_cross_entropy
    labels = rng.integers(0, c, size=3)
    q2 = q.copy()
    q2[0] = [0.0, 1.0, 0.0, 0.0]
    labels2 = labels.copy()
    labels2[0] = 1
    call = "keras.losses.categorical_generalized_cross_entropy(targets, predictions, q)"
    for qq, x, y, note, g in [
        (0.5, q, labels, "", True),
        (0.7, q2, labels2, "p_y = 1 gives 0", True),
        (1.0, q, labels, "q = 1 (the function accepts it; the class requires q < 1): 1 - p_y",
         True),
        (0.05, q, labels, "small q approaches cross-entropy", True),
    ]:
        cases.append(_case(
            "generalized_cross_entropy", "keras", call,
            lambda a, b, qq=qq: keras.losses.categorical_generalized_cross_entropy(b, a, q=qq),
            x, y, {"q": qq}, note, grad=g))

    # ---- poly1_cross_entropy: optax.losses.poly_loss_cross_entropy
    lg = _r(rng.normal(size=(3, c)) * 2.0)
    big = lg.copy()
    big[0] = [1000.0, -1000.0, 0.0, 2.0]
    big[1] = [-1000.0, 1000.0, 999.0, 0.0]
    call = "optax.losses.poly_loss_cross_entropy(predictions, targets, epsilon=epsilon)"
    idx = rng.integers(0, c, size=3)
    for eps, x, y, note, tgt in [
        (2.0, lg, soft, "probability targets", None),
        (-1.0, lg, soft, "epsilon -1", None),
        (0.5, lg, np.eye(c)[idx], "one-hot targets (our test also sends them as indices)",
         None),
        (2.0, big, np.eye(c)[idx], "logits of +-1000", None),
    ]:
        cases.append(_case(
            "poly1_cross_entropy", "optax", call,
            lambda a, b, eps=eps: optax.losses.poly_loss_cross_entropy(a, b, epsilon=eps),
            x, y, {"epsilon": eps}, note, targets=tgt))
    cases[-2]["targets_as_indices"] = idx.tolist()

    payload = {
        "generator": "tests/goldens/make_cross_entropy_variants.py",
        "libraries": {"keras": keras.__version__, "keras_backend": keras.backend.backend(),
                      "jax": jax.__version__, "optax": optax.__version__,
                      "numpy": np.__version__},
        "cases": cases,
    }
    OUT.write_text(dump(payload))
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
