"""``ControllerConfig``: the parameters of ``mpc_controller``, each live or read-only.

Every field is one ROS parameter of the same name (``mbrl_control.ros.params.declare_config``).
A field is either **read-only** (``read_only=True``: a set is refused by rclpy) or applied
**live** after :meth:`ControllerConfig.__post_init__` (and ``ControllerCore.check``) accept the
new value; a refusal names the parameter and what it accepts. Critic weights are not fields:
the node declares one ``critics.<name>.weight`` parameter per critic of the task (Nav2 style).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mbrl_control.control.params import autostart_field, param_meta, thread_priority_field

DEADLINE_POLICIES = ("safe", "publish")
UNCERTAIN_POLICIES = ("report", "hold", "cautious")
MODES = ("planner", "policy")
SEED_MAX = 2**31 - 1
"""Largest ``seed`` (and every drawn ``noise_seed`` is in ``[0, SEED_MAX]``)."""
CRITIC_WEIGHT_RANGE = (0.0, 1e6)
"""Allowed range of a ``critics.<name>.weight`` parameter (a negative weight rewards cost)."""


def critic_param(name: str) -> str:
    """The ROS parameter name of critic ``name``'s weight: ``critics.<name>.weight``."""
    return f"critics.{name}.weight"


def parse_cautious_weights(entries: list[str]) -> dict[str, float]:
    """``["rail_margin=20", ...]`` -> ``{"rail_margin": 20.0}`` (the ``cautious_weights``
    parameter); ``ValueError`` naming the bad entry (format, repeated name, weight out of
    :data:`CRITIC_WEIGHT_RANGE`). Blank entries are skipped (a parameter file writes an empty
    string array as ``['']``: ROS cannot type ``[]``). Critic names are checked against the
    task by the caller."""
    out: dict[str, float] = {}
    for entry in entries:
        if not str(entry).strip():
            continue
        name, sep, value = str(entry).partition("=")
        name = name.strip()
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not name or math.isnan(number):
            raise ValueError(
                f"cautious_weights entry {entry!r}: need 'critic=weight', e.g. 'rail_margin=20'"
            )
        if name in out:
            raise ValueError(f"cautious_weights names critic {name!r} twice")
        out[name] = check_weight(name, number)
    return out


def cautious_vector(
    critic_names: tuple[str, ...] | list[str], live: Any, cautious: dict[str, float]
) -> Any:
    """The critic weights ``(K,)`` while ``on_uncertain: cautious`` reacts: ``live`` (a numpy
    array in ``critic_names`` order) with the ``cautious`` entries put in; ``ValueError`` for a
    name the task has no critic of."""
    names = list(critic_names)
    w = live.copy()
    for name, value in cautious.items():
        if name not in names:
            raise ValueError(
                f"cautious_weights: unknown critic {name!r}; the task's critics: {names}"
            )
        w[names.index(name)] = value
    return w


def check_weight(name: str, value: float) -> float:
    """``value`` as a float if it is a finite weight in :data:`CRITIC_WEIGHT_RANGE`, else
    ``ValueError`` naming the parameter."""
    lo, hi = CRITIC_WEIGHT_RANGE
    w = float(value)
    if not (math.isfinite(w) and lo <= w <= hi):
        raise ValueError(f"{critic_param(name)}={value!r}: need a finite weight in [{lo}, {hi:g}]")
    return w


@dataclass(frozen=True)
class ControllerConfig:
    """Parameters of ``mpc_controller`` (each is a ROS parameter of the same name)."""

    task: str = field(
        default="",
        metadata=param_meta(
            "'' = the task recorded in model_path (the planner file carries it: read at "
            "start-up, so an unreadable file is a start-up error); a built-in name or task "
            "file path must agree with that file's task, else configure/reload is refused "
            "naming both (with task set, a bad model_path leaves the node unconfigured)",
            read_only=True,
        ),
    )
    model_path: str = field(
        default="",
        metadata=param_meta(
            "planner ONNX file, inside model_dir (relative paths resolve there); loaded at "
            "configure and by ~/reload_model"
        ),
    )
    mode: str = field(
        default="planner",
        metadata=param_meta(
            "'planner' plans with model_path; 'policy' runs a policy-only ONNX file (fallback "
            "where even short planning is too slow)",
            read_only=True,
            choices=MODES,
        ),
    )
    model_dir: str = field(
        default="",
        metadata=param_meta(
            "directory model paths must lie in ('' = directory of model_path at start)",
            read_only=True,
        ),
    )
    control_rate: float = field(
        default=0.0,
        metadata=param_meta(
            "control rate in Hz (0 = the task's rate; the model was trained at that period)",
            range=(0.0, 1000.0),
            read_only=True,
        ),
    )
    state_timeout: float = field(
        default=0.1,
        metadata=param_meta(
            "s since a task joint's latest value before the watchdog trips", range=(0.001, 10.0)
        ),
    )
    action_low: list[float] = field(
        default_factory=list,
        metadata=param_meta(
            "lower action limits, one per action (empty = the task's lower bounds)"
        ),
    )
    action_high: list[float] = field(
        default_factory=list,
        metadata=param_meta(
            "upper action limits, one per action (empty = the task's upper bounds)"
        ),
    )
    max_action_rate: float = field(
        default=0.0,
        metadata=param_meta("max action change in units/s (0 = no rate limit)", range=(0.0, 1e6)),
    )
    threads: int = field(
        default=1,
        metadata=param_meta(
            "onnxruntime intra-op threads (1 is fastest at real-time sizes; 2 for PETS sizes)",
            read_only=True,
            range=(1, 64),
        ),
    )
    start_enabled: bool = field(
        default=True,
        metadata=param_meta(
            "publish planned actions once active (else ~/enable first)", read_only=True
        ),
    )
    allow_extra_joints: bool = field(
        default=True, metadata=param_meta("ignore JointState names the task does not use")
    )
    on_deadline_miss: str = field(
        default="safe",
        metadata=param_meta(
            "late plan: 'safe' publishes the safe action, 'publish' it",
            choices=DEADLINE_POLICIES,
        ),
    )
    surprise_window: int = field(
        default=25,
        metadata=param_meta(
            "transitions the surprise score averages over (the windowed surprise: NLL of each "
            "observed next state under the planner's calibrated prediction, nats per dim)",
            range=(1, 10000),
        ),
    )
    surprise_warn: float = field(
        default=1.0,
        metadata=param_meta(
            "windowed surprise (nats per predicted dim) at which /diagnostics warns (cart-pole: "
            "held-out planner episodes peak at 1.05, reality_gap is above 1 97 % of the time; "
            "docs/uncertainty.md)",
            range=(-100.0, 1e6),
        ),
    )
    surprise_error: float = field(
        default=3.0,
        metadata=param_meta(
            "windowed surprise (nats per predicted dim) at which /diagnostics reports ERROR "
            "(and on_uncertain 'hold' holds the safe action); >= surprise_warn",
            range=(-100.0, 1e6),
        ),
    )
    disagreement_warn: float = field(
        default=10.0,
        metadata=param_meta(
            "epistemic disagreement of the plan (member std / one-step change std, "
            "calibrated per step, mean over the horizon) at which /diagnostics warns (cart-pole "
            "preset: median 2.3, 99th percentile 8.2 in distribution; docs/uncertainty.md)",
            range=(0.0, 1e6),
        ),
    )
    disagreement_error: float = field(
        default=25.0,
        metadata=param_meta(
            "epistemic disagreement at which /diagnostics reports ERROR (and on_uncertain "
            "'hold' holds the safe action); >= disagreement_warn",
            range=(0.0, 1e6),
        ),
    )
    on_uncertain: str = field(
        default="report",
        metadata=param_meta(
            "surprise or disagreement at its ERROR threshold: 'report' on /diagnostics only; "
            "'hold' publishes the safe action for hold_time s, then plans again (and holds "
            "again while the score stays above); 'cautious' plans with cautious_weights for "
            "hold_time s (again while the score stays above), e.g. a rail-margin critic that is "
            "0 otherwise",
            choices=UNCERTAIN_POLICIES,
        ),
    )
    hold_time: float = field(
        default=1.0,
        metadata=param_meta(
            "s the reaction lasts once on_uncertain triggers (the safe action held, or the "
            "cautious weights used)",
            range=(0.0, 3600.0),
        ),
    )
    cautious_weights: list[str] = field(
        default_factory=list,
        metadata=param_meta(
            "critic weights while on_uncertain 'cautious' reacts, as 'critic=weight' entries "
            "(e.g. ['rail_margin=20']); critics not named keep their live weight"
        ),
    )
    seed: int = field(
        default=-1,
        metadata=param_meta(
            "planner noise seed. >= 0: deterministic mode - the same joint states and goals "
            "give bit-identical commands; the noise stream restarts from this seed at every "
            "(re)start: configure, ~/reload_model, activate, ~/enable on, ~/reset and a set of "
            "this parameter (which applies at the next tick). -1: a fresh seed from the OS at "
            "each of those, reported on /diagnostics as noise_seed (set seed to it to replay)",
            range=(-1, SEED_MAX),
        ),
    )
    plan_rate: float = field(
        default=10.0,
        metadata=param_meta(
            "Hz at which the plan is published (~/plan: trajectory_msgs/JointTrajectory, "
            "~/plan_markers: visualization_msgs/MarkerArray, the members' predicted paths of "
            "the task's visualization point, in its frame_id), built off the planning thread; "
            "at most once per control tick and 50 Hz; 0 = off",
            range=(0.0, 50.0),
        ),
    )
    thread_priority: int = thread_priority_field()
    autostart: bool = autostart_field()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}; allowed: {MODES}")
        if self.on_deadline_miss not in DEADLINE_POLICIES:
            raise ValueError(
                f"on_deadline_miss={self.on_deadline_miss!r}; allowed: {DEADLINE_POLICIES}"
            )
        if self.on_uncertain not in UNCERTAIN_POLICIES:
            raise ValueError(f"on_uncertain={self.on_uncertain!r}; allowed: {UNCERTAIN_POLICIES}")
        parse_cautious_weights(self.cautious_weights)
        if self.on_uncertain == "cautious" and not parse_cautious_weights(self.cautious_weights):
            raise ValueError(
                "on_uncertain='cautious' needs cautious_weights (e.g. ['rail_margin=20']; "
                "set it first)"
            )
        if isinstance(self.seed, bool) or not -1 <= int(self.seed) <= SEED_MAX:
            raise ValueError(f"seed={self.seed!r}: need -1 (fresh each start) or 0..{SEED_MAX}")
        if isinstance(self.surprise_window, bool) or int(self.surprise_window) < 1:
            raise ValueError(f"surprise_window={self.surprise_window!r}: need an int >= 1")
        for name in ("surprise_warn", "surprise_error", "disagreement_warn",
                     "disagreement_error", "hold_time"):  # fmt: skip
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name}={getattr(self, name)!r}: need a finite value")
        for kind in ("surprise", "disagreement"):
            warn, error = getattr(self, f"{kind}_warn"), getattr(self, f"{kind}_error")
            if warn > error:
                raise ValueError(
                    f"{kind}_warn={warn} must be <= {kind}_error={error} (set the other first)"
                )
        for name in ("control_rate", "state_timeout", "max_action_rate", "hold_time",
                     "disagreement_warn", "disagreement_error", "plan_rate"):  # fmt: skip
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}={value!r}: need a finite value >= 0")
        if self.state_timeout <= 0:
            raise ValueError(f"state_timeout={self.state_timeout!r}: need a value > 0")
        for name in ("action_low", "action_high"):
            bad = [v for v in getattr(self, name) if not math.isfinite(v)]
            if bad:
                raise ValueError(f"{name}={getattr(self, name)!r}: need finite values")
        if self.action_low and self.action_high and len(self.action_low) != len(self.action_high):
            # one side may stay empty (= the task's bound on that side): live sets come one
            # parameter at a time
            raise ValueError(
                f"action_low has {len(self.action_low)} entries and action_high "
                f"{len(self.action_high)}; they need the same length"
            )
        for i, (lo, hi) in enumerate(zip(self.action_low, self.action_high)):
            if not lo < hi:
                raise ValueError(f"action_low[{i}]={lo} must be < action_high[{i}]={hi}")
