"""Learned value and policy for the planner: SAC trained MBPO-style on the ensemble.

Shape letters: B batch rows, O obs dim, A action dim, E members, K critics (2: twin Q),
H horizon. Module map:

- ``config``: :class:`SACConfig`, :class:`MBPOConfig` (frozen, validated).
- ``sac``: squashed-Gaussian :class:`Actor`, twin critics :class:`TwinQ`, the state-value head
  :class:`StateValue` (distilled from the critics), :class:`SAC` update.
- ``value``: :class:`TerminalValue` (the value head as the planner's cost-to-go) and
  :class:`PolicyMean` (the actor's mean action, for the policy prior and the policy export).
- ``buffer``: :class:`ReplayBuffer`, the ring buffer for real and imagined transitions.
- ``mbpo``: schedules (rollout length, real ratio), branched rollouts, the training loop.
- ``checkpoint``: one-file agent checkpoints (``weights_only`` loading).
"""
