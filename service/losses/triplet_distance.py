"""Triplet margin loss with a choice of distance (PyTorch's TripletMarginWithDistanceLoss).

Three distances, each exactly what the matching ``distance_function`` gives in PyTorch 2.13:

* ``l2`` (the default, ``distance_function=None``): ``torch.pairwise_distance(u, v)``, i.e.
  ``||u - v + 1e-6||_2`` with ``eps = 1e-6`` added to every coordinate of the difference;
* ``squared_l2``: ``sum((u - v)^2)`` over the last axis, **without** an eps (the squared
  distance is smooth everywhere, so it needs none); torch:
  ``lambda u, v: (u - v).pow(2).sum(-1)``. It is *not* ``pairwise_distance(u, v) ** 2``, which
  would carry the eps shift (a difference of about ``2e-6 * sum(u - v)``);
* ``cosine``: ``1 - cos(u, v)`` with ``torch.nn.functional.cosine_similarity(u, v, dim=-1,
  eps=1e-8)``: each norm is clamped from below at 1e-8 in the forward pass, while torch's backward
  treats the clamp as a constant (it is applied under ``no_grad``), so the gradient goes through the
  unclamped norm; we reproduce both.

This module holds one loss; it lives apart from :mod:`service.losses.triplet` (triplet_margin,
whose inputs it shares) only to keep that module short.
"""

from __future__ import annotations

from typing import Any

from . import _checks
from ._math import as_float, ns
from .spec import Array, Example, LossOutput, LossSpec, ParamSpec
from .triplet import TRIPLET_INPUTS

DISTANCES = ("l2", "squared_l2", "cosine")
PAIRWISE_EPS = 1e-6  # torch.pairwise_distance's default eps, added to the difference
COSINE_EPS = 1e-8  # torch.nn.functional.cosine_similarity's default eps, a lower bound on norms


def _distance(xp: Any, u: Array, v: Array, distance: str) -> tuple[Array, Any]:
    """``d(u, v)`` over the last axis and a closure ``k -> (dd/du * k, dd/dv * k)``."""
    if distance == "l2":
        z = u - v + PAIRWISE_EPS
        d = xp.sqrt(xp.sum(z * z, axis=-1))
        zero = (d == 0.0)[..., None]
        g = xp.where(zero, 0.0, z / xp.where(zero, 1.0, d[..., None]))  # torch: 0 at a zero norm

        def grad_l2(k: Array) -> tuple[Array, Array]:
            return k[..., None] * g, -k[..., None] * g

        return d, grad_l2
    if distance == "squared_l2":
        z = u - v
        d = xp.sum(z * z, axis=-1)

        def grad_sq(k: Array) -> tuple[Array, Array]:
            g = 2.0 * k[..., None] * z
            return g, -g

        return d, grad_sq
    # cosine: d = 1 - <u/nu, v/nv>, nu = max(||u||, 1e-8); torch's backward uses d||u||/du
    ru = xp.sqrt(xp.sum(u * u, axis=-1, keepdims=True))
    rv = xp.sqrt(xp.sum(v * v, axis=-1, keepdims=True))
    nu = xp.maximum(ru, COSINE_EPS)
    nv = xp.maximum(rv, COSINE_EPS)
    uu, vv = u / nu, v / nv
    cos = xp.sum(uu * vv, axis=-1)
    gu = xp.where(ru == 0.0, 0.0, u / xp.where(ru == 0.0, 1.0, ru))  # d||u||/du, 0 at u = 0
    gv = xp.where(rv == 0.0, 0.0, v / xp.where(rv == 0.0, 1.0, rv))

    def grad_cos(k: Array) -> tuple[Array, Array]:
        c, kk = cos[..., None], k[..., None]
        # dcos/du = v/(nu nv) - cos * (d||u||/du) / nu; d = 1 - cos
        return -kk * (vv - c * gu) / nu, -kk * (uu - c * gv) / nv

    return 1.0 - cos, grad_cos


def triplet_margin_with_distance(anchor: Array, positive: Array, negative: Array, *,
                                 distance: str = "l2", margin: float = 1.0,
                                 swap: bool = False) -> LossOutput:
    """Triplet margin loss with a named distance function.

    ``l = max(d(a, p) - d(a, n) + margin, 0)``; ``swap`` replaces ``d(a, n)`` by
    ``min(d(a, n), d(p, n))``. ``d`` is ``||u - v + 1e-6||_2`` (``l2``), ``sum((u - v)^2)``
    (``squared_l2``) or ``1 - cos(u, v)`` (``cosine``, norms clamped at 1e-8). With
    ``s = 1[h >= 0]`` (``h`` the term inside the max, PyTorch's ``clamp_min``):
    ``dl/da = s (dd(a,p)/da - dd(a,n)/da)``, ``dl/dp = s dd(a,p)/dp``, ``dl/dn = -s dd(a,n)/dn``.

    Args:
      anchor: [N, D] or [D] anchor embeddings.
      positive: same shape, embeddings of the same identity.
      negative: same shape, embeddings of another identity.
      distance: ``"l2"``, ``"squared_l2"`` or ``"cosine"`` (see the module docstring).
      margin: required gap between the distances, > 0.
      swap: use the distance swap (Balntas et al. 2016).

    Returns:
      LossOutput with loss [N] (or [] for unbatched [D] inputs).

    References:
      Schroff, Kalenichenko & Philbin (2015), FaceNet; Balntas et al. (2016);
      ``torch.nn.functional.triplet_margin_with_distance_loss``.
    """
    xp = ns(anchor, positive, negative)
    _checks.ndim_in(anchor, "anchor", (1, 2), "((N, D) or (D,))")
    _checks.same_shape(anchor, positive, "anchor", "positive")
    _checks.same_shape(anchor, negative, "anchor", "negative")
    d_ap, g_ap = _distance(xp, anchor, positive, distance)
    d_an, g_an = _distance(xp, anchor, negative, distance)
    if swap:
        d_pn, g_pn = _distance(xp, positive, negative, distance)
        d_neg = xp.minimum(d_an, d_pn)
    else:
        d_neg = d_an
    h = d_ap - d_neg + margin
    loss = xp.maximum(h, 0.0)

    def vjp(cot: Array) -> dict[str, Array]:
        s = as_float(xp, h >= 0.0, h) * cot  # clamp_min: active at h == 0
        if swap:
            # torch.minimum's backward: the smaller distance takes the gradient, a tie splits it
            w_an = as_float(xp, d_an < d_pn, h) + 0.5 * as_float(xp, d_an == d_pn, h)
            w_pn = 1.0 - w_an
        else:
            w_an, w_pn = xp.ones_like(h), None
        ga_ap, gp_ap = g_ap(s)
        ga_an, gn_an = g_an(-s * w_an)
        grads = {"anchor": ga_ap + ga_an, "positive": gp_ap, "negative": gn_an}
        if swap:
            gp_pn, gn_pn = g_pn(-s * w_pn)
            grads["positive"] = grads["positive"] + gp_pn
            grads["negative"] = grads["negative"] + gn_pn
        return grads

    return LossOutput(loss, vjp)


def _sample(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Random triplets away from the hinge kink and the swap tie (NumPy, tests only)."""
    import numpy as np

    distance = str(rng.choice(np.array(DISTANCES)))
    swap = bool(rng.integers(2))
    margin = {"l2": 1.0, "squared_l2": 2.0, "cosine": 0.5}[distance]

    def dist(u: Any, v: Any) -> Any:
        if distance == "l2":
            return np.sqrt(np.sum((u - v + PAIRWISE_EPS) ** 2, axis=-1))
        if distance == "squared_l2":
            return np.sum((u - v) ** 2, axis=-1)
        return 1.0 - np.sum(u * v, -1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))

    a = rng.normal(size=(n, c))
    pos = a + 0.5 * rng.normal(size=(n, c))
    neg = a + rng.normal(size=(n, c))
    for _ in range(200):  # resample the rare rows near a kink
        d_an, d_pn = dist(a, neg), dist(pos, neg)
        d_neg = np.minimum(d_an, d_pn) if swap else d_an
        bad = np.abs(dist(a, pos) - d_neg + margin) < 0.05
        if swap:
            bad |= np.abs(d_an - d_pn) < 0.05
        if not bad.any():
            break
        neg[bad] = a[bad] + rng.normal(size=(int(bad.sum()), c))
    return ({"anchor": a, "positive": pos, "negative": neg},
            {"distance": distance, "margin": margin, "swap": swap})


SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="triplet_margin_with_distance",
        fn=triplet_margin_with_distance,
        family="embedding",
        summary="Triplet margin loss with a choice of distance: Euclidean, squared Euclidean or "
        "cosine (PyTorch's TripletMarginWithDistanceLoss).",
        inputs=TRIPLET_INPUTS,
        params=(
            ParamSpec("distance", "choice", "l2",
                      "l2: ||u - v + 1e-6||_2 (torch.pairwise_distance, PyTorch's default); "
                      "squared_l2: sum((u - v)^2), no eps; cosine: 1 - cosine_similarity(u, v) "
                      "with norms clamped at 1e-8",
                      choices=DISTANCES),
            ParamSpec("margin", "float", 1.0, "required gap d(a,n) - d(a,p)",
                      minimum=0.0, exclusive_minimum=True),
            ParamSpec("swap", "bool", False,
                      "distance swap: use min(d(a,n), d(p,n)) as the negative distance"),
        ),
        formula=r"\ell = \max\bigl(d(a,p) - d(a,n) + m,\ 0\bigr),\quad "
        r"d(u,v) \in \Bigl\{\lVert u - v + 10^{-6}\rVert_2,\ \lVert u - v\rVert_2^2,\ "
        r"1 - \frac{\langle u, v\rangle}{\max(\lVert u\rVert, 10^{-8})\,"
        r"\max(\lVert v\rVert, 10^{-8})}\Bigr\};\quad "
        r"\text{swap: } d(a,n) \leftarrow \min\bigl(d(a,n), d(p,n)\bigr)",
        reference="torch.nn.TripletMarginWithDistanceLoss / "
        "torch.nn.functional.triplet_margin_with_distance_loss (PyTorch 2.13); Schroff, "
        "Kalenichenko & Philbin (2015), FaceNet (squared Euclidean triplet loss), CVPR; "
        "Balntas, Riba, Ponsa & Mikolajczyk (2016), BMVC (swap)",
        gradient_note=r"s = 1[d(a,p) - d(a,n) + m \ge 0] (PyTorch's clamp_min passes the "
        r"gradient at exactly 0). \partial\ell/\partial a = s(\nabla_u d(a,p) - \nabla_u "
        r"d(a,n)), \partial\ell/\partial p = s\nabla_v d(a,p), \partial\ell/\partial n "
        r"= -s\nabla_v d(a,n). l2: \nabla_u d = z/\lVert z\rVert, z = u - v + 10^{-6} (0 at a "
        r"zero z, as torch's norm backward). squared_l2: \nabla_u d = 2(u - v). cosine: "
        r"\nabla_u d = -(\hat v - \cos\,u/\lVert u\rVert)/n_u with \hat v = v/n_v and n = "
        r"\max(\lVert\cdot\rVert, 10^{-8}): PyTorch clamps the norm under no_grad, so the "
        r"gradient goes through the unclamped norm (u/\lVert u\rVert, 0 for u = 0) and we do "
        r"the same. With swap, the smaller of d(a,n), d(p,n) takes the gradient and a tie "
        r"splits it in halves (torch.minimum).",
        notes="PyTorch takes any callable as distance_function; we offer the three that matter, "
        "each equal to torch with: l2 = distance_function=None (torch.pairwise_distance, p=2, "
        "eps=1e-6 added to the difference; also equal to our triplet_margin with p=2); "
        "squared_l2 = lambda u, v: (u - v).pow(2).sum(-1) (deliberately without the eps: "
        "pairwise_distance(u, v)**2 differs by about 2e-6*sum(u - v)); cosine = lambda u, v: "
        "1 - F.cosine_similarity(u, v, dim=-1) (eps=1e-8; dim=-1 so that (D,) inputs work). "
        "margin must be > 0 (PyTorch raises ValueError). Inputs must have equal shapes (PyTorch "
        "broadcasts whatever the distance function accepts). optax has only "
        "triplet_margin_loss (norm_degree, eps inside the root); Keras has no triplet loss.",
        torch_equivalent="torch.nn.functional.triplet_margin_with_distance_loss",
        sampler=_sample,
        examples=(
            Example("two triplets in 2-D, cosine distance",
                    {"anchor": [[1.0, 0.0], [0.0, 1.0]],
                     "positive": [[0.9, 0.2], [0.3, 1.0]],
                     "negative": [[0.5, 0.5], [1.0, 0.1]]},
                    {"distance": "cosine", "margin": 0.5}),
            Example("squared Euclidean distance with swap",
                    {"anchor": [[0.0, 0.0]], "positive": [[1.0, 0.5]],
                     "negative": [[0.5, 1.5]]},
                    {"distance": "squared_l2", "swap": True}, reduction="none"),
        ),
    ),
)
