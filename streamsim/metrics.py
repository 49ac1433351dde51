"""Fidelity metrics for binary like/dislike predictions (numpy only)."""

from __future__ import annotations

import math

import numpy as np


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half. NaN if one class is absent."""
    y = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p), dtype=np.float64)
    sp = np.asarray(p)[order]
    # average ranks over ties
    _, start, counts = np.unique(sp, return_index=True, return_counts=True)
    avg = start + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")


def binary_metrics(y, p, decision) -> dict[str, float]:
    y = np.asarray(y, dtype=bool)
    d = np.asarray(decision, dtype=bool)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    tp, tn = int((y & d).sum()), int((~y & ~d).sum())
    fp, fn = int((~y & d).sum()), int((y & ~d).sum())
    tpr = tp / (tp + fn) if tp + fn else float("nan")
    tnr = tn / (tn + fp) if tn + fp else float("nan")
    out = {
        "auc": auc(y, p),
        "accuracy": (tp + tn) / len(y) if len(y) else float("nan"),
        "balanced_accuracy": (tpr + tnr) / 2,
        "f1_like": _f1(tp, fp, fn),
        "f1_dislike": _f1(tn, fn, fp),
        "logloss": float(-np.mean(np.where(y, np.log(p), np.log(1 - p)))) if len(y) else float("nan"),
    }
    return {k: (None if isinstance(v, float) and math.isnan(v) else round(v, 4)) for k, v in out.items()}


def roc_curve(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=bool)
    order = np.argsort(-np.asarray(p), kind="mergesort")
    ys = y[order]
    tps, fps = np.cumsum(ys), np.cumsum(~ys)
    return (np.r_[0, fps / max(fps[-1], 1)], np.r_[0, tps / max(tps[-1], 1)]) if len(ys) else (
        np.array([0, 1]), np.array([0, 1]))


def calibration(y, p, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean predicted, observed like rate, count) per equal-width probability bin, empty bins dropped."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(idx, minlength=bins)
    keep = count > 0
    mean_p = np.bincount(idx, weights=p, minlength=bins)[keep] / count[keep]
    rate = np.bincount(idx, weights=y, minlength=bins)[keep] / count[keep]
    return mean_p, rate, count[keep]
