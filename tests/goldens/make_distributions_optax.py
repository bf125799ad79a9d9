"""Regenerate distributions_optax.json: optax numbers and ``jax.grad`` gradients for
``kl_div_with_log_targets`` and ``generalized_kl`` (``service/losses/distributions.py``).

optax is not a dependency of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install jax optax
    /tmp/oracle/bin/python tests/goldens/make_distributions_optax.py

optax runs with ``jax_enable_x64`` in float64. Both functions sum over the last axis (one value
per distribution); the gradients are of the sum of those values w.r.t. the log-predictions.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

OUT = Path(__file__).parent / "distributions_optax.json"


def case(loss: str, fn, x: np.ndarray, t: np.ndarray, note: str = "") -> dict:
    xj, tj = jnp.asarray(x), jnp.asarray(t)
    out = fn(xj, tj)
    grad = jax.grad(lambda a: jnp.sum(fn(a, tj)))(xj)
    return {"loss": loss, "library": "optax", "dtype": "float64",
            "call": f"optax.losses.{fn.__name__}(predictions, targets)", "note": note,
            "inputs": {"predictions": np.asarray(x).tolist(), "targets": np.asarray(t).tolist()},
            "params": {}, "unreduced": np.asarray(out).tolist(),
            "grad_of_sum": np.asarray(grad).tolist()}


def main() -> None:
    rng = np.random.default_rng(11)
    logq = np.log(rng.dirichlet(np.full(4, 1.5), size=3))
    logp = np.log(rng.dirichlet(np.full(4, 1.5), size=3))
    logp_edge = np.array([-1000.0, np.log(0.25), np.log(0.75)])  # p = e^-1000 = 0 exactly
    logq_edge = np.array([-3.0, np.log(0.5), np.log(0.5) - 1e-9])
    q = rng.uniform(0.1, 2.0, size=(2, 3, 4))
    p = rng.uniform(0.0, 2.0, size=(2, 3, 4))
    p[0, 0, 0] = 0.0
    kl = optax.losses.kl_divergence_with_log_targets
    gkl = optax.losses.generalized_kl_divergence
    cases = [
        case("kl_div_with_log_targets", kl, logq, logp),
        case("kl_div_with_log_targets", kl, logq_edge, logp_edge,
             "one distribution (1-D): a scalar; a log-target of -1000 contributes 0"),
        case("generalized_kl", gkl, np.log(q), p, "3-D unnormalized measures, one p = 0"),
        case("generalized_kl", gkl, logq, np.exp(logp), "normalized: equals KL(p || q)"),
    ]
    data = {"generator": "tests/goldens/make_distributions_optax.py",
            "libraries": {"jax": jax.__version__, "optax": optax.__version__,
                          "numpy": np.__version__},
            "cases": cases}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
