"""The table of accelerated losses: one row per loss that has a kernel.

Why: one place says which losses are accelerated, by which kernel of which family, with which
parameters, from which size, and how the warm-up compiles them; the differential test
(``tests/losses/test_accel_differential.py``) walks it, and fails on a kernel without a row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import families

# Smaller inputs take the reference. Not a crossover: the kernels measured 2x to 4x faster from
# 100 elements (they also skip the reference's per-call overhead), but below this the time saved
# is under 0.1 ms and small requests keep the reference in service (the examples, conventions
# and goldens are small). bench/README.md, "Fused kernels (numba)".
MIN_SIZE = 1000


@dataclass(frozen=True)
class Row:
    """An accelerated loss: ``prepare`` (a function of :mod:`.families`) takes the call or
    leaves it to the reference; ``kernels`` names its kernels (elementwise: for float64 and
    float32 inputs); ``params`` gives an elementwise kernel's ``(p0, p1)`` from the validated
    parameters, or None where the kernel lacks their math; ``warm`` lists the parameters and
    row lengths the warm-up compiles (every kernel variant)."""

    loss: str
    prepare: Callable[..., Any]
    kernels: tuple[str, ...]
    params: Callable[[Mapping[str, Any]], tuple[float, float] | None] | None = None
    min_size: int = MIN_SIZE
    warm: tuple[tuple[dict[str, Any], int], ...] = (({}, 8),)


def _smooth_l1(params: Mapping[str, Any]) -> tuple[float, float] | None:
    beta = float(params["beta"])
    return (beta, 0.0) if beta > 0.0 else None  # beta = 0 is l1's gradient rule


def _bce(params: Mapping[str, Any]) -> tuple[float, float] | None:
    ok = params.get("weight") is None and params.get("pos_weight") is None
    return (0.0, 0.0) if ok else None


def _focal(params: Mapping[str, Any]) -> tuple[float, float] | None:
    from ..sigmoid_focal import focal_alpha

    convention = params.get("convention", "torch")
    if convention not in ("torch", "optax"):
        return None
    return float(focal_alpha(params["alpha"], convention)), float(params["gamma"])


_E = families.elementwise
ROWS: dict[str, Row] = {row.loss: row for row in (
    Row("mse", _E, ("mse", "mse")),
    Row("l1", _E, ("l1", "l1")),
    Row("huber", _E, ("huber", "huber"), lambda p: (float(p["delta"]), 0.0)),
    Row("smooth_l1", _E, ("smooth_l1", "smooth_l1"), _smooth_l1),
    Row("binary_cross_entropy_with_logits", _E, ("bce_with_logits", "bce_with_logits32"), _bce),
    Row("sigmoid_focal", _E, ("sigmoid_focal", "sigmoid_focal32"), _focal),
    Row("cross_entropy", families.cross_entropy, ("cross_entropy",),
        warm=(({}, 8), ({}, 128), ({"weight": [1.0] * 8}, 8), ({"weight": [1.0] * 128}, 128))),
    Row("multi_margin", families.multi_margin, ("multi_margin",),
        warm=(({"p": 1}, 8), ({"p": 2}, 8))),
    Row("triplet_margin", families.triplet_margin, ("triplet_margin",),
        warm=tuple(({"p": p, "swap": s}, 8) for p in (1.0, 2.0) for s in (False, True))),
)}
