"""Named forward-kinematics models: a point ``(3,)`` (m, robot base frame) from joint positions.

A task file names one of :data:`FK_MODELS` for each point it observes or costs (``points:``).
Each model has a numpy form (joint positions -> point, used for observations) and a torch form
(per-joint cos/sin/position tensors -> points ``(B, 3)``, used inside the planner graph, so a
continuous joint observed as cos/sin needs no angle). Points on URDF links:
:mod:`mbrl_control.tasks.urdf_kinematics`.

Panda: modified (Craig) DH parameters of the Franka datasheet; the point is the grasp point
between the fingertips (``panda_grasptarget`` in pybullet_data's URDF), 0.212 m beyond the
flange along its z axis. Cart-pole: the pole tip in the rail frame (x along the rail, z up,
origin at the hinge with the cart at the rail centre), pole angle 0 upright.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

# Modified (Craig) DH parameters of Panda joints 1..7: a_{i-1} (m), d_i (m), alpha_{i-1} (rad).
DH_A = (0.0, 0.0, 0.0, 0.0825, -0.0825, 0.0, 0.088)
DH_D = (0.333, 0.0, 0.316, 0.0, 0.384, 0.0, 0.0)
DH_ALPHA = (0.0, -np.pi / 2, np.pi / 2, np.pi / 2, -np.pi / 2, np.pi / 2, np.pi / 2)
EE_OFFSET = 0.107 + 0.105
"""Flange (0.107 m past joint 7) plus hand-to-grasp-point (0.105 m), along the flange z (m)."""

_COS_ALPHA = np.cos(DH_ALPHA)
_SIN_ALPHA = np.sin(DH_ALPHA)


class JointTensors(Protocol):
    """One joint's quantities in a batch, each ``(B,)``: ``pos`` (m or rad; absent for a joint
    observed only as cos/sin), ``cos`` and ``sin`` of its angle."""

    @property
    def pos(self) -> torch.Tensor: ...
    @property
    def cos(self) -> torch.Tensor: ...
    @property
    def sin(self) -> torch.Tensor: ...


def panda_forward_kinematics(q: np.ndarray) -> np.ndarray:
    """Panda grasp point ``(3,)`` (m, base frame) for joint positions ``q (7,)`` (rad)."""
    t = np.eye(4)
    for i in range(7):
        ct, st = np.cos(q[i]), np.sin(q[i])
        ca, sa = _COS_ALPHA[i], _SIN_ALPHA[i]
        # RotX(alpha_{i-1}) TransX(a_{i-1}) RotZ(q_i) TransZ(d_i)
        link = np.array(
            [
                [ct, -st, 0.0, DH_A[i]],
                [st * ca, ct * ca, -sa, -sa * DH_D[i]],
                [st * sa, ct * sa, ca, ca * DH_D[i]],
                [0.0, 0.0, 0.0, 1.0],
            ]
        )
        t = t @ link
    return t[:3, 3] + EE_OFFSET * t[:3, 2]


def _panda_torch(joints: Sequence[JointTensors], params: Mapping[str, float]) -> torch.Tensor:
    import torch

    t = None
    for i, j in enumerate(joints):
        ct, st = j.cos, j.sin  # (B,)
        ca, sa = float(_COS_ALPHA[i]), float(_SIN_ALPHA[i])
        zero = torch.zeros_like(ct)
        rows = (
            (ct, -st, zero, zero + DH_A[i]),
            (st * ca, ct * ca, zero - sa, zero - sa * DH_D[i]),
            (st * sa, ct * sa, zero + ca, zero + ca * DH_D[i]),
            (zero, zero, zero, zero + 1.0),
        )
        link = torch.stack([torch.stack(r, -1) for r in rows], -2)  # (B, 4, 4)
        t = link if t is None else t @ link
    assert t is not None
    return t[..., :3, 3] + EE_OFFSET * t[..., :3, 2]  # (B, 3)


def _panda_np(q: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
    return panda_forward_kinematics(q)


def _cartpole_np(q: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
    x, theta = q
    length = params["length"]
    return np.array([x + length * np.sin(theta), 0.0, length * np.cos(theta)])


def _cartpole_torch(joints: Sequence[JointTensors], params: Mapping[str, float]) -> torch.Tensor:
    import torch

    cart, pole = joints
    length = params["length"]
    x = cart.pos  # (B,)
    tip_x = x + length * pole.sin
    tip_z = length * pole.cos
    return torch.stack([tip_x, torch.zeros_like(tip_x), tip_z], -1)  # (B, 3)


def _cartpole_vjp(g: torch.Tensor, params: Mapping[str, float]) -> list[dict[str, Any]]:
    """Derivative of :func:`_cartpole_torch`: ``g (B, 3)`` on the tip -> per joint, the
    gradient of the quantities it reads (cart ``pos``; pole ``sin``, ``cos``)."""
    length = params["length"]
    return [{"pos": g[..., 0]}, {"sin": length * g[..., 0], "cos": length * g[..., 2]}]


@dataclass(frozen=True)
class FKModel:
    """A named kinematic chain: the joint types it expects (in order) and its parameters."""

    joint_types: tuple[str, ...]
    """``prismatic`` or ``revolute`` per joint (a continuous joint counts as revolute)."""
    params: Mapping[str, float]
    """Parameter name -> default (``None``: required)."""
    numpy_fn: Callable[[np.ndarray, Mapping[str, float]], np.ndarray]
    torch_fn: Callable[[Sequence[JointTensors], Mapping[str, float]], Any]
    doc: str
    torch_vjp: Callable[[Any, Mapping[str, float]], list[dict[str, Any]]] | None = None
    """Declared derivative (gradient-refined planning): ``(g (B, 3), params) ->`` one dict
    per joint mapping ``pos``/``cos``/``sin`` to its gradient ``(B,)``; None: not declared."""


FK_MODELS: dict[str, FKModel] = {
    "panda_grasp_point": FKModel(
        joint_types=("revolute",) * 7,
        params={},
        numpy_fn=_panda_np,
        torch_fn=_panda_torch,
        doc="Franka Panda grasp point (DH, datasheet), joints 1..7",
    ),
    "cartpole_pole_tip": FKModel(
        joint_types=("prismatic", "revolute"),
        params={"length": None},
        numpy_fn=_cartpole_np,
        torch_fn=_cartpole_torch,
        torch_vjp=_cartpole_vjp,
        doc="tip of a pole of `length` (m) hinged on a cart: joints [cart slider, pole hinge]",
    ),
}
