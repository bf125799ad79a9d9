"""Connectionist temporal classification (CTC) loss, PyTorch semantics (``F.ctc_loss``).

The loss of one sequence is ``-log p(y | x)``, where ``p`` sums the probabilities of every
frame-level alignment (labels and blanks, one per frame) that collapses to the target ``y`` after
merging repeats and removing blanks. It is computed by the forward (alpha) recursion over the
extended label sequence ``l' = (blank, y_1, blank, y_2, ..., y_L, blank)`` of length ``2L + 1``,
in log space; the gradient uses the backward (beta) recursion. Both are vectorised over the batch
and over ``l'``; only the time axis is a Python loop (each step depends on the previous one).

Layout, as PyTorch: ``log_probs`` is time-major ``(T, N, C)`` (or ``(T, C)`` unbatched); targets
are padded ``(N, S)`` or concatenated ``(sum(target_lengths),)`` (checked and padded by
:mod:`.ctc_inputs`); the unreduced loss has shape ``(N,)`` (``()`` unbatched). ``mean`` divides
each loss by its target length (at least 1) before averaging over the batch: the kernel returns
``mean_scale = 1 / max(target_length, 1)``. The ``keras`` and ``optax`` conventions keep the
values and make ``mean`` the plain batch average.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..deadline import check
from . import _checks, errors
from ._math import ns, one_hot
from .ctc_inputs import check_lengths, padded_targets
from .spec import Array, Convention, Example, InputSpec, LossOutput, LossSpec, ParamSpec

_NEG_INF = -math.inf


def _lse3(xp: Any, a: Array, b: Array, c: Array) -> Array:
    """log(e^a + e^b + e^c), -inf when all three are -inf (no log(0) is ever evaluated)."""
    m = xp.maximum(xp.maximum(a, b), c)
    dead = m == _NEG_INF
    m_safe = xp.where(dead, xp.zeros_like(m), m)
    s = xp.exp(a - m_safe) + xp.exp(b - m_safe) + xp.exp(c - m_safe)  # >= 1 unless dead
    return xp.where(dead, m, m_safe + xp.log(xp.where(dead, xp.ones_like(s), s)))


def _shift_right(xp: Any, a: Array, k: int) -> Array:
    """``out[:, s] = a[:, s - k]``, -inf for ``s < k`` (alpha reads positions s-1, s-2)."""
    pad = xp.full((a.shape[0], k), _NEG_INF, dtype=a.dtype)
    return xp.concat([pad, a[:, :-k]], axis=1)


def _shift_left(xp: Any, a: Array, k: int) -> Array:
    """``out[:, s] = a[:, s + k]``, -inf past the end (beta reads positions s+1, s+2)."""
    pad = xp.full((a.shape[0], k), _NEG_INF, dtype=a.dtype)
    return xp.concat([a[:, k:], pad], axis=1)


def ctc(log_probs: Array, targets: Array, input_lengths: Array, target_lengths: Array, *,
        blank: int = 0, zero_infinity: bool = False,
        gradient_convention: str = "torch", convention: str = "torch") -> LossOutput:
    """CTC loss (Graves et al., 2006) with PyTorch's layout and semantics.

    ``l_n = -log sum_{pi in B^{-1}(y_n)} prod_{t < T_n} p_t(pi_t)`` with ``p_t = exp(log_probs)``;
    ``B`` merges repeated labels and removes blanks. In the extended sequence ``l'`` the forward
    variables are ``alpha_t(s) = lp_t(l'_s) + logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1),
    [alpha_{t-1}(s-2) if l'_s != blank and l'_s != l'_{s-2}])`` and
    ``l_n = -logsumexp(alpha_{T_n-1}(2L_n), alpha_{T_n-1}(2L_n - 1))``.

    Args:
      log_probs: [T, N, C] (or [T, C]) log-probabilities, e.g. log_softmax outputs.
      targets: [N, S] padded labels, or [sum(target_lengths)] concatenated (or [S] unbatched);
        labels in [0, C) other than ``blank``; entries past a target's length are ignored.
      input_lengths: [N] (or scalar) frames used per sequence, in [0, T].
      target_lengths: [N] (or scalar) labels per sequence, in [0, S].
      blank: index of the blank label, in [0, C).
      zero_infinity: impossible alignments (loss inf) give loss 0 and gradient 0.
      gradient_convention: ``"torch"``: PyTorch's backward,
        ``exp(lp_t(c)) - gamma_t(c)``; ``"exact"``: the derivative of the value,
        ``-gamma_t(c)``, where ``gamma_t(c) = sum_{s: l'_s = c} alpha_t(s) beta_t(s) /
        (p_t(c) p(y|x))`` is the occupation probability of label c at frame t.
      convention: ``"torch"``: ``mean`` divides each loss by its target length before
        averaging (``mean_scale``); ``"keras"`` / ``"optax"``: ``mean`` is the plain average
        of the per-sample losses. The values themselves are the same.

    Returns:
      LossOutput with loss [N] (or []) and, under torch,
      ``mean_scale = 1 / max(target_lengths, 1)``.

    References:
      Graves, Fernandez, Gomez, Schmidhuber (2006), Connectionist Temporal Classification,
      ICML; ``torch.nn.functional.ctc_loss`` (aten/src/ATen/native/LossCTC.cpp).
    """
    xp = ns(log_probs, targets, input_lengths, target_lengths)
    _checks.ndim_in(log_probs, "log_probs", (2, 3), "((T, N, C), or (T, C) unbatched)")
    unbatched = log_probs.ndim == 2
    lp = log_probs[:, None, :] if unbatched else log_probs
    t_len, n, num_classes = (int(s) for s in lp.shape)
    if blank >= num_classes:
        raise errors.InvalidParam(
            f"blank must be a class index in [0, {num_classes}) (C = {num_classes}); got {blank}",
            ("params", "blank"))
    il = check_lengths(xp, input_lengths, "input_lengths", n, t_len, "at most T, the number of "
                       "frames", unbatched)
    tl = check_lengths(xp, target_lengths, "target_lengths", n, None, "a count", unbatched)
    labels = padded_targets(xp, targets, tl, n, num_classes, blank, unbatched)
    s_len = int(labels.shape[1])
    width = 2 * s_len + 1
    dtype = lp.dtype

    # extended labels l' = (blank, y_1, blank, ..., y_S, blank): (N, 2S + 1)
    blanks = xp.full_like(labels, blank)
    ext = xp.concat([xp.reshape(xp.stack([blanks, labels], axis=2), (n, 2 * s_len)),
                     blanks[:, :1]], axis=1)
    pos = xp.arange(width, dtype=tl.dtype)
    ext_m2 = xp.concat([xp.full((n, 2), -1, dtype=ext.dtype), ext[:, :-2]], axis=1)
    skip = (pos % 2 == 1)[None, :] & (pos >= 2)[None, :] & (ext != ext_m2)  # s-2 -> s allowed
    lp_ext = xp.take_along_axis(lp, xp.broadcast_to(ext[None, :, :], (t_len, n, width)), axis=2)
    neg = xp.full((n, width), _NEG_INF, dtype=dtype)

    # forward recursion; ``final`` keeps alpha at each sequence's last frame T_n - 1
    zero_row, neg_row = xp.zeros((width,), dtype=dtype), neg[0, :]
    alphas = [lp_ext[0, ...] + xp.where(pos < 2, zero_row, neg_row)[None, :]]  # start at s = 0 or 1
    start = xp.where(pos == 0, zero_row, neg_row)
    final = xp.broadcast_to(start[None, :], (n, width))  # T_n = 0: only the empty target has p = 1
    final = xp.where((il == 1)[:, None], alphas[0], final)
    for t in range(1, t_len):
        check("computing CTC's forward pass")  # the request's time budget, if any
        a = alphas[-1]
        a_t = lp_ext[t, ...] + _lse3(xp, a, _shift_right(xp, a, 1),
                                xp.where(skip, _shift_right(xp, a, 2), neg))
        alphas.append(a_t)
        final = xp.where((il == t + 1)[:, None], a_t, final)

    # read alpha at positions 2L (last blank) and 2L - 1 (last label, if L > 0)
    ends = xp.stack([2 * tl, xp.maximum(2 * tl - 1, 0)], axis=1)
    at_end = xp.take_along_axis(final, ends, axis=1)
    last_label = xp.where(tl > 0, at_end[:, 1], neg[:, 0])
    nll = -_lse3(xp, at_end[:, 0], last_label, neg[:, 0])
    infinite = nll == math.inf
    loss = xp.where(infinite, xp.zeros_like(nll), nll) if zero_infinity else nll
    mean_scale = 1.0 / xp.maximum(xp.astype(tl, dtype), 1.0)

    def vjp(cot: Array) -> dict[str, Array]:
        cot_n = xp.reshape(cot, (n,))
        # backward recursion (beta includes the emission at t, as PyTorch's)
        end_mask = (pos[None, :] == 2 * tl[:, None]) | (
            (pos[None, :] == 2 * tl[:, None] - 1) & (tl > 0)[:, None])
        end_log = xp.where(end_mask, xp.zeros_like(neg), neg)
        skip_next = xp.concat([skip[:, 2:], xp.zeros((n, 2), dtype=xp.bool)], axis=1)
        betas: list[Array] = [neg] * t_len
        b_next = neg
        for t in range(t_len - 1, -1, -1):
            check("computing CTC's backward pass")
            rec = _lse3(xp, b_next, _shift_left(xp, b_next, 1),
                        xp.where(skip_next, _shift_left(xp, b_next, 2), neg))
            b_next = lp_ext[t, ...] + xp.where((il == t + 1)[:, None], end_log, rec)
            betas[t] = b_next
        alpha = xp.stack(alphas, axis=0)
        beta = xp.stack(betas, axis=0)
        nll_safe = xp.where(infinite, xp.zeros_like(nll), nll)
        # occupation of each l' position: alpha beta / (p_t(l'_s) p(y|x)), exactly 0 where -inf;
        # and 0 at frames past a sequence's length and where p_t(l'_s) = 0 (lp = -inf, so alpha
        # and beta are -inf too: -inf - -inf would be NaN, which the matmul below would spread
        # over the frame's classes; PyTorch gives NaN at that element only)
        frames = xp.arange(t_len, dtype=il.dtype)[:, None] < il[None, :]  # (T, N)
        log_occ = alpha + beta - lp_ext + nll_safe[None, :, None]
        occ = xp.exp(xp.where(frames[:, :, None] & (lp_ext > _NEG_INF), log_occ,
                              xp.full_like(log_occ, _NEG_INF)))
        onehot = one_hot(xp, ext, num_classes, dtype)  # (N, 2S+1, C)
        gamma = xp.permute_dims(xp.matmul(xp.permute_dims(occ, (1, 0, 2)), onehot), (1, 0, 2))
        if gradient_convention == "torch":
            g = xp.where(frames[:, :, None], xp.exp(lp), xp.zeros_like(lp)) - gamma
        else:
            g = -gamma
        scale = xp.where(infinite, xp.zeros_like(cot_n), cot_n)  # no NaN for impossible samples
        g = g * scale[None, :, None]
        return {"log_probs": g[:, 0, :] if unbatched else g}

    if convention != "torch":  # Keras and optax: 'mean' is the plain average over samples
        return LossOutput(xp.reshape(loss, ()) if unbatched else loss, vjp)
    if unbatched:
        return LossOutput(xp.reshape(loss, ()), vjp, mean_scale=xp.reshape(mean_scale, ()))
    return LossOutput(loss, vjp, mean_scale=mean_scale)


def _sample(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Log-softmax frames, T = 5, one label per sequence (see the spec's notes), varied lengths.

    Target lengths 1 or 2 (S = 2), input lengths 3 to T, so every alignment is possible (a
    repeated label needs a blank between its copies). Longer targets are covered by
    tests/losses/test_ctc.py.
    """
    t_len = 5
    c = max(c, 2)
    x = rng.normal(size=(t_len, n, c))
    m = x.max(axis=-1, keepdims=True)
    lp = x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    blank = int(rng.integers(0, c))
    targets = (blank + rng.integers(1, c, size=(n, 2))) % c
    input_lengths = rng.integers(3, t_len + 1, size=n)
    input_lengths[0] = t_len
    return ({"log_probs": lp, "targets": targets.astype(np.int64),
             "input_lengths": input_lengths.astype(np.int64),
             "target_lengths": rng.integers(1, 3, size=n).astype(np.int64)},
            {"blank": blank, "gradient_convention": "exact"})


def _log(rows: list[list[float]]) -> list[list[float]]:
    return [[math.log(p) for p in row] for row in rows]


_FRAMES = [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3], [0.3, 0.1, 0.6]]
_FRAMES_B = [[0.2, 0.5, 0.3], [0.4, 0.1, 0.5], [0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="ctc",
        fn=ctc,
        mean_is_element_average=False,
        family="sequence",
        summary="Connectionist temporal classification: -log of the total probability of all "
        "alignments of the target, summed by the forward-backward recursion.",
        inputs=(
            InputSpec("log_probs", "log_probabilities", "(T, N, C), or (T, C) unbatched",
                      "per-frame log-probabilities over C classes (blank included), time-major, "
                      "e.g. log_softmax outputs", differentiable=True),
            InputSpec("targets", "class_indices",
                      "(N, S) padded, (sum(target_lengths),) concatenated, or (S,) unbatched",
                      "target label sequences: class indices in [0, C) other than blank; padded "
                      "entries past a sequence's target length are ignored", dtype="int"),
            InputSpec("input_lengths", "counts", "(N,), or () unbatched",
                      "number of frames of each sequence, in [0, T]", dtype="int"),
            InputSpec("target_lengths", "counts", "(N,), or () unbatched",
                      "number of labels of each target sequence, in [0, S]", dtype="int"),
        ),
        params=(
            ParamSpec("blank", "int", 0, "class index of the blank label, in [0, C)",
                      minimum=0),
            ParamSpec("zero_infinity", "bool", False,
                      "give impossible alignments (infinite loss) loss 0 and gradient 0"),
            ParamSpec("gradient_convention", "choice", "torch",
                      "'torch': PyTorch's backward, exp(log_probs) - gamma, which is the "
                      "gradient with respect to the logits when log_probs = log_softmax(logits)"
                      " and not the derivative of the value; 'exact': -gamma, the derivative "
                      "of the value with log_probs as free inputs",
                      choices=("torch", "exact")),
        ),
        formula=r"\ell_n = -\log \sum_{\pi \in \mathcal{B}^{-1}(y_n)} \prod_{t=1}^{T_n} "
        r"p_t(\pi_t) = -\log\big(\alpha_{T_n}(2L_n) + \alpha_{T_n}(2L_n - 1)\big),\quad "
        r"\alpha_t(s) = p_t(l'_s)\big(\alpha_{t-1}(s) + \alpha_{t-1}(s-1) + "
        r"[l'_s \ne \varnothing,\ l'_s \ne l'_{s-2}]\,\alpha_{t-1}(s-2)\big)",
        reference="Graves, Fernandez, Gomez, Schmidhuber (2006), Connectionist Temporal "
        "Classification: Labelling Unsegmented Sequence Data with Recurrent Neural Networks, "
        "ICML; torch.nn.functional.ctc_loss; keras.losses.CTC; optax.losses.ctc_loss",
        gradient_note=r"\gamma_t(c) = \frac{1}{p(y|x)} \sum_{s: l'_s = c} "
        r"\frac{\alpha_t(s)\beta_t(s)}{p_t(c)} (\alpha, \beta both include frame t's emission). "
        r"The exact derivative is \partial\ell/\partial \log p_t(c) = -\gamma_t(c). "
        r"gradient_convention='torch' (default) returns PyTorch's backward, "
        r"e^{\log p_t(c)} - \gamma_t(c) for t < T_n (0 after): the gradient with respect to "
        "logits when log_probs = log_softmax(logits), identical to the exact one after "
        "log_softmax's backward, but not the derivative with respect to log_probs themselves "
        "(pytorch/pytorch#52241, #82545). Samples with an infinite loss get gradient 0 "
        "(PyTorch: NaN without zero_infinity), and so does a log-probability of -inf (PyTorch: "
        "NaN at that element). Smooth: no kinks.",
        notes="PyTorch 'mean' = mean_n(l_n / max(L_n, 1)) (the per-sample breakdown is the "
        "undivided l_n; 'sum' and 'none' do not divide); conventions keras and optax make "
        "'mean' the plain average of l_n over the batch. An impossible alignment (T_n too short"
        " for the target and its repeats) gives loss inf (JSON 'Infinity'), or 0 with "
        "zero_infinity; its gradient is 0 either way, where PyTorch returns NaN without "
        "zero_infinity. log_probs are not checked to be normalised (PyTorch neither); they"
        " may hold -inf (a probability of exactly 0), a non-finite input like NaN and +inf "
        "(docs/api.md, Warnings and validate); the gradient there is 0, where PyTorch's "
        "backward gives NaN (0 * inf). Validation "
        "beyond PyTorch: labels within a target's length must be in [0, C) and differ from "
        "blank (PyTorch reads out-of-range labels silently and accepts the blank). "
        "Concatenated 1-D targets need at least one label in total (an empty array is "
        "refused); use padded (N, 1) targets with zero lengths instead. "
        "Keras keras.losses.CTC and optax.ctc_loss take logits (log_softmax inside), "
        "batch-major, use the whole sequence length (Keras) or padding masks (optax), and do "
        "not divide by the target length: their per-sample value equals this loss's 'none' on "
        "log_softmax(logits) transposed to (T, N, C), and the gradient_convention='torch' "
        "gradient on those log_probs is their gradient with respect to the logits; Keras "
        "reserves 0 as both blank and padding. optax (and Keras, which uses optax's algorithm) "
        "gives an impossible alignment a large finite value (about 1e5, log_epsilon) instead of "
        "inf; that is not reproduced.",
        torch_equivalent="torch.nn.functional.ctc_loss",
        nonnegative=True,
        sampler=_sample,
        conventions=(
            Convention("torch", "torch.nn.CTCLoss",
                       "'mean' divides each sample's loss by its target length (at least 1), "
                       "then averages over the batch"),
            Convention("keras", "keras.losses.CTC",
                       "'mean' is the plain average of the per-sample -log p(y|x) (Keras' "
                       "sum_over_batch_size; with sample_weight it divides by N, not by the "
                       "weights' sum), not divided by target lengths. Inputs stay as here: "
                       "Keras takes logits (N, T, C), batch-major, and applies log_softmax "
                       "itself, so pass log_softmax(logits) transposed to (T, N, C) to match; "
                       "Keras uses every frame (input_lengths = T) and 0 as blank and padding "
                       "(blank = 0, target_lengths = the count of non-zero labels); an "
                       "impossible alignment stays inf (Keras: about 1e5); Keras computes CTC "
                       "in float32 on JAX even for float64 inputs, so it agrees to about 1e-6 "
                       "only",
                       weights_in_mean=False),
            Convention("optax", "optax.losses.ctc_loss",
                       "'mean' is the plain average of the per-sample -log p(y|x) (the mean of "
                       "optax's per-sequence output), not divided by target lengths. Inputs "
                       "stay as here: optax takes logits (B, T, K), batch-major, and applies "
                       "log_softmax itself, so pass log_softmax(logits) transposed to (T, N, C)"
                       " to match; its paddings are 1.0 past input_lengths / target_lengths; "
                       "an impossible alignment stays inf (optax: about 1e5, log_epsilon)"),
        ),
        examples=(
            Example("two sequences (T = 4, C = 3, blank 0), padded targets, mean over target "
                    "lengths",
                    {"log_probs": [[a, b] for a, b in zip(_log(_FRAMES), _log(_FRAMES_B),
                                                           strict=True)],
                     "targets": [[1, 2], [2, 0]], "input_lengths": [4, 3],
                     "target_lengths": [2, 1]}),
            Example("unbatched (T, C), target [1, 1] (a repeat needs a blank between)",
                    {"log_probs": _log(_FRAMES), "targets": [1, 1], "input_lengths": 4,
                     "target_lengths": 2}, {"zero_infinity": False}, reduction="none"),
        ),
    ),
)
