"""Wrong formulas no correct loss computes, written out in NumPy for the mistake catalog.

Each returns a :class:`Variant` (or None where the mistake cannot show on this request): arrays
under check names, as a mistaken implementation would produce them. Reductions go through the
core's ``reduce_loss`` (:meth:`Context.reduce`), so a variant differs from the reference only by
the mistake itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .context import Context

WESTON_WATKINS = ("multiclass_hinge", "multi_margin", "linear_svm")
HINGE_POWERS = {"hinge": 1, "squared_hinge": 2}


@dataclass(frozen=True)
class Variant:
    """What one mistaken implementation returns, by check name."""

    label: str
    arrays: dict[str, np.ndarray]


def log_softmax(z: np.ndarray) -> np.ndarray:
    m = np.max(z, axis=-1, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


def _index_targets(ctx: Context, n: int, c: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(one-hot (n, c) with zero rows for ignored targets, valid mask (n,)) or None."""
    t = ctx.inputs.get("targets")
    if t is None or np.asarray(t).dtype.kind not in "iu":
        return None
    t = np.asarray(t).reshape(-1)
    if t.size != n:
        return None
    ignore = ctx.params.get("ignore_index")
    valid = np.ones(n, bool) if ignore is None else t != ignore
    onehot = np.zeros((n, c))
    onehot[np.arange(n)[valid], t[valid]] = 1.0
    return onehot, valid


def _target_rows(ctx: Context, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(target rows (N, C), valid mask or None for probability targets)."""
    n, c = z.shape
    t = ctx.inputs.get("targets")
    if t is not None and np.asarray(t).dtype.kind == "f" and np.asarray(t).size == n * c:
        return np.asarray(t, dtype=np.float64).reshape(n, c), None
    found = _index_targets(ctx, n, c)
    return None if found is None else (found[0], found[1])


def _masked(ref: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """``ref`` with NaN where ``bad`` (broadcast to ``ref``'s shape)."""
    return np.where(np.broadcast_to(bad, ref.shape), np.nan, ref)


def _nonfinite_variant(ctx: Context, label: str, bad_loss: np.ndarray,
                       bad_grad: dict[str, np.ndarray]) -> Variant | None:
    """The reference with NaN wherever a naive implementation breaks down.

    ``bad_loss`` marks elements of the unreduced loss (or whole samples) where the naive value is
    not finite; ``bad_grad`` the same for each gradient check.
    """
    if not bad_loss.any() and not any(b.any() for b in bad_grad.values()):
        return None
    n = ctx.n_samples
    bad_sample = bad_loss.reshape(n, -1).any(axis=1)
    value = ctx.ref["value"]
    if ctx.reduction != "none" or value.ndim == 0:
        value = np.asarray(np.nan if bad_loss.any() else value)
    elif value.shape == bad_loss.shape:
        value = _masked(value, bad_loss)
    else:
        value = _masked(value.reshape(n, -1), bad_sample[:, None]).reshape(value.shape)
    arrays = {"value": value, "per_sample": _masked(ctx.ref["per_sample"], bad_sample)}
    for check, bad in bad_grad.items():
        if check in ctx.ref:
            arrays[check] = _masked(ctx.ref[check], bad)
    return Variant(label, arrays)


def softmax_overflow(ctx: Context) -> Variant | None:
    """exp(z) / sum(exp(z)) without subtracting the row maximum, in the computation dtype."""
    z = ctx.class_scores()
    if z is None:
        return None
    rows = _target_rows(ctx, z)
    with np.errstate(all="ignore"):
        e = np.exp(z.astype(ctx.dtype))
        total = np.sum(e, axis=-1, keepdims=True)
        p = e / total
    broken = ~np.isfinite(total[:, 0]) | (total[:, 0] == 0)
    bad_value = broken.copy()
    if rows is not None:  # -log p_y with p_y == 0 (underflow) is inf too
        bad_value |= np.any((rows[0] > 0) & (p == 0), axis=-1)
    if "W" in ctx.inputs:
        grads = {k: np.full(ctx.ref[k].shape, broken.any()) for k in ctx.ref
                 if k.startswith("gradients.")}
    else:
        rows = np.repeat(broken[:, None], z.shape[1], axis=1)
        grads = {"gradient": rows.reshape(ctx.inputs["predictions"].shape)}
    return _nonfinite_variant(ctx, "softmax as exp(z) / sum(exp(z)) without subtracting the "
                              "maximum", bad_value, grads)


def softmax_log_underflow(ctx: Context) -> Variant | None:
    """log of a softmax that does subtract the row maximum: the probabilities are finite, but a
    target's that underflowed to 0 (another class leads by more than ~745) gives -log 0 = inf in
    the loss; the gradient p - y stays right."""
    z = ctx.class_scores()
    rows = None if z is None else _target_rows(ctx, z)
    if z is None or rows is None:
        return None
    with np.errstate(all="ignore"):
        e = np.exp(z.astype(ctx.dtype) - np.max(z, axis=-1, keepdims=True))
        p = e / np.sum(e, axis=-1, keepdims=True)
    bad_value = np.any((rows[0] > 0) & (p == 0), axis=-1)
    return _nonfinite_variant(ctx, "the target's softmax probability underflows to 0 even "
                              "with the maximum subtracted", bad_value, {})


def missing_clipping(ctx: Context) -> Variant | None:
    """log(p) and log(1 - p) taken as they are: infinite at p = 0 or 1."""
    p = ctx.float_input("predictions")
    if p is None:
        return None
    edge = (p == 0.0) | (p == 1.0)
    return _nonfinite_variant(ctx, "log(p) and log(1 - p) without clipping p", edge,
                              {"gradient": edge})


def svm_counts_correct_class(ctx: Context) -> Variant | None:
    """The Weston-Watkins sum over every class, j = y included (each sample gains margin^p)."""
    s = ctx.class_scores()
    found = None if s is None else _index_targets(ctx, s.shape[0], s.shape[1])
    loss = ctx.unreduced
    if found is None or loss is None:
        return None
    onehot = found[0]
    margin = float(ctx.params.get("margin", 1.0))
    power = int(ctx.params.get("p", 1))
    if margin <= 0:
        return None
    scale = np.ones(s.shape[0])
    if ctx.spec.name == "multi_margin":
        w = ctx.params.get("weight")
        scale = (onehot @ np.asarray(w, np.float64) if w is not None else scale) / s.shape[1]
    extra = ctx.reduce((scale * margin**power).reshape(loss.shape))
    arrays = {"value": ctx.ref["value"] + extra.value,
              "per_sample": ctx.ref["per_sample"] + extra.per_sample}
    if power == 1:  # vectorised: binary[y] = -row_sum, the row sum counting j = y as active
        g = -onehot * (scale * extra.cotangent.reshape(-1))[:, None]
        for check, extra_g in ctx.score_gradient(g).items():
            arrays[check] = ctx.ref[check] + extra_g
    return Variant(f"the hinge summed over every class, the correct one included (+{margin:g}"
                   f"{'^2' if power == 2 else ''} per sample)", arrays)


def hinge_labels_01(ctx: Context) -> Variant | None:
    """The binary hinge on labels in {0, 1}: max(0, m - y s)^p with y = 0 or 1."""
    power = HINGE_POWERS.get(ctx.spec.name)
    s, y = ctx.float_input("predictions"), ctx.float_input("targets")
    if power is None or s is None or y is None:
        return None
    y01 = y if bool(np.all((y == 0) | (y == 1))) else (y + 1.0) / 2.0
    gap = float(ctx.params.get("margin", 1.0)) - y01 * s
    hinge = np.maximum(gap, 0.0)
    red = ctx.reduce(hinge**power)
    grad = -power * y01 * hinge ** (power - 1) * (gap > 0) * red.cotangent
    return Variant("the hinge with {0, 1} labels used as they are", {
        "value": red.value, "per_sample": red.per_sample, "gradient": grad})


def kl_reversed(ctx: Context) -> Variant | None:
    """KL(q || p) = sum q (log q - log p) instead of KL(p || q), q = exp(predictions)."""
    x, t = ctx.float_input("predictions"), ctx.float_input("targets")
    if x is None or t is None:
        return None
    log_target = ctx.params.get("log_target") or any(
        i.name == "targets" and i.kind == "log_probabilities" for i in ctx.spec.inputs)
    with np.errstate(all="ignore"):
        log_p = t if log_target else np.log(t)
        q = np.exp(x)
        red = ctx.reduce(q * (x - log_p))
        grad = q * (x - log_p + 1.0) * red.cotangent
    return Variant("KL(q || p): the divergence of the prediction from the target",
                   {"value": red.value, "per_sample": red.per_sample, "gradient": grad})


def _smoothing_candidates(c: int, eps: float) -> list[tuple[str, float, float, float]]:
    """(label, a, b_on_wrong, b_everywhere): q = a t + b_on_wrong (1 - t) + b_everywhere."""
    out = [("eps / C added without the (1 - eps) factor", 1.0, 0.0, eps / c),
           ("eps instead of eps / C", 1.0 - eps, 0.0, eps)]
    if c > 1:
        out.insert(0, ("eps / (C - 1) on the other classes only", 1.0 - eps, eps / (c - 1), 0.0))
    if c != 2:
        out.append(("eps / 2 (the binary formula)", 1.0 - eps, 0.0, eps / 2))
    return out


def label_smoothing_wrong_formula(ctx: Context) -> list[Variant]:
    """Common wrong smoothed targets, with the cross-entropy they give (no class weights)."""
    eps = float(ctx.params.get("label_smoothing") or 0.0)
    x = ctx.float_input("predictions")
    if not eps or x is None or x.ndim != 2 or ctx.params.get("weight") is not None:
        return []
    rows = _target_rows(ctx, x)
    if rows is None:
        return []
    t, valid = rows
    mean_weight = None if valid is None else valid.astype(np.float64)
    vmask = np.ones((x.shape[0], 1)) if valid is None else valid[:, None].astype(np.float64)
    logp = log_softmax(x)
    out = []
    for label, a, b_wrong, b_all in _smoothing_candidates(x.shape[1], eps):
        q = (a * t + b_wrong * (1.0 - t) + b_all) * vmask
        red = ctx.reduce(-np.sum(q * logp, axis=1), mean_weight=mean_weight)
        grad = (np.sum(q, axis=1, keepdims=True) * np.exp(logp) - q) * red.cotangent[:, None]
        out.append(Variant(f"label smoothing with {label}", {
            "value": red.value, "per_sample": red.per_sample, "gradient": grad}))
    return out


def _softmax_probability_gradient(ctx: Context, z: np.ndarray, g: np.ndarray
                                  ) -> np.ndarray | None:
    """dL/dp for a softmax loss, from the reference dL/dz.

    With ``dL/dlog p_n = lambda_n u_n`` for a known direction ``u_n`` (the smoothed, weighted
    target row), ``dL/dz_n = lambda_n (u_n - p_n sum(u_n))``; ``lambda_n`` follows by least
    squares and ``dL/dp_n = lambda_n u_n / p_n``.
    """
    z2, g2 = z.reshape(-1, z.shape[-1]), g.reshape(-1, z.shape[-1])
    rows = _target_rows(ctx, z2)
    if rows is None:
        return None
    t, valid = rows
    c = z2.shape[1]
    eps = float(ctx.params.get("label_smoothing") or 0.0)
    w_param = ctx.params.get("weight")
    w = np.ones(c) if w_param is None else np.asarray(w_param, np.float64)
    if valid is None:
        u = ((1.0 - eps) * t + eps / c) * w
    else:
        u = (1.0 - eps) * t * w + (eps / c) * w * valid[:, None]
    p = np.exp(log_softmax(z2))
    v = u - p * u.sum(axis=1, keepdims=True)
    vv = np.sum(v * v, axis=1)
    lam = np.where(vv > 0, np.sum(g2 * v, axis=1) / np.where(vv > 0, vv, 1.0), 0.0)
    with np.errstate(all="ignore"):
        return (lam[:, None] * u / p).reshape(z.shape)


def gradient_wrt_probabilities(ctx: Context) -> Variant | None:
    """dL/dp instead of dL/dz for every logits input (softmax or elementwise sigmoid)."""
    arrays = {}
    for spec_input in ctx.spec.inputs:
        check = "gradient" if spec_input.name == "predictions" else \
            f"gradients.{spec_input.name}"
        z = ctx.float_input(spec_input.name)
        if spec_input.kind != "logits" or z is None or check not in ctx.ref:
            continue
        g = ctx.ref[check]
        if ctx.spec.family == "multiclass":
            if z.ndim in (1, 2):
                gp = _softmax_probability_gradient(ctx, z, g)
                if gp is not None:
                    arrays[check] = gp
        else:  # dp/dz = sigmoid(z) sigmoid(-z) = exp(-softplus(z) - softplus(-z))
            with np.errstate(all="ignore"):
                arrays[check] = g / np.exp(-np.logaddexp(0.0, z) - np.logaddexp(0.0, -z))
    return Variant("the gradient with respect to the probabilities p", arrays) if arrays else None
