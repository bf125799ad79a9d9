"""Diagnosis: which catalogued mistakes a failed submission matches.

For every failed check (except ``missing``) and every catalogued mistake that concerns the loss
and that check, the mistake's variants are computed and compared with the submission:

* ``values``: the submission equals the variant within the diagnosis tolerance (the grading
  tolerance, loosened to at least the torch preset so a mistake computed in another order still
  matches) while the variant itself fails against
  the reference, and the submission is not within that tolerance of the reference;
* ``nonfinite``: the submission is NaN or infinite somewhere, only where the naive computation
  is, and equals the reference elsewhere;
* ``infinite``: as ``nonfinite``, with every non-finite submitted value +inf (what -log 0
  gives), for a mistake that also leaves the ``finite`` check kinds finite in the submission;
  where it matches, the codes it ``supersedes`` are dropped from that check;
* ``float32``: the submission equals the float32 reference within float32 tolerance and either
  holds only float32 numbers (where the float64 reference does not) or misses the float64
  tolerance.

A 0-d variant also matches a one-element submission (``[2.04]`` for ``2.04``). Each diagnosis is
``{"code", "check", "evidence", "hint"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..losses import LossError
from .catalog import BY_CODE, Mistake, applicable
from .checks import CheckResult, differences
from .context import Context, check_kind
from .formulas import Variant
from .tolerance import Tolerance, allclose, isclose, looser, preset


@dataclass(frozen=True)
class Diagnosis:
    code: str
    check: str
    evidence: str
    hint: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "check": self.check, "evidence": self.evidence,
                "hint": self.hint}


def _fmt(a: np.ndarray) -> str:
    return f"{float(a.reshape(-1)[0]):.6g}" if a.size == 1 else f"shape {a.shape}"


def _aligned(submitted: np.ndarray, variant: np.ndarray) -> np.ndarray | None:
    if submitted.shape == variant.shape:
        return submitted
    if variant.ndim == 0 and submitted.size == 1:
        return submitted.reshape(())
    return None


def _values_evidence(check: str, sub: np.ndarray, var: np.ndarray, ref: np.ndarray,
                     label: str) -> str:
    if var.size == 1 and ref.size == 1:
        return (f"{check} = {_fmt(sub)} equals {label} ({_fmt(var)}); the expected value is "
                f"{_fmt(ref)}")
    close, _ = differences(sub, var)
    shape = "" if var.shape == ref.shape else f" (shape {var.shape}; expected {ref.shape})"
    if sub.shape == ref.shape:
        far, _ = differences(sub, ref)
        off = f"; it is {far.value:.3g} away from the reference" if far else ""
    else:
        off = ""
    within = f"max abs diff {close.value:.3g}" if close else "identical non-finite pattern"
    return f"{check} equals {label}{shape} ({within}){off}"


def _match_values(check: str, sub: np.ndarray, variant: Variant, ref: np.ndarray,
                  tol: Tolerance) -> str | None:
    var = variant.arrays[check]
    aligned = _aligned(sub, var)
    if aligned is None or allclose(var, ref, tol) or allclose(aligned, ref, tol):
        return None
    if not allclose(aligned, var, replace(tol, equal_nan=True)):
        return None
    return _values_evidence(check, aligned, var, ref, variant.label)


def _match_nonfinite(check: str, sub: np.ndarray, variant: Variant, ref: np.ndarray,
                     tol: Tolerance) -> str | None:
    var = variant.arrays[check]
    if sub.shape != var.shape or sub.shape != ref.shape:
        return None
    sub_bad, var_bad = ~np.isfinite(sub), ~np.isfinite(var)
    if not sub_bad.any() or np.any(sub_bad & ~var_bad) or not np.any(var_bad & np.isfinite(ref)):
        return None
    finite = ~sub_bad
    if not np.all(isclose(sub[finite], ref[finite], tol)):
        return None
    where = [int(i) for i in np.argwhere(sub_bad)[0]] if sub.ndim else []
    return (f"{check} is not finite at {int(sub_bad.sum())} of {sub.size} element(s) (first at "
            f"index {where}), all of them where {variant.label} overflows or takes log(0); the "
            "reference is finite there")


def _match_infinite(check: str, sub: np.ndarray, variant: Variant, ref: np.ndarray,
                    tol: Tolerance) -> str | None:
    bad = ~np.isfinite(sub)
    if not np.all(sub[bad] == np.inf):
        return None
    if _match_nonfinite(check, sub, variant, ref, tol) is None:
        return None
    return (f"{check} is +inf at {int(bad.sum())} of {sub.size} element(s), all of them where "
            f"{variant.label}, so -log p_y is inf; the reference is finite there")


def _float32_exact(a: np.ndarray) -> bool:
    finite = a[np.isfinite(a)]
    return bool(np.all(finite.astype(np.float32).astype(np.float64) == finite))


def _match_float32(check: str, sub: np.ndarray, variant: Variant, ref: np.ndarray,
                   tol: Tolerance) -> str | None:
    """Within float32 tolerance of the float32 reference, and either every value is a float32
    number (where the float64 reference is not) or the float64 tolerance is missed."""
    var = variant.arrays[check]
    f32 = preset("torch", "float32")
    if sub.shape != var.shape or not allclose(sub, var, f32):
        return None
    close, _ = differences(sub, var)
    gap = f"max abs diff {close.value:.3g}" if close else "identical"
    if _float32_exact(sub) and not _float32_exact(ref):
        return (f"{check}: every submitted value is exactly a float32 number and matches "
                f"{variant.label} within {f32.describe()} ({gap}); the float64 reference is not "
                "float32-representable")
    if not allclose(sub, ref, tol):
        return (f"{check} matches {variant.label} within {f32.describe()} ({gap}) but not the "
                f"float64 reference within {tol.describe()}")
    return None


def _variants(mistake: Mistake, ctx: Context) -> list[Variant]:
    try:
        with np.errstate(all="ignore"):
            return mistake.variants(ctx)
    except LossError:
        return []


_MATCHERS = {"values": _match_values, "nonfinite": _match_nonfinite, "infinite": _match_infinite,
             "float32": _match_float32}


def _breaks(submission: Mapping[str, np.ndarray | None], kinds: tuple[str, ...]) -> bool:
    """Whether a submitted check of one of ``kinds`` is not finite somewhere."""
    return any(v is not None and check_kind(k) in kinds
               and not bool(np.all(np.isfinite(np.asarray(v, np.float64))))
               for k, v in submission.items())


def diagnose(ctx: Context, results: list[CheckResult],
             submission: Mapping[str, np.ndarray | None], tol: Tolerance) -> list[Diagnosis]:
    """Diagnoses for the failed checks in ``results`` (see the module docstring)."""
    failed = [r for r in results if not r.passed and r.reason != "missing"]
    if not failed:
        return []
    base = looser(tol, preset("torch", ctx.dtype))
    found: list[Diagnosis] = []
    for mistake in applicable(ctx.spec):
        mine = [r for r in failed if check_kind(r.name) in mistake.checks]
        if not mine or _breaks(submission, mistake.finite):
            continue
        computed = _variants(mistake, ctx)
        match = _MATCHERS[mistake.match]
        for result in mine:
            sub = submission.get(result.name)
            if sub is None:
                continue
            for variant in computed:
                if result.name not in variant.arrays:
                    continue
                evidence = match(result.name, np.asarray(sub, np.float64),
                                 variant, ctx.ref[result.name], base)
                if evidence:
                    found.append(Diagnosis(mistake.code, result.name, evidence, mistake.hint))
                    break
    dropped = {(code, d.check) for d in found for code in BY_CODE[d.code].supersedes}
    return [d for d in found if (d.code, d.check) not in dropped]
