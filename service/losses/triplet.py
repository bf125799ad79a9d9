"""The triplet margin loss (PyTorch's TripletMarginLoss, or optax's with convention optax); the
variant with a choice of distance is :mod:`service.losses.triplet_distance`.

The kernel returns PyTorch's ``reduction='none'`` loss: one value per triplet (``(N,)``, or
``()`` for unbatched ``(D,)`` inputs). The hinge's kink follows PyTorch's ``clamp_min``: the
gradient passes where the clamped term is exactly 0.
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._math import as_float, ns
from .embedding import EMB_SHAPE, MARGIN_KINK
from .spec import Array, Convention, Example, InputSpec, LossOutput, LossSpec, ParamSpec

# --------------------------------------------------------------------------- triplet_margin


def _lp_norm(xp: Any, z: Array, p: float) -> Array:
    """``||z||_p`` over the last axis: ``(sum_i |z_i|^p)^(1/p)``."""
    if p == 2.0:
        return xp.sqrt(xp.sum(z * z, axis=-1))
    a = xp.abs(z)
    if p == 1.0:
        return xp.sum(a, axis=-1)
    return xp.sum(a**p, axis=-1) ** (1.0 / p)


def _lp_norm_grad(xp: Any, z: Array, d: Array, p: float) -> Array:
    """``d||z||_p / dz = sign(z) |z|^(p-1) / ||z||_p^(p-1)``, as PyTorch's norm backward.

    0 where ``z_i == 0`` (also for p < 1, where ``|z|^(p-1)`` is infinite) and 0 for a zero
    vector (``d == 0``); ``d`` is the norm over the last axis of ``z``.
    """
    if p == 1.0:
        return xp.sign(z)
    zero_d = (d == 0.0)[..., None]
    safe_d = xp.where(zero_d, 1.0, d[..., None])
    if p == 2.0:
        return xp.where(zero_d, 0.0, z / safe_d)
    a = xp.abs(z)
    zero_a = a == 0.0
    safe_a = xp.where(zero_a, 1.0, a)  # no 0 ** negative (p < 1) in the unused branch
    num = xp.where(zero_a, 0.0, xp.sign(z) * safe_a ** (p - 1.0))
    return xp.where(zero_d, 0.0, num / safe_d ** (p - 1.0))


def _optax_distance(xp: Any, z: Array, p: float, eps: float) -> Array:
    """optax's triplet distance ``(sum_i |z_i|^p + eps)^(1/p)`` over the last axis (with the
    absolute value optax omits: see the ``optax`` convention of ``triplet_margin``)."""
    if p == 2.0:
        return xp.sqrt(xp.sum(z * z, axis=-1) + eps)
    a = xp.abs(z)
    if p == 1.0:
        return xp.sum(a, axis=-1) + eps
    return (xp.sum(a**p, axis=-1) + eps) ** (1.0 / p)


def triplet_margin(anchor: Array, positive: Array, negative: Array, *, margin: float = 1.0,
                   p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                   convention: str = "torch") -> LossOutput:
    """Triplet margin loss with PyTorch's (default) or optax's distance.

    ``l = max(d(a, p) - d(a, n) + margin, 0)`` with ``d(u, v) = ||u - v + eps||_p`` (``eps`` added
    to every coordinate of the difference); ``swap`` replaces ``d(a, n)`` by
    ``min(d(a, n), d(p, n))``. With ``g(z) = sign(z)|z|^(p-1)/||z||_p^(p-1)`` and ``s = 1`` where
    ``d(a,p) - d(a,n) + margin >= 0``: ``dl/da = s (g(z_ap) - g(z_an))``, ``dl/dp = -s g(z_ap)``,
    ``dl/dn = s g(z_an)`` (without swap).

    ``convention="optax"`` (``optax.losses.triplet_margin_loss``): ``z = u - v`` and
    ``d(u, v) = (sum_i |z_i|^p + eps)^(1/p)`` (``eps`` inside the root); the same gradient with
    this ``d`` in ``g``'s denominator. optax writes ``(u - v)^p`` without the absolute value, so
    for odd or fractional ``p`` its numbers are wrong (signed sums) or NaN; the absolute value is
    kept here (equal to optax for even integer ``p``, 2 included). No swap in optax.

    Args:
      anchor: [N, D] or [D] anchor embeddings.
      positive: same shape, embeddings of the same identity.
      negative: same shape, embeddings of another identity.
      margin: required gap between the distances, > 0.
      p: norm degree of the distance, > 0.
      eps: added to each coordinate of the difference, >= 0.
      swap: use the distance swap (Balntas et al. 2016); torch convention only.
      convention: "torch" or "optax" (where ``eps`` goes; see above).

    Returns:
      LossOutput with loss [N] (or [] for unbatched [D] inputs).

    Raises:
      InvalidParam: ``swap`` under the optax convention.

    References:
      Schroff, Kalenichenko & Philbin (2015), FaceNet; Balntas et al. (2016);
      ``torch.nn.functional.triplet_margin_loss``; ``optax.losses.triplet_margin_loss``.
    """
    xp = ns(anchor, positive, negative)
    _checks.ndim_in(anchor, "anchor", (1, 2), "((N, D) or (D,))")
    _checks.same_shape(anchor, positive, "anchor", "positive")
    _checks.same_shape(anchor, negative, "anchor", "negative")
    if convention == "optax":
        if swap:
            raise errors.InvalidParam(
                "optax.losses.triplet_margin_loss has no distance swap; use convention torch "
                "for swap", ("params", "swap"))
        z_ap = anchor - positive
        z_an = anchor - negative
        d_ap = _optax_distance(xp, z_ap, p, eps)
        d_an = _optax_distance(xp, z_an, p, eps)
    else:
        z_ap = anchor - positive + eps
        z_an = anchor - negative + eps
        d_ap = _lp_norm(xp, z_ap, p)
        d_an = _lp_norm(xp, z_an, p)
    if swap:
        z_pn = positive - negative + eps
        d_pn = _lp_norm(xp, z_pn, p)
        d_neg = xp.minimum(d_an, d_pn)
    else:
        d_neg = d_an
    h = d_ap - d_neg + margin
    loss = xp.maximum(h, 0.0)

    def vjp(cot: Array) -> dict[str, Array]:
        s = (as_float(xp, h >= 0.0, h) * cot)[..., None]  # clamp_min: active at h == 0
        g_ap = _lp_norm_grad(xp, z_ap, d_ap, p)
        g_an = _lp_norm_grad(xp, z_an, d_an, p)
        if not swap:
            return {"anchor": s * (g_ap - g_an), "positive": -s * g_ap, "negative": s * g_an}
        g_pn = _lp_norm_grad(xp, z_pn, d_pn, p)
        # torch.minimum's backward: the smaller distance takes the gradient, a tie splits it
        w_an = (as_float(xp, d_an < d_pn, h) + 0.5 * as_float(xp, d_an == d_pn, h))[..., None]
        w_pn = 1.0 - w_an
        return {
            "anchor": s * (g_ap - w_an * g_an),
            "positive": -s * (g_ap + w_pn * g_pn),
            "negative": s * (w_an * g_an + w_pn * g_pn),
        }

    return LossOutput(loss, vjp)


def _sample_triplet(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np

    def dist(u: Any, v: Any) -> Any:
        return np.sqrt(np.sum((u - v + 1e-6) ** 2, axis=-1))

    a = rng.normal(size=(n, c))
    pos = a + 0.5 * rng.normal(size=(n, c))
    neg = a + rng.normal(size=(n, c))
    for _ in range(100):  # resample the rare rows near the kink d_ap - d_an + 1 = 0
        bad = np.abs(dist(a, pos) - dist(a, neg) + 1.0) < 0.05
        if not bad.any():
            break
        neg[bad] = a[bad] + rng.normal(size=(int(bad.sum()), c))
    return {"anchor": a, "positive": pos, "negative": neg}, {}


TRIPLET_INPUTS = (  # triplet_margin's, and triplet_margin_with_distance's
    InputSpec("anchor", "embeddings", EMB_SHAPE, "anchor embeddings", differentiable=True),
    InputSpec("positive", "embeddings", EMB_SHAPE + ", same shape as anchor",
              "embeddings of the same identity as the anchor", differentiable=True),
    InputSpec("negative", "embeddings", EMB_SHAPE + ", same shape as anchor",
              "embeddings of a different identity", differentiable=True),
)

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="triplet_margin",
        fn=triplet_margin,
        family="embedding",
        summary="Triplet margin loss: the anchor must be closer to the positive than to the "
        "negative by a margin (PyTorch's TripletMarginLoss, or optax's with convention optax).",
        inputs=TRIPLET_INPUTS,
        params=(
            ParamSpec("margin", "float", 1.0, "required gap d(a,n) - d(a,p)",
                      minimum=0.0, exclusive_minimum=True),
            ParamSpec("p", "float", 2.0, "degree of the p-norm distance",
                      minimum=0.0, exclusive_minimum=True),
            ParamSpec("eps", "float", 1e-6,
                      "torch: added to each coordinate of the difference u - v (torch "
                      "pairwise_distance); optax: added to the sum of |u - v|^p inside the root",
                      minimum=0.0),
            ParamSpec("swap", "bool", False,
                      "distance swap: use min(d(a,n), d(p,n)) as the negative distance (torch "
                      "convention only)"),
        ),
        formula=r"\ell = \max\bigl(d(a,p) - d(a,n) + m,\ 0\bigr),\quad "
        r"d(u,v) = \lVert u - v + \epsilon \rVert_p;\quad "
        r"\text{swap: } d(a,n) \leftarrow \min\bigl(d(a,n), d(p,n)\bigr)"
        r"\quad \text{(optax: } d(u,v) = (\textstyle\sum_i |u_i - v_i|^p + \epsilon)^{1/p})",
        reference="Schroff, Kalenichenko & Philbin (2015), FaceNet: A Unified Embedding for "
        "Face Recognition and Clustering, CVPR; Balntas, Riba, Ponsa & Mikolajczyk (2016), "
        "Learning local feature descriptors with triplets and shallow convolutional neural "
        "networks, BMVC (swap); seed 001 ('Deep learning loss functions': triplet loss, no "
        "worked numbers); torch.nn.functional.triplet_margin_loss; "
        "optax.losses.triplet_margin_loss",
        gradient_note=r"With z = u - v + \epsilon and g(z) = \operatorname{sign}(z)|z|^{p-1} / "
        r"\lVert z\rVert_p^{p-1} (0 where z_i = 0, and 0 for a zero vector, as torch's norm "
        r"backward): \partial\ell/\partial a = s(g(z_{ap}) - g(z_{an})), "
        r"\partial\ell/\partial p = -s\,g(z_{ap}), \partial\ell/\partial n = s\,g(z_{an}), "
        r"s = 1[d(a,p) - d(a,n) + m \ge 0]. " + MARGIN_KINK + " With swap, the smaller of "
        "d(a,n), d(p,n) takes the gradient and a tie splits it in halves (torch.minimum). "
        r"Convention optax: z = u - v and the same g with d = (\sum_i |z_i|^p + \epsilon)^{1/p} "
        "in its denominator; the kink rule is the same (active at exactly 0, where jax.grad of "
        "optax's jnp.maximum gives one half).",
        notes="Default (torch) semantics: eps is added to each coordinate of the difference; "
        "convention optax puts it inside the root instead, so values differ slightly. optax "
        "computes (u - v)^p without the absolute value, so its norm_degree = 1 (or any odd "
        "degree) sums signed differences (a triplet that should give 0 gives 4.0) and a "
        "fractional degree gives NaN for negative differences; the optax convention keeps the "
        "absolute value, so it reproduces optax's numbers for even integer p (2, the default, "
        "included) and the intended distance otherwise. margin must be > 0 (PyTorch raises "
        "ValueError otherwise; optax accepts any margin). Inputs "
        "must have equal shapes (PyTorch broadcasts). At the hinge kink (term exactly 0) the "
        "gradient is that of the active branch, as PyTorch's clamp_min (the shared reference "
        "table recommends strict > 0; we follow PyTorch).",
        torch_equivalent="torch.nn.functional.triplet_margin_loss",
        sampler=_sample_triplet,
        conventions=(
            Convention("torch", "torch.nn.TripletMarginLoss",
                       "d(u, v) = ||u - v + eps||_p: eps added to each coordinate of the "
                       "difference"),
            Convention("optax", "optax.losses.triplet_margin_loss(norm_degree=p, eps=eps)",
                       "d(u, v) = (sum_i |u_i - v_i|^p + eps)^(1/p): eps inside the root, not "
                       "added to the difference (same default 1e-6); swap=true is refused "
                       "(invalid_param: optax has no swap); optax omits the absolute value, so "
                       "for odd or fractional p its own numbers are wrong or NaN while this "
                       "convention keeps |u - v| (equal to optax for even integer p, 2 "
                       "included); optax returns the unreduced loss (our 'none')"),
        ),
        examples=(
            Example("two triplets in 2-D, one violating the margin",
                    {"anchor": [[0.0, 0.0], [1.0, 1.0]],
                     "positive": [[0.5, 0.0], [1.0, 2.0]],
                     "negative": [[2.0, 0.0], [1.5, 1.0]]}),
            Example("L1 distance with swap",
                    {"anchor": [[0.0, 0.0]], "positive": [[1.0, 0.5]],
                     "negative": [[0.5, 1.5]]},
                    {"p": 1.0, "swap": True, "margin": 0.5}, reduction="none"),
        ),
    ),
)
