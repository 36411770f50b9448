"""Sampling MPC planners (CEM, iCEM, MPPI, random shooting) as pure torch tensor functions.

Shape glossary used in every docstring and comment of this package:
E members, P particles, N candidates, H horizon, I iterations, O obs dim, A action dim,
G goal dim, K critics, B batch rows.
"""
