"""``evaluate``: the core's one entry point (name, inputs, params -> value, per-sample, gradients).

It resolves the loss, validates parameters and inputs (dtype, finiteness: NaN and infinities in
an input are a ``nonfinite_input`` warning, or the error under strict validation; emptiness),
runs the kernel in the requested precision, reduces (see :mod:`service.losses.reduce`) and,
when asked, returns the analytic gradient of the reduced value with respect to every
differentiable input, or with respect to the inputs ``wrt`` names (:func:`check_wrt`: the
differentiable ones and those with a gradient on request, e.g. regression targets).
Inputs may be nested lists, NumPy arrays or arrays of any array-API namespace; results come back in
the inputs' namespace.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

from ..casting import CastError, cast
from . import _checks, accel, errors, warn
from .params import validate_params
from .reduce import reduce_loss
from .registry import get_loss
from .spec import Array, Convention, Evaluation, InputSpec, LossOutput, LossSpec

DTYPES = ("float64", "float32")


def _namespace(values: list[Any]) -> Any:
    arrays = [v for v in values if is_array_api_obj(v)]
    return array_namespace(*arrays) if arrays else array_namespace(np.empty(0))


@functools.lru_cache(maxsize=256)
def _dtype_kind(xp: Any, dtype: Any) -> str:
    """"bool", "complex", "integral" or "real" (``xp.isdtype`` costs microseconds per call)."""
    for kind in ("bool", "complex floating", "integral"):
        if xp.isdtype(dtype, kind):
            return kind.split()[0]
    return "real"


def _is_integer_dtype(xp: Any, a: Array) -> bool:
    return _dtype_kind(xp, a.dtype) == "integral"


def _to_array(xp: Any, value: Any, name: str) -> Array:
    if is_array_api_obj(value):
        return value
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise errors.InvalidShape(f"{name} is not a rectangular array of numbers: {exc}",
                                  (name,)) from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise errors.InvalidDtype(f"{name} must be an array of numbers", (name,))
    return xp.asarray(arr)


def _cast(xp: Any, a: Array, dtype: Any, loc: tuple[str | int, ...], name: str) -> Array:
    """``a`` as ``dtype`` through :func:`service.casting.cast` (values preserved, or refused
    where they would change), its refusal as the core's error at ``loc`` + the index."""
    try:
        return cast(a, dtype, xp=xp)
    except CastError as exc:
        raise _located(exc, loc, name) from None


def _located(exc: CastError, loc: tuple[str | int, ...], name: str) -> errors.LossError:
    """The core's error for a refused cast of ``name`` (at ``loc`` + the element's index)."""
    cls = {"nonfinite_input": errors.NonFiniteInput,
           "invalid_number": errors.InvalidNumber}.get(exc.code, errors.InvalidDtype)
    return cls(f"{name} contains {exc.what} at index {list(exc.index)}", (*loc, *exc.index))


def _cast_float(xp: Any, a: Array, dtype: Any, name: str) -> Array:
    """A float input as ``dtype`` (:func:`_cast`): a finite value that overflows ``dtype`` is
    refused (never made an infinity); NaN and infinities as sent are kept, as torch keeps them,
    and reported through :func:`service.losses.warn.suspicious` as ``nonfinite_input`` at the
    first one (a warning under lenient validation; the error, unchanged, under strict)."""
    try:
        return cast(a, dtype, xp=xp, finite=True)  # the common case: one check, nothing found
    except CastError as exc:
        if exc.code != "nonfinite_input" or math.isfinite(exc.value):
            raise _located(exc, (name,), name) from None
        warn.suspicious(errors.NonFiniteInput(
            f"{name} contains {exc.what} at index {list(exc.index)}", (name, *exc.index)))
    # lenient: computed on; an overflow after the first NaN is still refused
    return _cast(xp, a, dtype, (name,), name)


def _convert_input(xp: Any, spec: InputSpec, value: Any, dtype: Any) -> Array:
    name = spec.name
    a = _to_array(xp, value, name)
    kind = _dtype_kind(xp, a.dtype)
    if kind == "bool":
        raise errors.InvalidDtype(f"{name} must hold numbers, not booleans", (name,))
    if kind == "complex":
        raise errors.InvalidDtype(f"{name} must be real", (name,))
    _checks.not_empty(a, name)
    integral = kind == "integral"
    if spec.dtype == "int" or (spec.dtype == "index_or_float" and integral):
        if not integral:
            raise errors.InvalidDtype(
                f"{name} holds class indices and must be integers, got floating-point values",
                (name,),
            )
        return _cast(xp, a, xp.int64, (name,), name)  # (a uint64 beyond int64: refused)
    if integral:  # integers are rounded, never overflow, and hold no NaN
        return _cast(xp, a, dtype, (name,), name)
    return _cast_float(xp, a, dtype, name)


def _array_params(xp: Any, spec: LossSpec, params: dict[str, Any], dtype: Any) -> dict[str, Any]:
    """List-valued parameters as arrays of the computation namespace and dtype (a weight that
    overflows the dtype is refused at its place in the parameter)."""
    out = dict(params)
    for p in spec.params:
        if isinstance(out[p.name], list):
            loc = ("params", p.name)
            out[p.name] = _cast(xp, xp.asarray(out[p.name], dtype=xp.float64), dtype, loc,
                                p.name)
    return out


@functools.cache
def _takes_convention(fn: Any) -> bool:
    return "convention" in inspect.signature(fn).parameters


def _kernel_params(spec: LossSpec, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` as the kernel takes them: ``convention`` only where the kernel uses it."""
    if "convention" in params and not _takes_convention(spec.fn):
        return {k: v for k, v in params.items() if k != "convention"}
    return params


def last_axis_mean(xp: Any, out: LossOutput) -> LossOutput:
    """Keras' per-sample loss: the mean of the elementwise loss over its last axis."""
    loss = out.loss
    if loss.ndim == 0:
        return out
    if out.mean_weight is not None or out.mean_scale is not None:
        raise AssertionError("last_axis_mean applies to plain elementwise losses only")
    k = loss.shape[-1]
    vjp = out.vjp

    def spread(cot: Array) -> Array:
        return xp.broadcast_to(xp.expand_dims(cot / k, axis=-1), loss.shape)

    def mean_vjp(cot: Array) -> dict[str, Array]:
        assert vjp is not None
        return vjp(spread(cot))

    def extra(f: Any) -> Any:
        return lambda cot: f(spread(cot))

    return LossOutput(loss=xp.mean(loss, axis=-1), vjp=None if vjp is None else mean_vjp,
                      extra_vjps={n: extra(f) for n, f in out.extra_vjps.items()})


def check_wrt(spec: LossSpec, wrt: Sequence[str] | None) -> tuple[str, ...] | None:
    """``wrt`` (the inputs whose gradients are asked for) without repetitions, in its order;
    None for None (the default: the differentiable inputs). A name that is not one of
    ``spec.wrt_inputs`` is an error at ``("wrt", i)``."""
    if wrt is None:
        return None
    if isinstance(wrt, str) or not isinstance(wrt, Sequence):
        raise errors.InvalidParam("wrt must be a list of input names", ("wrt",))
    allowed = spec.wrt_inputs
    if not wrt:
        raise errors.InvalidParam(
            f"wrt must name at least one input (of {spec.name}: {', '.join(allowed)})", ("wrt",))
    for i, name in enumerate(wrt):
        if name in allowed:
            continue
        ispec = next((s for s in spec.inputs if s.name == name), None)
        if ispec is None:
            raise errors.UnknownInput(
                f"{spec.name} has no input {errors.brief(name)} (its inputs: "
                f"{', '.join(spec.input_names)}); wrt may name: {', '.join(allowed)}",
                ("wrt", i))
        raise errors.NotDifferentiable(
            f"{spec.name} has no gradient with respect to {name} ({ispec.description}); wrt "
            f"may name: {', '.join(allowed)}", ("wrt", i))
    return tuple(dict.fromkeys(wrt))


def _gradients(spec: LossSpec, xp: Any, out: LossOutput, cot: Array, arrays: dict[str, Array],
               wrt: tuple[str, ...] | None) -> dict[str, Array]:
    """The gradients asked for: the default vjp's (``wrt`` None), else those ``wrt`` names, in
    its order (the default ones from ``out.vjp``, the others from ``out.extra_vjps``)."""
    assert out.vjp is not None or not spec.differentiable_inputs, \
        f"{spec.name} is differentiable but has no vjp"
    if wrt is None:
        assert out.vjp is not None
        return out.vjp(cot)
    default = spec.differentiable_inputs
    grads = out.vjp(cot) if out.vjp is not None and any(n in default for n in wrt) else {}
    for i, name in enumerate(wrt):
        if name not in arrays:
            raise errors.MissingInput(f"wrt names {name}, which the request does not give",
                                      ("wrt", i))
        if name in default:
            continue
        # an integer input (class indices, integer one-hot rows) has no gradient, as in torch
        integral = _is_integer_dtype(xp, arrays[name])
        f = None if integral else out.extra_vjps.get(name)
        if f is None:
            why = ("it holds integers (integer class indices or integer rows; PyTorch "
                   "differentiates float tensors only)" if integral
                   else "not with these parameters (e.g. this convention)")
            raise errors.NotDifferentiable(
                f"{spec.name} has no gradient with respect to {name} here: {why}; wrt may "
                f"name: "
                f"{', '.join(n for n in spec.wrt_inputs if n in arrays and n != name)}",
                ("wrt", i))
        grads[name] = f(cot)
    return {n: grads[n] for n in wrt if n in grads}


def evaluate(
    name: str,
    inputs: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
    *,
    reduction: str | None = None,
    sample_weight: Any = None,
    dtype: str = "float64",
    want_grad: bool = False,
    want_per_sample: bool = True,
    acceleration: accel.Acceleration | None = None,
    validate: str = "strict",
    wrt: Sequence[str] | None = None,
) -> Evaluation:
    """Evaluate loss ``name`` (or an alias) on ``inputs``; see the module docstring.
    ``want_per_sample=False``: the result's ``per_sample`` is None (the kernels then skip the
    rows' sums; the value is the same either way). ``acceleration``: what may run besides the
    reference for this call (:data:`service.losses.accel.OFF`: the reference alone); None: the
    process's (:func:`service.losses.accel.configure`). ``validate``: "strict" refuses inputs
    that look like mistakes although the library computes on them (a negative class weight,
    probability rows that do not sum to 1...); "lenient" computes the library's number and
    lists each in the result's ``warnings`` (:mod:`service.losses.warn`). ``wrt``: the inputs
    whose gradients ``want_grad`` returns, in that order (:func:`check_wrt`); None: the
    differentiable ones. A name beyond those, e.g. ``targets``, always runs the reference."""
    if acceleration is not None:
        with accel.using(acceleration):
            return evaluate(name, inputs, params, reduction=reduction,
                            sample_weight=sample_weight, dtype=dtype, want_grad=want_grad,
                            want_per_sample=want_per_sample, validate=validate, wrt=wrt)
    with warn.collecting(validate) as warnings:
        ev = _evaluate(name, inputs, params, reduction, sample_weight, dtype, want_grad,
                       want_per_sample, wrt)
    return replace(ev, warnings=tuple(warnings)) if warnings else ev


def _evaluate(name: str, inputs: Mapping[str, Any], params: Mapping[str, Any] | None,
              reduction: str | None, sample_weight: Any, dtype: str, want_grad: bool,
              want_per_sample: bool, wrt: Sequence[str] | None = None) -> Evaluation:
    spec = get_loss(name)
    reduction = spec.default_reduction if reduction is None else reduction
    if reduction not in spec.reductions:
        raise errors.UnsupportedReduction(
            f"{spec.name} does not support reduction {reduction!r} "
            f"(supported: {', '.join(spec.reductions)})",
            ("reduction",),
        )
    if dtype not in DTYPES:
        raise errors.InvalidDtype(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}",
                                  ("dtype",))
    if want_grad and not spec.differentiable:
        raise errors.NotDifferentiable(f"{spec.name} is not differentiable", ("name",))
    wanted = check_wrt(spec, wrt)
    effective = validate_params(spec, params)

    known = spec.input_names
    for key in inputs:
        if key not in known:
            raise errors.UnknownInput(
                f"{spec.name} has no input {key!r} (its inputs: {', '.join(spec.input_names)})",
                (key,),
            )
    # large NumPy inputs of a loss with a kernel: one fused pass (None: the reference below);
    # the kernels compute the default gradients only, so a wrt beyond them takes the reference
    beyond = want_grad and wanted is not None and any(
        n not in spec.differentiable_inputs for n in wanted)
    fused = None if beyond else accel.kernel_evaluation(
        spec, inputs, effective, reduction, sample_weight, dtype, want_grad, want_per_sample)
    if fused is not None:
        if want_grad and wanted is not None and fused.gradients is not None:
            missing = [i for i, n in enumerate(wanted) if n not in fused.gradients]
            if missing:
                raise errors.MissingInput(
                    f"wrt names {wanted[missing[0]]}, which the request does not give",
                    ("wrt", missing[0]))
            fused = replace(fused, gradients={n: fused.gradients[n] for n in wanted})
        return fused
    xp = _namespace([*inputs.values(), sample_weight])
    cdtype = getattr(xp, dtype)
    arrays: dict[str, Array] = {}
    for ispec in spec.inputs:
        if ispec.name not in inputs or inputs[ispec.name] is None:
            if ispec.optional:
                continue
            raise errors.MissingInput(f"{spec.name} needs input {ispec.name!r}", (ispec.name,))
        arrays[ispec.name] = _convert_input(xp, ispec, inputs[ispec.name], cdtype)
    sw = None
    if sample_weight is not None:
        sw = _convert_input(xp, InputSpec("sample_weight", "values", "(N,)", ""),
                            sample_weight, cdtype)

    # overflow to inf is reported in the result (never as NaN-by-accident): no NumPy warnings
    conv: Convention | None = spec.convention(effective.get("convention"))
    kparams = _kernel_params(spec, _array_params(xp, spec, effective, cdtype))
    with np.errstate(all="ignore"):
        out = spec.fn(**arrays, **kparams)
        if out.loss.dtype != cdtype:  # e.g. zero_one on integer labels: report in the dtype asked
            out = replace(out, loss=xp.astype(out.loss, cdtype))
        if conv is not None and conv.last_axis_mean:
            out = last_axis_mean(xp, out)
        red = reduce_loss(xp, out, reduction, sw,
                          weights_in_mean=conv is None or conv.weights_in_mean)
        grads = None
        if want_grad:
            grads = _gradients(spec, xp, out, red.cotangent, arrays, wanted)
    return Evaluation(loss=spec.name, reduction=reduction, value=red.value,
                      per_sample=red.per_sample if want_per_sample else None, params=effective,
                      dtype=dtype, gradients=grads, samples=int(red.per_sample.shape[0]))
