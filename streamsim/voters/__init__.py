"""The paper's three base models ("voters") and their majority vote (Eq. 9)."""

from streamsim.voters.ensemble import Vote, majority_vote
from streamsim.voters.keyword import keyword_match
from streamsim.voters.similarity import embedding_similarity
from streamsim.voters.statistical import StatisticalModel

__all__ = ["Vote", "majority_vote", "keyword_match", "embedding_similarity", "StatisticalModel"]
