"""Deterministic test cases for graders: ``GET /cases/{name}``.

Inputs come from the loss's registry sampler driven by ``numpy.random.Generator(PCG64(seed))``;
floating-point values are rounded to 12 significant digits, so the few that pass through
``exp``/``log`` in a sampler (whose last bit may differ between CPUs) print the same everywhere.
The edge mutations that follow use exact arithmetic only, and JSON carries every double exactly,
so the same ``(name, seed, n, classes, kind)`` gives byte-identical JSON across runs, processes
and machines (for one NumPy version: NumPy keeps a Generator's streams stable within a version).

``params`` (the autograder's assignments) replaces the parameters the sampler draws with exactly
the ones given (an edge case that needs another parameter, such as ``ignore_index``, is left out),
and ``omit`` leaves optional inputs out, so nothing is randomised or added that the instructor did
not ask for; ``GET /cases`` passes neither and keeps the sampler's parameters.

``kind=random`` gives one case; ``kind=edge`` gives the edge cases that apply to the loss (chosen
from its input kinds and parameters, so new losses get them too), each checked to evaluate to
finite values: a single sample, logits of +-1000, probabilities of exactly 0 and 1, scores at the
hinge kink, ignored targets, one class dominating.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

import numpy as np

from .. import engine
from ..losses import LossError, LossSpec, get_loss

SIG_DIGITS = 12
MAX_N = 1000
MAX_CLASSES = 64
KINDS = ("random", "edge")
SAMPLER_SECONDS = 5.0  # a sampler that rejects and redraws may never finish on a large batch

Inputs = dict[str, np.ndarray]
Params = dict[str, Any]


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    inputs: Inputs
    params: Params


def _round(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind != "f":
        return a
    flat = [float(f"{v:.{SIG_DIGITS}g}") for v in a.astype(np.float64).reshape(-1).tolist()]
    return np.asarray(flat, dtype=np.float64).reshape(a.shape)


def _round_param(v: Any) -> Any:
    if isinstance(v, bool | str) or v is None:
        return v
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return float(f"{float(v):.{SIG_DIGITS}g}")
    if isinstance(v, list | tuple | np.ndarray):
        return [_round_param(x) for x in np.asarray(v).tolist()]
    return v


class CaseTooLarge(LossError):
    """The loss's sampler did not produce a batch this large in time."""

    code = "case_too_large"


class _Late(Exception):
    pass


def _bounded(fn: Callable[[], Any], seconds: float) -> Any:
    """``fn()``, stopped with _Late once ``seconds`` have passed (checked on every Python line
    it runs, so it works in any thread; NumPy calls in between are not interrupted)."""
    deadline = time.monotonic() + seconds

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise _Late
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return fn()
    finally:
        sys.settrace(previous)


def _sample(spec: LossSpec, rng: np.random.Generator, n: int, c: int,
            fixed: Mapping[str, Any] | None = None, omit: Collection[str] = ()
            ) -> tuple[Inputs, Params]:
    try:
        inputs, params = _bounded(lambda: spec.sampler(rng, n, c), SAMPLER_SECONDS)
    except _Late:
        raise CaseTooLarge(
            f"{spec.name}'s sampler found no valid batch of n={n}, classes={c} within "
            f"{SAMPLER_SECONDS:g} s (it redraws until every margin is away from its kink); ask "
            "for a smaller n or fewer classes", ("n",)) from None
    arrays = {k: _round(np.asarray(v)) for k, v in inputs.items()
              if v is not None and k not in omit}
    arrays = {k: v.astype(np.int64) if v.dtype.kind in "iu" else v for k, v in arrays.items()}
    if fixed is not None:  # the caller's parameters, exactly (the sampler's draws are dropped)
        return arrays, dict(fixed)
    return arrays, {k: _round_param(v) for k, v in params.items()}


def _kind(spec: LossSpec, name: str) -> str | None:
    return next((i.kind for i in spec.inputs if i.name == name), None)


def _extreme_logits(spec: LossSpec, x: Inputs, p: Params) -> tuple[Inputs, Params] | None:
    changed = False
    for i in spec.inputs:
        a = x.get(i.name)
        if i.kind != "logits" or a is None or a.dtype.kind != "f":
            continue
        a = a.copy()
        if spec.family == "multiclass" and a.ndim in (1, 2):
            rows = a.reshape(-1, a.shape[-1])
            rows[0] = 0.0
            rows[0, 0], rows[0, -1] = 1000.0, -1000.0
            if rows.shape[0] > 1:
                rows[1] = -1000.0
            if rows.shape[0] > 2:
                rows[2] = 1000.0
        else:
            flat = a.reshape(-1)
            k = min(4, flat.size)
            flat[:k] = np.array([1000.0, -1000.0, 1000.0, -1000.0])[:k]
        x[i.name] = a
        changed = True
    if not changed and {"W", "X"} <= set(x):
        s = x["X"][0] @ x["W"]
        top = float(np.max(np.abs(s)))
        if top > 0:
            x["X"] = x["X"].copy()
            x["X"][0] = x["X"][0] * (1000.0 / top)
            changed = True
    return (x, p) if changed else None


def _probabilities_0_1(spec: LossSpec, x: Inputs, p: Params) -> tuple[Inputs, Params] | None:
    if _kind(spec, "predictions") != "probabilities" or "predictions" not in x:
        return None
    pred = x["predictions"].copy()
    flat = pred.reshape(-1)
    k = min(4, flat.size)
    flat[:k] = np.array([0.0, 1.0, 1.0, 0.0])[:k]
    x["predictions"] = pred
    if _kind(spec, "targets") == "binary_labels" and "targets" in x:
        t = x["targets"].astype(np.float64).copy()
        t.reshape(-1)[:k] = np.array([1.0, 0.0, 1.0, 0.0])[:k]
        x["targets"] = t
    return x, p


def _margin_kink(spec: LossSpec, x: Inputs, p: Params) -> tuple[Inputs, Params] | None:
    margin = float(p.get("margin", spec.defaults.get("margin", 1.0) or 1.0))
    if "margin" not in spec.defaults:
        return None
    t = x.get("targets")
    if _kind(spec, "targets") == "sign_labels" and "predictions" in x and t is not None:
        y = 2.0 * t - 1.0 if bool(np.all((t == 0) | (t == 1))) else t
        s = x["predictions"].copy()
        k = min(2, s.size)
        s.reshape(-1)[:k] = (margin * y).reshape(-1)[:k]
        x["predictions"] = s
        return x, p
    if t is None or t.dtype.kind not in "iu" or t.ndim != 1:
        return None
    y0 = int(t[0])
    if "predictions" in x and x["predictions"].ndim == 2 and spec.family == "multiclass":
        s = x["predictions"].copy()
        j = (y0 + 1) % s.shape[1]
        s[0, j], s[0, y0] = 0.25, 0.25 + margin
        if (margin - s[0, y0]) + s[0, j] != 0.0:
            return None
        x["predictions"] = s
        return x, p
    if {"W", "X", "b"} <= set(x):  # S_0 = b when X_0 = 0
        xx, b = x["X"].copy(), x["b"].copy()
        j = (y0 + 1) % b.shape[0]
        xx[0] = 0.0
        b[j], b[y0] = 0.25, 0.25 + margin
        if (b[j] - b[y0]) + margin != 0.0:
            return None
        x["X"], x["b"] = xx, b
        return x, p
    return None


def _ignored_targets(spec: LossSpec, x: Inputs, p: Params) -> tuple[Inputs, Params] | None:
    t = x.get("targets")
    if "ignore_index" not in spec.defaults or t is None or t.dtype.kind not in "iu" or t.size < 2:
        return None
    ignore = int(p.get("ignore_index", spec.defaults["ignore_index"]))
    t = t.copy()
    t.reshape(-1)[1::3] = ignore
    x["targets"] = t
    return x, {**p, "ignore_index": ignore}


def _dominant_class(spec: LossSpec, x: Inputs, p: Params) -> tuple[Inputs, Params] | None:
    t = x.get("targets")
    if t is None:
        return None
    if t.dtype.kind in "iu" and spec.family in ("multiclass", "linear"):
        x["targets"] = np.zeros_like(t)
        pred = x.get("predictions")
        if pred is not None and pred.ndim == 2 and pred.dtype.kind == "f":
            pred = pred.copy()
            pred[:, 0] = np.max(pred, axis=1) + 20.0
            x["predictions"] = pred
        return x, p
    if _kind(spec, "targets") in ("binary_labels", "sign_labels"):
        x["targets"] = np.ones_like(t, dtype=np.float64)
        return x, p
    return None


Mutation = Callable[[LossSpec, Inputs, Params], "tuple[Inputs, Params] | None"]
EDGES: tuple[tuple[str, str, Mutation], ...] = (
    ("extreme_logits", "logits (or scores) of +-1000: a naive exp overflows or underflows; "
     "the reference stays finite", _extreme_logits),
    ("probabilities_0_1", "probabilities of exactly 0 and 1: log 0 must be clamped",
     _probabilities_0_1),
    ("margin_at_kink", "scores exactly at the hinge kink (margin term exactly 0): the "
     "subgradient there is 0", _margin_kink),
    ("ignored_targets", "every third target is ignore_index: it adds nothing and leaves the "
     "mean's denominator", _ignored_targets),
    ("dominant_class", "one class dominates: every target is the same class (for class "
     "scores, its logit leads by 20)", _dominant_class),
)


def _valid(spec: LossSpec, inputs: Inputs, params: Params) -> bool:
    """The core accepts the case and every number it gives is finite."""
    try:
        r = engine.run(spec.name, inputs, params, want_grad=spec.differentiable)
    except LossError:
        return False
    ev = r.evaluation
    arrays = [ev.value, ev.per_sample, *(ev.gradients or {}).values()]
    return all(bool(np.all(np.isfinite(np.asarray(a)))) for a in arrays)


def random_case(spec: LossSpec, seed: int, n: int, classes: int,
                fixed: Mapping[str, Any] | None = None, omit: Collection[str] = ()) -> Case:
    rng = np.random.Generator(np.random.PCG64(seed))
    inputs, params = _sample(spec, rng, n, classes, fixed, omit)
    return Case("random", f"random inputs from {spec.name}'s sampler (seed {seed})", inputs,
                params)


def edge_cases(spec: LossSpec, seed: int, n: int, classes: int,
               fixed: Mapping[str, Any] | None = None, omit: Collection[str] = ()
               ) -> list[Case]:
    rng = np.random.Generator(np.random.PCG64(seed))
    base, base_params = _sample(spec, rng, max(n, 3), classes, fixed, omit)
    one, one_params = _sample(spec, rng, 1, classes, fixed, omit)
    cases = [Case("single_sample", "a batch of one sample", one, one_params)]
    for name, description, mutate in EDGES:
        made = mutate(spec, dict(base), dict(base_params))
        if made is not None and (fixed is None or made[1] == base_params):
            cases.append(Case(name, description, *made))  # given params stay exactly as given
    return [c for c in cases if _valid(spec, c.inputs, c.params)]


def case_json(spec: LossSpec, case: Case) -> dict[str, Any]:
    """A case as the start of a ``/compare`` body (add ``submission``)."""
    body: dict[str, Any] = {"name": case.name, "description": case.description,
                            "loss": spec.name}
    others = {}
    for k, v in case.inputs.items():
        if k in ("predictions", "targets"):
            body[k] = v.tolist()
        else:
            others[k] = v.tolist()
    if others:
        body["inputs"] = others
    body["params"] = case.params
    body["reduction"] = spec.default_reduction
    return body


def case_set(name: str, *, seed: int = 0, n: int = 8, classes: int = 4,
             kind: str = "random", params: Mapping[str, Any] | None = None,
             omit: Collection[str] = ()) -> dict[str, Any]:
    """The cases for loss ``name`` (see the module docstring); raises LossError (unknown loss).

    ``params``: use exactly these parameters instead of the sampler's (None: the sampler's);
    ``omit``: optional inputs to leave out.
    """
    spec = get_loss(name)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if kind == "random":
        cases = [random_case(spec, seed, n, classes, params, omit)]
    else:
        cases = edge_cases(spec, seed, n, classes, params, omit)
    return {"loss": spec.name, "kind": kind, "seed": seed, "n": n, "classes": classes,
            "generator": "numpy.random.Generator(PCG64(seed)) through the loss's sampler; "
            f"floats rounded to {SIG_DIGITS} significant digits",
            "cases": [case_json(spec, c) for c in cases]}
