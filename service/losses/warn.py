"""Suspicious inputs the libraries compute on anyway: a warning, or (strict validation) an error.

Why it exists: PyTorch computes a number for inputs that look like mistakes (rows of "probability"
targets that do not sum to 1, positive "log-probabilities", labels off {-1, 1}, negative class
weights, NaN and infinities). The service returns that number too, with a warning, so that ported
code gets the value it got from the library (and a NaN is never silent); strict validation keeps
refusing them, as the grader does.

A kernel reports such an input with :func:`suspicious`, passing the :class:`~.errors.LossError`
it would raise. Outside :func:`collecting` (a kernel called directly, or ``validate="strict"``)
the error is raised; inside a lenient :func:`collecting` block it is recorded as a
:class:`LossWarning` (its code, location and message) and the kernel goes on computing. The core
returns the warnings as data (:attr:`service.losses.Evaluation.warnings`); the HTTP layer
serializes them. Each check runs vectorized over the whole input and reports its first offending
element, exactly as the error does, so a strict request's 422 has the warning's code and location.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from .errors import Loc, LossError

VALIDATE_MODES: tuple[str, ...] = ("lenient", "strict")

# Every code a warning can carry: the code strict validation raises. docs/errors.md describes
# each (service/error_codes.py, WARNING_CODES; a test holds the two lists equal).
WARNING_CODES: frozenset[str] = frozenset({
    "probability_out_of_range", "probability_rows_not_normalized", "invalid_label",
    "invalid_value", "invalid_param", "nonfinite_input", "undefined_mean",
})


@dataclass(frozen=True)
class LossWarning:
    """An input the loss computed on, but that looks like a mistake (what strict refuses)."""

    code: str  # the code of the error strict validation raises (a key of WARNING_CODES)
    loc: Loc  # the first offending value: ("targets", 3), ("params", "weight", 1)
    detail: str


_sink: ContextVar[list[LossWarning] | None] = ContextVar("loss_warnings", default=None)


def check_mode(validate: str) -> None:
    """``validate`` must be one of :data:`VALIDATE_MODES`."""
    if validate not in VALIDATE_MODES:
        from .errors import InvalidParam

        raise InvalidParam(f"validate must be one of {', '.join(VALIDATE_MODES)}; got "
                           f"{validate!r}", ("validate",))


class collecting:  # noqa: N801 (used as a function: ``with collecting(validate) as warnings``)
    """Run the block with ``validate`` ("lenient": warnings are collected into the list it
    yields; "strict": :func:`suspicious` raises). A class rather than a
    ``@contextmanager`` generator: it runs on every evaluation, and the generator's enter and exit
    cost 1.1 us of a 10 us evaluation of 1e3 values (``bench versus f3e3285 core``)."""

    __slots__ = ("_lenient", "_token", "warnings")

    def __init__(self, validate: str):
        check_mode(validate)
        self._lenient = validate == "lenient"

    def __enter__(self) -> list[LossWarning]:
        self.warnings: list[LossWarning] = []
        self._token = _sink.set(self.warnings if self._lenient else None)
        return self.warnings

    def __exit__(self, *exc: object) -> None:
        _sink.reset(self._token)


def lenient() -> bool:
    """Whether a suspicious input is a warning now (inside a lenient :func:`collecting`)."""
    return _sink.get() is not None


def suspicious(error: LossError) -> None:
    """Report ``error``: raise it (strict, or outside :func:`collecting`), or record it as a
    warning and return (lenient). Codes must be keys of :data:`WARNING_CODES`."""
    assert error.code in WARNING_CODES, f"{error.code} is not a warning code"
    sink = _sink.get()
    if sink is None:
        raise error
    if not any(w.code == error.code and w.loc == error.loc for w in sink):
        sink.append(LossWarning(error.code, error.loc, error.message))
