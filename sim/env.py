"""The gymnasium environment: a task's robot in PyBullet under domain randomization.

One control step: clip the action ``(A,)`` to the task bounds → action-delay buffer →
actuator gain → (maybe) a push → ``substeps`` calls of ``stepSimulation`` of one physics step
each (the control period, jittered, split evenly) → joint readings + noise →
``task.obs_from_joints`` (for a task with a ``last_actions`` block, with the last k clipped
commands: the commanded history, before delay and gain) → reward ``-task.cost``. All randomness
(the draw at reset and per-step noise, pushes and jitter) comes from ``self.np_random``, so a
seed fixes the episode bit for bit.

Units: every force the simulator sets or reports is a force/torque in N or N·m. The physics
step is taken one substep per ``stepSimulation`` call with PyBullet's own substepping off
(``numSubSteps=0``), so PyBullet's motor force limits and its reported applied joint torques
are per physics step, i.e. real forces (with ``numSubSteps > 1`` PyBullet scales both by the
control period and reports an impulse per substep: 1/substeps of the torque). It also leaves
no hidden time accumulator in Bullet, which ``restoreState`` cannot restore (see
:meth:`MbrlSimEnv.save_state`).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gymnasium
import numpy as np
from mbrl_sim.bullet import pb
from mbrl_sim.profiles import DRProfile, load_profile
from mbrl_sim.scenes import Scene, load_scene, set_mimic_joints
from mbrl_sim.step_cost import StepCost

from mbrl_control.tasks import Task, get_task
from mbrl_control.tasks.action_history import ActionHistory

log = logging.getLogger(__name__)


def task_profile(task: Task) -> str | Path:
    """The task's ``dr_profile``: a profile name, or a ``.yaml`` path relative to its file."""
    ref = getattr(task, "dr_profile", "default")
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") and not path.is_absolute() and hasattr(task, "path"):
        return task.path.parent / path
    return ref


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """``rng.uniform(low, high)`` bit for bit (numpy's formula: ``low + (high - low) * u``,
    u = ``rng.random()``) without its ~4 µs of per-call argument handling."""
    return low + (high - low) * rng.random()


@dataclass(frozen=True)
class SimState:
    """A snapshot for :meth:`MbrlSimEnv.restore_state`: everything a later step depends on.

    Bullet's bodies (:func:`pybullet.saveState`), the episode's draw and goal (re-applied
    when restoring into another episode), the step counter, the action-delay buffer and
    the realized command, the ``last_actions`` history ``(k·A,)`` (empty for k = 0), the
    last observation and measurement, and the generator state
    (noise, jitter and pushes ahead). Motor targets, friction motors and the physics step
    are re-issued by the next step, so they need no snapshot.
    """

    bullet_id: int
    steps: int
    delay: tuple[np.ndarray, ...]
    command: np.ndarray
    history: np.ndarray
    obs: np.ndarray
    measured: tuple[np.ndarray, np.ndarray, np.ndarray]
    rng_state: dict[str, Any]
    dr: dict[str, Any]
    goal: np.ndarray


class MbrlSimEnv(gymnasium.Env):
    """``task`` (a built-in name, a task-file path or a :class:`FileTask` with ``robot.urdf``)
    in PyBullet (scene from :func:`mbrl_sim.scenes.load_scene`), randomized by ``profile`` (a
    name, YAML path or :class:`DRProfile`; default: the task's ``dr_profile``) at each reset;
    initial states from ``task.sample_initial_state`` (or, for one episode, the
    ``reset(options={"initial_state": (positions, velocities)})`` given).

    Observation ``(O,)`` float32 and action ``(A,)`` float32 follow the task; for a task with
    a ``last_actions`` block (``task.action_history`` k > 0) every observation ends with the
    last k actions :meth:`step` applied, clipped to the bounds as commanded (before the
    delay and gain of the draw, so a delay is learnable from it), newest first; the safe
    action fills it after ``reset``. ``reset``
    returns ``info["dr"]`` (the draw) and ``info["goal"]`` (``(G,)`` list); ``step`` returns
    reward ``-cost`` and ``info["cost"]``, ``info["goal"]``, ``info["is_success"]`` and
    ``info["dt"]`` (the simulated control period in s: the task's, jittered by the draw).

    ``cost_backend`` (:data:`mbrl_sim.step_cost.BACKENDS`): how the reward's cost is evaluated:
    the task's torch cost traced once per process and run as straight-line Python
    (``python``, the default) or by onnxruntime, or ``task.cost`` itself every step
    (``torch``); see :mod:`mbrl_sim.step_cost`.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        task: str | Path | Task,
        profile: str | Path | DRProfile | None = None,
        seed: int | None = None,
        render_mode: str | None = None,
        image_size: tuple[int, int] = (320, 240),
        cost_backend: str = "python",
    ) -> None:
        self.task = get_task(task) if isinstance(task, (str, Path)) else task
        if profile is None:
            profile = task_profile(self.task)
        self.profile = profile if isinstance(profile, DRProfile) else load_profile(profile)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r}; allowed: None, 'rgb_array'")
        self.render_mode = render_mode
        self.image_size = image_size
        self.metadata = {**self.metadata, "render_fps": int(self.task.control_hz)}
        t = self.task
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (t.obs_dim,), np.float32)
        self.action_space = gymnasium.spaces.Box(t.low, t.high, dtype=np.float32)
        self.scene: Scene = load_scene(t)
        self._motor_force = list(self.scene.spec.max_force)  # (A,) N or N·m, motors
        # ---- per-step constants (the task's properties build new arrays on every read) ----
        self._low, self._high, self._dt = t.low, t.high, t.dt  # (A,), (A,) float32; s
        self._actuated = list(self.scene.actuated)
        self._effort_at = np.asarray(self.scene.actuated_pos, np.intp)  # (A,) into (J,)
        self._pristine = pb.saveState(physicsClientId=self.scene.client)
        self._cost = StepCost(t, backend=cost_backend)  # reward = -cost, critics' weights
        self._seed = seed
        self._dr: dict[str, Any] = {}
        self._goal = np.zeros(t.goal_dim, np.float32)
        self._steps = 0
        self._delay: deque[np.ndarray] = deque([t.safe_action], maxlen=1)
        self._gain = np.ones(t.act_dim)
        self._command = np.zeros(t.act_dim)
        self._history = ActionHistory(t.action_history, t.safe_action)  # (k, A) commanded
        self._period = -1.0  # control period (s) the physics step is currently set for
        self._obs = np.zeros(t.obs_dim, np.float32)
        self._measured = (np.zeros(len(t.joint_names)),) * 3

    # ---- properties other code reads ----------------------------------------------------
    @property
    def goal(self) -> np.ndarray:
        """This episode's goal ``(G,)`` float32 (empty for goal-free tasks)."""
        return self._goal

    @property
    def dr(self) -> dict[str, Any]:
        """This episode's randomization draw (JSON-serializable)."""
        return self._dr

    # ---- gymnasium API ----------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is None:  # the make_env seed seeds the first reset, once
            seed = self._seed
        self._seed = None  # an explicit seed also uses it up (else the next reset repeats it)
        super().reset(seed=seed)
        rng, sc, t = self.np_random, self.scene, self.task
        spec, c, body = sc.spec, sc.client, sc.body
        self._dr = self.profile.sample(
            rng,
            len(sc.links),
            np.asarray(spec.damping_ref),
            np.asarray(spec.friction_ref),
            t.act_dim,
            spec.push_ref,
        )
        self._goal = t.sample_goal(rng)
        self._cost.set_goal(self._goal)
        self._cost.prepare()  # the first reset compiles the cost, not the first step
        q0, qd0 = t.sample_initial_state(rng)  # drawn even when overridden: same DR stream
        if options and options.get("initial_state") is not None:
            q0, qd0 = self._initial_state_option(options["initial_state"])
        log.info("reset %s profile=%s dr=%s", t.name, self.profile.name, json.dumps(self._dr))

        # ---- physics: pristine state, then the draw ----
        pb.restoreState(self._pristine, physicsClientId=sc.client)
        self._apply_draw()
        for k, j in enumerate(sc.joints):
            pb.resetJointState(body, j, q0[k], qd0[k], physicsClientId=c)
        set_mimic_joints(sc)

        # ---- controller state ----
        self._steps = 0
        d = self._dr["action_delay"]
        self._delay = deque([t.safe_action] * (d + 1), maxlen=d + 1)
        self._command = np.zeros(t.act_dim)
        self._history.reset()
        self._obs = self._measure(acted=False)
        return self._obs.copy(), {"dr": self._dr, "goal": self._goal.tolist()}

    def _initial_state_option(self, value: Any) -> tuple[np.ndarray, np.ndarray]:
        """``reset(options={"initial_state": (positions (J,), velocities (J,))})``: this
        episode starts there (m or rad, m/s or rad/s; joints in ``task.joint_names`` order)
        instead of the task's ``initial_state`` draw. ``ValueError`` unless two finite
        ``(J,)`` vectors."""
        j = len(self.task.joint_names)
        try:
            q0, qd0 = (np.asarray(v, np.float64).reshape(-1) for v in value)
        except (TypeError, ValueError):
            q0 = qd0 = np.zeros(0)
        if q0.shape != (j,) or qd0.shape != (j,) or not np.isfinite([*q0, *qd0]).all():
            raise ValueError(
                f"reset option initial_state must be (positions, velocities), {j} finite values "
                f"each for joints {list(self.task.joint_names)}, got {value!r}"
            )
        return q0, qd0

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        t, rng, dr = self.task, self.np_random, self._dr
        a = np.asarray(action, np.float32).reshape(t.act_dim)
        a = np.minimum(np.maximum(a, self._low), self._high)  # np.clip, without its overhead
        self._delay.append(a)
        self._history.push(a)  # the command as sent, not the delayed one
        self._command = self._gain * self._delay[0]  # (A,) after delay and gain

        # ---- control period, disturbance, actuate and simulate ----
        period = self._dt
        if dr["control_jitter"] > 0:
            j = dr["control_jitter"]
            period = self._dt * _uniform(rng, 1 - j, 1 + j)
        push = None
        if dr["push_prob"] > 0 and rng.random() < dr["push_prob"]:
            push = self._push_vector(_uniform(rng, 0.0, 2 * np.pi))
        self.simulate(self._command, period, push)
        self._steps += 1

        # ---- observe and score ----
        obs = self._measure()
        cost = self._cost(self._obs, a, obs)
        self._obs = obs
        info = {
            "cost": cost,
            "goal": self._goal.tolist(),
            "is_success": t.is_success(obs, self._goal),
            "dt": float(period),
        }
        return obs.copy(), -cost, False, self._steps >= t.episode_steps, info

    def render(self) -> np.ndarray | None:
        """``(H, W, 3)`` uint8 from PyBullet's TinyRenderer (works headless), or None."""
        if self.render_mode != "rgb_array":
            return None
        w, h = self.image_size
        dist, yaw, pitch, target = self.scene.camera
        c = self.scene.client
        view = pb.computeViewMatrixFromYawPitchRoll(target, dist, yaw, pitch, 0, 2, c)
        proj = pb.computeProjectionMatrixFOV(60, w / h, 0.05, 20.0, physicsClientId=c)
        img = pb.getCameraImage(w, h, view, proj, renderer=pb.ER_TINY_RENDERER, physicsClientId=c)[
            2
        ]
        return np.asarray(img, np.uint8).reshape(h, w, 4)[..., :3].copy()

    def close(self) -> None:
        if pb.isConnected(self.scene.client):
            pb.disconnect(self.scene.client)

    # ---- ROS sim_node and oracle-planner API --------------------------------------------
    def apply_action(
        self, action: np.ndarray
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Same as :meth:`step` (the name the ROS ``sim_node`` uses)."""
        return self.step(action)

    def joint_state(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Names (``task.joint_names``), positions, velocities, efforts, each ``(J,)``.

        Positions and velocities are the measurement behind the last observation (with
        its noise); efforts are the realized commands of effort-commanded joints and the
        applied joint torques of the others (motors, friction; N or N·m).
        """
        pos, vel, eff = self._measured
        return list(self.task.joint_names), pos.copy(), vel.copy(), eff.copy()

    def save_state(self) -> SimState:
        """Snapshot everything later steps depend on (see :class:`SimState`); free it with
        :meth:`free_state`. Restoring replays the same actions bit for bit."""
        return SimState(
            bullet_id=pb.saveState(physicsClientId=self.scene.client),
            steps=self._steps,
            delay=tuple(x.copy() for x in self._delay),
            command=self._command.copy(),
            history=self._history.flat,
            obs=self._obs.copy(),
            measured=tuple(x.copy() for x in self._measured),
            rng_state=self.np_random.bit_generator.state,
            dr=self._dr,
            goal=self._goal.copy(),
        )

    def restore_state(self, state: SimState) -> None:
        """Return to ``state``, also from a later episode (its draw and goal come back)."""
        pb.restoreState(state.bullet_id, physicsClientId=self.scene.client)
        if state.dr is not self._dr:
            self._dr = state.dr
            self._apply_draw()
        self._goal = state.goal.copy()
        self._cost.set_goal(self._goal)
        self._steps = state.steps
        self._delay = deque((x.copy() for x in state.delay), maxlen=len(state.delay))
        self._command = state.command.copy()
        self._history.set_flat(state.history)
        self._obs = state.obs.copy()
        self._measured = tuple(x.copy() for x in state.measured)
        self.np_random.bit_generator.state = state.rng_state
        self._period = -1.0  # re-issue the physics step and friction motors

    def free_state(self, state: SimState) -> None:
        """Release the PyBullet memory held by ``state``."""
        pb.removeState(state.bullet_id, physicsClientId=self.scene.client)

    def set_draw(self, draw: dict[str, Any]) -> None:
        """Put an explicit randomization draw on the bodies, in place of this episode's.

        ``draw`` has the keys and units of :meth:`DRProfile.sample`'s dict (absolute damping
        and friction per joint, per-link scales, per-actuator gain...; e.g. the draw of a
        point profile). Masses, inertias, contact friction, damping, gain and joint friction
        are set as at :meth:`reset`, and the action-delay buffer is refilled with the safe
        action for the draw's delay. Joint states, goal, step counter and generator are left
        as they are. Raises ``ValueError`` naming missing keys or a list of the wrong length.
        """
        need = DRProfile.names()  # a draw has one entry per profile parameter
        missing = sorted(set(need) - set(draw))
        if missing:
            raise ValueError(f"draw lacks key(s) {missing}; need {sorted(need)}")
        sc, t = self.scene, self.task
        sizes = {
            "mass_scale": len(sc.links),
            "inertia_scale": len(sc.links),
            "joint_damping": len(sc.joints),
            "joint_friction": len(sc.joints),
            "actuator_gain": t.act_dim,
        }
        for key, n in sizes.items():
            if len(draw[key]) != n:
                raise ValueError(f"draw[{key!r}] has {len(draw[key])} values; need {n}")
        self._dr = dict(draw)
        self._apply_draw()
        d = int(self._dr["action_delay"])
        self._delay = deque([t.safe_action] * (d + 1), maxlen=d + 1)

    def set_joint_state(self, position: np.ndarray, velocity: np.ndarray) -> None:
        """Set the joints ``(J,)`` each (``task.joint_names`` order; m or rad, m/s or rad/s)
        without noise or any other change; mimic joints follow their leaders."""
        sc = self.scene
        for k, j in enumerate(sc.joints):
            pb.resetJointState(
                sc.body, j, float(position[k]), float(velocity[k]), physicsClientId=sc.client
            )
        set_mimic_joints(sc)

    def physical_joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """The joints' true positions and velocities ``(J,)`` each, as PyBullet has them now
        (no sensor noise; :meth:`joint_state` gives the noisy measurement)."""
        sc = self.scene
        states = pb.getJointStates(sc.body, sc.joints, physicsClientId=sc.client)
        return np.array([s[0] for s in states]), np.array([s[1] for s in states])

    def simulate(
        self, command: np.ndarray, period: float | None = None, push: np.ndarray | None = None
    ) -> None:
        """Apply ``command`` ``(A,)`` (N, N·m or rad/s, after delay and gain) for one period.

        ``period`` (s, default the task's control period) is split into ``substeps`` physics
        steps of one ``stepSimulation`` call each; ``push`` ``(3,)`` (N, world frame) acts on
        the task's push link through the whole period. Motor force limits are the scene's
        (N·m), Coulomb friction the draw's (N or N·m): forces, not impulses.
        """
        sc = self.scene
        c, body = sc.client, sc.body
        period = self._dt if period is None else float(period)
        if period != self._period:
            # Motor force limits become impulse limits at command time: set the step first.
            pb.setPhysicsEngineParameter(
                fixedTimeStep=period / sc.substeps, numSubSteps=0, physicsClientId=c
            )
            self._period = period
            self._set_friction()
        control = sc.spec.control
        command = np.asarray(command, np.float64).tolist()  # pybullet reads lists faster
        if control == "velocity":
            pb.setJointMotorControlArray(
                body,
                self._actuated,
                pb.VELOCITY_CONTROL,
                targetVelocities=command,
                forces=self._motor_force,
                physicsClientId=c,
            )
        elif control == "position":
            pb.setJointMotorControlArray(
                body,
                self._actuated,
                pb.POSITION_CONTROL,
                targetPositions=command,
                targetVelocities=[0.0] * len(self._actuated),
                forces=self._motor_force,
                physicsClientId=c,
            )
        for _ in range(sc.substeps):
            # Joint torques and external forces last one stepSimulation call: re-apply.
            if control == "effort":
                pb.setJointMotorControlArray(
                    body, self._actuated, pb.TORQUE_CONTROL, forces=command, physicsClientId=c
                )
            if push is not None:
                where = pb.getLinkState(body, sc.push_link, physicsClientId=c)[0]
                pb.applyExternalForce(
                    body, sc.push_link, list(push), where, pb.WORLD_FRAME, physicsClientId=c
                )
            pb.stepSimulation(physicsClientId=c)

    # ---- internals ----------------------------------------------------------------------
    def _measure(self, acted: bool = True) -> np.ndarray:
        """Read joints, add sensor noise, build the observation ``(O,)`` float32.

        Efforts (N, N·m) are PyBullet's applied joint torques of the last physics step, or
        zeros when nothing has acted yet in this episode (``acted=False``, at reset: PyBullet
        would still report the previous episode's last torques).
        """
        sc, dr, rng = self.scene, self._dr, self.np_random
        states = pb.getJointStates(sc.body, sc.joints, physicsClientId=sc.client)
        columns = tuple(zip(*states))  # position, velocity, reaction forces, applied torque
        pos = np.array(columns[0])
        vel = np.array(columns[1])
        eff = np.array(columns[3]) if acted else np.zeros(len(states))
        if sc.spec.control == "effort":
            eff[self._effort_at] = self._command
        if dr["obs_noise_pos"] > 0:
            pos = pos + rng.normal(0.0, dr["obs_noise_pos"], pos.shape)
        if dr["obs_noise_vel"] > 0:
            vel = vel + rng.normal(0.0, dr["obs_noise_vel"], vel.shape)
        self._measured = (pos, vel, eff)
        if self._history.steps:
            return self.task.obs_from_joints(pos, vel, past_actions=self._history.flat)
        return self.task.obs_from_joints(pos, vel)

    def _apply_draw(self) -> None:
        """Set the episode's draw on the bodies: masses, inertias, contact friction, damping,
        and the actuator gain; friction motors follow at the next :meth:`simulate`."""
        sc, dr = self.scene, self._dr
        c, body = sc.client, sc.body
        for i, link in enumerate(sc.links):
            pb.changeDynamics(
                body,
                link,
                mass=sc.mass[i] * dr["mass_scale"][i],
                localInertiaDiagonal=sc.inertia[i] * dr["mass_scale"][i] * dr["inertia_scale"][i],
                lateralFriction=dr["lateral_friction"],
                physicsClientId=c,
            )
        for k, j in enumerate(sc.joints):
            pb.changeDynamics(body, j, jointDamping=dr["joint_damping"][k], physicsClientId=c)
        self._gain = np.asarray(dr["actuator_gain"])
        self._period = -1.0

    def _set_friction(self) -> None:
        """Coulomb friction of the joints no motor drives (effort-commanded and passive
        joints): a zero-velocity motor of the drawn strength.

        PyBullet turns a motor's force limit into an impulse limit with the physics step in
        force when the motor is set, so re-issue after every change of the step.
        """
        sc = self.scene
        if not sc.free:
            return
        friction = self._dr["joint_friction"]
        pb.setJointMotorControlArray(
            sc.body,
            list(sc.free),
            pb.VELOCITY_CONTROL,
            targetVelocities=[0.0] * len(sc.free),
            forces=[friction[k] for k in sc.free_pos],
            physicsClientId=sc.client,
        )

    def _push_vector(self, angle: float) -> np.ndarray:
        """The push force ``(3,)`` (N, world frame) in direction ``angle`` (rad)."""
        force = self._dr["push_force"]
        if self.scene.spec.push_planar:
            return np.array([force * np.sign(np.cos(angle)), 0.0, 0.0])
        return np.array([force * np.cos(angle), force * np.sin(angle), 0.0])
