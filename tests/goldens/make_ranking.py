"""Regenerate ranking.json: optax numbers for ranking_softmax (``service/losses/ranking.py``),
with ``jax.grad`` gradients.

optax is not a dependency of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install jax optax
    /tmp/oracle/bin/python tests/goldens/make_ranking.py

optax runs with ``jax_enable_x64`` in float64. ``per_list`` is
``optax.losses.ranking_softmax_loss(logits, labels, reduce_fn=None)`` (our unreduced loss),
``reduced`` the default ``reduce_fn=jnp.mean`` (our ``mean``). Gradients are of the sum of the
per-list values with respect to the logits.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

OUT = Path(__file__).parent / "ranking.json"


def dump(data: dict) -> str:
    """Indented JSON with each innermost list of numbers on one line (small, diff-friendly)."""
    text = json.dumps(data, indent=1)
    return re.sub(r"\[[^\[\]{}\"]*\]", lambda m: re.sub(r"\s+", " ", m.group(0)), text) + "\n"


def case(s: np.ndarray, y: np.ndarray, note: str, weights: np.ndarray | None = None) -> dict:
    fn = optax.losses.ranking_softmax_loss
    sj, yj = jnp.asarray(s), jnp.asarray(y)
    w = None if weights is None else jnp.asarray(weights)
    per = fn(sj, yj, weights=w, reduce_fn=None)
    grad = jax.grad(lambda a: jnp.sum(fn(a, yj, weights=w, reduce_fn=None)))(sj)
    out = {"loss": "ranking_softmax", "library": "optax",
           "call": "optax.losses.ranking_softmax_loss(logits=predictions, labels=targets"
                   + (", weights=weights" if weights is not None else "") + ", reduce_fn=...)",
           "note": note, "inputs": {"predictions": s.tolist(), "targets": y.tolist()},
           "params": {}, "per_list": np.asarray(per).tolist(),
           "reduced": float(fn(sj, yj, weights=w)),
           "grad_of_sum": {"predictions": np.asarray(grad).tolist()}}
    if weights is not None:
        out["optax_weights"] = weights.tolist()
    return out


def main() -> None:
    rng = np.random.default_rng(5)
    s = np.round(rng.normal(size=(4, 5)) * 2, 4)
    y = rng.integers(0, 4, size=(4, 5)).astype(np.float64)
    y[2] = 0.0  # no relevant item: loss 0
    s3 = np.round(rng.normal(size=(2, 3, 4)), 4)
    y3 = (rng.uniform(size=(2, 3, 4)) < 0.4).astype(np.float64)
    w = np.round(rng.uniform(0.5, 2.0, size=(4, 5)), 3)
    cases = [
        case(s, y, "graded labels; list 2 has none relevant"),
        case(s3, y3, "(2, 3, 4): six lists of four, binary labels"),
        case(np.array([1000.0, -1000.0, 0.0]), np.array([0.0, 1.0, 2.0]),
             "one list (1-D): a scalar; scores of +-1000"),
        case(s, y, "optax's weights multiply the labels: ours with targets * weights", w),
    ]
    data = {"generator": "tests/goldens/make_ranking.py",
            "libraries": {"jax": jax.__version__, "optax": optax.__version__,
                          "numpy": np.__version__},
            "dtype": "float64", "cases": cases}
    OUT.write_text(dump(data))
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
