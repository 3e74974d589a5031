"""Contracts, registry, storage, metrics and compute: the layer every phase stands on."""
