"""PyTorch's own loss test inputs (the OpInfos of ``op_db``) mapped onto this service's losses.

Why it exists: torch ships, for every ``nn.functional.*loss*`` OpInfo, the inputs its own test
suite checks (``reference_inputs`` / ``sample_inputs``) and the calls it refuses
(``error_inputs``). Replaying them (tests/losses/test_torch_opinfo_replay.py) checks library
parity on inputs chosen by someone else: every sample torch computes must get torch's value,
per-sample values and gradients; every call torch refuses must be refused. This module turns one
torch call into one service call (:func:`to_service`), or says why it cannot be expressed
(:class:`Unexpressible`, with the reason the table in the test module lists).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.losses import get_loss
from service.transport.json_out import encode_array

torch = __import__("pytest").importorskip("torch")
__import__("pytest").importorskip("expecttest")  # torch.testing._internal imports it
F = torch.nn.functional

# torch OpInfo name (without "nn.functional.") -> this service's loss
LOSS_OF: dict[str, str] = {
    "cross_entropy": "cross_entropy", "nll_loss": "nll",
    "binary_cross_entropy": "binary_cross_entropy",
    "binary_cross_entropy_with_logits": "binary_cross_entropy_with_logits",
    "soft_margin_loss": "soft_margin", "margin_ranking_loss": "margin_ranking",
    "multi_margin_loss": "multi_margin", "multilabel_margin_loss": "multilabel_margin",
    "multilabel_soft_margin_loss": "multilabel_soft_margin",
    "triplet_margin_loss": "triplet_margin",
    "triplet_margin_with_distance_loss": "triplet_margin_with_distance",
    "smooth_l1_loss": "smooth_l1", "l1_loss": "l1", "mse_loss": "mse", "huber_loss": "huber",
    "ctc_loss": "ctc", "cosine_embedding_loss": "cosine_embedding",
    "hinge_embedding_loss": "hinge_embedding", "gaussian_nll_loss": "gaussian_nll",
    "poisson_nll_loss": "poisson_nll", "kl_div": "kl_div",
    "linear_cross_entropy": "linear_softmax",
}

# torch argument -> (service input name) for tensors that are inputs, per loss
_INPUTS: dict[str, dict[str, str]] = {
    "margin_ranking": {"input1": "input1", "input2": "input2", "target": "targets"},
    "cosine_embedding": {"input1": "input1", "input2": "input2", "target": "targets"},
    "triplet_margin": {"anchor": "anchor", "positive": "positive", "negative": "negative"},
    "triplet_margin_with_distance": {"anchor": "anchor", "positive": "positive",
                                     "negative": "negative"},
    "ctc": {"log_probs": "log_probs", "targets": "targets", "input_lengths": "input_lengths",
            "target_lengths": "target_lengths"},
    "gaussian_nll": {"input": "predictions", "target": "targets", "var": "var"},
}
_DEFAULT_INPUTS = {"input": "predictions", "target": "targets"}
_IGNORED = {"size_average", "reduce", "reduction"}  # reduction is passed on its own


class Unexpressible(Exception):
    """A torch call this service has no way to express; ``what`` is the class it falls in."""

    def __init__(self, what: str, detail: str = "") -> None:
        super().__init__(f"{what}: {detail}" if detail else what)
        self.what = what


@dataclass
class Call:
    """One torch call and its translation into a service call."""

    op: str  # the OpInfo name without "nn.functional."
    loss: str
    fn: Callable[..., Any]
    args: dict[str, Any]  # torch's bound arguments (defaults applied)
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    reduction: str = "mean"
    grad_inputs: dict[str, str] = field(default_factory=dict)  # service name -> torch arg

    @property
    def wrt(self) -> list[str] | None:
        """The service's ``wrt`` for ``grad_inputs`` (None: the default gradients suffice)."""
        default = get_loss(self.loss).differentiable_inputs
        return list(self.grad_inputs) if any(n not in default for n in self.grad_inputs) \
            else None


def _np(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _weight(name: str, t: Any) -> Any:
    """A torch weight tensor as this service's parameter: a number (0-d) or a nested list (the
    binary losses' weights broadcast like torch's; a class weight of another shape is the
    service's to refuse, as torch does)."""
    if t is None:
        return None
    a = _np(t)
    return float(a) if a.ndim == 0 else a.tolist()


def bind(fn: Callable[..., Any], sample: Any) -> dict[str, Any]:
    sig = inspect.signature(fn)
    b = sig.bind(sample.input, *sample.args, **sample.kwargs)
    b.apply_defaults()
    return dict(b.arguments)


def to_service(op: str, sample: Any) -> Call:
    """The service call of one torch sample (raises Unexpressible)."""
    loss = LOSS_OF[op]
    fn = getattr(F, op)
    args = bind(fn, sample)
    if args.get("size_average") is not None or args.get("reduce") is not None:
        raise Unexpressible("legacy size_average/reduce arguments")
    call = Call(op, loss, fn, args, reduction=args.get("reduction", "mean"))
    if loss == "linear_softmax":
        return _linear(call)
    names = _INPUTS.get(loss, _DEFAULT_INPUTS)
    # gradients compared: every float input torch's sample has requires_grad on that the
    # service differentiates, by default or on request (``wrt``: targets, issue 19, item 3)
    spec = get_loss(loss)
    differentiable = set(spec.wrt_inputs)
    known = {q.name for q in spec.params}
    for targ, sname in names.items():
        v = args[targ]
        if isinstance(v, torch.Tensor):
            if v.dtype.is_complex:
                raise Unexpressible("complex dtype")
            call.inputs[sname] = _np(v)
            if v.dtype.is_floating_point and v.requires_grad and sname in differentiable:
                call.grad_inputs[sname] = targ
        else:
            call.inputs[sname] = np.asarray(v)
    p = call.params
    for k, v in args.items():
        if k in names or k in _IGNORED or (v is None and k not in known):
            continue  # an argument left at None is one the service need not have
        if k in ("weight", "pos_weight"):
            p[k] = _weight(k, v)
        elif k == "distance_function":
            if v is not None:
                raise Unexpressible("a custom distance_function (a Python callable)")
        elif k == "p" and loss == "multi_margin":
            p[k] = int(v)
        elif isinstance(v, torch.Tensor):
            raise Unexpressible(f"tensor-valued argument {k}")
        else:
            p[k] = v
    return call


def _linear(call: Call) -> Call:
    """torch linear_cross_entropy(input, linear_weight, target, linear_bias=, weight=,
    ignore_index=, label_smoothing=) is cross_entropy(linear(input, linear_weight, linear_bias),
    target, ...): linear_softmax with W = linear_weight with its last (feature) axis moved first
    ((D, C) or (D, C, d1..dK)), reg 0, the other arguments as parameters of the same names.
    ``options`` (LinearCrossEntropyOptions) only chooses torch's chunked implementation (batch
    chunks, accumulation dtype), not the function: it is not sent."""
    a = call.args
    x, w, t, b = a["input"], a["linear_weight"], a["target"], a.get("linear_bias")
    wn = _np(w)
    call.inputs = {"W": np.moveaxis(wn, -1, 0).copy() if wn.ndim else wn, "X": _np(x),
                   "targets": _np(t)}
    if b is not None:
        call.inputs["b"] = _np(b)
    call.params = {"reg": 0.0}
    if a.get("weight") is not None:
        call.params["weight"] = _weight("weight", a["weight"])
    if a.get("ignore_index") is not None:
        call.params["ignore_index"] = int(a["ignore_index"])
    if a.get("label_smoothing", 0.0) != 0.0:
        call.params["label_smoothing"] = float(a["label_smoothing"])
    # the service differentiates W and b, and X on request (wrt, issue 19, item 3)
    call.grad_inputs = {k: v for k, v in (("W", "linear_weight"), ("b", "linear_bias"),
                                          ("X", "input"))
                        if isinstance(a.get(v), torch.Tensor) and a[v].requires_grad}
    return call


def torch_result(call: Call) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """torch's value and the gradients (of the sum, for reduction none) of ``call``'s inputs."""
    args = {k: (v.detach().clone().requires_grad_(v.requires_grad)
                if isinstance(v, torch.Tensor) else v) for k, v in call.args.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = call.fn(**args)
    grads: dict[str, np.ndarray] = {}
    wrt = [(s, args[t]) for s, t in call.grad_inputs.items()]
    if wrt and out.requires_grad:
        gs = torch.autograd.grad(out.sum(), [t for _, t in wrt], allow_unused=True)
        for (s, t), g in zip(wrt, gs, strict=True):
            grads[s] = _np(g) if g is not None else np.zeros(tuple(t.shape))
            if s == "W":  # linear_softmax's W: linear_weight with its last axis first
                grads[s] = np.moveaxis(grads[s], -1, 0)
    return _np(out), grads


def samples(opinfo: Any, seed: int, kind: str) -> Iterator[Any]:
    """``kind`` ("reference", "error") inputs of ``opinfo`` in float64 on the CPU."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "error":
            if opinfo.error_inputs_func is None:
                return
            yield from opinfo.error_inputs(torch.device("cpu"))
            return
        yield from opinfo.reference_inputs("cpu", torch.float64, requires_grad=True)


def loss_opinfos() -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.testing._internal.common_methods_invocations import op_db
    return [o for o in op_db if o.name.startswith("nn.functional.")
            and o.name.removeprefix("nn.functional.") in LOSS_OF]


def wire(v: np.ndarray) -> Any:
    """A replayed input in a JSON request: a list, or b64 where the array holds NaN or an
    infinity (JSON has no such numbers)."""
    if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
        return encode_array(np.ascontiguousarray(v), "b64")
    return v.tolist()
