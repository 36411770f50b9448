"""Plots and reports (matplotlib is imported lazily, only here)."""
