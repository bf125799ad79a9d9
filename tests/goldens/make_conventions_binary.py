"""Regenerate conventions_binary.json: Keras 3 and optax numbers for the binary losses' conventions
(binary_cross_entropy, binary_cross_entropy_with_logits, sigmoid_focal, hinge, squared_hinge).

Keras 3 and optax are not dependencies of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install keras jax optax
    /tmp/oracle/bin/python tests/goldens/make_conventions_binary.py

Recorded with keras 3.15.1 (JAX backend), jax 0.10.2, optax 0.2.8 (the versions are also written
into the file). Everything runs on JAX in float64 (``jax_enable_x64``). Keras' loss classes get
``dtype="float64"``; one more step keeps them in float64: Keras' type promotion maps every 64-bit
result to 32 bits on the JAX and torch backends (``BIT64_TO_BIT32_DTYPE``, to match JAX without
x64), so ``ops.mean`` over the last axis would run in float32. The script lifts that mapping, as
Keras' TensorFlow backend does, and checks that the unpatched numbers agree to 1e-5 (they differ
only by float32 rounding). One case records Keras' default float32 numbers as they are.

Each case holds the service's loss name, params (with ``convention``), inputs, reduction and
optional sample_weight, Keras' or optax's value (``reduction='none'``: the unreduced array), and
``grad``: ``jax.grad`` of the value (of its sum for 'none') with respect to the predictions. Inputs
stay off the hinge kinks and off the clip bounds (``jnp.maximum`` and ``jnp.clip`` give one half
there, the service a documented one-sided choice); clipped regions are included (gradient 0).
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
from keras.src.backend.common import dtypes as keras_dtypes  # noqa: E402

OUT = Path(__file__).parent / "conventions_binary.json"
KERAS_REDUCTIONS = {"none": "none", "sum": "sum", "mean": "sum_over_batch_size"}


def _keras_64(on: bool) -> None:
    """Let Keras' type promotion keep float64 (its TensorFlow backend's behaviour) or not."""
    keras_dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64" if on else "float32"


def _keras_case(loss: str, params: dict, call: str, make, x, y, reduction: str,
                sample_weight=None, note: str = "") -> dict:
    """``make(reduction)`` builds the Keras loss object; called as ``obj(y_true, y_pred, sw)``."""
    xj, yj = jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y, dtype=jnp.float64)
    sw = None if sample_weight is None else jnp.asarray(sample_weight, dtype=jnp.float64)
    obj = make(KERAS_REDUCTIONS[reduction])

    def value(a):
        return obj(yj, a, sample_weight=sw)

    _keras_64(False)
    rough = np.asarray(value(xj), dtype=np.float64)
    _keras_64(True)
    out = np.asarray(value(xj), dtype=np.float64)
    assert np.allclose(out, rough, rtol=1e-5, atol=1e-6), (loss, call, out, rough)
    g = jax.grad(lambda a: jnp.sum(value(a)))(xj)
    case = {"loss": loss, "library": "keras", "call": call, "note": note,
            "params": params, "reduction": reduction,
            "inputs": {"predictions": np.asarray(x).tolist(), "targets": np.asarray(y).tolist()},
            "value": out.tolist(), "grad": np.asarray(g).tolist()}
    if sample_weight is not None:
        case["sample_weight"] = np.asarray(sample_weight).tolist()
    return case


def _optax_case(loss: str, params: dict, call: str, fn, x, y, note: str = "") -> list[dict]:
    """optax's elementwise loss ('none') and its plain mean ('mean'), with jax.grad."""
    xj, yj = jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y, dtype=jnp.float64)
    cases = []
    for reduction, red in (("none", lambda v: v), ("mean", jnp.mean)):
        out = np.asarray(red(fn(xj, yj)), dtype=np.float64)
        g = jax.grad(lambda a, red=red: jnp.sum(red(fn(a, yj))))(xj)
        cases.append({"loss": loss, "library": "optax", "call": call, "note": note,
                      "params": params, "reduction": reduction,
                      "inputs": {"predictions": np.asarray(x).tolist(),
                                 "targets": np.asarray(y).tolist()},
                      "value": out.tolist(), "grad": np.asarray(g).tolist()})
    return cases


def _keras_family(loss, params, call, make, x, y, sw, note="") -> list[dict]:
    """The generic last-axis mean check: none, sum and mean, and mean with sample_weight."""
    cases = [_keras_case(loss, params, call, make, x, y, r, note=note)
             for r in ("none", "sum", "mean")]
    cases.append(_keras_case(loss, params, call, make, x, y, "mean", sw, note=note))
    cases.append(_keras_case(loss, params, call, make, x, y, "none", sw, note=note))
    return cases


def main() -> None:
    rng = np.random.default_rng(2024)
    cases: list[dict] = []

    # ---------------------------------------------------------------- binary_cross_entropy
    # clipped elements (p = 0, 1, 1e-9, 1 - 1e-9) next to interior ones, hard and soft labels
    p = np.array([[0.0, 0.3, 1.0, 0.85],
                  [1e-9, 0.6, 0.02, 1.0 - 1e-9],
                  [0.45, 0.999, 0.1, 0.7]])
    y = np.array([[1.0, 0.0, 0.0, 1.0],
                  [1.0, 0.25, 0.0, 0.0],
                  [0.6, 1.0, 1.0, 0.0]])
    sw = np.array([0.5, 2.0, 1.25])
    bce_call = "keras.losses.BinaryCrossentropy(reduction=..., dtype='float64')"
    for ls in (0.0, 0.2):
        params = {"convention": "keras"} | ({"label_smoothing": ls} if ls else {})

        def make(red, ls=ls):
            return keras.losses.BinaryCrossentropy(label_smoothing=ls, reduction=red,
                                                   dtype="float64")

        cases += _keras_family("binary_cross_entropy", params,
                               bce_call.replace("(", f"(label_smoothing={ls}, "), make, p, y, sw,
                               "clipped elements have gradient 0")
    # a 1-D input is one sample; the headline p = 0, y = 1 gives -log(1e-7) = 16.118
    cases.append(_keras_case("binary_cross_entropy", {"convention": "keras"}, bce_call,
                             lambda red: keras.losses.BinaryCrossentropy(reduction=red,
                                                                         dtype="float64"),
                             np.array([0.0]), np.array([1.0]), "none", note="headline 16.118"))
    cases.append(_keras_case("binary_cross_entropy", {"convention": "keras"}, bce_call,
                             lambda red: keras.losses.BinaryCrossentropy(reduction=red,
                                                                         dtype="float64"),
                             np.array([0.2, 0.9, 1.0]), np.array([0.0, 1.0, 1.0]), "sum",
                             note="1-D input: one sample"))
    # Keras' own float32 numbers (no patch needed): 1 - 1e-7 rounds to 1 - 2^-23 in float32
    _keras_64(False)
    p32 = np.array([[0.0], [1.0], [0.3]], dtype=np.float32)
    y32 = np.array([[1.0], [0.0], [1.0]], dtype=np.float32)
    v32 = keras.losses.BinaryCrossentropy(reduction="none")(y32, p32)
    _keras_64(True)
    cases.append({"loss": "binary_cross_entropy", "library": "keras",
                  "call": "keras.losses.BinaryCrossentropy(reduction='none') (float32)",
                  "note": "float32: p = 1, y = 0 gives 15.94", "params": {"convention": "keras"},
                  "reduction": "none", "dtype": "float32",
                  "inputs": {"predictions": p32.tolist(), "targets": y32.tolist()},
                  "value": np.asarray(v32, dtype=np.float64).tolist()})

    # ------------------------------------------------------ binary_cross_entropy_with_logits
    z = np.round(rng.normal(size=(3, 4)) * 3.0, 4)
    z[0, 0], z[1, 2] = -40.0, 35.0  # far past Keras NumPy's 16.118 saturation
    t = np.array([[1.0, 0.0, 1.0, 0.3], [0.0, 1.0, 1.0, 0.0], [0.5, 1.0, 0.0, 1.0]])
    cases += _keras_family(
        "binary_cross_entropy_with_logits", {"convention": "keras"},
        "keras.losses.BinaryCrossentropy(from_logits=True, reduction=..., dtype='float64')",
        lambda red: keras.losses.BinaryCrossentropy(from_logits=True, reduction=red,
                                                    dtype="float64"),
        z, t, sw, "JAX backend: log_sigmoid, exact at large logits")
    cases += _optax_case("binary_cross_entropy_with_logits", {"convention": "optax"},
                         "optax.losses.sigmoid_binary_cross_entropy(logits, labels)",
                         optax.losses.sigmoid_binary_cross_entropy, z, t)

    # --------------------------------------------------------------------------- sigmoid_focal
    zf = np.round(rng.normal(size=(3, 4)) * 2.5, 4)
    zf[0, 1], zf[2, 3] = -20.0, 18.0  # sigmoid below 1e-7 / above 1 - 1e-7: Keras' clip
    tf = np.array([[1.0, 1.0, 0.0, 0.2], [0.0, 1.0, 1.0, 0.0], [0.7, 0.0, 1.0, 0.0]])
    for gamma in (2.0, 1.5):
        params = {"convention": "keras"} | ({} if gamma == 2.0 else {"gamma": gamma})
        cases += _keras_family(
            "sigmoid_focal", params,
            f"keras.losses.BinaryFocalCrossentropy(gamma={gamma}, from_logits=True, "
            "apply_class_balancing=False, reduction=..., dtype='float64')",
            lambda red, gamma=gamma: keras.losses.BinaryFocalCrossentropy(
                gamma=gamma, from_logits=True, reduction=red, dtype="float64"),
            zf, tf, sw, "sigmoid, then the clipped BCE: saturates")
    for alpha, gamma in ((None, 2.0), (0.25, 2.0), (None, 0.5), (0.7, 1.5)):
        params = {"convention": "optax"}
        if alpha is not None:
            params["alpha"] = alpha
        if gamma != 2.0:
            params["gamma"] = gamma
        cases += _optax_case(
            "sigmoid_focal", params,
            f"optax.losses.sigmoid_focal_loss(logits, labels, alpha={alpha}, gamma={gamma})",
            lambda a, b, alpha=alpha, gamma=gamma: optax.losses.sigmoid_focal_loss(
                a, b, alpha=alpha, gamma=gamma), zf, tf,
            "alpha=None: no weighting" if alpha is None else "")

    # ---------------------------------------------------------------- hinge / squared_hinge
    pm = rng.choice([-1.0, 1.0], size=(3, 4))
    d = rng.uniform(0.1, 1.5, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))
    s = np.round(pm * (1.0 - d), 4)  # 1 - y s = d: active and inactive, none at the kink
    for name, cls in (("hinge", keras.losses.Hinge), ("squared_hinge", keras.losses.SquaredHinge)):
        for labels, note in ((pm, "{-1, 1} labels"), ((pm + 1.0) / 2.0, "{0, 1} labels: 2y - 1")):
            cases += _keras_family(
                name, {"convention": "keras"},
                f"keras.losses.{cls.__name__}(reduction=..., dtype='float64')",
                lambda red, cls=cls: cls(reduction=red, dtype="float64"), s, labels, sw, note)
    y3 = pm.copy()
    y3[0, 1], y3[1, 3], y3[2, 0] = 0.0, 0.0, 0.0
    s3 = s.copy()
    s3[0, 1] = 0.4  # a 0 label costs max(0, 1 - 0) = 1 whatever the score
    cases += _optax_case("hinge", {"convention": "optax"},
                         "optax.losses.hinge_loss(predictor_outputs, targets)",
                         optax.losses.hinge_loss, s3, y3, "labels {-1, 0, 1} used as given")
    cases += _optax_case("hinge", {"convention": "optax"},
                         "optax.losses.hinge_loss(predictor_outputs, targets)",
                         optax.losses.hinge_loss, s, (pm + 1.0) / 2.0,
                         "{0, 1} labels are NOT mapped")

    payload = {
        "generator": "tests/goldens/make_conventions_binary.py",
        "libraries": {"keras": keras.__version__, "keras_backend": keras.backend.backend(),
                      "jax": jax.__version__, "optax": optax.__version__,
                      "numpy": np.__version__},
        "cases": cases,
    }
    head = {k: v for k, v in payload.items() if k != "cases"}
    lines = [json.dumps(c, separators=(",", ":")) for c in cases]
    OUT.write_text(json.dumps(head)[:-1] + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
