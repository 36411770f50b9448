"""The sim-to-real grid's names, importable without numpy or torch (the CLI's choices)."""

CONDITIONS = ("none", "default", "wide", "calibrated")
"""Pretraining conditions: a DR profile name, or ``calibrated`` (see ``sim2real_grid``)."""
BASELINES = ("real_only", "random", "oracle_model", "oracle_sim")
BACKENDS = ("local", "ray")
