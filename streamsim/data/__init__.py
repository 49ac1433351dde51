"""Datasets: the generic on-disk format (``load_dataset``) and converters from public sources."""

from streamsim.data.schema import Dataset, Interaction, Item

__all__ = ["Dataset", "Interaction", "Item"]
