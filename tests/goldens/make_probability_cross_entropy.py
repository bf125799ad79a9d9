"""Regenerate probability_cross_entropy.json: Keras 3 numbers for probability_cross_entropy's
``keras`` convention (CategoricalCrossentropy and SparseCategoricalCrossentropy, from_logits=False).

Keras 3 is not a dependency of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install keras jax
    /tmp/oracle/bin/python tests/goldens/make_probability_cross_entropy.py

Recorded with keras 3.15.1 (JAX backend) and jax 0.10.2 (the versions are also written into the
file). Everything runs on JAX in float64 (``jax_enable_x64``, Keras ``floatx`` float64, loss
objects with ``dtype="float64"``). As in ``make_conventions_binary.py``, Keras' type promotion maps
64-bit results to 32 bits on the JAX backend (``BIT64_TO_BIT32_DTYPE``); the script lifts that
mapping (as Keras' TensorFlow backend does) and checks that the unpatched numbers agree to 1e-5.
One case records Keras' default float32 numbers as they are (values only).

Each case holds the service's request (``loss``, ``params`` with ``convention``, ``inputs``,
``reduction``, optional ``sample_weight``), Keras' value (``reduction='none'``: the per-sample
array) and ``grad``: ``jax.grad`` of the value (of its sum for 'none') with respect to the
predictions. Index targets are SparseCategoricalCrossentropy cases, target rows (one-hot or soft)
CategoricalCrossentropy cases. The inputs put the libraries at odds: rows that do not sum to 1
(Keras renormalises), p = 0 and p = 1 (both clip, at different bounds), p = 1e-9 (clipped by
Keras only); no renormalised probability lies exactly on a clip bound (``jnp.clip`` gives one
half of the gradient there, the service a documented one-sided choice).
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
from keras.src.backend.common import dtypes as keras_dtypes  # noqa: E402

keras.config.set_floatx("float64")

OUT = Path(__file__).parent / "probability_cross_entropy.json"
KERAS_REDUCTIONS = {"none": "none", "sum": "sum", "mean": "sum_over_batch_size"}
LOSS = "probability_cross_entropy"


def _keras_64(on: bool) -> None:
    """Let Keras' type promotion keep float64 (its TensorFlow backend's behaviour) or not."""
    keras_dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64" if on else "float32"


def _make(sparse: bool, label_smoothing: float, reduction: str):
    if sparse:
        return keras.losses.SparseCategoricalCrossentropy(reduction=reduction, dtype="float64")
    return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing,
                                                reduction=reduction, dtype="float64")


def _case(p, t, reduction: str, *, label_smoothing: float = 0.0, sample_weight=None,
          note: str = "") -> dict:
    t = np.asarray(t)
    sparse = t.dtype.kind in "iu"
    xj = jnp.asarray(p, dtype=jnp.float64)
    yj = jnp.asarray(t) if sparse else jnp.asarray(t, dtype=jnp.float64)
    sw = None if sample_weight is None else jnp.asarray(sample_weight, dtype=jnp.float64)
    obj = _make(sparse, label_smoothing, KERAS_REDUCTIONS[reduction])

    def value(a):
        return obj(yj, a, sample_weight=sw)

    _keras_64(False)
    rough = np.asarray(value(xj), dtype=np.float64)
    _keras_64(True)
    out = np.asarray(value(xj), dtype=np.float64)
    assert np.allclose(out, rough, rtol=1e-5, atol=1e-6), (out, rough)
    g = jax.grad(lambda a: jnp.sum(value(a)))(xj)
    cls = "SparseCategoricalCrossentropy" if sparse else "CategoricalCrossentropy"
    smoothing = f"label_smoothing={label_smoothing}, " if label_smoothing else ""
    params: dict = {"convention": "keras"}
    if label_smoothing:
        params["label_smoothing"] = label_smoothing
    case = {"loss": LOSS, "library": "keras",
            "call": f"keras.losses.{cls}({smoothing}reduction={KERAS_REDUCTIONS[reduction]!r}, "
                    "dtype='float64')",
            "note": note, "params": params, "reduction": reduction,
            "inputs": {"predictions": np.asarray(p).tolist(), "targets": t.tolist()},
            "value": out.tolist(), "grad": np.asarray(g).tolist()}
    if sample_weight is not None:
        case["sample_weight"] = np.asarray(sample_weight).tolist()
    return case


def _family(p, t, sw, *, label_smoothing: float = 0.0, note: str = "") -> list[dict]:
    """Reductions none, sum and mean, and mean and none with sample_weight."""
    kw = {"label_smoothing": label_smoothing, "note": note}
    cases = [_case(p, t, r, **kw) for r in ("none", "sum", "mean")]
    cases.append(_case(p, t, "mean", sample_weight=sw, **kw))
    cases.append(_case(p, t, "none", sample_weight=sw, **kw))
    return cases


def main() -> None:
    cases: list[dict] = []

    # ------------------------------------------------------------ Keras' docstring example
    doc_p = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    doc_sw = np.array([0.3, 0.7])
    for t in (np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), np.array([1, 2])):
        cases += _family(doc_p, t, doc_sw, note="Keras docstring: 1.177, 0.814 with "
                         "sample_weight, 2.354 summed, [0.0513, 2.303]")

    # ------------------------------------------------- inputs where the libraries disagree
    p = np.array([[0.0, 0.7, 0.3],      # p_y = 0: clipped (16.118 vs sklearn's 36.04)
                  [0.2, 0.4, 0.2],      # sums to 0.8: renormalised
                  [1.0, 0.0, 0.0],      # p_y = 1: r = 1 clipped to 1 - 1e-7
                  [0.3, 1e-9, 0.9],     # sums to 1.2; p_y = 1e-9 clipped by Keras only
                  [0.05, 0.6, 0.35]])   # interior
    y = np.array([0, 1, 0, 1, 2])
    onehot = np.eye(3)[y]
    soft = np.array([[0.5, 0.5, 0.0], [0.1, 0.6, 0.3], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5],
                     [0.0, 0.0, 1.0]])
    sw = np.array([0.5, 2.0, 1.25, 0.8, 1.5])
    cases += _family(p, y, sw, note="index targets (sparse)")
    cases += _family(p, onehot, sw, note="one-hot targets")
    cases += _family(p, onehot, sw, label_smoothing=0.2, note="t (1 - ls) + ls / C")
    cases += _family(p, soft, sw, note="soft targets")
    cases += _family(p, soft, sw, label_smoothing=0.1, note="soft targets, smoothed")

    # a 1-D input is one sample (sparse: a 0-d index)
    p1 = np.array([0.2, 0.5, 0.5])
    cases.append(_case(p1, np.array(1), "sum", note="1-D input: one sample"))
    cases.append(_case(p1, np.array([0.0, 1.0, 0.0]), "none", note="1-D input: one sample"))

    # Keras' own float32 numbers: 1 - 1e-7 rounds to 1 - 2^-23 in float32
    _keras_64(False)
    keras.config.set_floatx("float32")
    p32 = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.25, 0.25, 0.5]], dtype=np.float32)
    y32 = np.array([0, 1, 2])
    v32 = keras.losses.SparseCategoricalCrossentropy(reduction="none")(y32, p32)
    keras.config.set_floatx("float64")
    _keras_64(True)
    cases.append({"loss": LOSS, "library": "keras",
                  "call": "keras.losses.SparseCategoricalCrossentropy(reduction='none') "
                          "(float32)",
                  "note": "float32: p_y = 0 gives 16.118, p_y = 1 gives 1.19e-7",
                  "params": {"convention": "keras"}, "reduction": "none", "dtype": "float32",
                  "inputs": {"predictions": p32.tolist(), "targets": y32.tolist()},
                  "value": np.asarray(v32, dtype=np.float64).tolist()})

    payload = {
        "generator": "tests/goldens/make_probability_cross_entropy.py",
        "libraries": {"keras": keras.__version__, "keras_backend": keras.backend.backend(),
                      "jax": jax.__version__, "numpy": np.__version__},
        "cases": cases,
    }
    head = {k: v for k, v in payload.items() if k != "cases"}
    lines = [json.dumps(c, separators=(",", ":")) for c in cases]
    OUT.write_text(json.dumps(head)[:-1] + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
