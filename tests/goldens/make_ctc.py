"""Regenerate ctc.json: optax 0.2.8 ``optax.ctc_loss`` and Keras 3 ``keras.losses.ctc`` numbers.

Neither library is a dependency of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install keras jax optax
    /tmp/oracle/bin/python tests/goldens/make_ctc.py

Both take batch-major logits ``(B, T, K)`` and apply log_softmax inside. optax marks padded
frames and labels with padding arrays; Keras uses every frame and treats label 0 as both the
blank and the padding. Everything runs on JAX in float64 (``jax_enable_x64``); gradients are
``jax.grad`` of the sum of the per-sequence losses with respect to the logits.
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

OUT = Path(__file__).parent / "ctc.json"


def _optax_case(note: str, logits: np.ndarray, input_lengths: list[int], labels: np.ndarray,
                target_lengths: list[int], blank: int) -> dict:
    t = logits.shape[1]
    s = labels.shape[1]
    logit_pad = (np.arange(t)[None, :] >= np.asarray(input_lengths)[:, None]).astype(float)
    label_pad = (np.arange(s)[None, :] >= np.asarray(target_lengths)[:, None]).astype(float)
    x = jnp.asarray(logits, dtype=jnp.float64)

    def f(z):
        return optax.ctc_loss(z, jnp.asarray(logit_pad), jnp.asarray(labels),
                              jnp.asarray(label_pad), blank_id=blank)

    out = np.asarray(f(x), dtype=np.float64)
    g = np.asarray(jax.grad(lambda z: jnp.sum(f(z)))(x))
    return {"library": "optax", "call": f"optax.ctc_loss(logits, logit_paddings, labels, "
            f"label_paddings, blank_id={blank})", "note": note, "blank": blank,
            "logits": logits.tolist(), "input_lengths": list(input_lengths),
            "labels": labels.tolist(), "target_lengths": list(target_lengths),
            "per_sequence": out.tolist(), "grad_of_sum": g.tolist()}


def _keras_case(note: str, logits: np.ndarray, labels: np.ndarray) -> dict:
    x = jnp.asarray(logits, dtype=jnp.float64)
    y = jnp.asarray(labels, dtype=jnp.int32)

    def f(z):
        return keras.losses.ctc(y, z)

    out = np.asarray(f(x))
    g = np.asarray(jax.grad(lambda z: jnp.sum(f(z)))(x))
    t = logits.shape[1]
    return {"library": "keras", "call": "keras.losses.ctc(y_true, y_pred) (jax backend)",
            "note": note, "blank": 0, "logits": logits.tolist(),
            "input_lengths": [t] * logits.shape[0], "labels": labels.tolist(),
            "target_lengths": [int(v) for v in (labels != 0).sum(axis=1)],
            "dtype": str(out.dtype), "per_sequence": out.astype(np.float64).tolist(),
            "grad_of_sum": g.astype(np.float64).tolist()}


def dump(payload: dict) -> str:
    """Compact JSON, one case per line."""
    head = {k: v for k, v in payload.items() if k != "cases"}
    lines = [json.dumps(c, separators=(",", ":")) for c in payload["cases"]]
    return json.dumps(head)[:-1] + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n"


def main() -> None:
    rng = np.random.default_rng(2006)
    logits = np.round(rng.normal(size=(3, 6, 4)) * 1.5, 4)
    labels = np.array([[1, 2, 1], [3, 3, 0], [2, 0, 0]])
    cases = [
        _optax_case("varied lengths, a repeated label, blank 0", logits, [6, 4, 5], labels,
                    [3, 2, 1], 0),
        _optax_case("blank = 3 (last class)", logits,
                    [6, 6, 3], np.array([[1, 2, 0], [0, 0, 2], [1, 1, 1]]), [3, 2, 0], 3),
        _optax_case("impossible: '1 1' in 2 frames (optax: finite, about -log_epsilon)",
                    logits[:1], [2], np.array([[1, 1, 0]]), [2], 0),
        _keras_case("0 = blank = padding, every frame used", logits,
                    np.array([[1, 2, 1], [3, 3, 0], [2, 0, 0]])),
    ]
    payload = {"generator": "tests/goldens/make_ctc.py",
               "versions": {"optax": optax.__version__, "keras": keras.__version__,
                            "jax": jax.__version__},
               "cases": cases}
    OUT.write_text(dump(payload))
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
