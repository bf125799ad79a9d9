"""Losses side by side: the engine's values per loss, rank correlations, top-k, transforms."""

from __future__ import annotations

import numpy as np
import pytest

from service.engine import run
from service.grading import LossRequest, compare_losses
from service.grading.side_by_side import SideBySideError, ranks, spearman, top_k, transform

X = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1], [0.1, 0.2, 0.3]])
Y = np.array([0, 1, 2, 2])


def test_ranks_average_ties_and_spearman_matches_a_hand_computation():
    assert list(ranks(np.array([10.0, 20.0, 10.0, 5.0]))) == [2.5, 4.0, 2.5, 1.0]
    a, b = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([5.0, 6.0, 7.0, 8.0, 7.0])
    # ranks of b: 1, 2, 3.5, 5, 3.5; Pearson of the ranks, written out
    ra, rb = np.array([1, 2, 3, 4, 5.0]), np.array([1, 2, 3.5, 5, 3.5])
    expected = np.corrcoef(ra, rb)[0, 1]
    assert spearman(a, b) == pytest.approx(expected, rel=1e-15)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert np.isnan(spearman(a, np.ones(5)))


def test_top_k_is_highest_first_with_ties_to_the_lower_index():
    assert top_k(np.array([1.0, 3.0, 3.0, 2.0]), 3) == [
        {"index": 1, "value": 3.0}, {"index": 2, "value": 3.0}, {"index": 3, "value": 2.0}]


def test_losses_side_by_side():
    out = compare_losses([LossRequest("cross_entropy"), LossRequest("focal", {"gamma": 2.0}),
                          LossRequest("multiclass_hinge"),
                          LossRequest("nll", transform="log_softmax")],
                         {"predictions": X, "targets": Y}, k=2)
    assert out["n_samples"] == 4
    labels = [entry["label"] for entry in out["losses"]]
    assert labels == ["cross_entropy", "focal", "multiclass_hinge", "nll"]
    for entry in out["losses"][:3]:
        ev = run(entry["loss"], {"predictions": X, "targets": Y}, entry["params"]).evaluation
        np.testing.assert_array_equal(entry["per_sample"], ev.per_sample)
        assert entry["value"] == ev.value
    ce, nll = out["losses"][0], out["losses"][3]
    np.testing.assert_allclose(nll["per_sample"], ce["per_sample"], rtol=1e-14)
    matrix = out["rank_correlation"]["matrix"]
    assert matrix[0][3] == pytest.approx(1.0) and matrix[1][0] == matrix[0][1]
    assert len(out["rank_correlation"]["pairs"]) == 6
    assert [t["index"] for t in ce["top_k"]] == list(np.argsort(-ce["per_sample"])[:2])


def test_duplicate_labels_are_numbered_and_transforms_apply():
    out = compare_losses([LossRequest("focal", {"gamma": 0.0}), LossRequest("focal")],
                         {"predictions": X, "targets": Y})
    assert [e["label"] for e in out["losses"]] == ["focal#1", "focal#2"]
    p = transform(X, "softmax")
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(transform(X, "log_sigmoid"), -np.log1p(np.exp(-X)))


def test_errors_name_the_loss():
    with pytest.raises(SideBySideError) as exc:
        compare_losses([LossRequest("cross_entropy"), LossRequest("nll")],
                       {"predictions": X, "targets": Y})  # logits are not log-probabilities
    assert exc.value.index == 1 and exc.value.code == "invalid_value"
    with pytest.raises(SideBySideError) as exc:
        compare_losses([LossRequest("cross_entropy"), LossRequest("mse")],
                       {"predictions": X, "targets": Y})
    assert exc.value.index == 1
