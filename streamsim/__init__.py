"""streamsim: a Kafka-native implementation of the LLM-powered user simulator of Zhang et al. (AAAI 2025).

The core (``streamsim.simulator``, ``streamsim.voters``, ``streamsim.analysis``) is pure and deterministic;
the Kafka worker (``streamsim.stream``) and the in-process evaluation (``streamsim.evaluate``) both call it.
"""

__version__ = "0.1.0"
