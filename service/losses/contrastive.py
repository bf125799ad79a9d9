"""Contrastive losses on a batch of embeddings: ntxent (optax) and circle (Keras); the
similarity loss cosine_similarity (Keras), one value per vector, is :mod:`.cosine_similarity`.

``ntxent`` and ``circle`` compare every embedding of the batch with every other one; their
unreduced loss has one entry per *anchor* (row), and ``mean_weight`` makes our ``mean`` reproduce
the library's number:

* ntxent: the anchor's loss is the *sum* over its positive pairs and its mean weight is the number
  of those pairs, so ``mean`` is optax's average over all positive pairs;
* circle: anchors without a positive or without a negative get loss 0 and mean weight 0, so they
  drop out of the mean as in Keras (which masks ``loss > 0``).
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._math import as_float, l2_norm, ns, sigmoid, softplus
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec

# --------------------------------------------------------------------------- helpers


def _gram(xp: Any, u: Array) -> Array:
    """``u u^T`` for an (N, D) array."""
    return xp.matmul(u, xp.permute_dims(u, (1, 0)))


def _masked_lse(xp: Any, v: Array, mask: Array) -> tuple[Array, Array, Array]:
    """Row-wise ``log sum_{j: mask} e^{v_j}``, the row softmax over the mask, and "row has any".

    Rows with an empty mask give lse 0 (callers mask them out) and all-zero softmax weights; no
    infinities are formed, so nothing warns.
    """
    has = xp.any(mask, axis=1)
    m = xp.max(xp.where(mask, v, -xp.inf), axis=1, keepdims=True)
    m = xp.where(has[:, None], m, 0.0)
    e = xp.where(mask, xp.exp(xp.where(mask, v - m, 0.0)), 0.0)
    total = xp.sum(e, axis=1)
    safe = xp.where(has, total, 1.0)
    lse = xp.where(has, m[:, 0] + xp.log(safe), 0.0)
    return lse, e / safe[:, None], has


def _embedding_labels(xp: Any, embeddings: Array, targets: Array) -> None:
    _checks.ndim_in(embeddings, "embeddings", (2,), "((N, D))")
    _checks.ndim_in(targets, "targets", (1,), "((N,))")
    if targets.shape[0] != embeddings.shape[0]:
        raise errors.ShapeMismatch(
            f"targets has shape {_checks.fmt_shape(targets.shape)} but embeddings has shape "
            f"{_checks.fmt_shape(embeddings.shape)}; targets must have shape "
            f"({embeddings.shape[0]},), one label per embedding",
            ("targets",),
        )


# --------------------------------------------------------------------------- kernels


def ntxent(embeddings: Array, targets: Array, *, temperature: float = 0.07) -> LossOutput:
    """NT-Xent (normalized temperature-scaled cross entropy), per anchor, optax's formula.

    ``s_ij = cos(x_i, x_j) / tau`` with each norm ``sqrt(max(||x||^2, eps))``, ``eps`` the dtype's
    machine epsilon. For each positive pair (``y_j = y_i``, ``j != i``):
    ``l_ij = -log(e^{s_ij} / (e^{s_ij} + sum_{k: y_k != y_i} e^{s_ik})) = softplus(A_i - s_ij)``
    with ``A_i = logsumexp_{k: y_k != y_i} s_ik``. Anchor ``i``'s loss is ``sum_j l_ij`` and its
    mean weight the number of its positives, so ``mean`` = optax's average over positive pairs.

    Args:
      embeddings: [N, D] embeddings (not necessarily normalised).
      targets: [N] integer group labels; equal labels mark positive pairs.
      temperature: the temperature tau, > 0.

    Returns:
      LossOutput with loss [N] and mean_weight [N] (positives per anchor).

    References:
      Chen, Kornblith, Norouzi & Hinton (2020), A Simple Framework for Contrastive Learning of
      Visual Representations (SimCLR), ICML; ``optax.losses.ntxent`` (optax 0.2.8).
    """
    xp = ns(embeddings, targets)
    _embedding_labels(xp, embeddings, targets)
    n = embeddings.shape[0]
    eps = float(xp.finfo(embeddings.dtype).eps)
    r = l2_norm(xp, embeddings)
    norm = xp.maximum(r, eps**0.5)  # sqrt(max(||x||^2, eps)), as optax
    u = embeddings / norm
    s = _gram(xp, u) / temperature
    same = targets[:, None] == targets[None, :]
    pos = same & ~xp.eye(n, dtype=xp.bool)
    neg = ~same
    a, nu, has_neg = _masked_lse(xp, s, neg)
    posf = as_float(xp, pos, s)
    active = posf * as_float(xp, has_neg, s)[:, None]  # no negatives: every l_ij = 0 (optax)
    pair = active * softplus(xp, a[:, None] - s)
    loss = xp.sum(pair, axis=1)
    mean_weight = xp.sum(posf, axis=1)

    def vjp(cot: Array) -> dict[str, Array]:
        q = active * sigmoid(xp, a[:, None] - s)  # dl_ij/dA_i = -dl_ij/ds_ij
        g = cot[:, None] * (xp.sum(q, axis=1, keepdims=True) * nu - q)  # dL/ds
        h = g / temperature  # dL/dcos
        du = xp.matmul(h + xp.permute_dims(h, (1, 0)), u)
        free = as_float(xp, r > eps**0.5, r)  # the clip at eps is a constant
        radial = free * xp.sum(u * du, axis=1, keepdims=True) * u
        return {"embeddings": (du - radial) / norm}

    return LossOutput(loss, vjp, mean_weight=mean_weight)


def circle(embeddings: Array, targets: Array, *, gamma: float = 80.0, margin: float = 0.4,
           remove_diagonal: bool = True) -> LossOutput:
    """Circle loss per anchor, Keras's formula (the batch is its own reference set).

    ``d_ij = max(1 - <x_i, x_j>, 0)``; positives ``y_j = y_i`` (``j != i`` with
    ``remove_diagonal``), negatives ``y_j != y_i``. With ``w_p = max(m + d, 0)``,
    ``w_n = max(1 + m - d, 0)``: ``l_i = softplus(LSE_pos(-gamma w_p (m - d)) +
    LSE_neg(gamma w_n (1 - m - d)))``. The gradient flows through the weights too (as Keras's
    autograd; the paper detaches them). Anchors without a positive or a negative: loss 0, mean
    weight 0.

    Args:
      embeddings: [N, D] L2-normalised embeddings (used as given, not normalised here).
      targets: [N] integer labels.
      gamma: the scale, > 0.
      margin: the relaxation margin m.
      remove_diagonal: drop the self-pair from the positives.

    Returns:
      LossOutput with loss [N] and mean_weight [N] (1 for anchors with positives and negatives).

    References:
      Sun, Cheng, Zhang, Zhang, Zheng, Wang & Wei (2020), Circle Loss: A Unified Perspective of
      Pair Similarity Optimization, CVPR; ``keras.losses.Circle`` (Keras 3).
    """
    xp = ns(embeddings, targets)
    _embedding_labels(xp, embeddings, targets)
    n = embeddings.shape[0]
    sim = _gram(xp, embeddings)
    d0 = 1.0 - sim
    d = xp.maximum(d0, 0.0)
    same = targets[:, None] == targets[None, :]
    pos = same & ~xp.eye(n, dtype=xp.bool) if remove_diagonal else same
    neg = ~same
    wp = xp.maximum(margin + d, 0.0)
    wn = xp.maximum(1.0 + margin - d, 0.0)
    a = -gamma * wp * (margin - d)
    b = gamma * wn * (1.0 - margin - d)
    lse_p, pi, has_p = _masked_lse(xp, a, pos)
    lse_n, nu, has_n = _masked_lse(xp, b, neg)
    active = has_p & has_n
    z = lse_p + lse_n
    loss = xp.where(active, softplus(xp, z), 0.0)
    mean_weight = as_float(xp, active, z)

    def vjp(cot: Array) -> dict[str, Array]:
        def tie_step(t: Array) -> Array:  # d max(t, 0)/dt as torch.maximum / jnp.maximum
            return as_float(xp, t > 0.0, t) + 0.5 * as_float(xp, t == 0.0, t)

        da = -gamma * (tie_step(margin + d) * (margin - d) - wp)
        db = gamma * (-tie_step(1.0 + margin - d) * (1.0 - margin - d) - wn)
        k = (mean_weight * sigmoid(xp, z) * cot)[:, None]
        g = k * (pi * da + nu * db)  # dL/dd
        h = -g * tie_step(d0)  # dL/d<x_i, x_j>
        return {"embeddings": xp.matmul(h + xp.permute_dims(h, (1, 0)), embeddings)}

    return LossOutput(loss, vjp, mean_weight=mean_weight)


# --------------------------------------------------------------------------- samplers
# NumPy test inputs (never used in a kernel), away from kinks so finite differences are valid.


def _sample_ntxent(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pairs (each anchor has exactly one positive, so every mean weight is 1): 2*ceil(n/2) rows."""
    import numpy as np

    groups = (n + 1) // 2
    labels = rng.permutation(np.repeat(np.arange(groups), 2)).astype(np.int64)
    centres = rng.normal(size=(groups, c))
    x = centres[labels] + 0.5 * rng.normal(size=(2 * groups, c))
    return {"embeddings": x, "targets": labels}, {"temperature": 0.5}


def _sample_circle(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """max(n, 4) unit vectors, every anchor with a positive and a negative; no pair at a kink."""
    import numpy as np

    n = max(n, 4)
    labels = (np.arange(n) % max(2, n // 2)).astype(np.int64)
    margin = 0.25
    for _ in range(200):
        x = rng.normal(size=(n, c))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        sim = x @ x.T
        # kinks: d = 1 - sim at 0 (off the diagonal) and w_n = 0 at d = 1 + margin
        off = ~np.eye(n, dtype=bool)
        if np.all(np.abs(sim[off] - 1.0) > 0.05) and np.all(np.abs(sim + margin) > 0.05):
            break
    return {"embeddings": x, "targets": labels}, {"gamma": 16.0, "margin": margin}


# --------------------------------------------------------------------------- specs

_GROUP_LABELS = ("targets", "class_indices", "(N,)",
                 "integer labels, one per embedding (any integers: equal labels mark positive "
                 "pairs, unequal labels negative pairs)")

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="ntxent",
        fn=ntxent,
        family="embedding",
        aliases=("nt_xent",),
        summary="NT-Xent contrastive loss (SimCLR): softmax cross-entropy of each positive pair's "
        "temperature-scaled cosine similarity against the anchor's negatives (optax's ntxent).",
        inputs=(
            InputSpec("embeddings", "embeddings", "(N, D)",
                      "one embedding per row (normalised inside by the cosine)",
                      differentiable=True),
            InputSpec(*_GROUP_LABELS, dtype="int"),
        ),
        params=(ParamSpec("temperature", "float", 0.07, "the temperature tau dividing the "
                          "cosine similarities", minimum=0.0, exclusive_minimum=True),),
        formula=r"\ell_i = \sum_{j \ne i,\ y_j = y_i} -\log\frac{e^{s_{ij}}}{e^{s_{ij}} + "
        r"\sum_{k:\ y_k \ne y_i} e^{s_{ik}}},\quad s_{ij} = \frac{\langle x_i, x_j\rangle}"
        r"{\tau\sqrt{\max(\lVert x_i\rVert^2, \epsilon)\max(\lVert x_j\rVert^2, \epsilon)}};"
        r"\quad \text{mean} = \frac{\sum_i \ell_i}{\#\{\text{positive pairs}\}}",
        reference="Chen, Kornblith, Norouzi & Hinton (2020), A Simple Framework for Contrastive "
        "Learning of Visual Representations, ICML; optax.losses.ntxent (optax 0.2.8, "
        "optax/losses/_self_supervised.py)",
        gradient_note=r"Each term is softplus(A_i - s_{ij}), A_i = \operatorname{LSE}_{k: y_k "
        r"\ne y_i} s_{ik}. With q_{ij} = \sigma(A_i - s_{ij}) over positives and \nu_{ik} the "
        r"softmax of s_{i\cdot} over negatives: \partial\ell_i/\partial s_{ij} = -q_{ij} "
        r"(positives), (\sum_j q_{ij})\nu_{ik} (negatives). Then through s = U U^T/\tau, "
        r"U = X/\lVert X\rVert: \partial/\partial x_i = (g_i - (u_i\cdot g_i)u_i)/\lVert x_i\rVert"
        r" with g = (H + H^T)U. The clip of \lVert x\rVert^2 at \epsilon is a constant where "
        r"active. No kinks otherwise.",
        notes="The unreduced loss has one entry per anchor (row): the SUM of its positive-pair "
        "terms, with mean_weight = its number of positives, so reduction 'mean' is optax's "
        "scalar (the average over all positive pairs) and 'sum' is the sum over all positive "
        "pairs. Anchors without positives contribute 0 and weigh 0; if no anchor has a positive, "
        "'mean' is undefined: NaN, as optax's, with an undefined_mean warning (strict validation "
        "refuses it). An anchor without "
        "negatives has terms -log 1 = 0 (as optax). epsilon is the dtype's machine epsilon as in "
        "optax (2.2e-16 in float64, 1.2e-7 in float32). With sample_weight, mean = "
        "sum(s_i l_i) / sum(s_i n_pos_i). The temperature is a plain float (optax also accepts "
        "an array). Not in PyTorch (pytorch-metric-learning's NTXentLoss is the same idea) or "
        "Keras.",
        sampler=_sample_ntxent,
        examples=(
            Example("two positive pairs in 2-D, temperature 0.5",
                    {"embeddings": [[1.0, 0.1], [0.9, 0.3], [-0.2, 1.0], [0.1, 0.8]],
                     "targets": [0, 0, 1, 1]},
                    {"temperature": 0.5}),
        ),
    ),
    LossSpec(
        name="circle",
        fn=circle,
        family="embedding",
        aliases=("circle_loss",),
        summary="Circle loss (Keras): re-weighted pair similarities pull same-label embeddings "
        "together and push different-label ones apart.",
        inputs=(
            InputSpec("embeddings", "embeddings", "(N, D)",
                      "L2-normalised embeddings, one per row (used as given)",
                      differentiable=True),
            InputSpec(*_GROUP_LABELS, dtype="int"),
        ),
        params=(
            ParamSpec("gamma", "float", 80.0, "the scale gamma", minimum=0.0,
                      exclusive_minimum=True),
            ParamSpec("margin", "float", 0.4, "the relaxation margin m (optima 1 - m for "
                      "positive and m for negative similarities)"),
            ParamSpec("remove_diagonal", "bool", True,
                      "drop each anchor's self-pair from its positives"),
        ),
        formula=r"\ell_i = \operatorname{softplus}\Bigl(\operatorname{LSE}_{j \in P_i}\bigl("
        r"-\gamma w^p_{ij}(m - d_{ij})\bigr) + \operatorname{LSE}_{k \in N_i}\bigl(\gamma "
        r"w^n_{ik}(1 - m - d_{ik})\bigr)\Bigr),\ d = \max(1 - x_i\cdot x_j, 0),\ "
        r"w^p = \max(m + d, 0),\ w^n = \max(1 + m - d, 0)",
        reference="Sun, Cheng, Zhang, Zhang, Zheng, Wang & Wei (2020), Circle Loss: A Unified "
        "Perspective of Pair Similarity Optimization, CVPR; keras.losses.Circle / "
        "keras.losses.circle (Keras 3.15, keras/src/losses/losses.py)",
        gradient_note=r"With \pi, \nu the softmaxes of the two LSE arguments over P_i, N_i and "
        r"z_i their sum: \partial\ell_i/\partial d_{ij} = \sigma(z_i)[\pi_{ij}\cdot(-\gamma)"
        r"(w^{p\prime}(m - d) - w^p) + \nu_{ij}\gamma(-w^{n\prime}(1 - m - d) - w^n)], then "
        r"\partial d/\partial(x_i\cdot x_j) = -1[1 - x_i\cdot x_j > 0] and \partial/\partial X = "
        r"(H + H^T)X. The weights are differentiated (Keras applies no stop_gradient; the paper "
        r"treats them as constants). At the kinks of max(., 0) (d = 0, w = 0) the derivative is "
        r"1/2, as jnp.maximum / torch.maximum.",
        notes="Keras semantics with the batch as its own reference set (ref_labels / "
        "ref_embeddings are not offered). The unreduced loss has one entry per anchor. Keras "
        "masks loss > 0, so anchors without a positive or without a negative (loss softplus(-inf) "
        "= 0) drop out of its mean: ours gives them loss 0 and mean_weight 0, so 'mean' equals "
        "Keras's sum_over_batch_size; if no anchor qualifies, 'mean' is NaN with an "
        "undefined_mean warning (strict validation refuses it; Keras returns 0). Keras's "
        "literal mask would also drop an anchor whose softplus "
        "underflows to 0 (z < -745 in float64; never with the defaults, where z >= -2 gamma "
        "m^2 = -25.6); we keep such anchors in the denominator. With sample_weight, ours "
        "divides by the weighted count (Keras by the unweighted count). Embeddings are not "
        "normalised or checked (as Keras). Not in PyTorch or optax.",
        sampler=_sample_circle,
        examples=(
            Example("four unit vectors in two classes",
                    {"embeddings": [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]],
                     "targets": [0, 0, 1, 1]},
                    {"gamma": 16.0}),
        ),
    ),
)
