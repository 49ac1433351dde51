"""Logical model A, keyword matching (f_mat, paper §1.5).

alpha_pos = sum over liked items i of |D_pos[c] ∩ D_pos[i]|, alpha_neg likewise over disliked items with
D_neg; f_mat = 1 if alpha_pos > alpha_neg, a coin on a tie, else 0. With keyword sets as bitsets the sum
over a history is one popcount.
"""

from __future__ import annotations

import numpy as np

from streamsim.voters.ensemble import Vote, compare


def overlap(bits: np.ndarray, rows: np.ndarray, candidate: np.ndarray) -> tuple[int, np.ndarray]:
    """(sum over rows of |row ∩ candidate|, union of the matched bits). Only the 64-bit words where the
    candidate has a keyword can match, so only those columns are read (a handful of a large vocabulary)."""
    matched = np.zeros_like(candidate)
    cols = np.flatnonzero(candidate)
    if len(rows) == 0 or len(cols) == 0:
        return 0, matched
    inter = bits.take(rows, axis=0).take(cols, axis=1) & candidate[cols]
    matched[cols] = np.bitwise_or.reduce(inter, axis=0)
    return int(np.bitwise_count(inter).sum()), matched


def keyword_match(alpha_pos: int, alpha_neg: int, tie_break: int) -> Vote:
    # A Laplace-smoothed share of matches on the like side: a ranking score, 0.5 when nothing matched.
    p = (alpha_pos + 1) / (alpha_pos + alpha_neg + 2)
    return compare("keyword", alpha_pos, alpha_neg, p, tie_break)
