"""Regenerate conventions_multiclass.json: Keras and optax numbers for the ``convention`` values of
multiclass_hinge, triplet_margin, kl_div and ctc.

Keras 3 and optax are not dependencies of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install keras jax optax
    /tmp/oracle/bin/python tests/goldens/make_conventions_multiclass.py

Recorded with Keras 3.15.1 (JAX backend), jax 0.10.2, optax 0.2.8 (the versions are written into
the JSON). Everything runs on JAX in float64 (``jax_enable_x64``, Keras ``floatx`` float64), except
Keras' CTC, which Keras computes in float32 whatever the input dtype (its dtype promotion of
float64 with float32 gives float32); those cases carry ``"rtol": 1e-5``.

Each case holds the service's request (``loss``, ``inputs``, ``params`` with the convention) and the
library's numbers translated to the service's layout: ``unreduced`` (our reduction 'none'),
optionally ``reduced`` (the library's own reductions: {"mean": ..., "sum": ...}) and
``weighted_mean`` (a Keras loss object called with ``sample_weight``), and ``grads``
(``jax.grad`` of the sum of the unreduced loss, per differentiable input). CTC: Keras and optax take
batch-major logits and apply log_softmax themselves, so the case's ``log_probs`` are
``log_softmax(logits)`` transposed to (T, N, C) and its gradient is ``jax.grad`` w.r.t. the logits
transposed likewise, which is the service's ``gradient_convention='torch'`` gradient. Rows at a
kink are recorded without gradients (JAX's ``maximum`` gives one half there).
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

keras.config.set_floatx("float64")

OUT = Path(__file__).parent / "conventions_multiclass.json"


def _np(a) -> list:
    return np.asarray(a, dtype=np.float64).tolist()


def _grads(fn, args: dict, wrt: tuple[str, ...]) -> dict:
    """jax.grad of sum(fn(**args)) w.r.t. each name in ``wrt``."""
    names = list(wrt)

    def total(*xs):
        kw = dict(args)
        kw.update(dict(zip(names, xs, strict=True)))
        return jnp.sum(fn(**kw))

    gs = jax.grad(total, argnums=tuple(range(len(names))))(*(args[k] for k in names))
    return {k: _np(g) for k, g in zip(names, gs, strict=True)}


# ------------------------------------------------------------------------- multiclass_hinge


def _hinge_cases(rng: np.random.Generator) -> list[dict]:
    # rows where Weston-Watkins (cs231n/torch) and Crammer-Singer differ: several violating
    # wrong classes; the last two rows have every wrong score negative (Keras' 0 floor)
    x = np.round(rng.normal(size=(6, 4)) * 1.5, 4)
    x[4] = [-1.0, -0.5, -2.0, -1.5]
    x[5] = [-0.3, -2.0, 0.8, -0.9]
    y = rng.integers(0, 4, size=6)
    y[4], y[5] = 1, 2
    ties = np.array([[1.0, 1.0, -0.5], [0.3, 0.3, 0.3], [2.0, 1.0, 2.0]])
    ties_y = np.array([2, 0, 1])
    cases = []
    mh = optax.losses.multiclass_hinge_loss

    def optax_case(note, scores, labels, margin=1.0):
        # optax has no margin: max_j (x_j + m [j != y]) - x_y = m * cs_1(x / m)
        def f(s):
            return margin * mh(s / margin, jnp.asarray(labels))
        s = jnp.asarray(scores, dtype=jnp.float64)
        return {"loss": "multiclass_hinge", "library": "optax",
                "call": "optax.losses.multiclass_hinge_loss(scores, labels)"
                + ("" if margin == 1.0 else f" (margin {margin}: {margin} * loss(scores / "
                   f"{margin}, labels))"),
                "note": note, "params": {"convention": "optax", "margin": margin},
                "inputs": {"predictions": _np(scores), "targets": np.asarray(labels).tolist()},
                "unreduced": _np(f(s)), "grads": _grads(lambda predictions: f(predictions),
                                                        {"predictions": s}, ("predictions",))}

    cases.append(optax_case("rows where Weston-Watkins and Crammer-Singer differ", x, y))
    cases.append(optax_case("tied maxima share the gradient", ties, ties_y))
    cases.append(optax_case("margin 0.5 through optax's scaling identity", x, y, 0.5))

    onehot = np.eye(4)[y]
    loss_obj = keras.losses.CategoricalHinge()
    sw = np.array([1.0, 2.0, 0.5, 3.0, 1.5, 0.25])

    def kf(predictions):
        return keras.losses.categorical_hinge(jnp.asarray(onehot), predictions)

    xj = jnp.asarray(x, dtype=jnp.float64)
    cases.append({
        "loss": "multiclass_hinge", "library": "keras",
        "call": "keras.losses.CategoricalHinge()(one_hot(targets), scores)",
        "note": "rows 4-5: every wrong score negative, Keras' 0 floor",
        "params": {"convention": "keras"},
        "inputs": {"predictions": _np(x), "targets": y.tolist()},
        "unreduced": _np(kf(xj)),
        "reduced": {"mean": float(loss_obj(onehot, x)),
                    "sum": float(keras.losses.CategoricalHinge(reduction="sum")(onehot, x))},
        "weighted_mean": {"sample_weight": sw.tolist(),
                          "value": float(loss_obj(onehot, x, sample_weight=sw))},
        "grads": _grads(kf, {"predictions": xj}, ("predictions",)),
    })
    return cases


# ------------------------------------------------------------------------- triplet_margin


def _triplet_cases(rng: np.random.Generator) -> list[dict]:
    a = np.round(rng.normal(size=(5, 4)), 4)
    p = np.round(a + 0.6 * rng.normal(size=(5, 4)), 4)
    n = np.round(a + 0.9 * rng.normal(size=(5, 4)), 4)
    cases = []

    def case(note, anchor, positive, negative, degree, margin, eps, grad=True):
        def f(anchor, positive, negative):
            return optax.losses.triplet_margin_loss(anchor, positive, negative,
                                                    norm_degree=degree, margin=margin, eps=eps)
        args = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in
                (("anchor", anchor), ("positive", positive), ("negative", negative))}
        c = {"loss": "triplet_margin", "library": "optax",
             "call": f"optax.losses.triplet_margin_loss(anchors, positives, negatives, "
                     f"norm_degree={degree}, margin={margin}, eps={eps})",
             "note": note,
             "params": {"convention": "optax", "p": float(degree), "margin": margin, "eps": eps},
             "inputs": {k: _np(v) for k, v in args.items()},
             "unreduced": _np(f(**args))}
        if grad:
            c["grads"] = _grads(f, args, ("anchor", "positive", "negative"))
        return c

    cases.append(case("p = 2, defaults (eps inside the root)", a, p, n, 2, 1.0, 1e-6))
    cases.append(case("p = 2, eps = 0.01 makes torch and optax differ visibly", a, p, n, 2, 1.0,
                      1e-2))
    cases.append(case("p = 4, margin 0.5", a, p, n, 4, 0.5, 1e-3))
    # p = 1 where every difference is positive: optax's missing abs does not matter
    ap = np.abs(np.round(rng.normal(size=(3, 3)), 4)) + 0.1
    an = np.abs(np.round(rng.normal(size=(3, 3)), 4)) + 0.1
    z = np.zeros((3, 3))
    cases.append(case("p = 1 with all differences positive (abs is moot)", z, z - ap, z - an,
                      1, 1.0, 1e-6))
    return cases


def _triplet_bug_case() -> dict:
    """optax's norm_degree = 1 without abs: a triplet that should give 0 gives 4.0."""
    a, p, n = [[0.0, 0.0]], [[-0.25, -0.25]], [[1.25, 1.25]]
    out = optax.losses.triplet_margin_loss(jnp.asarray(a), jnp.asarray(p), jnp.asarray(n),
                                           norm_degree=1, margin=1.0, eps=0.0)
    return {"loss": "triplet_margin", "library": "optax",
            "call": "optax.losses.triplet_margin_loss(a, p, n, norm_degree=1, eps=0.0)",
            "note": "optax's missing abs: the service keeps |a - b| and gives 0",
            "params": {"convention": "optax", "p": 1.0, "eps": 0.0},
            "inputs": {"anchor": a, "positive": p, "negative": n},
            "optax_buggy": _np(out), "unreduced": [0.0]}


# ------------------------------------------------------------------------- kl_div


def _kl_cases(rng: np.random.Generator) -> list[dict]:
    q = rng.dirichlet(np.full(4, 1.5), size=5)
    p = rng.dirichlet(np.full(4, 1.5), size=5)
    p[0] = [0.0, 0.3, 0.7, 0.0]  # zero targets: optax gives 0, Keras clips to 1e-7
    q[1] = [1e-9, 0.5, 0.3, 0.2 - 1e-9]  # below Keras' clip: gradient 0 there
    q[2] = [0.0, 0.25, 0.25, 0.5]  # q = 0: fine for Keras (clipped), -inf log for the others
    logq = np.log(np.where(q > 0, q, 1.0))  # row 2 is only used by the Keras cases
    cases = []

    rows = [0, 1, 3, 4]
    lq, pp = jnp.asarray(logq[rows]), jnp.asarray(p[rows])

    def ok(predictions):
        return optax.losses.kl_divergence(predictions, pp)

    cases.append({"loss": "kl_div", "library": "optax",
                  "call": "optax.losses.kl_divergence(log_predictions, targets)",
                  "note": "row 0 has zero targets (contribute 0)",
                  "params": {"convention": "optax"},
                  "inputs": {"predictions": _np(lq), "targets": _np(pp)},
                  "unreduced": _np(ok(lq)),
                  "grads": _grads(ok, {"predictions": lq}, ("predictions",))})
    lp = jnp.log(jnp.asarray(p[[1, 3, 4]]))
    lq3 = jnp.asarray(logq[[1, 3, 4]])

    def okl(predictions):
        return optax.losses.kl_divergence_with_log_targets(predictions, lp)

    cases.append({"loss": "kl_div", "library": "optax",
                  "call": "optax.losses.kl_divergence_with_log_targets(log_predictions, "
                          "log_targets)",
                  "note": "log_target", "params": {"convention": "optax", "log_target": True},
                  "inputs": {"predictions": _np(lq3), "targets": _np(lp)},
                  "unreduced": _np(okl(lq3)),
                  "grads": _grads(okl, {"predictions": lq3}, ("predictions",))})

    qj, pj = jnp.asarray(q), jnp.asarray(p)

    def kk(predictions):
        return keras.losses.kl_divergence(pj, predictions)

    sw = np.array([0.5, 1.0, 2.0, 1.5, 3.0])
    obj = keras.losses.KLDivergence()
    cases.append({"loss": "kl_div", "library": "keras",
                  "call": "keras.losses.KLDivergence()(targets, probabilities)",
                  "note": "predictions are probabilities; zero targets and q below 1e-7 clipped",
                  "params": {"convention": "keras"},
                  "inputs": {"predictions": _np(q), "targets": _np(p)},
                  "unreduced": _np(kk(qj)),
                  "reduced": {"mean": float(obj(p, q)),
                              "sum": float(keras.losses.KLDivergence(reduction="sum")(p, q))},
                  "weighted_mean": {"sample_weight": sw.tolist(),
                                    "value": float(obj(p, q, sample_weight=sw))},
                  "grads": _grads(kk, {"predictions": qj}, ("predictions",))})
    # (2, 3, 4): Keras sums the last axis, then averages the remaining 6 values
    q3 = rng.dirichlet(np.full(4, 2.0), size=(2, 3))
    p3 = rng.dirichlet(np.full(4, 2.0), size=(2, 3))
    q3j, p3j = jnp.asarray(q3), jnp.asarray(p3)

    def kk3(predictions):
        return keras.losses.kl_divergence(p3j, predictions)

    cases.append({"loss": "kl_div", "library": "keras",
                  "call": "keras.losses.KLDivergence()(targets, probabilities)",
                  "note": "3-D input: per-row sums, mean over the 6 rows",
                  "params": {"convention": "keras"},
                  "inputs": {"predictions": _np(q3), "targets": _np(p3)},
                  "unreduced": _np(kk3(q3j)), "reduced": {"mean": float(obj(p3, q3))},
                  "grads": _grads(kk3, {"predictions": q3j}, ("predictions",))})
    return cases


# ------------------------------------------------------------------------- ctc


def _to_service(logits: np.ndarray) -> np.ndarray:
    return np.asarray(jax.nn.log_softmax(jnp.asarray(logits), axis=-1)).transpose(1, 0, 2)


def _ctc_cases(rng: np.random.Generator) -> list[dict]:
    logits = np.round(rng.normal(size=(3, 6, 5)) * 1.5, 4)
    cases = []
    # optax: varied lengths; blank 0 and blank 4
    for blank, labels, il, tl in (
        (0, np.array([[1, 2, 1], [3, 3, 0], [4, 0, 0]]), [6, 5, 4], [3, 2, 1]),
        (4, np.array([[1, 0, 1], [2, 3, 3], [0, 0, 0]]), [6, 6, 3], [3, 3, 1]),
    ):
        t_pad = (np.arange(6)[None, :] >= np.asarray(il)[:, None]).astype(float)
        l_pad = (np.arange(3)[None, :] >= np.asarray(tl)[:, None]).astype(float)

        def f(z, t_pad=t_pad, l_pad=l_pad, labels=labels, blank=blank):
            return optax.losses.ctc_loss(z, jnp.asarray(t_pad), jnp.asarray(labels),
                                         jnp.asarray(l_pad), blank_id=blank)

        x = jnp.asarray(logits)
        g = jax.grad(lambda z, f=f: jnp.sum(f(z)))(x)
        out = f(x)
        cases.append({"loss": "ctc", "library": "optax",
                      "call": f"optax.losses.ctc_loss(logits, logit_paddings, labels, "
                              f"label_paddings, blank_id={blank})",
                      "note": f"varied lengths, blank {blank}; mean = jnp.mean(per sequence)",
                      "params": {"convention": "optax", "blank": blank},
                      "inputs": {"log_probs": _to_service(logits).tolist(),
                                 "targets": labels.tolist(), "input_lengths": il,
                                 "target_lengths": tl},
                      "unreduced": _np(out),
                      "reduced": {"mean": float(jnp.mean(out)), "sum": float(jnp.sum(out))},
                      "grads": {"log_probs": np.asarray(g).transpose(1, 0, 2).tolist()}})
    labels = np.array([[1, 2, 1], [3, 3, 0], [4, 0, 0]])
    yj = jnp.asarray(labels, dtype=jnp.int32)
    x = jnp.asarray(logits)
    out = keras.losses.ctc(yj, x)
    g = jax.grad(lambda z: jnp.sum(keras.losses.ctc(yj, z)))(x)
    sw = np.array([1.0, 3.0, 0.5])
    obj = keras.losses.CTC()
    cases.append({"loss": "ctc", "library": "keras",
                  "call": "keras.losses.CTC()(y_true, logits) (float32 inside)",
                  "note": "0 = blank = padding, every frame used", "rtol": 1e-5,
                  "params": {"convention": "keras"},
                  "inputs": {"log_probs": _to_service(logits).tolist(),
                             "targets": labels.tolist(), "input_lengths": [6, 6, 6],
                             "target_lengths": [int(v) for v in (labels != 0).sum(axis=1)]},
                  "unreduced": _np(out),
                  "reduced": {"mean": float(obj(labels, logits)),
                              "sum": float(keras.losses.CTC(reduction="sum")(labels, logits))},
                  "weighted_mean": {"sample_weight": sw.tolist(),
                                    "value": float(obj(labels, logits, sample_weight=sw))},
                  "grads": {"log_probs": np.asarray(g, dtype=np.float64).transpose(1, 0, 2)
                            .tolist()}})
    return cases


def dump(payload: dict) -> str:
    """Compact JSON, one case per line."""
    head = {k: v for k, v in payload.items() if k != "cases"}
    lines = [json.dumps(c, separators=(",", ":")) for c in payload["cases"]]
    return json.dumps(head)[:-1] + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n"


def main() -> None:
    rng = np.random.default_rng(231)
    cases = [*_hinge_cases(rng), *_triplet_cases(rng), _triplet_bug_case(), *_kl_cases(rng),
             *_ctc_cases(rng)]
    payload = {
        "generator": "tests/goldens/make_conventions_multiclass.py",
        "libraries": {"keras": keras.__version__, "keras_backend": keras.backend.backend(),
                      "jax": jax.__version__, "optax": optax.__version__,
                      "numpy": np.__version__},
        "cases": cases,
    }
    OUT.write_text(dump(payload))
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
