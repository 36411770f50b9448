"""The derivative of a task's per-step cost, accumulated critic by critic.

Gradient-refined planning (:mod:`mbrl_control.planning.refine`) needs ``d cost / d (obs,
action, next_obs)`` inside the exported graph, where ``torch.autograd`` cannot go. So each
critic that supports it *declares* its derivative (:attr:`~mbrl_control.tasks.base.Critic
.grad`): a function ``grad(features, upstream (B,), acc)`` that adds ``upstream * d term /
d input`` into a :class:`CostGradient`. Critics read joint quantities and points rather than
raw indices, so the accumulator routes those back onto the observation: a cos/sin-observed
angle directly, a raw angle through ``-sin``/``cos``, an observed point onto its three
columns, a computed point through its kinematic model's declared derivative
(:attr:`~mbrl_control.tasks.kinematics.FKModel.torch_vjp`).

Every addition is a product with a constant selection matrix (no in-place scatter), so the
same code runs in torch and traces into ONNX. Torch is imported on use: loading a task file
stays torch-free (the control path). ``tests/tasks/test_cost_gradient.py`` holds
every declared derivative equal to ``torch.autograd``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from mbrl_control.tasks.layout import ObsLayout

INPUTS = ("obs", "action", "next_obs")


class CostGradient:
    """Running ``d cost / d obs (B, O)``, ``d action (B, A)``, ``d next_obs (B, O)``.

    ``layout`` (a task file's :class:`~mbrl_control.tasks.layout.ObsLayout`) is needed only
    by the joint and point routes; raw-index additions (:meth:`add`) work without it.
    """

    def __init__(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        next_obs: torch.Tensor,
        layout: ObsLayout | None = None,
    ) -> None:
        import torch

        self.grads = {
            "obs": torch.zeros_like(obs),
            "action": torch.zeros_like(action),
            "next_obs": torch.zeros_like(next_obs),
        }
        self._next_obs = next_obs
        self._layout = layout

    @property
    def obs(self) -> torch.Tensor:
        return self.grads["obs"]

    @property
    def action(self) -> torch.Tensor:
        return self.grads["action"]

    @property
    def next_obs(self) -> torch.Tensor:
        return self.grads["next_obs"]

    def add(self, which: str, g: torch.Tensor, index: int | Sequence[int] | None = None) -> None:
        """Add ``g`` to the gradient of input ``which`` (``obs``, ``action`` or ``next_obs``):
        ``g (B, D)`` for the whole input, ``(B,)`` for one column ``index``, or ``(B, J)`` for
        the columns ``index`` (a list)."""
        import torch

        if which not in INPUTS:
            raise ValueError(f"CostGradient input {which!r}; allowed: {', '.join(INPUTS)}")
        current = self.grads[which]
        if index is None:
            self.grads[which] = current + g
            return
        cols = [index] if isinstance(index, int) else list(index)
        select = np.zeros((len(cols), current.shape[-1]), np.float64)  # a graph constant
        select[np.arange(len(cols)), cols] = 1.0
        rows = g[..., None] if isinstance(index, int) else g  # (B, J)
        self.grads[which] = current + rows @ torch.as_tensor(select, dtype=current.dtype)

    # ---- routes from what critics read (next_obs quantities) to the observation -----------
    def joint_pos(self, joint: str, g: torch.Tensor) -> None:
        """``g (B,)``: derivative w.r.t. the raw position of ``joint`` in ``next_obs``."""
        self.add("next_obs", g, self._need_layout().pos[joint])

    def joint_cos(self, joint: str, g: torch.Tensor) -> None:
        """``g (B,)`` w.r.t. ``cos`` of ``joint``'s angle in ``next_obs`` (observed as cos/sin,
        or through ``d cos(q) = -sin(q) dq`` from the raw angle)."""
        layout = self._need_layout()
        if joint in layout.cos:
            self.add("next_obs", g, layout.cos[joint])
        else:
            q = self._next_obs[..., layout.pos[joint]]
            self.add("next_obs", -g * q.sin(), layout.pos[joint])

    def joint_sin(self, joint: str, g: torch.Tensor) -> None:
        """``g (B,)`` w.r.t. ``sin`` of ``joint``'s angle in ``next_obs`` (as :meth:`joint_cos`)."""
        layout = self._need_layout()
        if joint in layout.sin:
            self.add("next_obs", g, layout.sin[joint])
        else:
            q = self._next_obs[..., layout.pos[joint]]
            self.add("next_obs", g * q.cos(), layout.pos[joint])

    def point(self, name: str, g: torch.Tensor) -> None:
        """``g (B, 3)`` w.r.t. point ``name`` of ``next_obs``: onto its columns when observed,
        else through its kinematic model's declared derivative. ``ValueError`` when the model
        declares none (critics check :func:`point_differentiable` at load)."""
        layout = self._need_layout()
        if name in layout.point_at:
            i = layout.point_at[name]
            self.add("next_obs", g, [i, i + 1, i + 2])
            return
        spec = layout.points[name]
        vjp = point_vjp(spec)
        if vjp is None:
            raise ValueError(f"point {name!r}: its kinematics declare no derivative")
        for joint, parts in zip(spec.joints, vjp(g, spec.params)):
            for quantity, value in parts.items():
                {"pos": self.joint_pos, "cos": self.joint_cos, "sin": self.joint_sin}[quantity](
                    joint, value
                )

    def _need_layout(self) -> ObsLayout:
        if self._layout is None:
            raise ValueError("this task has no observation layout: add raw-index gradients only")
        return self._layout


def point_vjp(spec: Any) -> Any:
    """The declared derivative of a computed point (a :class:`~mbrl_control.tasks.layout
    .PointSpec`), or None: URDF link points and FK models without ``torch_vjp``."""
    if spec.chain is not None:
        return None
    from mbrl_control.tasks.kinematics import FK_MODELS

    return FK_MODELS[spec.fk].torch_vjp


def point_differentiable(layout: ObsLayout, name: str) -> bool:
    """Whether a critic on point ``name`` can declare its derivative: the point is observed
    or its kinematics declare one."""
    return name in layout.point_at or point_vjp(layout.points[name]) is not None
