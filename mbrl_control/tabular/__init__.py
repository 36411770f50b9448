"""Dyna-Q on discrete environments: tabular Q-learning + a tabular model + n planning updates.

One job per module: :mod:`.maze` (Sutton & Barto's Dyna maze as a gymnasium ``Env``),
:mod:`.model` (the tabular model: outcome frequencies or the last outcome), :mod:`.agent`
(Dyna-Q), :mod:`.values` (exact values from known dynamics, to score the learned policy),
:mod:`.study` (curves over seeds), :mod:`.plot`. Numpy (and gymnasium) only; see docs/dyna.md.
"""

from mbrl_control.tabular.agent import DynaQAgent
from mbrl_control.tabular.maze import OPTIMAL_STEPS, DynaMaze
from mbrl_control.tabular.model import TabularModel

__all__ = ["OPTIMAL_STEPS", "DynaMaze", "DynaQAgent", "TabularModel"]
