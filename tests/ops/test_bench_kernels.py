"""``bench kernels`` times every row of the acceleration table against the reference."""

from __future__ import annotations

import pytest

from service.losses import accel

pytestmark = pytest.mark.skipif(not accel.AVAILABLE, reason="numba (the fast extra) is absent")


def test_every_accelerated_loss_gets_a_row_per_pass(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.kernels import run

    assert run(["--sizes", "1e3", "--dtypes", "float64"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line and not line.startswith(("#", "loss"))]
    assert sorted({r[0] for r in rows}) == sorted(accel.table.ROWS)
    assert {(r[0], r[3]) for r in rows} == {(loss, p) for loss in accel.table.ROWS
                                          for p in ("v+g", "f+g")}
    for r in rows:
        kernel, reference, ratio = float(r[4]), float(r[5]), float(r[6].rstrip("x"))
        assert kernel > 0 and reference > 0  # the ratio is of the unrounded times:
        assert ratio == pytest.approx(reference / kernel, abs=0.01 + 0.001 * ratio / kernel)
