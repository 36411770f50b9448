"""Probabilistic ensemble dynamics models: network, normalizer, trainer, checkpoints, validation."""
