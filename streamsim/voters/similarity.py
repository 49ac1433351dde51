"""Logical model B, embedding similarity (f_sim, paper §1.6, Eq. 8).

beta_pos = max over liked items i of cos(E_pos[c], E_pos[i]); beta_neg likewise over disliked items with
E_neg. f_sim = 1 if beta_pos > beta_neg, a coin on a tie, else 0. A side with no items has beta = 0.
"""

from __future__ import annotations

import numpy as np

from streamsim.voters.ensemble import Vote, compare


def max_cosine(emb: np.ndarray, rows: np.ndarray, candidate: np.ndarray) -> float:
    """Rows are unit vectors (or zero for items without keywords), so a dot product is the cosine."""
    if len(rows) == 0:
        return 0.0
    return float((emb.take(rows, axis=0) @ candidate).max())


def embedding_similarity(beta_pos: float, beta_neg: float, tie_break: int) -> Vote:
    # Cosines lie in [-1, 1]; half their difference, shifted, is a ranking score in [0, 1].
    p = 0.5 + (beta_pos - beta_neg) / 2
    return compare("similarity", round(beta_pos, 9), round(beta_neg, 9), p, tie_break)
