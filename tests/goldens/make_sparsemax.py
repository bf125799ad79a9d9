"""Regenerate sparsemax.json: optax numbers for sparsemax and multiclass_sparsemax.

optax is not a dependency of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install jax optax
    /tmp/oracle/bin/python tests/goldens/make_sparsemax.py

Runs on JAX in float64 (``jax_enable_x64``). Gradients are ``jax.grad`` of the sum of the
unreduced loss with respect to the logits / scores; the sparsemax projection itself
(``optax.projections.projection_simplex``) is recorded too, as an independent check of the
sort-based projection.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

OUT = Path(__file__).parent / "sparsemax.json"


def _case(loss: str, call: str, fn, x, y, note: str = "") -> dict:
    xj, yj = jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y)
    out = np.asarray(fn(xj, yj), dtype=np.float64)
    g = jax.grad(lambda a: jnp.sum(fn(a, yj)))(xj)
    return {"loss": loss, "library": "optax", "call": call, "note": note, "params": {},
            "inputs": {"predictions": np.asarray(x).tolist(), "targets": np.asarray(y).tolist()},
            "unreduced": out.tolist(), "grad_of_sum": np.asarray(g).tolist()}


def dump(payload: dict) -> str:
    """Compact JSON, one case per line."""
    head = {k: v for k, v in payload.items() if k != "cases"}
    lines = [json.dumps(c, separators=(",", ":")) for c in payload["cases"]]
    return json.dumps(head)[:-1] + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n"


def main() -> None:
    rng = np.random.default_rng(3)
    z = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 1000.0, -1000.0, 0.25])
    zl = np.array([1, 1, 1, 0, 0, 1, 0, 1, 1, 0], dtype=float)
    bin_call = "optax.losses.sparsemax_loss(logits, labels)"
    mc_call = "optax.losses.multiclass_sparsemax_loss(scores, labels)"
    mc = optax.losses.multiclass_sparsemax_loss
    x = np.round(rng.normal(size=(5, 5)) * 0.8, 4)
    y = rng.integers(0, 5, size=5)
    big = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 999.5, 1000.0], [0.2, 0.2, 0.2],
                    [1.0, 1.0, -1.0]])
    big_y = np.array([0, 1, 2, 0])
    two = np.array([[0.3, -0.2], [2.0, 0.1], [0.0, 0.0]])
    two_y = np.array([1, 0, 0])
    cases = [
        _case("sparsemax", bin_call, optax.losses.sparsemax_loss, z, zl,
              "the joins of sparse_plus at +-1 and logits of +-1000"),
        _case("multiclass_sparsemax", mc_call, mc, x, y),
        _case("multiclass_sparsemax", mc_call, mc, big, big_y,
              "scores of +-1000, a uniform row and tied scores"),
        _case("multiclass_sparsemax", mc_call, mc, two, two_y, "two classes"),
    ]
    scores = np.concatenate([x[:, :3], big[:, :3]])
    proj = np.asarray(jax.vmap(optax.projections.projection_simplex)(jnp.asarray(scores)))
    payload = {
        "generator": "tests/goldens/make_sparsemax.py",
        "libraries": {"jax": jax.__version__, "optax": optax.__version__,
                      "numpy": np.__version__},
        "projection": {"call": "jax.vmap(optax.projections.projection_simplex)(scores)",
                       "scores": scores.tolist(),
                       "sparsemax": proj.tolist()},
        "cases": cases,
    }
    OUT.write_text(dump(payload))
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
