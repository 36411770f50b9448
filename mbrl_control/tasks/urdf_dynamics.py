"""Mechanical energy of a URDF robot from its joint positions and velocities, numpy and torch.

A :class:`MassLink` is one link with mass: its :class:`~mbrl_control.tasks.urdf_kinematics.
UrdfChain` from the root link, its mass m (kg), centre of mass c (3,) and inertia I (3, 3)
about the centre of mass, both in the link frame (the URDF's ``<inertial>`` origin, rpy
included, folded in: ``I_link = R_o I_urdf R_oᵀ``). For a task's positions q and velocities q̇:

- potential ``V = Σ m g z_com`` (gravity ``g`` along −z of the task frame);
- kinetic ``T = Σ ½ m |v_com|² + ½ ωᵀ (R I Rᵀ) ω``, with the link's velocities from the
  chain's geometric Jacobian (e.g. Featherstone, *Rigid Body Dynamics Algorithms*, 2008,
  §2.9/§4.1; Spong, Hutchinson & Vidyasagar, *Robot Modeling and Control*, 2006, §4.6):
  for every step of the chain with world axis a and origin o, revolute
  ``v += a × (p_com − o) q̇ₛ``, ``ω += a q̇ₛ``; prismatic ``v += a q̇ₛ``; ``q̇ₛ = multiplier ·
  q̇[joint]`` (a mimic joint follows its parent).

``T = ½ q̇ᵀ M(q) q̇`` with M the joint-space mass matrix; tests/tasks/test_mechanical_energy.py
checks both against PyBullet. The torch form uses sin/cos and elementwise ops (no batched MatMul) on
tensors of any leading shape (ONNX-exportable inside the planner graph).

:meth:`MassLink.to_data`/:meth:`MassLink.from_data` carry the numbers in a task's definition,
so an exported planner rebuilds the energy without the URDF.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mbrl_control.tasks import schema as s
from mbrl_control.tasks.schema import TaskFileError
from mbrl_control.tasks.urdf_kinematics import UrdfChain, build_chain, mat_vec
from mbrl_control.tasks.urdf_model import UrdfTree, pose_matrix

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class MassLink:
    """One link with mass; see the module doc."""

    link: str
    mass: float
    com: np.ndarray
    """(3,) m, in the link frame."""
    inertia: np.ndarray
    """(3, 3) kg·m², about the centre of mass, in the link frame's axes."""
    chain: UrdfChain
    """Root link -> ``link`` (offset zero)."""

    def to_data(self) -> dict[str, Any]:
        """JSON-safe: ``{link, mass, com, inertia (9, row-major), chain}``."""
        return {
            "link": self.link,
            "mass": float(self.mass),
            "com": [float(v) for v in self.com],
            "inertia": [float(v) for v in self.inertia.reshape(-1)],
            "chain": self.chain.to_data(),
        }

    @staticmethod
    def from_data(value: Any, where: str, joints: Sequence[str]) -> MassLink:
        """Inverse of :meth:`to_data`; raises :class:`TaskFileError` naming ``where``."""
        m = s.keys(value, where, ("link", "mass", "com", "inertia", "chain"))
        link = s.string(m["link"], f"{where}.link")
        return MassLink(
            link,
            s.number(m["mass"], f"{where}.mass", low=0.0, strict_low=True),
            np.asarray(s.numbers(m["com"], f"{where}.com", 3)),
            np.asarray(s.numbers(m["inertia"], f"{where}.inertia", 9)).reshape(3, 3),
            UrdfChain.from_data(m["chain"], link, (0.0, 0.0, 0.0), f"{where}.chain", joints),
        )


def inertial_origins(urdf_text: str) -> dict[str, np.ndarray]:
    """Link name -> (4, 4) pose of its ``<inertial><origin xyz rpy>`` in the link frame
    (identity when absent), read from the URDF's XML."""
    out: dict[str, np.ndarray] = {}
    for el in ET.fromstring(urdf_text).findall("link"):
        origin = el.find("inertial/origin")
        if origin is None:
            continue
        try:
            xyz = [float(v) for v in origin.get("xyz", "0 0 0").split()]
            rpy = [float(v) for v in origin.get("rpy", "0 0 0").split()]
            if len(xyz) != 3 or len(rpy) != 3:
                raise ValueError
            out[str(el.get("name"))] = pose_matrix(xyz, rpy)
        except ValueError:
            raise TaskFileError(
                f"link {el.get('name')!r}: inertial origin xyz={origin.get('xyz')!r} "
                f"rpy={origin.get('rpy')!r}: expected 3 numbers each"
            ) from None
    return out


def chain_drivers(tree: UrdfTree, link: str) -> list[str]:
    """The joints whose positions move ``link``: each movable joint on its chain, a mimic
    joint replaced by its parent; distinct, root first."""
    out = [j.name if j.mimic is None else j.mimic.joint for j in tree.chain(link) if j.movable]
    return list(dict.fromkeys(out))


def build_mass_links(
    tree: UrdfTree,
    urdf_text: str,
    joints: Collection[str] | None,
    task_joints: Mapping[str, Any],
    where: str,
    urdf: str | None = None,
) -> tuple[MassLink, ...]:
    """Every link with mass > 0 moved by one of ``joints`` (None: by any joint), in file
    order. Raises :class:`TaskFileError` (naming ``where``) when a joint on such a link's chain
    is not a task joint, is not in ``joints`` (when given), or when there is no such link."""
    try:
        origins = inertial_origins(urdf_text)
    except TaskFileError as e:
        raise TaskFileError(f"{where}: the URDF {urdf}: {e}") from None
    out = []
    for name, link in tree.links.items():
        if link.mass is None or not link.mass > 0:
            continue
        drivers = chain_drivers(tree, name)
        if not drivers or (joints is not None and not set(drivers) & set(joints)):
            continue
        if joints is not None and not set(drivers) <= set(joints):
            missing = [d for d in drivers if d not in joints]
            raise TaskFileError(
                f"{where}.joints: joint(s) {missing} also move link {name!r} (on its chain); "
                "add them"
            )
        chain = build_chain(tree, name, (0.0, 0.0, 0.0), task_joints, where, urdf)
        t = origins.get(name, np.eye(4))
        inertia = np.zeros((3, 3)) if link.inertia is None else link.inertia
        out.append(
            MassLink(name, float(link.mass), t[:3, 3], t[:3, :3] @ inertia @ t[:3, :3].T, chain)
        )
    if not out:
        raise TaskFileError(
            f"{where}: no link with mass is moved by "
            + ("the task's joints" if joints is None else f"joints {sorted(joints)}")
            + f" in the URDF {urdf}"
        )
    return tuple(out)


def numpy_energy(
    links: Sequence[MassLink],
    q: Mapping[str, float],
    qd: Mapping[str, float],
    gravity: float,
    base: np.ndarray | None = None,
) -> tuple[float, float]:
    """Kinetic and potential energy ``(T, V)`` (J) at positions ``q`` and velocities ``qd``
    (task joint name -> m or rad, m/s or rad/s), the root link placed by ``base`` (4, 4)."""
    kinetic = potential = 0.0
    for b in links:
        frames, t = b.chain.numpy_frames(q, base)
        p = t[:3, :3] @ b.com + t[:3, 3]
        v, w = np.zeros(3), np.zeros(3)
        for st, (a, o) in zip(b.chain.steps, frames):
            rate = st.multiplier * float(qd[st.joint])
            if st.motion == "revolute":
                v += np.cross(a, p - o) * rate
                w += a * rate
            else:
                v += a * rate
        wl = t[:3, :3].T @ w
        kinetic += 0.5 * b.mass * float(v @ v) + 0.5 * float(wl @ b.inertia @ wl)
        potential += b.mass * gravity * float(p[2])
    return kinetic, potential


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a × b`` over the last axis (broadcast), from elementwise ops (ONNX has no cross)."""
    import torch

    a, b = torch.broadcast_tensors(a, b)
    return torch.stack(
        (
            a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
            a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
            a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
        ),
        -1,
    )


def torch_energy(
    links: Sequence[MassLink],
    joints: Mapping[str, Any],
    qd: Mapping[str, torch.Tensor],
    gravity: float,
    base: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch form of :func:`numpy_energy`: ``joints[name]`` lazy joint tensors (as
    :meth:`~mbrl_control.tasks.urdf_kinematics.UrdfChain.torch_frames`), ``qd[name]``
    velocities ``(...)``; returns ``(T, V)``, each ``(...)``."""
    import torch

    kinetic: Any = 0.0
    potential: Any = 0.0
    for b in links:
        frames, rot, pos = b.chain.torch_frames(joints, base)
        dtype = pos.dtype
        p = pos + mat_vec(rot, torch.as_tensor(b.com, dtype=dtype))  # (..., 3)
        v: Any = 0.0
        w: Any = None
        for st, (a, o) in zip(b.chain.steps, frames):
            rate = qd[st.joint][..., None]
            if st.multiplier != 1.0:
                rate = rate * st.multiplier
            if st.motion == "revolute":
                v = v + _cross(a, p - o) * rate
                w = a * rate if w is None else w + a * rate
            else:
                v = v + a * rate
        kinetic = kinetic + 0.5 * b.mass * (v * v).sum(-1)
        if w is not None:
            wl = mat_vec(rot.transpose(-1, -2), w)  # Rᵀω: (..., 3)
            iw = mat_vec(torch.as_tensor(b.inertia, dtype=dtype), wl)  # I wl (I symmetric)
            kinetic = kinetic + 0.5 * (wl * iw).sum(-1)
        potential = potential + b.mass * gravity * p[..., 2]
    return kinetic, potential
