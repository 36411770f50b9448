"""The critic library: parameterized cost terms a task file composes with weights.

Each entry of a task file's ``critics:`` list is ``{name, kind, weight, <kind's keys>}``. The
kind's builder checks its keys against the task's :class:`~mbrl_control.tasks.layout.ObsLayout`
at load and returns a :class:`Term`: a pure torch function ``Features -> (B,)`` that is traced
into the planner graph like any hand-written critic, and its declared derivative (for
gradient-refined planning, :mod:`mbrl_control.tasks.cost_gradient`; every kind but
``mechanical_energy``, and point kinds only on a differentiable point). Terms are unweighted
and of order 1 where they can be (saturating kernels, fractions of bounds); the weight scales
them.

Kinds (keys beyond ``name``/``kind``/``weight``; see docs/task_files.md):

- ``link_target``: ``point``, ``target`` (``goal`` or ``[x, y, z]`` m), ``kernel``
  (``distance``: d (m); ``squared``: d²; ``saturating``: 1 - exp(-d²/scale²)), ``scale`` (m).
- ``link_height``: ``point``, ``target`` (m), ``kernel`` (as ``link_target``, or ``below``:
  max(0, target - z)²), ``scale`` (m): the point's height z against a target (uprightness).
- ``joint_target``: ``joints``, ``target`` (per joint): sum of squared errors.
- ``joint_velocity``: ``joints``: sum of squared velocities.
- ``action_magnitude``: ``reduce`` (``sum`` | ``mean``) of (action / action_high)².
- ``action_rate``: ``reduce`` (``sum`` | ``mean``) of ((action - previous action) / half the
  action range)², the previous action read from the ``last_actions`` observation block of
  ``obs`` (so a change of command is priced against what the robot was really sent, also
  across planner ticks; needs ``{feature: last_actions, steps: k}``).
- ``rail``: ``joints``, ``limit`` (per joint or one number): sum of (|q| - limit)₊².
- ``workspace``: ``point``, ``low``/``high`` (xyz, m): squared distance of the point outside
  the box (0 inside).
- ``pendulum_energy``: ``joint``, ``rod_length`` (m), ``gravity`` (m/s²): energy shaping for
  swing-up of a uniform rod (angle 0 upright): ((e - e_up) / (2 e_up))², 0 with the upright
  energy, 1 hanging still.
- ``joint_limit_barrier``: ``joints``, ``low``/``high`` (default: the joints'
  ``position_range``), ``margin``: 0 inside ``margin`` of each half-range, 1 per joint at a limit.
- ``mechanical_energy``: ``joints`` (default: the task joints that move links with mass),
  ``target_position`` (per joint), ``scale`` (J), ``gravity`` (m/s²): energy shaping for
  swing-up of any URDF robot, ((T + V - E_target) / scale)² with T, V the kinetic and
  potential energy of every link with mass moved by ``joints`` (from the URDF's inertials,
  :mod:`mbrl_control.tasks.urdf_dynamics`) and E_target = V(target_position) at rest; the
  links' numbers are written into the entry at load (``links``) so a planner file rebuilds
  it without the URDF.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mbrl_control.tasks import schema as s
from mbrl_control.tasks.base import Critic, CriticGrad
from mbrl_control.tasks.cost_gradient import point_differentiable
from mbrl_control.tasks.layout import Features, ObsLayout

if TYPE_CHECKING:
    import torch

CriticFn = Callable[[Features], "torch.Tensor"]


@dataclass(frozen=True)
class Term:
    """What a kind's builder returns: the term and its declared derivative (None: none)."""

    fn: CriticFn
    grad: CriticGrad | None = None


COMMON_KEYS = ("name", "kind", "weight")
KERNELS = ("distance", "squared", "saturating")
HEIGHT_KERNELS = (*KERNELS, "below")
REDUCTIONS = ("sum", "mean")


@dataclass(frozen=True)
class Context:
    """What a critic builder may reference besides the observation layout."""

    layout: ObsLayout
    action_high: tuple[float, ...]
    goal_dim: int
    urdf_tree: Any = None
    """The URDF's :class:`~mbrl_control.tasks.urdf_model.UrdfTree` when the task read it."""
    urdf_text: str | None = None
    """The URDF's XML (made loadable) when the task read it."""
    urdf: str | None = None
    """``robot.urdf`` as written (for messages)."""
    base: Any = None
    """(4, 4) ``robot.base_pose`` (None: identity)."""
    action_low: tuple[float, ...] | None = None
    """Action lower bounds (None: ``-action_high``)."""


def _take(obs: torch.Tensor, idx: Sequence[int]) -> torch.Tensor:
    """``obs[..., idx]`` ``(B, len(idx))``, as a slice when the indices are contiguous."""
    if list(idx) == list(range(idx[0], idx[0] + len(idx))):
        return obs[..., idx[0] : idx[0] + len(idx)]
    return obs[..., list(idx)]


def _sum(terms: list[torch.Tensor]) -> torch.Tensor:
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


def _joint_list(m: Mapping[str, Any], where: str, ctx: Context) -> list[str]:
    if "joints" not in m:
        return list(ctx.layout.joints)
    return s.names(m["joints"], f"{where}.joints", list(ctx.layout.joints))


# ---- builders: (params, where, ctx) -> fn -------------------------------------------------
def _link_target(m: Mapping[str, Any], where: str, ctx: Context) -> Term:
    point = m["point"]
    ctx.layout.need_point(point, f"{where}.point")
    kernel = s.choice(m.get("kernel", "distance"), f"{where}.kernel", KERNELS)
    scale = s.number(m.get("scale", 1.0), f"{where}.scale", low=0.0, strict_low=True)
    if m["target"] == "goal":
        if ctx.goal_dim != 3:
            raise s.TaskFileError(
                f"{where}.target=goal needs a 3-d goal, the task's has {ctx.goal_dim}"
            )
        target = None
    else:
        target = s.numbers(m["target"], f"{where}.target", 3)
    key = f"point:{point}"

    def fn(f: Features) -> torch.Tensor:
        import torch

        p = f[key]  # (B, 3)
        t = f["goal"] if target is None else torch.as_tensor(target, dtype=p.dtype)
        d2 = (p - t).square().sum(-1)  # (B,)
        if kernel == "squared":
            return d2
        if kernel == "saturating":
            return 1.0 - (-d2 / scale**2).exp()
        return d2.clamp(min=1e-12).sqrt()

    def grad(f: Features, w: torch.Tensor, acc: Any) -> None:
        import torch

        p = f[key]
        t = f["goal"] if target is None else torch.as_tensor(target, dtype=p.dtype)
        diff = p - t  # (B, 3)
        d2 = diff.square().sum(-1)
        if kernel == "squared":
            dd2 = torch.ones_like(d2)
        elif kernel == "saturating":
            dd2 = (-d2 / scale**2).exp() / scale**2
        else:  # d sqrt(max(d2, eps)) / d d2, 0 where clamped (as autograd)
            dd2 = torch.where(d2 >= 1e-12, 0.5 / d2.clamp(min=1e-12).sqrt(), torch.zeros_like(d2))
        acc.point(point, (w * dd2 * 2.0)[..., None] * diff)

    return Term(fn, grad if point_differentiable(ctx.layout, point) else None)


def _link_height(m: Mapping[str, Any], where: str, ctx: Context) -> Term:
    point = m["point"]
    ctx.layout.need_point(point, f"{where}.point")
    target = s.number(m["target"], f"{where}.target")
    kernel = s.choice(m.get("kernel", "distance"), f"{where}.kernel", HEIGHT_KERNELS)
    scale = s.number(m.get("scale", 1.0), f"{where}.scale", low=0.0, strict_low=True)
    key = f"point:{point}"

    def fn(f: Features) -> torch.Tensor:
        dz = f[key][..., 2] - target  # (B,) m
        if kernel == "below":
            return (-dz).clamp(min=0.0).square()
        if kernel == "squared":
            return dz.square()
        if kernel == "saturating":
            return 1.0 - (-dz.square() / scale**2).exp()
        return dz.abs()

    def grad(f: Features, w: torch.Tensor, acc: Any) -> None:
        import torch

        p = f[key]
        dz = p[..., 2] - target
        if kernel == "below":
            ddz = -2.0 * (-dz).clamp(min=0.0)
        elif kernel == "squared":
            ddz = 2.0 * dz
        elif kernel == "saturating":
            ddz = (-dz.square() / scale**2).exp() * 2.0 * dz / scale**2
        else:
            ddz = dz.sign()
        zero = torch.zeros_like(dz)
        acc.point(point, torch.stack([zero, zero, w * ddz], -1))

    return Term(fn, grad if point_differentiable(ctx.layout, point) else None)


def _joint_target(m: Mapping[str, Any], where: str, ctx: Context) -> Term:
    joints = _joint_list(m, where, ctx)
    idx = [ctx.layout.need_pos(j, f"{where}.joints") for j in joints]
    target = s.numbers(m["target"], f"{where}.target", len(joints))

    def fn(f: Features) -> torch.Tensor:
        import torch

        q = _take(f["next_obs"], idx)  # (B, J)
        return (q - torch.as_tensor(target, dtype=q.dtype)).square().sum(-1)

    def grad(f: Features, w: torch.Tensor, acc: Any) -> None:
        import torch

        q = _take(f["next_obs"], idx)
        acc.add("next_obs", w[..., None] * 2.0 * (q - torch.as_tensor(target, dtype=q.dtype)), idx)

    return Term(fn, grad)


def _joint_velocity(m: Mapping[str, Any], where: str, ctx: Context) -> Term:
    joints = _joint_list(m, where, ctx)
    idx = [ctx.layout.need_vel(j, f"{where}.joints") for j in joints]

    def grad(f: Features, w: torch.Tensor, acc: Any) -> None:
        acc.add("next_obs", w[..., None] * 2.0 * _take(f["next_obs"], idx), idx)

    return Term(lambda f: _take(f["next_obs"], idx).square().sum(-1), grad)


def _action_magnitude(m: Mapping[str, Any], where: str, ctx: Context) -> Term:
    reduce = s.choice(m.get("reduce", "sum"), f"{where}.reduce", REDUCTIONS)
    high = ctx.action_high

    def fn(f: Features) -> torch.Tensor:
        import torch

        a = f["action"]  # (B, A)
        frac = (a / torch.as_tensor(high, dtype=a.dtype)).square()
        return frac.sum(-1) if reduce == "sum" else frac.mean(-1)

    def grad(f: Features, w: torch.Tensor, acc: Any) -> None:
        import torch

        a = f["action"]
        per = 1.0 if reduce == "sum" else 1.0 / a.shape[-1]
        squared = torch.as_tensor(high, dtype=a.dtype).square()
        acc.add("action", w[..., None] * (2.0 * per) * a / squared)

    return Term(fn, grad)


def _action_rate(m: Mapping[str, Any], where: str, ctx: Context) -> Term:
    reduce = s.choice(m.get("reduce", "sum"), f"{where}.reduce", REDUCTIONS)
    at = ctx.layout.need_history(where)
    high = np.asarray(ctx.action_high, np.float64)
    low = -high if ctx.action_low is None else np.asarray(ctx.action_low, np.float64)
    half = np.where(np.isfinite(high - low) & (high > low), (high - low) / 2, 1.0)
    n = len(high)

    def fn(f: Features) -> torch.Tensor:
        import torch

        a = f["action"]  # (B, A)
        previous = f["obs"][..., at : at + n]  # (B, A): the newest past action
        frac = ((a - previous) / torch.as_tensor(half, dtype=a.dtype)).square()
        return frac.sum(-1) if reduce == "sum" else frac.mean(-1)

    def grad(f: Features, w: torch.Tensor, acc: Any) -> None:
        import torch

        a = f["action"]
        per = 1.0 if reduce == "sum" else 1.0 / n
        change = (a - f["obs"][..., at : at + n]) / torch.as_tensor(half, dtype=a.dtype).square()
        g = w[..., None] * (2.0 * per) * change  # (B, A)
        acc.add("action", g)
        acc.add("obs", -g, list(range(at, at + n)))

    return Term(fn, grad)


def _rail(m: Mapping[str, Any], where: str, ctx: Context) -> Term:
    joints = s.names(m["joints"], f"{where}.joints", list(ctx.layout.joints))
    idx = [ctx.layout.need_pos(j, f"{where}.joints") for j in joints]
    limit = s.numbers(m["limit"], f"{where}.limit", len(joints), low=0.0)

    def fn(f: Features) -> torch.Tensor:
        obs = f["next_obs"]
        return _sum(
            [(obs[..., i].abs() - lim).clamp(min=0.0).square() for i, lim in zip(idx, limit)]
        )

    def grad(f: Features, w: torch.Tensor, acc: Any) -> None:
        obs = f["next_obs"]
        for i, lim in zip(idx, limit):
            q = obs[..., i]
            acc.add("next_obs", w * 2.0 * (q.abs() - lim).clamp(min=0.0) * q.sign(), i)

    return Term(fn, grad)


def _workspace(m: Mapping[str, Any], where: str, ctx: Context) -> Term:
    point = m["point"]
    ctx.layout.need_point(point, f"{where}.point")
    low = s.numbers(m["low"], f"{where}.low", 3)
    high = s.numbers(m["high"], f"{where}.high", 3)
    if not all(lo <= hi for lo, hi in zip(low, high)):
        raise s.TaskFileError(f"{where}: need low <= high per axis, got {low} and {high}")
    key = f"point:{point}"

    def fn(f: Features) -> torch.Tensor:
        import torch

        p = f[key]  # (B, 3)
        lo, hi = torch.as_tensor(low, dtype=p.dtype), torch.as_tensor(high, dtype=p.dtype)
        return ((lo - p).clamp(min=0.0) + (p - hi).clamp(min=0.0)).square().sum(-1)

    def grad(f: Features, w: torch.Tensor, acc: Any) -> None:
        import torch

        p = f[key]
        lo, hi = torch.as_tensor(low, dtype=p.dtype), torch.as_tensor(high, dtype=p.dtype)
        outside = (lo - p).clamp(min=0.0) + (p - hi).clamp(min=0.0)  # (B, 3)
        direction = (p > hi).to(p.dtype) - (p < lo).to(p.dtype)
        acc.point(point, w[..., None] * 2.0 * outside * direction)

    return Term(fn, grad if point_differentiable(ctx.layout, point) else None)


def _pendulum_energy(m: Mapping[str, Any], where: str, ctx: Context) -> Term:
    joint = m["joint"]
    ctx.layout.need_angle(joint, f"{where}.joint")
    vel = ctx.layout.need_vel(joint, f"{where}.joint")
    length = s.number(m["rod_length"], f"{where}.rod_length", low=0.0, strict_low=True)
    gravity = s.number(m.get("gravity", 9.81), f"{where}.gravity", low=0.0, strict_low=True)
    upright = gravity * length / 2.0  # J/kg at rest upright (uniform rod about its hinge)

    def fn(f: Features) -> torch.Tensor:
        cos_t = f.joint(joint).cos
        # rod about its hinge: I/m = l²/3, centre of mass at l/2
        energy = length**2 / 6.0 * f["next_obs"][..., vel].square() + upright * cos_t
        return ((energy - upright) / (2.0 * upright)).square()

    def grad(f: Features, w: torch.Tensor, acc: Any) -> None:
        speed = f["next_obs"][..., vel]
        energy = length**2 / 6.0 * speed.square() + upright * f.joint(joint).cos
        de = w * 2.0 * (energy - upright) / (2.0 * upright) ** 2  # d term / d energy
        acc.add("next_obs", de * (length**2 / 3.0) * speed, vel)
        acc.joint_cos(joint, de * upright)

    return Term(fn, grad)


def _mechanical_energy(m: Mapping[str, Any], where: str, ctx: Context) -> Term:
    from mbrl_control.tasks import urdf_dynamics as ud

    lay = ctx.layout
    given = _joint_list(m, where, ctx) if "joints" in m else None
    if "links" in m:  # written at an earlier load: no URDF needed
        items = s.seq(m["links"], f"{where}.links")
        links = tuple(
            ud.MassLink.from_data(e, f"{where}.links[{i}]", list(lay.joints))
            for i, e in enumerate(items)
        )
        if not links:
            raise s.TaskFileError(f"{where}.links: no link with mass")
    elif ctx.urdf_tree is None:
        raise s.TaskFileError(f"{where}: mechanical_energy needs robot.urdf (the links' masses)")
    else:
        links = ud.build_mass_links(
            ctx.urdf_tree, ctx.urdf_text or "", given, lay.joints, where, ctx.urdf
        )
        m["links"] = [b.to_data() for b in links]  # type: ignore[index]
    moved = {st.joint for b in links for st in b.chain.steps}
    joints = given if given is not None else [j for j in lay.joints if j in moved]
    for j in joints:
        if lay.joints[j].angular:
            lay.need_angle(j, f"{where}.joints")
        else:
            lay.need_pos(j, f"{where}.joints")
    vel = {j: lay.need_vel(j, f"{where}.joints") for j in joints}
    missing = sorted(moved - set(joints))
    if missing:
        raise s.TaskFileError(f"{where}.joints: joint(s) {missing} also move its links; add them")
    target_position = s.numbers(m["target_position"], f"{where}.target_position", len(joints))
    target = dict(zip(joints, target_position))
    gravity = s.number(m.get("gravity", 9.81), f"{where}.gravity", low=0.0, strict_low=True)
    rest = dict.fromkeys(joints, 0.0)
    e_target = ud.numpy_energy(links, target, rest, gravity, ctx.base)[1]
    if "scale" in m:
        scale = s.number(m["scale"], f"{where}.scale", low=0.0, strict_low=True)
    else:
        scale = abs(e_target - ud.numpy_energy(links, rest, rest, gravity, ctx.base)[1])
        if not scale > 1e-12:
            raise s.TaskFileError(
                f"{where}.scale: the default |V(target_position) - V(0)| is 0; give scale > 0"
            )

    def fn(f: Features) -> torch.Tensor:
        obs = f["next_obs"]
        qd = {j: obs[..., i] for j, i in vel.items()}
        kinetic, potential = ud.torch_energy(
            links, {j: f.joint(j) for j in joints}, qd, gravity, ctx.base
        )
        return ((kinetic + potential - e_target) / scale).square()

    return Term(fn)  # no declared derivative (the links' kinematics would need one)


def _joint_limit_barrier(m: Mapping[str, Any], where: str, ctx: Context) -> Term:
    joints = _joint_list(m, where, ctx)
    idx = [ctx.layout.need_pos(j, f"{where}.joints") for j in joints]
    ranges = [ctx.layout.joints[j].position_range for j in joints]
    low = np.asarray(
        s.numbers(m["low"], f"{where}.low", len(joints)) if "low" in m else [r[0] for r in ranges]
    )
    high = np.asarray(
        s.numbers(m["high"], f"{where}.high", len(joints))
        if "high" in m
        else [r[1] for r in ranges]
    )
    if not (np.isfinite(low).all() and np.isfinite(high).all() and (low < high).all()):
        raise s.TaskFileError(f"{where}: needs finite low < high per joint (give low/high)")
    margin = s.number(m.get("margin", 0.9), f"{where}.margin", low=0.0, high=1.0)
    if margin == 1.0:
        raise s.TaskFileError(f"{where}.margin=1.0 outside the allowed range [0.0, 1.0)")
    mid, half = (low + high) / 2, (high - low) / 2

    def fn(f: Features) -> torch.Tensor:
        import torch

        q = _take(f["next_obs"], idx)  # (B, J)
        frac = (
            (q - torch.as_tensor(mid, dtype=q.dtype)) / torch.as_tensor(half, dtype=q.dtype)
        ).abs()
        excess = (frac - margin).clamp(min=0.0) / (1.0 - margin)
        return excess.square().sum(-1)

    def grad(f: Features, w: torch.Tensor, acc: Any) -> None:
        import torch

        q = _take(f["next_obs"], idx)
        half_t = torch.as_tensor(half, dtype=q.dtype)
        centred = (q - torch.as_tensor(mid, dtype=q.dtype)) / half_t
        excess = (centred.abs() - margin).clamp(min=0.0) / (1.0 - margin)
        slope = 2.0 * excess / (1.0 - margin) * centred.sign() / half_t
        acc.add("next_obs", w[..., None] * slope, idx)

    return Term(fn, grad)


@dataclass(frozen=True)
class CriticKind:
    build: Callable[[Mapping[str, Any], str, Context], Term]
    required: tuple[str, ...]
    optional: tuple[str, ...]


CRITIC_KINDS: dict[str, CriticKind] = {
    "link_target": CriticKind(_link_target, ("point", "target"), ("kernel", "scale")),
    "link_height": CriticKind(_link_height, ("point", "target"), ("kernel", "scale")),
    "joint_target": CriticKind(_joint_target, ("target",), ("joints",)),
    "joint_velocity": CriticKind(_joint_velocity, (), ("joints",)),
    "action_magnitude": CriticKind(_action_magnitude, (), ("reduce",)),
    "action_rate": CriticKind(_action_rate, (), ("reduce",)),
    "rail": CriticKind(_rail, ("joints", "limit"), ()),
    "workspace": CriticKind(_workspace, ("point", "low", "high"), ()),
    "pendulum_energy": CriticKind(_pendulum_energy, ("joint", "rod_length"), ("gravity",)),
    "joint_limit_barrier": CriticKind(
        _joint_limit_barrier, (), ("joints", "low", "high", "margin")
    ),
    "mechanical_energy": CriticKind(
        _mechanical_energy, ("target_position",), ("joints", "scale", "gravity", "links")
    ),
}


def build_critic(value: Any, where: str, ctx: Context) -> Critic:
    """One ``critics:`` entry -> :class:`Critic`; raises :class:`TaskFileError` naming the key."""
    head = s.mapping(value, where)
    kind_name = s.choice(head.get("kind"), f"{where}.kind", sorted(CRITIC_KINDS))
    kind = CRITIC_KINDS[kind_name]
    m = s.keys(head, where, ("name", "kind", *kind.required), ("weight", *kind.optional))
    name = s.string(m["name"], f"{where}.name")
    weight = s.number(m.get("weight", 1.0), f"{where}.weight", low=0.0)
    term = kind.build(m, where, ctx)
    return Critic(name, term.fn, weight, term.grad)
