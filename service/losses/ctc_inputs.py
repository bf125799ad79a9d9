"""CTC's input checks: the lengths, the target labels, and PyTorch's two target layouts (padded
``(N, S)`` or concatenated ``(sum(target_lengths),)``) brought to one padded ``(N, S)`` array.

Why a module of its own: checking the inputs and laying out the targets as PyTorch defines them
is a step apart from the forward-backward recursion of :mod:`.ctc`, which calls
:func:`check_lengths` and :func:`padded_targets` first; together they outgrew one file (issue 18).
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from .spec import Array


def check_lengths(xp: Any, lengths: Array, name: str, n: int, high: int | None, what: str,
                  unbatched: bool) -> Array:
    """(N,) lengths in [0, high]; unbatched: a scalar (or one-element array) -> (1,)."""
    if unbatched:
        if lengths.ndim > 1 or (lengths.ndim == 1 and lengths.shape[0] != 1):
            raise errors.InvalidShape(
                f"{name} must be a scalar for unbatched (T, C) log_probs, got shape "
                f"{_checks.fmt_shape(lengths.shape)}", (name,))
        flat = xp.reshape(lengths, (1,))
    else:
        if lengths.ndim != 1 or lengths.shape[0] != n:
            raise errors.ShapeMismatch(
                f"{name} must have shape ({n},), one length per sequence (log_probs has N = {n});"
                f" got {_checks.fmt_shape(lengths.shape)}", (name,))
        flat = lengths
    bad = (flat < 0) if high is None else (flat < 0) | (flat > high)
    if bool(xp.any(bad)):
        idx = _checks.first_index(xp, bad)
        rule = ">= 0" if high is None else f"in [0, {high}]"
        raise errors.InvalidValue(
            f"{name} must be {rule} ({what}); found {int(flat[idx])}",
            (name,) if unbatched else (name, *idx))
    return flat


def _check_labels(xp: Any, labels: Array, valid: Array, num_classes: int, blank: int,
                  loc: tuple[str | int, ...]) -> None:
    """Labels within their target length are class indices in [0, C) other than blank."""
    bad = valid & ((labels < 0) | (labels >= num_classes))
    if bool(xp.any(bad)):
        idx = _checks.first_index(xp, bad)
        raise errors.ClassIndexOutOfRange(
            f"target label {int(labels[idx])} is out of range: labels must be in "
            f"[0, {num_classes})", (*loc, *idx))
    bad = valid & (labels == blank)
    if bool(xp.any(bad)):
        idx = _checks.first_index(xp, bad)
        raise errors.InvalidLabel(
            f"target label {blank} is the blank (blank={blank}); targets may not contain it",
            (*loc, *idx))


def padded_targets(xp: Any, targets: Array, tl: Array, n: int, num_classes: int, blank: int,
                   unbatched: bool) -> Array:
    """Validated ``(N, S)`` targets, entries past each target length replaced by ``blank``."""
    if unbatched:
        if targets.ndim != 1:
            raise errors.InvalidShape(
                "targets must have shape (S,) for unbatched (T, C) log_probs, got "
                f"{_checks.fmt_shape(targets.shape)}", ("targets",))
        if int(tl[0]) > targets.shape[0]:
            raise errors.InvalidValue(
                f"target_lengths must be in [0, {targets.shape[0]}] (the targets' length S); "
                f"found {int(tl[0])}", ("target_lengths",))
        padded = targets[None, :]
    elif targets.ndim == 2:
        if targets.shape[0] != n:
            raise errors.ShapeMismatch(
                f"targets has {targets.shape[0]} rows but log_probs has N = {n} sequences",
                ("targets",))
        check_lengths(xp, tl, "target_lengths", n, int(targets.shape[1]),
                      "at most S, the padded targets' width", False)
        padded = targets
    elif targets.ndim == 1:  # concatenated: sequence n is targets[o_n : o_n + L_n]
        total = int(xp.sum(tl))
        if targets.shape[0] != total:
            raise errors.ShapeMismatch(
                f"1-D (concatenated) targets must have sum(target_lengths) = {total} entries, "
                f"got {targets.shape[0]}", ("targets",))
        _check_labels(xp, targets, xp.ones(targets.shape, dtype=xp.bool), num_classes, blank,
                      ("targets",))
        s = max(int(xp.max(tl)), 1)
        pos_s = xp.arange(s, dtype=tl.dtype)
        valid = pos_s[None, :] < tl[:, None]
        offsets = xp.cumulative_sum(tl) - tl
        if total == 0:
            return xp.full((n, s), blank, dtype=targets.dtype)
        pos = offsets[:, None] + pos_s[None, :]
        pos = xp.where(valid, pos, xp.zeros_like(pos))
        gathered = xp.reshape(xp.take(targets, xp.reshape(pos, (-1,))), (n, s))
        return xp.where(valid, gathered, xp.full_like(gathered, blank))
    else:
        raise errors.InvalidShape(
            "targets must have shape (N, S) (padded) or (sum(target_lengths),) (concatenated), "
            f"got {_checks.fmt_shape(targets.shape)}", ("targets",))
    pos_s = xp.arange(padded.shape[1], dtype=tl.dtype)
    valid = pos_s[None, :] < tl[:, None]
    _check_labels(xp, targets, valid[0, :] if unbatched else valid, num_classes, blank,
                  ("targets",))
    return xp.where(valid, padded, xp.full_like(padded, blank))
