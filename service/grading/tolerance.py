"""Tolerances: ``numpy.testing.assert_allclose`` semantics, and presets mirroring numpy and torch.

A submitted array passes when, element by element (the reference taken as numpy's "desired")::

    |submitted - reference| <= atol + rtol * |reference|

infinities equal only to the same infinity and NaN equal to NaN only with ``equal_nan``: exactly
``numpy.isclose(submitted, reference, rtol, atol, equal_nan)``, which ``assert_allclose`` uses.

Presets (the tolerance a grader would get by calling that library's assertion with defaults):

============ =============================================== ============ ==============
preset       rtol / atol                                     ``equal_nan`` message style
============ =============================================== ============ ==============
``numpy``    1e-7 / 0 (``numpy.testing.assert_allclose``)    true         numpy
``torch``    per dtype, ``torch.testing.assert_close``:       false        torch
             float64 1e-7 / 1e-7, float32 1.3e-6 / 1e-5
``strict``   0 / 0: exact equality (after the float64 wire)  false        numpy
============ =============================================== ============ ==============

The torch table is torch 2.13.0's ``torch.testing._comparison._DTYPE_PRECISIONS``. Without a
tolerance the ``torch`` preset applies (numpy's ``atol=0`` fails a gradient entry of ``1e-18``
where the reference is exactly 0).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

PresetName = Literal["numpy", "torch", "strict"]
PRESETS: tuple[str, ...] = ("numpy", "torch", "strict")
DEFAULT_PRESET: PresetName = "torch"

# torch.testing.assert_close defaults (torch/testing/_comparison.py, _DTYPE_PRECISIONS)
TORCH_DEFAULTS: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-7),
    "float32": (1.3e-6, 1e-5),
}
NUMPY_DEFAULTS: tuple[float, float] = (1e-7, 0.0)  # numpy.testing.assert_allclose


@dataclass(frozen=True)
class Tolerance:
    """An effective tolerance; ``preset`` is None for explicit rtol/atol."""

    rtol: float
    atol: float
    equal_nan: bool = False
    preset: str | None = None
    style: Literal["numpy", "torch"] = "numpy"  # how mismatch messages are written

    def as_dict(self) -> dict[str, Any]:
        return {"rtol": self.rtol, "atol": self.atol, "equal_nan": self.equal_nan,
                "preset": self.preset}

    def describe(self) -> str:
        text = f"rtol={self.rtol:g}, atol={self.atol:g}"
        return f"{text} ({self.preset})" if self.preset else text


def preset(name: str, dtype: str = "float64") -> Tolerance:
    """The tolerance of preset ``name`` for computations in ``dtype``."""
    if name == "numpy":
        rtol, atol = NUMPY_DEFAULTS
        return Tolerance(rtol, atol, equal_nan=True, preset="numpy", style="numpy")
    if name == "torch":
        rtol, atol = TORCH_DEFAULTS[dtype]
        return Tolerance(rtol, atol, equal_nan=False, preset="torch", style="torch")
    if name == "strict":
        return Tolerance(0.0, 0.0, equal_nan=False, preset="strict", style="numpy")
    raise ValueError(f"unknown tolerance preset {name!r} (known: {', '.join(PRESETS)})")


def resolve(spec: dict[str, Any] | None, dtype: str = "float64") -> Tolerance:
    """``{"preset": name}``, ``{"rtol", "atol", "equal_nan"}`` or None (the default preset)."""
    if not spec:
        return preset(DEFAULT_PRESET, dtype)
    if spec.get("preset") is not None:
        return preset(spec["preset"], dtype)
    rtol = float(spec.get("rtol", NUMPY_DEFAULTS[0]))
    atol = float(spec.get("atol", NUMPY_DEFAULTS[1]))
    return Tolerance(rtol, atol, equal_nan=bool(spec.get("equal_nan", False)))


def looser(a: Tolerance, b: Tolerance) -> Tolerance:
    """The larger rtol and atol of the two (``a``'s other settings)."""
    return replace(a, rtol=max(a.rtol, b.rtol), atol=max(a.atol, b.atol))


def isclose(submitted: np.ndarray, reference: np.ndarray, tol: Tolerance) -> np.ndarray:
    """Elementwise ``assert_allclose`` test (shapes must be equal)."""
    with np.errstate(all="ignore"):
        return np.isclose(submitted, reference, rtol=tol.rtol, atol=tol.atol,
                          equal_nan=tol.equal_nan)


def allclose(submitted: np.ndarray, reference: np.ndarray, tol: Tolerance) -> bool:
    """True when the shapes agree and every element is close."""
    if submitted.shape != reference.shape:
        return False
    return bool(np.all(isclose(submitted, reference, tol)))
