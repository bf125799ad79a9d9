"""torch's own loss samples with NaN, ``inf`` and ``-inf`` put into each input (issue 19, item 1).

Every ``reference_inputs`` sample of every loss OpInfo (seed 0, float64) is sent once per float
input tensor and value (NaN, inf, -inf), put at its last element (even samples) or its first
(odd samples), through the core under
lenient validation with the reference alone (tests/losses/test_nonfinite.py holds the kernels to
the reference). Where torch computes, the service computes too, with torch's value, per-sample
values and gradients (NaN where torch's are NaN) and a ``nonfinite_input`` warning; where torch
refuses (``binary_cross_entropy`` refuses NaN), the service refuses. The differences that remain
on purpose are listed in DEVIATIONS with the reason; a difference outside it fails the test, and
so does a row no sample needs any more.

``linear_cross_entropy`` is compared with ``cross_entropy(linear(input, weight) + bias)``, the
function torch documents it to be: its batch-chunked implementation makes NaN of more than the
composition does (an ignored row whose input is NaN, the input's gradient next to an infinite
weight), and the service gives the composition's numbers (docs/api.md, Warnings and validate).
"""

from __future__ import annotations

import math
import types
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from service.losses import LossError, accel, evaluate

from .opinfo_replay import (
    _DEFAULT_INPUTS,
    _INPUTS,
    LOSS_OF,
    F,
    Unexpressible,
    bind,
    loss_opinfos,
    samples,
    to_service,
    torch,
    torch_result,
)
from .test_torch_opinfo_replay import _id, _op_name, check

pytestmark = [pytest.mark.torch, pytest.mark.slow]  # about 60 s on one core

VALUES = (math.nan, math.inf, -math.inf)
_LINEAR_INPUTS = ("input", "linear_weight", "linear_bias")

# (op, torch argument, value, what differs, why)
DEVIATIONS: tuple[tuple[str, str, str, str, str], ...] = (
    ("ctc_loss", "log_probs", "-inf", "gradient log_probs",
     "a log-probability of -inf is a probability of 0: its gradient is 0 here, NaN in torch's "
     "backward (exp(res + nll - lp) with lp = -inf), as the service already gives 0 where "
     "torch's is NaN for an impossible alignment"),
)


def _composed(input: Any, linear_weight: Any, target: Any, linear_bias: Any = None,
              weight: Any = None, reduction: str = "mean", ignore_index: int | None = None,
              label_smoothing: float = 0.0, options: Any = None) -> Any:
    """``F.linear_cross_entropy`` as torch documents it: cross_entropy of the linear scores
    (a K-dimensional weight ``(C, d1..dK, D)`` gives ``(N, C, d1..dK)`` scores)."""
    logits = torch.einsum("d,c...d->c..." if input.ndim == 1 else "nd,c...d->nc...", input,
                          linear_weight)
    if linear_bias is not None:
        logits = logits + linear_bias
    return F.cross_entropy(logits, target, weight=weight, reduction=reduction,
                           ignore_index=-100 if ignore_index is None else ignore_index,
                           label_smoothing=label_smoothing)


def _variants(op: str, sample: Any, last: bool) -> Iterator[tuple[str, str, Any]]:
    """(torch argument, value, the sample with it put in, at the last or the first element) for
    each float tensor the service takes as an input (not a weight: non-finite parameters stay
    refused)."""
    args = bind(getattr(F, op), sample)
    loss = LOSS_OF[op]
    names = _LINEAR_INPUTS if loss == "linear_softmax" else tuple(
        _INPUTS.get(loss, _DEFAULT_INPUTS))
    for targ in names:
        t = args.get(targ)
        if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point or t.numel() == 0:
            continue
        for v in VALUES:
            bad = t.detach().clone()
            bad.reshape(-1)[-1 if last else 0] = v
            changed = {**args, targ: bad.requires_grad_(t.requires_grad)}
            first = next(iter(changed))
            yield targ, str(v), types.SimpleNamespace(
                input=changed.pop(first), args=(), kwargs=changed)


def _deviation(op: str, targ: str, value: str, diff: list[str]) -> tuple[str, ...] | None:
    return next((r for r in DEVIATIONS if r[:3] == (op, targ, value) and
                 all(d == r[3] for d in diff)), None)


def replay_nonfinite(opinfo: Any) -> tuple[Counter[str], list[str], set[tuple[str, ...]]]:
    """Counts, failures and the DEVIATIONS rows hit, for one OpInfo."""
    op, counts, failures, hit = _op_name(opinfo), Counter[str](), [], set()
    for i, sample in enumerate(samples(opinfo, 0, "reference")):
        for targ, value, changed in _variants(op, sample, last=i % 2 == 0):
            where = f"{_id(opinfo)} sample {i} {targ} = {value}"
            try:
                call = to_service(op, changed)
            except Unexpressible:  # (the finite replay lists these)
                counts["unexpressible"] += 1
                continue
            if call.loss == "linear_softmax":
                call.fn = _composed
            try:
                expected, grads = torch_result(call)
            except Exception:
                torch_refused = True
            else:
                torch_refused = False
            try:
                ev = evaluate(call.loss, call.inputs, call.params, reduction=call.reduction,
                              want_grad=bool(call.grad_inputs), validate="lenient",
                              acceleration=accel.OFF, wrt=call.wrt)
            except LossError as exc:
                counts["both_refused" if torch_refused else "refused_by_us"] += 1
                if not torch_refused:
                    failures.append(f"{where}: torch computes it, refused: {exc!r}")
                continue
            if torch_refused:
                counts["computed_by_us"] += 1
                failures.append(f"{where}: torch refuses it, the service computed it")
                continue
            diff = check(call, ev, expected, grads)
            if "nonfinite_input" not in [w.code for w in ev.warnings]:
                failures.append(f"{where}: no nonfinite_input warning")
            if not diff:
                counts["matched"] += 1
                continue
            row = _deviation(op, targ, value, [d.split(" ")[0] if d.startswith("value ")
                                               else d for d in diff])
            counts["deviation" if row else "mismatched"] += 1
            if row is None:
                failures.append(f"{where}: {'; '.join(diff)}")
            else:
                hit.add(row)
    return counts, failures, hit


OPINFOS = loss_opinfos()


@pytest.mark.parametrize("opinfo", OPINFOS, ids=_id)
def test_nonfinite_samples_match_torch(opinfo: Any) -> None:
    counts, failures, _ = replay_nonfinite(opinfo)
    print(f"{_id(opinfo)}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} in all)"
    # (triplet_margin_with_distance: every sample has a custom distance, which cannot be sent)
    assert counts["matched"] + counts["both_refused"] > 0 or set(counts) == {"unexpressible"}


def test_every_deviation_is_still_needed() -> None:
    ops = {r[0] for r in DEVIATIONS}
    hit: set[tuple[str, ...]] = set()
    for opinfo in OPINFOS:
        if _op_name(opinfo) in ops:
            hit |= replay_nonfinite(opinfo)[2]
    stale = [r for r in DEVIATIONS if r not in hit]
    assert not stale, f"rows no sample needs any more (remove them): {stale}"


def test_the_samples_reach_values_torch_refuses_and_values_it_computes() -> None:
    """NaN in binary_cross_entropy is refused by both; the same NaN in mse is computed: the
    sweep covers both outcomes (a replay that refused or computed everything would not)."""
    by_op = {_op_name(o): o for o in OPINFOS if not o.variant_test_name}
    assert replay_nonfinite(by_op["binary_cross_entropy"])[0]["both_refused"] > 0
    assert replay_nonfinite(by_op["mse_loss"])[0]["matched"] > 0
