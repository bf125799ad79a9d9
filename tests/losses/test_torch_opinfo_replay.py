"""Replay of PyTorch's own loss OpInfos (``op_db``) through the core and the HTTP API (issue 19).

For every ``nn.functional`` loss OpInfo, over a few seeds: each ``reference_inputs`` sample in
float64 is mapped onto this service's loss (:mod:`tests.losses.opinfo_replay`) and must give
torch's value (the unreduced array for reduction none), per-sample values and gradients of the
service's differentiable inputs (of the sum, for none) to 1e-7 relative, and of every other
float input the sample has ``requires_grad`` on that the service differentiates on request
(targets of mse, kl_div, gaussian_nll...: the service's ``wrt``, issue 19 item 3), under
``validate="lenient"`` (the API's default); every ``error_inputs`` call must be refused with a
``LossError``. A sample torch computes is never refused: those with NaN or infinities
(hinge_embedding_loss, margin_ranking_loss) get torch's numbers and a ``nonfinite_input``
warning. Samples this service cannot express are listed below with the reason: a sample outside
the table fails the test, and so does a table row that no sample hits any more. Counts per loss
are printed (``pytest -s``). Marked slow: about 40 s on one core.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np
import pytest

from service.losses import LossError, accel, evaluate

from .opinfo_replay import Unexpressible, loss_opinfos, samples, to_service, torch_result

pytestmark = [pytest.mark.torch, pytest.mark.slow]  # about 40 s on one core

SEEDS = (0, 1, 2)
RTOL, ATOL = 1e-7, 1e-10

# (loss, what, why): torch calls the service cannot express (a reason, matched to Unexpressible)
UNEXPRESSIBLE: tuple[tuple[str, str, str], ...] = (
    ("triplet_margin_with_distance_loss", r"custom distance_function",
     "a Python callable cannot be sent; the service's distance is one of l2, squared_l2, cosine"),
)

# the OpInfos whose reference inputs hold NaN or infinities: refused (nonfinite_input) until
# non-finite inputs became warnings; test_samples_with_nan_or_infinities_match checks they match
NONFINITE_SAMPLES = ("hinge_embedding_loss", "margin_ranking_loss")


def _op_name(opinfo: Any) -> str:
    return opinfo.name.removeprefix("nn.functional.")


def _id(opinfo: Any) -> str:
    return _op_name(opinfo) + (f".{opinfo.variant_test_name}" if opinfo.variant_test_name
                               else "")


def _unexpressible_row(op: str, message: str) -> tuple[str, ...] | None:
    return next((r for r in UNEXPRESSIBLE if r[0] == op and re.search(r[1], message)), None)


def _nonfinite(call: Any) -> bool:
    """Whether a float input of the call holds NaN or an infinity."""
    return any(np.asarray(v).dtype.kind == "f" and not bool(np.all(np.isfinite(v)))
               for v in call.inputs.values())


def _close(actual: Any, expected: np.ndarray) -> bool:
    a = np.asarray(actual, dtype=np.float64)
    return a.shape == expected.shape and bool(np.allclose(a, expected, rtol=RTOL, atol=ATOL,
                                                          equal_nan=True))


def _per_sample(out: np.ndarray) -> np.ndarray:
    return out.reshape(1) if out.ndim == 0 else out.reshape(out.shape[0], -1).mean(axis=1)


def check(call: Any, ev: Any, value: np.ndarray, grads: dict[str, np.ndarray]) -> list[str]:
    """What differs between the service's evaluation ``ev`` and torch's."""
    bad = []
    if not _close(ev.value, value):
        bad.append(f"value {np.asarray(ev.value)!r} != torch {value!r}")
    if call.reduction == "none" and not _close(ev.per_sample, _per_sample(value)):
        bad.append("per_sample")
    for name, g in grads.items():
        if not _close((ev.gradients or {}).get(name), g):
            bad.append(f"gradient {name}")
    return bad


def replay(opinfo: Any) -> tuple[Counter[str], list[str], set[tuple[str, ...]]]:
    """Counts, failures and the table rows hit, for one OpInfo over SEEDS."""
    op, counts, failures, hit = _op_name(opinfo), Counter[str](), [], set()
    for seed in SEEDS:
        for i, sample in enumerate(samples(opinfo, seed, "reference")):
            where = f"{_id(opinfo)} seed {seed} sample {i}"
            try:
                call = to_service(op, sample)
            except Unexpressible as exc:
                row = _unexpressible_row(op, str(exc))
                counts["unexpressible"] += 1
                if row is None:
                    failures.append(f"{where}: not in UNEXPRESSIBLE: {exc}")
                hit.add(row or ())
                continue
            try:
                value, grads = torch_result(call)
            except Exception:
                counts["torch_refused"] += 1
                continue
            counts["computed"] += 1
            try:
                ev = evaluate(call.loss, call.inputs, call.params, reduction=call.reduction,
                              want_grad=bool(call.grad_inputs), validate="lenient",
                              acceleration=accel.OFF, wrt=call.wrt)
            except LossError as exc:
                counts["refused_by_us"] += 1
                failures.append(f"{where}: torch computes it, refused: {exc!r}")
                continue
            diff = check(call, ev, value, grads)
            if _nonfinite(call):  # torch's numbers, and the warning that says why
                counts["nonfinite"] += 1
                if not any(w.code == "nonfinite_input" for w in ev.warnings):
                    diff.append("no nonfinite_input warning")
            counts["matched" if not diff else "mismatched"] += 1
            if call.wrt is not None:
                counts["with_wrt"] += 1
            if diff:
                failures.append(f"{where}: {'; '.join(diff)}")
        for i, err in enumerate(samples(opinfo, seed, "error")):
            where = f"{_id(opinfo)} seed {seed} error input {i} ({err.error_regex!r})"
            try:
                call = to_service(op, err.sample_input)
            except Unexpressible as exc:
                counts["error_unexpressible"] += 1
                row = _unexpressible_row(op, str(exc))
                if row is None:
                    failures.append(f"{where}: not in UNEXPRESSIBLE: {exc}")
                hit.add(row or ())
                continue
            except TypeError:  # a call torch's signature itself refuses
                counts["error_refused"] += 1
                continue
            try:
                evaluate(call.loss, call.inputs, call.params, reduction=call.reduction,
                         want_grad=bool(call.grad_inputs), validate="lenient",
                         acceleration=accel.OFF, wrt=call.wrt)
            except LossError:
                counts["error_refused"] += 1
            else:
                counts["error_accepted"] += 1
                failures.append(f"{where}: torch refuses it, the service computed it")
    return counts, failures, hit


OPINFOS = loss_opinfos()


@pytest.mark.parametrize("opinfo", OPINFOS, ids=_id)
def test_opinfo_replay(opinfo: Any) -> None:
    counts, failures, _ = replay(opinfo)
    print(f"{_id(opinfo)}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} in all)"
    assert counts["computed"] + counts["unexpressible"] > 0


def test_every_loss_opinfo_is_replayed() -> None:
    import torch.nn.functional as F

    names = {_op_name(o) for o in OPINFOS}
    from .opinfo_replay import LOSS_OF

    assert names == set(LOSS_OF), set(LOSS_OF) ^ names
    assert all(hasattr(F, n) for n in names)


def test_every_table_row_is_still_needed() -> None:
    ops = {r[0] for r in UNEXPRESSIBLE}
    hit: set[tuple[str, ...]] = set()
    for opinfo in OPINFOS:
        if _op_name(opinfo) in ops:
            hit |= replay(opinfo)[2]
    stale = [r for r in UNEXPRESSIBLE if r not in hit]
    assert not stale, f"rows no sample needs any more (remove them): {stale}"


@pytest.mark.parametrize("op", NONFINITE_SAMPLES)
def test_samples_with_nan_or_infinities_match(op: str) -> None:
    """The samples the service refused while it refused every NaN and infinity are computed
    and match torch (replay fails on any that does not); there are such samples to check."""
    for opinfo in (o for o in OPINFOS if _op_name(o) == op):
        counts, failures, _ = replay(opinfo)
        assert not failures, "\n".join(failures[:20])
        assert counts["nonfinite"] > 0 and counts["refused_by_us"] == 0, counts
