"""Errors raised by the loss core.

Every error is a :class:`LossError` with a machine-readable ``code`` and a ``loc``: the path of the
offending value, starting with the input or parameter name (``("targets", 3)``, ``("params",
"delta")``). The HTTP layer maps codes to problem+json bodies and prefixes ``loc`` with ``"body"``;
the core itself knows nothing of HTTP.

Codes (stable; docs/errors.md lists them with their HTTP status, generated from
:mod:`service.error_codes`):

=========================== ===========================================================
``shape_mismatch``          inputs whose shapes do not agree (never broadcast silently)
``invalid_shape``           an input with the wrong number of dimensions or size
``empty_batch``             an input with no elements
``nonfinite_input``         a finite value that overflows the computation's dtype ("1e+39,
                            which overflows float32"); NaN or +-inf in an input array (strict
                            validation; lenient: a warning, :mod:`service.losses.warn`)
``invalid_number``          an integer outside the range of the dtype it is converted to (a
                            uint64 beyond int64 as class indices): refused, never wrapped
``class_index_out_of_range`` a class index outside ``[0, C)`` that is not ``ignore_index``
``probability_out_of_range`` a probability outside ``[0, 1]``
``probability_rows_not_normalized`` probability rows that do not sum to 1
``invalid_label``           a label outside the set the loss accepts (e.g. not in {-1, 1})
``invalid_value``           any other value outside the input's domain (negative variance...)
``invalid_dtype``           e.g. floats where class indices (integers) are required
``invalid_param``           a parameter of the wrong type or outside its valid range
``unknown_param``           a parameter the loss does not have
``unsupported_convention``  a ``convention`` the loss does not support (or any, for a loss
                            that is defined the same way in every library)
``missing_input``           a required input was not given
``unknown_input``           an input the loss does not have
``unsupported_reduction``   a reduction the loss does not allow
``unknown_loss``            no loss or alias of that name
``not_differentiable``      a gradient was asked of a loss that has none, or ``wrt`` names an
                            input without one (integer class targets)
``undefined_mean``          a ``mean`` whose denominator is 0 (every target ignored, zero weights)
=========================== ===========================================================
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from typing import Any

Loc = tuple[str | int, ...]

_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxlist, _BRIEF.maxdict = 3, 4, 4
_BRIEF.maxstring, _BRIEF.maxother, _BRIEF.maxlong = 40, 40, 40


def brief(value: Any) -> str:
    """A value a request sent, for a message: its repr, at most 3 levels deep and cut short.
    (The repr of a list nested 1000 deep, which JSON allows, exceeds Python's recursion limit;
    that of a long one is as long as the request.)"""
    return _BRIEF.repr(value)


class LossError(ValueError):
    """Base class: a request the core cannot evaluate, with a code and the offending location."""

    code: str = "invalid_input"

    def __init__(self, message: str, loc: Sequence[str | int] = (), *, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.loc: Loc = tuple(loc)
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(code={self.code!r}, loc={self.loc!r}, message={self.message!r})"


class ShapeMismatch(LossError):
    code = "shape_mismatch"


class InvalidShape(LossError):
    code = "invalid_shape"


class EmptyBatch(LossError):
    code = "empty_batch"


class NonFiniteInput(LossError):
    code = "nonfinite_input"


class ClassIndexOutOfRange(LossError):
    code = "class_index_out_of_range"


class ProbabilityOutOfRange(LossError):
    code = "probability_out_of_range"


class ProbabilityRowsNotNormalized(LossError):
    code = "probability_rows_not_normalized"


class InvalidLabel(LossError):
    code = "invalid_label"


class InvalidValue(LossError):
    code = "invalid_value"


class InvalidDtype(LossError):
    code = "invalid_dtype"


class InvalidNumber(LossError):
    code = "invalid_number"


class InvalidParam(LossError):
    code = "invalid_param"


class UnknownParam(LossError):
    code = "unknown_param"


class UnsupportedConvention(LossError):
    code = "unsupported_convention"


class MissingInput(LossError):
    code = "missing_input"


class UnknownInput(LossError):
    code = "unknown_input"


class UnsupportedReduction(LossError):
    code = "unsupported_reduction"


class NotDifferentiable(LossError):
    code = "not_differentiable"


class UndefinedMean(LossError):
    code = "undefined_mean"


class UnknownLoss(LossError):
    """No loss of that name; ``suggestions`` holds the closest known names."""

    code = "unknown_loss"

    def __init__(self, name: str, suggestions: Sequence[str] = ()):
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"unknown loss {name!r}{hint}", ("name",))
        self.name = name
        self.suggestions = tuple(suggestions)
