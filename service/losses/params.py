"""Parameter validation: strict types, ranges from the registry, defaults filled in."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import errors
from .spec import LossSpec, ParamSpec
from .warn import suspicious


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_range(p: ParamSpec, v: float, loc: tuple[str | int, ...]) -> None:
    if v in p.extra_allowed:
        return
    if not math.isfinite(v):
        raise errors.InvalidParam(f"{p.name} must be finite, got {v}", loc)
    low_bad = p.minimum is not None and (v <= p.minimum if p.exclusive_minimum else v < p.minimum)
    high_bad = p.maximum is not None and (v >= p.maximum if p.exclusive_maximum else v > p.maximum)
    if low_bad or high_bad:
        parts = []
        if p.minimum is not None:
            parts.append(f"{'>' if p.exclusive_minimum else '>='} {p.minimum:g}")
        if p.maximum is not None:
            parts.append(f"{'<' if p.exclusive_maximum else '<='} {p.maximum:g}")
        extra = "".join(f" or {e:g}" for e in p.extra_allowed)
        error = errors.InvalidParam(f"{p.name} must be {' and '.join(parts)}{extra}; got {v:g}",
                                    loc)
        if not p.warn_outside_range:
            raise error
        suspicious(error)  # the library computes with it: a warning (strict: the error)


def _float_list(p: ParamSpec, v: Any) -> list[float]:
    loc: tuple[str | int, ...] = ("params", p.name)
    if hasattr(v, "tolist") and not isinstance(v, list | tuple):
        v = v.tolist()
    if not isinstance(v, list | tuple) or not v:
        raise errors.InvalidParam(f"{p.name} must be a non-empty list of numbers", loc)
    out = []
    for i, item in enumerate(v):
        if not _is_number(item):
            raise errors.InvalidParam(
                f"{p.name}[{i}] must be a number, got {errors.brief(item)}", (*loc, i))
        _check_range(p, float(item), (*loc, i))
        out.append(float(item))
    return out


MAX_PARAM_DIMS = 32  # the deepest nested list a tensor parameter may be (as the input decoder)


def _leaves(v: Any, path: tuple[int, ...], out: list[tuple[tuple[int, ...], Any]]) -> None:
    """Every leaf of the nested list ``v`` with its index path (depth bounded)."""
    if len(path) > MAX_PARAM_DIMS:
        raise ValueError(path)
    if isinstance(v, list | tuple):
        for i, item in enumerate(v):
            _leaves(item, (*path, i), out)
    else:
        out.append((path, v))


def _float_tensor(p: ParamSpec, v: Any) -> list[Any]:
    """A nested list of numbers (rectangular, any depth up to MAX_PARAM_DIMS), each in range."""
    loc: tuple[str | int, ...] = ("params", p.name)
    if hasattr(v, "tolist") and not isinstance(v, list | tuple):
        v = v.tolist()
    if not isinstance(v, list | tuple) or not v:
        raise errors.InvalidParam(
            f"{p.name} must be a number or a non-empty (nested) list of numbers", loc)
    leaves: list[tuple[tuple[int, ...], Any]] = []
    try:
        _leaves(v, (), leaves)
    except ValueError:
        raise errors.InvalidParam(f"{p.name} is nested deeper than {MAX_PARAM_DIMS} dimensions",
                                  loc) from None
    for path, item in leaves:
        if not _is_number(item):
            where = "".join(f"[{i}]" for i in path)
            raise errors.InvalidParam(
                f"{p.name}{where} must be a number, got {errors.brief(item)}", (*loc, *path))
    try:
        arr = np.asarray(v, dtype=np.float64)
    except ValueError:
        raise errors.InvalidParam(
            f"{p.name} is not a rectangular nested list of numbers (its rows differ in length "
            "or depth)", loc) from None
    if arr.size == 0:
        raise errors.InvalidParam(f"{p.name} must not be empty (shape {arr.shape})", loc)
    for path, item in leaves:
        _check_range(p, float(item), (*loc, *path))
    return arr.tolist()


def validate_one(p: ParamSpec, v: Any) -> Any:
    """The validated value of one parameter (raises InvalidParam with its location)."""
    loc: tuple[str | int, ...] = ("params", p.name)
    if v is None:
        if p.nullable:
            return None
        raise errors.InvalidParam(f"{p.name} may not be null", loc)
    if p.type == "float":
        if not _is_number(v):
            raise errors.InvalidParam(f"{p.name} must be a number, got {errors.brief(v)}", loc)
        _check_range(p, float(v), loc)
        return float(v)
    if p.type == "int":
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool):
            raise errors.InvalidParam(f"{p.name} must be an integer, got {errors.brief(v)}", loc)
        if not -(2**63) <= v < 2**63:  # the kernels take it as an int64: never wrapped
            raise errors.InvalidParam(f"{p.name} must be within the int64 range "
                                      f"[{-(2**63)}, {2**63 - 1}]; got {v}", loc)
        _check_range(p, float(v), loc)
        return int(v)
    if p.type == "bool":
        if not isinstance(v, bool):
            raise errors.InvalidParam(f"{p.name} must be true or false, got {errors.brief(v)}", loc)
        return v
    if p.type == "choice":
        # a bool matches only a listed bool (True == 1 must not select a choice of 1)
        listed = any(c == v and isinstance(c, bool) == isinstance(v, bool) for c in p.choices)
        if not listed:
            choices = ", ".join(repr(c) for c in p.choices)
            raise errors.InvalidParam(f"{p.name} must be one of {choices}; got {errors.brief(v)}",
                                      loc)
        return v
    if p.type == "float_array":
        return _float_list(p, v)
    if _is_number(v):  # float_or_float_array, float_or_float_tensor
        _check_range(p, float(v), loc)
        return float(v)
    if p.type == "float_or_float_tensor":
        return _float_tensor(p, v)
    return _float_list(p, v)


def _check_convention(spec: LossSpec, value: Any) -> None:
    loc: tuple[str | int, ...] = ("params", "convention")
    if not spec.conventions:
        raise errors.UnsupportedConvention(
            f"{spec.name} is defined the same way in every library it appears in; it takes no "
            "convention", loc)
    names = [c.name for c in spec.conventions]
    if value not in names or not isinstance(value, str):
        raise errors.UnsupportedConvention(
            f"{spec.name} supports the conventions {', '.join(names)}; got "
            f"{errors.brief(value)}", loc)


def validate_params(spec: LossSpec, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """All of ``spec``'s parameters, validated, with defaults for those not given."""
    if not given:  # the common case: a small request's call path is a few microseconds
        return {p.name: p.default for p in spec.params}
    given = dict(given)
    known = {p.name for p in spec.params}
    if "convention" in given:
        _check_convention(spec, given["convention"])
    for name in given:
        if name not in known:
            valid = ", ".join(sorted(known)) or "none"
            raise errors.UnknownParam(
                f"{spec.name} has no parameter {name!r} (its parameters: {valid})",
                ("params", name),
            )
    out: dict[str, Any] = {}
    for p in spec.params:
        out[p.name] = validate_one(p, given[p.name]) if p.name in given else p.default
    return out
