"""Mismatch messages in the words of the assertion a grader knows.

``numpy`` style follows ``numpy.testing.assert_allclose`` (numpy 2.x)::

    Not equal to tolerance rtol=1e-07, atol=0
    gradient
    Mismatched elements: 1 / 6 (16.7%)
    Mismatch at index:
     [1, 2]: 0.25 (ACTUAL), 0.125 (DESIRED)
    Max absolute difference among violations: 0.125
    Max relative difference among violations: 1.
     ACTUAL: array(...)
     DESIRED: array(...)

``torch`` style follows ``torch.testing.assert_close`` ("Tensor-likes are not close!", "Greatest
absolute difference: ... at index (1, 2) (up to 1e-07 allowed)"; 0-d arrays as its scalar form
"Expected ... but got ..."). Both name the check, so a student knows which output was wrong.
"""

from __future__ import annotations

import numpy as np

from .tolerance import Tolerance

_NAMES = ("ACTUAL", "DESIRED")


def _array_repr(a: np.ndarray) -> str:
    r = np.array_repr(a, precision=8)
    if r.count("\n") > 3:  # numpy's build_err_msg keeps three lines
        r = "\n".join(r.splitlines()[:3]) + "..."
    return r


def _numpy(name: str, tol: Tolerance, submitted: np.ndarray | None, reference: np.ndarray,
           reason: str, bad: np.ndarray | None) -> str:
    lines = [f"Not equal to tolerance rtol={tol.rtol:g}, atol={tol.atol:g}", name]
    if reason == "missing":
        lines.append("(not submitted, but required)")
        lines.append(f" {_NAMES[1]}: {_array_repr(reference)}")
        return "\n".join(lines)
    assert submitted is not None
    if reason == "shape":
        lines.append(f"(shapes {submitted.shape}, {reference.shape} mismatch)")
    else:
        assert bad is not None
        n_bad, n = int(np.count_nonzero(bad)), int(bad.size)
        if reason == "nonfinite":  # numpy stops at the first pattern that differs
            nan = bool(np.any(np.isnan(submitted) != np.isnan(reference)))
            lines.append(f"{'nan' if nan else 'inf'} location mismatch:")
            lines.append(f" {_NAMES[0]}: {_array_repr(submitted)}")
            lines.append(f" {_NAMES[1]}: {_array_repr(reference)}")
            return "\n".join(lines)
        lines.append(f"Mismatched elements: {n_bad} / {n} ({100 * n_bad / n:.3g}%)")
        positions = np.argwhere(bad)
        if reference.ndim:
            shown = "\n".join(
                f" {p.tolist()}: {submitted[tuple(p)]} ({_NAMES[0]}), "
                f"{reference[tuple(p)]} ({_NAMES[1]})" for p in positions[:5])
            title = ("Mismatch at index:" if len(positions) == 1 else
                     "Mismatch at indices:" if len(positions) <= 5 else
                     "First 5 mismatches are at indices:")
            lines += [title, shown]
        if reason == "tolerance":
            with np.errstate(all="ignore"):
                err = np.abs(submitted - reference)[bad]
                ref = np.broadcast_to(reference, bad.shape)[bad]
            rel = err[ref != 0] / np.abs(ref[ref != 0])
            max_rel = np.max(rel) if rel.size else np.inf
            lines.append("Max absolute difference among violations: "
                         + np.array2string(np.max(err)))
            lines.append("Max relative difference among violations: "
                         + np.array2string(np.asarray(max_rel)))
    lines.append(f" {_NAMES[0]}: {_array_repr(submitted)}")
    lines.append(f" {_NAMES[1]}: {_array_repr(reference)}")
    return "\n".join(lines)


def _torch_greatest(submitted: np.ndarray, reference: np.ndarray, bad: np.ndarray
                    ) -> tuple[tuple[float, tuple[int, ...]], tuple[float, tuple[int, ...]]]:
    with np.errstate(all="ignore"):
        abs_diff = np.where(bad, np.abs(submitted - reference), 0.0)
        rel_diff = abs_diff / np.abs(reference)
        rel_diff = np.where(bad, rel_diff, 0.0)

    def top(d: np.ndarray) -> tuple[float, tuple[int, ...]]:
        flat = d.reshape(-1)
        i = int(np.argmax(np.isnan(flat))) if np.isnan(flat).any() else int(np.argmax(flat))
        return float(flat[i]), tuple(int(k) for k in np.unravel_index(i, d.shape))

    return top(abs_diff), top(rel_diff)


def _torch(name: str, tol: Tolerance, submitted: np.ndarray | None, reference: np.ndarray,
           reason: str, bad: np.ndarray | None) -> str:
    item = f"\n\nThe failure occurred for item [{name!r}]"
    if reason == "missing":
        return f"The value for {name!r} is missing (required)."
    assert submitted is not None
    if reason == "shape":
        return (f"The values for attribute 'shape' do not match: "
                f"torch.Size({list(submitted.shape)}) != torch.Size({list(reference.shape)})."
                + item)
    assert bad is not None
    equality = tol.rtol == 0 and tol.atol == 0

    def allowed(t: float) -> str:
        return "" if equality else f" (up to {t} allowed)"

    verb = "equal" if equality else "close"
    if reference.ndim == 0:
        with np.errstate(all="ignore"):
            a = float(abs(submitted - reference))
            r = a / abs(float(reference)) if reference != 0 else (np.inf if a else 0.0)
        return (f"Scalars are not {verb}!\n\nExpected {float(reference)} but got "
                f"{float(submitted)}.\nAbsolute difference: {a}{allowed(tol.atol)}\n"
                f"Relative difference: {r}{allowed(tol.rtol)}" + item)
    (a, ai), (r, ri) = _torch_greatest(submitted, reference, bad)
    n_bad, n = int(np.count_nonzero(bad)), int(bad.size)
    return (f"Tensor-likes are not {verb}!\n\nMismatched elements: {n_bad} / {n} "
            f"({100 * n_bad / n:.1f}%)\n"
            f"Greatest absolute difference: {a} at index {ai}{allowed(tol.atol)}\n"
            f"Greatest relative difference: {r} at index {ri}{allowed(tol.rtol)}" + item)


def mismatch_message(name: str, tol: Tolerance, submitted: np.ndarray | None,
                     reference: np.ndarray, reason: str, *, bad: np.ndarray | None = None
                     ) -> str:
    """The message of a failed check, in ``tol.style``."""
    render = _torch if tol.style == "torch" else _numpy
    return render(name, tol, submitted, reference, reason, bad)
