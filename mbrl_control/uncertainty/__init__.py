"""The ensemble's uncertainty, each quantity defined once (no torch at import: the control path
uses it too).

- ``quantities``: epistemic disagreement, total predictive variance, surprise (units, shapes).
- ``calibration``: post-hoc per-horizon recalibration fitted on held-out episodes.
"""
