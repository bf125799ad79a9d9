"""The problem being graded and its reference, computed once through :func:`service.engine.run`.

Checks are named after what they compare: ``value``, ``per_sample``, ``gradient`` (with respect to
``predictions``) and ``gradients.<input>`` for every other differentiable input (``gradients.W``).
A :class:`Context` holds the reference arrays under those names and re-runs the engine with one
thing changed (another reduction, parameter, dtype or input) for the mistake catalog, so every
number the grader compares with comes from the same implementation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import array_api_compat.numpy as xnp
import numpy as np

from .. import engine
from ..losses import Evaluation, LossError, LossSpec, get_loss
from ..losses.evaluate import last_axis_mean
from ..losses.reduce import reduce_loss
from ..losses.spec import LossOutput

CHECK_ORDER = ("value", "per_sample", "gradient")


def gradient_check(input_name: str) -> str:
    """The check name of the gradient with respect to ``input_name``."""
    return "gradient" if input_name == "predictions" else f"gradients.{input_name}"


def check_kind(check: str) -> str:
    """``value``, ``per_sample`` or ``gradient`` (every gradient check)."""
    return "gradient" if check == "gradient" or check.startswith("gradients.") else check


def check_names(spec: LossSpec) -> list[str]:
    """Every check a submission for ``spec`` can have, in grading order."""
    return ["value", "per_sample", *(gradient_check(i) for i in spec.differentiable_inputs)]


def outputs(ev: Evaluation) -> dict[str, np.ndarray]:
    """An evaluation's arrays under their check names, as float64."""
    out = {"value": np.asarray(ev.value, dtype=np.float64),
           "per_sample": np.asarray(ev.per_sample, dtype=np.float64)}
    for name, g in (ev.gradients or {}).items():
        out[gradient_check(name)] = np.asarray(g, dtype=np.float64)
    return out


@dataclass(frozen=True)
class Problem:
    """What is graded: a loss, its inputs (NumPy arrays), parameters, reduction and dtype."""

    loss: str
    inputs: Mapping[str, np.ndarray]
    params: Mapping[str, Any] = field(default_factory=dict)
    reduction: str | None = None
    sample_weight: np.ndarray | None = None
    dtype: str = "float64"
    backend: str = "numpy"


@dataclass(frozen=True)
class Reduced:
    value: np.ndarray
    per_sample: np.ndarray
    cotangent: np.ndarray  # d value / d loss, the unreduced loss's shape


class Context:
    """A problem with its reference (raises the core's LossError for an invalid problem)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.spec = get_loss(problem.loss)
        result = engine.run(self.spec.name, problem.inputs, problem.params,
                            reduction=problem.reduction, sample_weight=problem.sample_weight,
                            dtype=problem.dtype, want_grad=self.spec.differentiable,
                            backend=problem.backend)
        self.backend = result.backend
        self.evaluation = result.evaluation
        self.ref = outputs(self.evaluation)
        self._data_runs: dict[str, dict[str, np.ndarray] | None] = {}

    # -- the request, with defaults filled in -------------------------------------------------
    @property
    def inputs(self) -> Mapping[str, np.ndarray]:
        return self.problem.inputs

    @property
    def params(self) -> dict[str, Any]:
        return self.evaluation.params

    @property
    def reduction(self) -> str:
        return self.evaluation.reduction

    @property
    def dtype(self) -> str:
        return self.problem.dtype

    @property
    def sample_weight(self) -> np.ndarray | None:
        return self.problem.sample_weight

    def float_input(self, name: str) -> np.ndarray | None:
        a = self.inputs.get(name)
        return None if a is None else np.asarray(a, dtype=np.float64)

    # -- re-running the engine with one thing changed ----------------------------------------
    def run_with(self, *, inputs: Mapping[str, Any] | None = None,
                 params: Mapping[str, Any] | None = None, reduction: str | None = None,
                 dtype: str | None = None, weighted: bool = True) -> dict[str, np.ndarray] | None:
        """The reference's arrays with the changes applied; None if the core refuses them."""
        try:
            result = engine.run(
                self.spec.name, {**self.inputs, **(inputs or {})},
                {**self.params, **(params or {})},
                reduction=reduction or self.reduction,
                sample_weight=self.sample_weight if weighted else None,
                dtype=dtype or self.dtype, want_grad=self.spec.differentiable,
                backend=self.backend)
        except LossError:
            return None
        return outputs(result.evaluation)

    @cached_property
    def unreduced(self) -> np.ndarray | None:
        """The raw unreduced loss (no reduction, no sample weights), or None."""
        if "none" not in self.spec.reductions:
            return None
        run = self.run_with(reduction="none", weighted=False)
        return None if run is None else run["value"]

    @property
    def n_samples(self) -> int:
        return int(self.ref["per_sample"].shape[0])

    @property
    def elements_per_sample(self) -> int:
        """k: elements of the unreduced loss per sample (1 when unknown)."""
        loss = self.unreduced
        return 1 if loss is None else max(int(loss.size) // self.n_samples, 1)

    def reduce(self, loss: np.ndarray, mean_weight: np.ndarray | None = None) -> Reduced:
        """Reduce an unreduced loss array as the core does (reduction, sample weights)."""
        sw = None if self.sample_weight is None else np.asarray(self.sample_weight, np.float64)
        conv = self.spec.convention(self.params.get("convention"))
        out = LossOutput(np.asarray(loss, dtype=np.float64), mean_weight=mean_weight,
                         vjp=lambda cot: {"loss": cot})
        with np.errstate(all="ignore"):
            if conv is not None and conv.last_axis_mean and mean_weight is None:
                out = last_axis_mean(xnp, out)  # Keras: the per-sample loss is a row mean
            red = reduce_loss(xnp, out, self.reduction, sw,
                              weights_in_mean=conv is None or conv.weights_in_mean)
            assert out.vjp is not None
            cot = out.vjp(red.cotangent)["loss"]  # d value / d the elementwise loss
        return Reduced(np.asarray(red.value), np.asarray(red.per_sample),
                       np.asarray(np.broadcast_to(cot, np.shape(loss))))

    def gradient_checks(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Only the gradient entries of ``arrays``."""
        return {k: v for k, v in arrays.items() if check_kind(k) == "gradient"}

    # -- the regularisation penalty (losses with a ``reg`` parameter) -------------------------
    @property
    def regularized(self) -> bool:
        return any(p.name == "reg" for p in self.spec.params) and bool(self.params.get("reg"))

    def data_run(self, reduction: str | None = None) -> dict[str, np.ndarray] | None:
        """The evaluation without the penalty (``reg = 0``; the reference itself where there is
        none), with ``reduction`` (default: the request's). Cached per reduction."""
        reduction = reduction or self.reduction
        if reduction not in self._data_runs:
            if not self.regularized and reduction == self.reduction:
                self._data_runs[reduction] = self.ref
            else:
                params = {"reg": 0.0} if self.regularized else None
                self._data_runs[reduction] = self.run_with(params=params, reduction=reduction)
        return self._data_runs[reduction]

    @cached_property
    def penalty(self) -> dict[str, np.ndarray]:
        """The penalty's share of every reference array (zeros without a penalty)."""
        data = self.data_run()
        if data is None:
            return {k: np.zeros_like(v) for k, v in self.ref.items()}
        return {k: self.ref[k] - data[k] for k in self.ref}

    def with_penalty(self, data: dict[str, np.ndarray] | None, keys: tuple[str, ...] = ()
                     ) -> dict[str, np.ndarray]:
        """``data`` arrays (same shapes as the reference) plus the penalty, for ``keys`` (all)."""
        if data is None:
            return {}
        keys = keys or tuple(data)
        return {k: data[k] + self.penalty[k] for k in keys
                if k in data and data[k].shape == self.penalty[k].shape}

    # -- class scores ------------------------------------------------------------------------
    def class_scores(self) -> np.ndarray | None:
        """(N, C) class scores with the class axis last: ``predictions`` of a multiclass loss
        ((C,) as one row), or ``X W (+ b)`` of a linear classifier; None otherwise."""
        if "W" in self.inputs and "X" in self.inputs:
            s = self.float_input("X") @ self.float_input("W")
            b = self.float_input("b")
            return s if b is None else s + b
        x = self.float_input("predictions")
        if x is None or self.spec.family != "multiclass" or x.ndim not in (1, 2):
            return None
        return x[None, :] if x.ndim == 1 else x

    def score_gradient(self, g: np.ndarray) -> dict[str, np.ndarray]:
        """A gradient with respect to :meth:`class_scores`, as gradient checks."""
        if "W" in self.inputs and "X" in self.inputs:
            out = {"gradients.W": self.float_input("X").T @ g}
            if "b" in self.inputs:
                out["gradients.b"] = g.sum(axis=0)
            return out
        x = self.inputs["predictions"]
        return {"gradient": g.reshape(x.shape)}
