"""Benchmarks behind `mbrl-control bench WHAT`; each prints JSON."""
