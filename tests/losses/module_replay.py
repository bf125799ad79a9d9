"""PyTorch's ``torch.nn`` loss-module test inputs mapped onto this service's losses (issue 19).

Two sources torch ships in the wheel besides the OpInfos (:mod:`tests.losses.opinfo_replay`):

* ``torch.testing._internal.common_nn.criterion_tests``: dicts (``fullname``, ``constructor``,
  ``input_size``/``target_size`` or ``input_fn``/``target_fn``...) that torch's test_nn turns into
  ``CriterionTest`` objects; their inputs are drawn here by ``CriterionTest`` itself;
* ``torch.testing._internal.common_modules.module_db``: one ``ModuleInfo`` per ``nn`` module,
  whose ``module_inputs_func`` gives ``ModuleInput`` objects (constructor and forward arguments)
  and whose ``module_error_inputs_func`` gives the constructions or calls torch refuses.

A case is one loss module and the arguments of one forward call (:class:`Case`). It becomes a
service call by way of the module's functional twin: ``nn.HuberLoss(delta=d)(x, y)`` is
``F.huber_loss(x, y, reduction=..., delta=d)``, whose arguments :func:`to_service` of the OpInfo
replay already translates. The functional's keyword arguments are read off the constructed
module's attributes (``module.reduction``, ``module.delta``, the ``weight`` buffer...), and
:func:`to_call` refuses to translate a module holding a public attribute, buffer, parameter or
submodule it did not read, so that an option torch adds to a module is not silently dropped.
torch's value and gradients come from the module itself (:func:`module_result`), not from the
functional, so a wrong translation shows as a mismatch.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from .opinfo_replay import LOSS_OF, Call, Unexpressible, to_service, torch

nn, F = torch.nn, torch.nn.functional

# nn loss module -> its functional twin (a key of LOSS_OF)
FUNCTIONAL_OF: dict[str, str] = {
    "L1Loss": "l1_loss", "MSELoss": "mse_loss", "PoissonNLLLoss": "poisson_nll_loss",
    "GaussianNLLLoss": "gaussian_nll_loss", "HuberLoss": "huber_loss",
    "SmoothL1Loss": "smooth_l1_loss", "KLDivLoss": "kl_div", "BCELoss": "binary_cross_entropy",
    "BCEWithLogitsLoss": "binary_cross_entropy_with_logits",
    "HingeEmbeddingLoss": "hinge_embedding_loss", "MultiLabelMarginLoss": "multilabel_margin_loss",
    "SoftMarginLoss": "soft_margin_loss", "NLLLoss": "nll_loss",
    "CosineEmbeddingLoss": "cosine_embedding_loss", "MarginRankingLoss": "margin_ranking_loss",
    "TripletMarginLoss": "triplet_margin_loss",
    "TripletMarginWithDistanceLoss": "triplet_margin_with_distance_loss",
    "MultiLabelSoftMarginLoss": "multilabel_soft_margin_loss",
    "MultiMarginLoss": "multi_margin_loss", "CrossEntropyLoss": "cross_entropy",
    "CTCLoss": "ctc_loss", "LinearCrossEntropyLoss": "linear_cross_entropy",
}
assert set(FUNCTIONAL_OF.values()) <= set(LOSS_OF)

# what LinearCrossEntropyLoss keeps to build F.linear_cross_entropy's linear_weight/linear_bias
_LINEAR_STATE = {"linear", "num_classes", "out_features"}


@dataclass
class Case:
    """One loss module and one forward call of it."""

    source: str  # "criterion" (common_nn.criterion_tests) or "module_db"
    where: str  # e.g. "criterion L1Loss_no_batch_dim_none seed 0 reduction none"
    cls: str  # the module's class name
    module: Any  # the constructed nn.Module
    forward: tuple[Any, ...]  # forward()'s positional arguments
    # for an error input: the error torch raises (regex) and when (construction, forward)
    error: str | None = None
    error_on: str | None = None
    constructor_error: str | None = None  # what torch's constructor raised (construction)


def _f64(x: Any) -> Any:
    """Floating tensors to float64, keeping ``requires_grad``; other values unchanged."""
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.detach().to(torch.float64).requires_grad_(x.requires_grad)
    return x


def criterion_cases(seed: int) -> Iterator[Case]:
    """``common_nn.criterion_tests``, inputs drawn by torch's ``CriterionTest`` after
    ``torch.manual_seed(seed)`` with float64 the default dtype (torch's suite draws the tests
    that name no ``default_dtype`` in float32; the replay compares in float64). Each test's
    module is replayed with the reduction torch's constructor gives it (``module.reduction``)
    and, where that differs, with the reduction its ``fullname`` names (set on the module): in
    torch 2.13 every constructor closes over the variable ``reduction`` of the loop that built
    the list, so all of them build ``reduction="sum"``, and the ``_none``/``_mean`` tests check
    "sum" in torch's own suite."""
    from torch.testing._internal.common_nn import CriterionTest, criterion_tests
    from torch.testing._internal.common_utils import set_default_dtype

    for params in criterion_tests:
        name = params["fullname"]
        torch.manual_seed(seed)
        test = CriterionTest(**params)
        with set_default_dtype(params.get("default_dtype", torch.float64)), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = test.constructor(*test.constructor_args)
            inp, target = test._get_input(), test._get_target()
        extra = test.extra_args or ()
        forward = tuple(_f64(t) for t in (*(inp if isinstance(inp, tuple) else (inp,)), target,
                                          *extra))
        named = name.rsplit("_", 1)[-1]
        for reduction in dict.fromkeys((module.reduction, named)):
            module = test.constructor(*test.constructor_args)
            module.reduction = reduction
            yield Case("criterion", f"criterion {name} seed {seed} reduction {reduction}",
                       type(module).__name__, module, forward)


def loss_module_infos() -> list[Any]:
    """The ModuleInfos of ``module_db`` whose module is a loss (``nn.modules.loss._Loss``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.testing._internal.common_modules import module_db
    return [m for m in module_db if issubclass(m.module_cls, nn.modules.loss._Loss)]


def _construct(cls: type, ctor: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(*ctor.args, **ctor.kwargs)


def _construct_anyway(cls: type, ctor: Any) -> Any:
    """The module a construction torch refuses would have built: constructed without the one
    keyword argument it refuses, which is then set as the attribute of that name (so that the
    call can be sent to the service, which must refuse it too)."""
    for k, v in ctor.kwargs.items():
        try:
            module = cls(*ctor.args, **{key: x for key, x in ctor.kwargs.items() if key != k})
        except Exception:
            continue
        setattr(module, k, v)
        return module
    raise AssertionError(f"no one keyword argument of {cls.__name__}{ctor.kwargs} is refused")


def module_cases(info: Any, seed: int) -> Iterator[Case]:
    """``info``'s ``module_inputs_func`` (float64, CPU, requires_grad) after
    ``torch.manual_seed(seed)``, then its ``module_error_inputs_func``."""
    cls = info.module_cls
    name = cls.__name__
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = info.module_inputs_func(info, device="cpu", dtype=torch.float64,
                                         requires_grad=True, training=True)
    for i, mi in enumerate(inputs):
        assert not mi.forward_input.kwargs, (name, mi.desc)  # none in torch 2.13
        yield Case("module_db", f"module_db {name} seed {seed} input {i} "
                   f"({mi.desc or 'default'})", name, _construct(cls, mi.constructor_input),
                   tuple(mi.forward_input.args))
    if info.module_error_inputs_func is None:
        return
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        errors = info.module_error_inputs_func(info, device="cpu", dtype=torch.float64,
                                               requires_grad=True, training=True)
    for i, err in enumerate(errors):
        mi = err.module_error_input
        on = err.error_on.name.removesuffix("_ERROR").lower()  # "construction" or "forward"
        fw = tuple(mi.forward_input.args) if mi.forward_input is not None else ()
        where = f"module_db {name} seed {seed} error input {i} ({err.error_regex!r})"
        raised = None
        if on == "construction":
            try:
                _construct(cls, mi.constructor_input)
            except err.error_type as exc:
                raised = f"{type(exc).__name__}: {exc}"
                module = _construct_anyway(cls, mi.constructor_input)
            else:
                raise AssertionError(f"{where}: torch constructed it")
        else:
            module = _construct(cls, mi.constructor_input)
        yield Case("module_db", where, name, module, fw, error=err.error_regex, error_on=on,
                   constructor_error=raised)


def _state(module: Any) -> set[str]:
    """The module's public state: attributes, buffers, parameters and submodules."""
    names = {k for k in vars(module) if not k.startswith("_")} - {"training"}
    return names | set(module._buffers) | set(module._parameters) | set(module._modules)


def _linear_args(module: Any) -> dict[str, Any]:
    """LinearCrossEntropyLoss's ``linear_weight`` / ``linear_bias`` as its forward() shapes them
    (copies, keeping ``requires_grad``; :func:`module_result` differentiates the parameters)."""
    lin = module.linear
    shape = (module.num_classes, *module.out_features)
    w = lin.weight.detach().reshape((*shape, lin.in_features)).requires_grad_(
        lin.weight.requires_grad)
    b = None if lin.bias is None else lin.bias.detach().reshape(shape).requires_grad_(
        lin.bias.requires_grad)
    return {"linear_weight": w, "linear_bias": b}


def to_call(case: Case) -> Call:
    """The service call of ``case`` (raises Unexpressible): the forward arguments as the
    functional's leading positional parameters, its other parameters read off the module."""
    op = FUNCTIONAL_OF[case.cls]
    fn = getattr(F, op)
    names = list(inspect.signature(fn).parameters)
    module, kwargs = case.module, {}
    positional = list(case.forward)
    if case.cls == "LinearCrossEntropyLoss":  # forward(input, target)
        extra = _linear_args(module)
        positional = [positional[0], extra["linear_weight"], *positional[1:]]
        kwargs["linear_bias"] = extra["linear_bias"]
        used = set(_LINEAR_STATE)
    else:
        used = set()
    for k in names[len(positional):]:
        if k in kwargs:
            continue
        if hasattr(module, k):
            kwargs[k] = getattr(module, k)
            used.add(k)
    left = _state(module) - used
    if left:
        raise AssertionError(f"{case.where}: module state the translation does not read: "
                             f"{sorted(left)}")
    floats = {str(t.dtype) for t in (*positional, *kwargs.values())
              if isinstance(t, torch.Tensor) and t.is_floating_point()}
    if len(floats) > 1:
        raise Unexpressible("tensors of different float dtypes", ", ".join(sorted(floats)))
    for k, v in kwargs.items():
        if isinstance(v, complex) or (isinstance(v, torch.Tensor) and v.is_complex()):
            raise Unexpressible("complex dtype", k)
    sample = SimpleNamespace(input=positional[0], args=tuple(positional[1:]), kwargs=kwargs)
    return to_service(op, sample)


def module_result(case: Case, call: Call) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """torch's output of ``case.module`` on its forward arguments, and the gradients (of the
    sum, for reduction none) of the inputs ``call`` compares, keyed by the service's names;
    LinearCrossEntropyLoss's ``W`` / ``b`` are its ``linear`` parameters, reshaped as its
    forward() reshapes them (W with its feature axis first, as :func:`to_service` sends it)."""
    fw = [t.detach().clone().requires_grad_(t.requires_grad) if isinstance(t, torch.Tensor)
          else t for t in case.forward]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = case.module(*fw)
    names = list(inspect.signature(call.fn).parameters)
    if case.cls == "LinearCrossEntropyLoss":
        names = [n for n in names if n != "linear_weight"]
        lin = case.module.linear
        by_arg = {"linear_weight": lin.weight, "linear_bias": lin.bias}
    else:
        by_arg = {}
    by_arg |= {names[i]: t for i, t in enumerate(fw)}
    wrt = [(s, by_arg[t]) for s, t in call.grad_inputs.items()]
    grads: dict[str, np.ndarray] = {}
    if wrt and out.requires_grad:
        gs = torch.autograd.grad(out.sum(), [t for _, t in wrt], allow_unused=True)
        for (s, t), g in zip(wrt, gs, strict=True):
            a = g.detach().numpy() if g is not None else np.zeros(tuple(t.shape))
            if s == "W":
                a = np.moveaxis(a.reshape(call.args["linear_weight"].shape), -1, 0)
            elif s == "b":
                a = a.reshape(call.args["linear_bias"].shape)
            grads[s] = a
    return out.detach().numpy(), grads


def torch_refuses(case: Case) -> str | None:
    """The error torch raises on ``case`` (None: it computes it): its constructor's, or its
    forward call's."""
    if case.constructor_error is not None:
        return case.constructor_error
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case.module(*case.forward)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def expected_error(case: Case, message: str | None) -> bool:
    """Whether torch's error ``message`` is the one ``case`` (an error input) names (its
    ModuleInfo's regexes are torch's: some warn as possible nested sets)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return message is not None and re.search(case.error or "", message) is not None


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """torch on one thread for these tiny tensors: with its default (a thread per core) on a
    busy 2-core machine, OpenMP's waits made the replay 10 to 25 times slower (measured). An
    autouse fixture for the modules that import it."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
