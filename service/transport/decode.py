"""The one request decoder: a parsed body -> validated options and NumPy arrays.

``/loss`` and ``/gradient`` (:func:`decode_loss`), ``/compare`` and the offline grader
(:mod:`service.api.compare_body`) all validate with :func:`validate` and read their arrays with
one :class:`Decoder`: one element budget per request, one mapping of array problems to problem
codes, and one mapping of the core's locations into the body (:func:`map_loc`):
``("targets", 3)`` -> ``["body", "targets", 3]`` (or ``["body", "inputs", "var", 0]`` when the
input was sent inside ``inputs``), ``("params", "delta")`` -> ``["body", "params", "delta"]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from ..api.problems import ProblemError, from_validation_error
from ..losses import LossSpec
from ..tuning import gc_paused
from .arrays import EncodingError, decode_array, replace_text
from .receive import GC_PAUSE_BYTES, Received, parse

Loc = tuple[Any, ...]
COMMON_INPUTS = ("predictions", "targets")  # inputs a request may give at its top level


def validate(model: type[BaseModel], obj: Any) -> Any:
    """``obj`` validated by ``model``; pydantic's errors as a problem located in the body."""
    if not isinstance(obj, dict):
        raise ProblemError("invalid_field", "the request body must be a JSON object", ("body",))
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


class Decoder:
    """Decodes one request's arrays against its element budget, remembering where each input
    came from; ``stats["n_elements"]`` counts the elements decoded so far."""

    def __init__(self, max_elements: int, check_bools: bool = True,
                 stats: dict[str, Any] | None = None):
        self.limit = self.budget = max_elements
        self.check_bools = check_bools
        self.where: dict[str, Loc] = {}
        self.stats = {} if stats is None else stats

    def array(self, value: Any, loc: Loc, *, nonfinite_text: bool = False) -> np.ndarray:
        """One array; ``nonfinite_text``: "NaN", "Infinity" and "-Infinity" are numbers."""
        try:
            a = decode_array(replace_text(value) if nonfinite_text else value, loc,
                             max_elements=max(self.budget, 0), check_bools=self.check_bools)
        except EncodingError as exc:
            raise ProblemError(exc.code, exc.message, exc.loc, status=exc.status) from None
        self.budget -= a.size
        self.stats["n_elements"] = self.limit - self.budget
        return a

    def inputs(self, req: Any) -> dict[str, np.ndarray]:
        """The named inputs: ``predictions`` and ``targets`` at the top level, any in
        ``inputs`` (a dict, or a loss's inputs model); each given once."""
        given = [(name, getattr(req, name), ("body", name)) for name in COMMON_INPUTS
                 if getattr(req, name, None) is not None]
        nested = req.inputs
        items: Iterable[tuple[str, Any]] = () if nested is None else nested.items() if \
            isinstance(nested, dict) else ((k, v) for k in type(nested).model_fields
                                           if (v := getattr(nested, k)) is not None)
        for name, value in items:
            if name in COMMON_INPUTS and getattr(req, name, None) is not None:
                raise ProblemError("duplicate_input", f"{name} is given both at the top level "
                                   "and in inputs; give it once", ("body", "inputs", name))
            given.append((name, value, ("body", "inputs", name)))
        found = {}
        for name, value, loc in given:
            found[name] = self.array(value, loc)
            self.where[name] = loc
        return found

    def sample_weight(self, req: Any) -> np.ndarray | None:
        if req.sample_weight is None:
            return None
        self.where["sample_weight"] = ("body", "sample_weight")
        return self.array(req.sample_weight, ("body", "sample_weight"))

    def done(self) -> None:
        """413 when the request's arrays together hold more than its limit."""
        if self.budget < 0:
            raise ProblemError("too_many_elements", f"the request holds more than "
                               f"{self.limit} array elements", ("body",))


_AT_TOP = ("submission", "require", "weights", "sample_weight")  # /compare fields, not per loss


def map_loc(loc: Loc, where: dict[str, Loc], *, prefix: Loc = ("body",),
            name: Loc = ("path", "name"), top: tuple[str, ...] = ()) -> list[Any]:
    """A location the core reports, in the body: an input where it was sent, ``name`` (the
    loss) at ``name``, a loss's own fields under ``prefix``, and ``top`` fields at the top."""
    if not loc:
        return [*prefix]
    head, rest = loc[0], loc[1:]
    if head in where:
        return [*where[head], *rest]
    if head == "name":
        return [*name]
    if head in top or head in _AT_TOP:
        return ["body", *loc]
    if head in ("params", "reduction", "dtype"):
        return [*prefix, *loc]
    return ["body", "inputs", *loc]


@dataclass
class LossCall:
    """A decoded ``/loss`` or ``/gradient`` request: what :func:`service.engine.run` takes, and
    how to answer."""

    spec: LossSpec
    want_grad: bool
    arrays: dict[str, np.ndarray]
    sample_weight: np.ndarray | None
    where: dict[str, Loc]  # the body location of each input, for the core's errors
    params: dict[str, Any]
    reduction: str | None
    dtype: str
    backend: str | None  # as requested; None: the server's setting
    encoding: str  # of the result arrays
    omit: frozenset[str]
    n_elements: int
    body_bytes: int  # the size of the body it came in

    def locate(self, loc: Loc) -> list[Any]:
        return map_loc(loc, self.where, top=COMMON_INPUTS)


def decode_loss(body: Received, spec: LossSpec, model: type[BaseModel], want_grad: bool,
                max_elements: int, stats: dict[str, Any]) -> LossCall:
    """The request in ``body`` (taken out of it), parsed, validated by ``model`` and decoded.

    A large body is parsed and decoded with the cyclic collector paused: the millions of lists
    of a nested JSON array hold no cycles, and they are freed (by reference counting) before it
    resumes (see :mod:`service.tuning`). ``stats`` receives ``n_elements`` and ``encoding``.
    """
    with gc_paused(body.size >= GC_PAUSE_BYTES):
        obj, check_bools = parse(body, max_elements)
        req = validate(model, obj)
        dec = Decoder(max_elements, check_bools, stats)
        arrays, sw = dec.inputs(req), dec.sample_weight(req)
        dec.done()
        default = "json" if body.header_length is None else "binary"
        call = LossCall(spec, want_grad, arrays, sw, dec.where, req.params.model_dump(),
                        req.reduction, req.dtype, req.backend,
                        req.encoding if "encoding" in req.model_fields_set else default,
                        frozenset(req.omit), dec.limit - dec.budget, body.size)
        del req, obj  # the parsed lists go while the collector is still paused
    stats["encoding"] = call.encoding
    return call
