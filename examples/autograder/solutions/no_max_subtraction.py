"""Buggy on purpose: A softmax without subtracting the row maximum: exp overflows at extreme
scores.
"""

import numpy as np


def svm_loss(W, X, y, reg):
    """Multiclass SVM loss (margin 1) with L2 regularisation, and its gradient dW."""
    n = X.shape[0]
    scores = X @ W
    margins = np.maximum(0.0, scores - scores[np.arange(n), y][:, None] + 1.0)
    margins[np.arange(n), y] = 0.0
    loss = margins.sum() / n + reg * np.sum(W * W)
    active = (margins > 0).astype(float)
    active[np.arange(n), y] = -active.sum(axis=1)
    dW = X.T @ active / n + 2 * reg * W
    return loss, dW


def softmax_loss(W, X, y, reg):
    """Softmax loss with L2 regularisation, and its gradient dW."""
    n = X.shape[0]
    scores = X @ W
    with np.errstate(all="ignore"):
        probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(n), y]).mean() + reg * np.sum(W * W)
    dscores = probs.copy()
    dscores[np.arange(n), y] -= 1.0
    dW = X.T @ dscores / n + 2 * reg * W
    return loss, dW


def cross_entropy(logits, y):
    """Mean cross-entropy of logits against class indices, and its gradient."""
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(n), y].mean()
    grad = np.exp(log_probs)
    grad[np.arange(n), y] -= 1.0
    return loss, grad / n


def mse(predictions, targets):
    """Mean squared error over every element, and its gradient."""
    diff = predictions - targets
    return np.mean(diff**2), 2.0 * diff / diff.size


def binary_cross_entropy(p, y):
    """Mean binary cross-entropy of probabilities, logs clamped at -100 like PyTorch."""
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100.0)
        log_1mp = np.maximum(np.log(1.0 - p), -100.0)
    return -np.mean(y * log_p + (1.0 - y) * log_1mp)
