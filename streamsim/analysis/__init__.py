"""Item analysis: turning an item's metadata and reviews into the paper's features
(category set D_cate, like-keywords D_pos, dislike-keywords D_neg)."""

from streamsim.analysis.base import Analyzer, ItemFeatures, Review

__all__ = ["Analyzer", "ItemFeatures", "Review"]
