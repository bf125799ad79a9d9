"""Losses side by side on one batch: values, per-sample values, rank correlations, top-k.

Every loss is evaluated by the engine on the same inputs (each with its own parameters and an
optional transform of ``predictions``, e.g. ``log_softmax`` for ``nll`` next to
``cross_entropy`` on the same logits). Per-sample values are compared by Spearman's rank
correlation (average ranks for ties; NaN where a loss is constant over the batch), and each loss
lists the ``k`` samples it penalises most (ties by the lower index).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import engine
from ..losses import LossError, get_loss

TRANSFORMS = ("none", "softmax", "log_softmax", "sigmoid", "log_sigmoid")


@dataclass(frozen=True)
class LossRequest:
    loss: str
    params: Mapping[str, Any] = field(default_factory=dict)
    reduction: str | None = None
    transform: str = "none"
    label: str | None = None


def transform(x: np.ndarray, how: str) -> np.ndarray:
    """Apply ``how`` to predictions (softmax over the class axis: 1, or 0 for 1-D)."""
    if how == "none":
        return x
    x = np.asarray(x, dtype=np.float64)
    if how in ("sigmoid", "log_sigmoid"):
        log_s = -np.logaddexp(0.0, -x)
        return log_s if how == "log_sigmoid" else np.exp(log_s)
    axis = 0 if x.ndim == 1 else 1
    m = np.max(x, axis=axis, keepdims=True)
    log_p = x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return log_p if how == "log_softmax" else np.exp(log_p)


def ranks(v: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(v, kind="stable")
    sorted_v = v[order]
    new_run = np.r_[True, sorted_v[1:] != sorted_v[:-1]]
    starts = np.flatnonzero(new_run)
    ends = np.r_[starts[1:], v.size] - 1
    r = np.empty(v.size)
    r[order] = ((starts + ends) / 2.0 + 1.0)[np.cumsum(new_run) - 1]
    return r


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho: the Pearson correlation of the ranks (NaN if either is constant)."""
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = float(np.sqrt(np.sum(ra * ra) * np.sum(rb * rb)))
    return float(np.sum(ra * rb) / denom) if denom > 0 else float("nan")


def top_k(per_sample: np.ndarray, k: int) -> list[dict[str, Any]]:
    order = np.lexsort((np.arange(per_sample.size), -per_sample))[:k]
    return [{"index": int(i), "value": float(per_sample[i])} for i in order]


class SideBySideError(LossError):
    """A loss of the list failed; ``index`` says which."""

    def __init__(self, index: int, error: LossError):
        super().__init__(error.message, error.loc, code=error.code)
        self.index = index


def compare_losses(requests: Sequence[LossRequest], inputs: Mapping[str, np.ndarray], *,
                   sample_weight: np.ndarray | None = None, dtype: str = "float64", k: int = 5,
                   backend: str = "numpy") -> dict[str, Any]:
    """The side-by-side comparison (arrays as NumPy; see the module docstring)."""
    results = []
    for i, req in enumerate(requests):
        try:
            spec = get_loss(req.loss)
            given = dict(inputs)
            if req.transform != "none" and "predictions" in given:
                given["predictions"] = transform(given["predictions"], req.transform)
            r = engine.run(spec.name, given, req.params, reduction=req.reduction,
                           sample_weight=sample_weight, dtype=dtype, backend=backend)
        except LossError as exc:
            raise SideBySideError(i, exc) from None
        ev = r.evaluation
        results.append((req, ev))
    n = results[0][1].n_samples
    for i, (_, ev) in enumerate(results):
        if ev.n_samples != n:
            raise SideBySideError(i, LossError(
                f"{ev.loss} sees {ev.n_samples} samples in this batch but {results[0][1].loss} "
                f"sees {n}; losses compared side by side must share the batch", (),
                code="shape_mismatch"))
    labels = _labels(requests, [ev.loss for _, ev in results])
    per = [np.asarray(ev.per_sample, dtype=np.float64) for _, ev in results]
    matrix = [[spearman(a, b) for b in per] for a in per]
    pairs = [{"a": labels[i], "b": labels[j], "spearman": matrix[i][j]}
             for i in range(len(per)) for j in range(i + 1, len(per))]
    return {
        "mode": "losses", "n_samples": n, "dtype": dtype, "backend": backend,
        "losses": [{"label": labels[i], "loss": ev.loss, "params": ev.params,
                    "reduction": ev.reduction, "transform": req.transform,
                    "value": np.asarray(ev.value), "per_sample": per[i],
                    "top_k": top_k(per[i], k)} for i, (req, ev) in enumerate(results)],
        "rank_correlation": {"method": "spearman", "labels": labels, "matrix": matrix,
                             "pairs": pairs},
    }


def _labels(requests: Sequence[LossRequest], names: list[str]) -> list[str]:
    labels = [req.label or name for req, name in zip(requests, names, strict=True)]
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        count = seen.get(label, 0)
        seen[label] = count + 1
        out.append(label if labels.count(label) == 1 else f"{label}#{count + 1}")
    return out
