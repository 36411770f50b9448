"""Simulator calibration (mbrl_sim.calibration): "real" data from the cart-pole simulator under
a known point profile, fitted back from the default profile.

The env's explicit-draw API (set_draw / set_joint_state / physical_joint_state) is checked
against reset + step; replay at the true draw reproduces noise-free data exactly; the whole
calibration recovers the delay, the gain/mass ratio, the identifiable inertia scale and the
noise levels (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from mbrl_sim.calibration import (
    PARAMS,
    CalibrationConfig,
    FitResult,
    calibrate,
    fit,
    profile_mapping,
)
from mbrl_sim.calibration_replay import (
    DrawMaker,
    Recording,
    Replayer,
    angle_joints,
    data_scale,
    held_out_windows,
    load_recording,
    make_windows,
)
from mbrl_sim.calibration_stats import (
    identifiable,
    local_analysis,
    noise_from_residuals,
    together,
)
from mbrl_sim.env import MbrlSimEnv
from mbrl_sim.oracle import JointStateReader
from mbrl_sim.profiles import DRProfile, load_profile

from mbrl_control.data.store import TransitionStore
from mbrl_control.tasks import get_task

TASK = "cartpole_swingup"
TRUTH = {
    "mass_scale": 1.3,
    "inertia_scale": 1.0,
    "joint_damping": 2.0,
    "joint_friction": 2.0,
    "actuator_gain": 0.75,
    "action_delay": 1,
}
NOISE = {"obs_noise_pos": 0.002, "obs_noise_vel": 0.02}


def _profile(folder: Path, noise: bool) -> Path:
    path = folder / ("truth.yaml" if noise else "truth_clean.yaml")
    path.write_text(yaml.safe_dump({**TRUTH, **(NOISE if noise else {})}))
    return path


def _record(profile: Path, out: Path, episodes: int, seed: int) -> Path:
    """Random-policy episodes of the env under ``profile`` into a store at ``out``."""
    env = MbrlSimEnv(TASK, profile=profile)
    store = TransitionStore(out)
    rng = np.random.default_rng(seed)
    task = env.task
    for ep in range(episodes):
        obs, info = env.reset(seed=seed + ep)
        observations, actions = [obs], []
        for _ in range(task.episode_steps):
            a = rng.uniform(task.low, task.high).astype(np.float32)
            obs, *_ = env.step(a)
            observations.append(obs)
            actions.append(a)
        store.append_episode(np.stack(observations), np.stack(actions), {"dr": info["dr"]})
    env.close()
    return out


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 noisy episodes (800 transitions, 16 s) under the truth profile."""
    root = tmp_path_factory.mktemp("calib")
    return _record(_profile(root, noise=True), root / "real", 4, seed=11)


# ---- the env's explicit-draw API ------------------------------------------------------------
def test_set_draw_and_joint_state_reproduce_steps(tmp_path: Path) -> None:
    """Another env given the truth's draw and joint state, driven by the commands the truth's
    delay buffer released (delay 1: the safe action 0, then each previous action) times the
    gain, ends in the truth's state bit for bit."""
    truth = MbrlSimEnv(TASK, profile=_profile(tmp_path, noise=False))
    truth.reset(seed=3)
    other = MbrlSimEnv(TASK, profile="default")
    other.reset(seed=4)
    other.set_draw(truth.dr)
    q, qd = truth.physical_joint_state()
    other.set_joint_state(q, qd)
    np.testing.assert_array_equal(np.concatenate(other.physical_joint_state()), np.r_[q, qd])
    for a in (3.0, -7.0, 5.0):
        truth.step(np.array([a], np.float32))
    for c in (0.0, 3.0, -7.0):
        other.simulate(TRUTH["actuator_gain"] * np.array([c], np.float32))
    np.testing.assert_array_equal(
        np.concatenate(other.physical_joint_state()), np.concatenate(truth.physical_joint_state())
    )
    truth.close()
    other.close()


def test_set_draw_refuses_incomplete_draws() -> None:
    env = MbrlSimEnv(TASK, profile="default")
    env.reset(seed=0)
    draw = dict(env.dr)
    del draw["joint_damping"]
    with pytest.raises(ValueError, match=r"lacks key.*joint_damping"):
        env.set_draw(draw)
    with pytest.raises(ValueError, match=r"actuator_gain.*2 values; need 1"):
        env.set_draw({**env.dr, "actuator_gain": [1.0, 1.0]})
    env.close()


# ---- replay ---------------------------------------------------------------------------------
def test_replay_at_the_true_draw_reproduces_clean_data(tmp_path: Path) -> None:
    """Noise-free data: the replay error is 0 at the true draw and delay, not at others."""
    data = _record(_profile(tmp_path, noise=False), tmp_path / "clean", 1, seed=5)
    task = get_task(TASK)
    reader = JointStateReader(task)
    rec = load_recording(data, task, reader)
    env = MbrlSimEnv(task, profile="default")
    env.reset(seed=0)
    wrap = angle_joints(task, reader)
    assert wrap.tolist() == [False, True]  # the pole is read from cos/sin
    replayer = Replayer(env, data_scale(rec, wrap), wrap)
    win = make_windows(rec, horizon=10, max_delay=3, count=20)
    make = DrawMaker(env, load_profile("default"))
    values = {k: v for k, v in TRUTH.items() if k != "action_delay"}
    assert replayer.error(make(values, 1), win) < 1e-6
    assert replayer.error(make(values, 0), win) > 0.05
    assert replayer.error(make({**values, "actuator_gain": 0.9}, 1), win) > 0.01
    env.close()


def test_windows_need_long_enough_episodes() -> None:
    rec = Recording([np.zeros((6, 2))], [np.zeros((6, 2))], [np.zeros((5, 1))], [0])
    with pytest.raises(ValueError, match="max_delay \\+ horizon = 13 steps, the longest has 5"):
        make_windows(rec, horizon=10, max_delay=3, count=8)


def test_short_held_out_episodes_give_no_held_out_windows() -> None:
    def rec(lengths: list[int]) -> Recording:
        return Recording(
            [np.zeros((n + 1, 2)) for n in lengths],
            [np.zeros((n + 1, 2)) for n in lengths],
            [np.zeros((n, 1)) for n in lengths],
            list(range(len(lengths))),
        )

    fit, held = rec([40, 40, 40, 5]).split(0.2)
    assert len(fit.q) == 3 and len(held.q) == 1
    assert held_out_windows(held, 10, 3, 64) is None
    assert held_out_windows(rec([]), 10, 3, 64) is None
    assert len(held_out_windows(rec([40]), 10, 3, 5)) == 5


def test_empty_or_mismatched_store_is_refused(tmp_path: Path) -> None:
    task = get_task(TASK)
    reader = JointStateReader(task)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no episodes"):
        load_recording(tmp_path / "empty", task, reader)
    TransitionStore(tmp_path / "wide").append_episode(np.zeros((3, 7)), np.zeros((2, 1)), {})
    with pytest.raises(ValueError, match="widths 7/1 are not task 'cartpole_swingup'"):
        load_recording(tmp_path / "wide", task, reader)
    with pytest.raises(ValueError, match="no such transition store"):
        load_recording(tmp_path / "typo", task, reader)
    assert not (tmp_path / "typo").exists()


# ---- estimators -----------------------------------------------------------------------------
def test_noise_from_residuals_recovers_white_noise() -> None:
    """One-step residuals of a perfect model are n_{t+1} - n_t (- dt·n_v for positions)."""
    rng = np.random.default_rng(0)
    sq, sv, dt, n = 0.004, 0.04, 0.02, 20000
    nq, nv = rng.normal(0, sq, (n + 1, 2)), rng.normal(0, sv, (n + 1, 2))
    res = np.concatenate([nq[1:] - nq[:-1] - dt * nv[:-1], nv[1:] - nv[:-1]], 1)
    est = noise_from_residuals(res, dt)
    assert est["obs_noise_pos"] == pytest.approx(sq, rel=0.05)
    assert est["obs_noise_vel"] == pytest.approx(sv, rel=0.05)


def test_local_analysis_flags_a_scale_degeneracy() -> None:
    """Residuals that depend on log a - log b only (and on log c): a, b only together."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))

    def residual(v: dict[str, float]) -> np.ndarray:
        u = np.log(v["a"]) - np.log(v["b"])
        return x[:, 0] * (u - 0.3) + x[:, 1] * (np.log(v["c"]) - 0.1) + 0.01 * x.sum(1)

    ident = local_analysis(residual, {"a": 2.0, "b": 1.48, "c": 1.1}, ["a", "b", "c"], 1)
    assert ident.correlation[0, 1] > 0.99
    assert abs(ident.correlation[0, 2]) < 0.5
    (direction,) = ident.sloppy
    assert direction["a"] == pytest.approx(direction["b"], abs=1e-3)
    assert abs(direction["c"]) < 1e-3
    assert ident.sigma_conditional[0] < ident.sigma[0]
    values = {"a": 2.0, "b": 1.48, "c": 1.1}
    (pair,) = together(ident, values, 0.8)
    assert pair["combination"] == "a/b" and pair["value"] == pytest.approx(2.0 / 1.48)
    assert identifiable(ident, [pair]) == ["c"]
    assert identifiable(ident, []) == ["c"]  # the sloppy direction alone says so too


def test_fit_is_seeded_and_leaves_numpys_global_generator_alone() -> None:
    def objective(v: dict[str, float], delay: int) -> float:
        return sum((np.log(v[k]) - 0.1 * i) ** 2 for i, k in enumerate(PARAMS)) + abs(delay - 1)

    start = dict.fromkeys(PARAMS, 1.0)
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    runs = [fit(objective, start, list(PARAMS), CalibrationConfig(evaluations=96, seed=s))
            for s in (3, 3, 4)]  # fmt: skip
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    assert runs[0].delay_errors == runs[1].delay_errors != runs[2].delay_errors
    assert runs[0].values == runs[1].values
    assert all(r.evaluations <= 96 for r in runs)


def test_profile_is_centred_on_the_fit_and_keeps_the_base_range_where_data_say_nothing() -> None:
    base = load_profile("default")
    values = {"mass_scale": 1.2, "inertia_scale": 1.5, "joint_damping": 0.08,
              "joint_friction": 2.0, "actuator_gain": 0.8}  # fmt: skip
    result = FitResult(values, 2, 0.1, {}, np.eye(5), list(PARAMS), {}, {}, 100)
    sigma = {"mass_scale": 0.01, "inertia_scale": 0.1, "joint_damping": 20.0,
             "joint_friction": 0.05, "actuator_gain": 0.01}  # fmt: skip
    noise = {"obs_noise_pos": 0.004, "obs_noise_vel": 0.04}
    mapping = profile_mapping(result, sigma, noise, base)
    profile = DRProfile.from_mapping(mapping, "calibrated")
    assert profile.joint_damping == base.joint_damping  # 2σ = 40 log units: undetermined
    assert profile.mass_scale.low == pytest.approx(1.2 / 1.05, rel=1e-5)  # the ±5 % floor
    assert profile.inertia_scale.high == pytest.approx(1.5 * np.exp(0.2), rel=1e-5)
    assert profile.actuator_gain.dist == "loguniform"
    assert profile.action_delay.low == profile.action_delay.high == 2
    assert profile.obs_noise_vel.low == profile.obs_noise_vel.high == 0.04
    assert profile.control_jitter == base.control_jitter


def test_config_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="max_delay must be in \\[0, 20\\]"):
        CalibrationConfig(max_delay=21)
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        CalibrationConfig(horizon=0)


# ---- the whole calibration ------------------------------------------------------------------
@pytest.mark.slow
def test_calibrate_recovers_the_truth(real: Path, tmp_path: Path) -> None:
    out = tmp_path / "cal" / "calibrated.yaml"
    cfg = CalibrationConfig(starts=40, evaluations=240, seed=0)
    report = calibrate(TASK, real, out, base_profile="default", cfg=cfg, quiet=True)
    fitted = report["fitted"]
    assert fitted["action_delay"] == TRUTH["action_delay"]
    pairs = {tuple(p["params"]): p for p in report["identifiable_only_together"]}
    if ("mass_scale", "actuator_gain") in pairs:  # scaling all masses and the gain: no change
        ratio = fitted["actuator_gain"] / fitted["mass_scale"]
        assert ratio == pytest.approx(TRUTH["actuator_gain"] / TRUTH["mass_scale"], rel=0.1)
    else:
        assert fitted["actuator_gain"] == pytest.approx(TRUTH["actuator_gain"], rel=0.15)
    err = report["replay_error"]
    assert err["fit"]["after"] < 0.5 * err["fit"]["before"]
    assert err["holdout"]["after"] < 0.5 * err["holdout"]["before"]
    # noise from the residuals: the right order of magnitude
    assert 0.5 * NOISE["obs_noise_pos"] < fitted["obs_noise_pos"] < 2 * NOISE["obs_noise_pos"]
    assert 0.5 * NOISE["obs_noise_vel"] < fitted["obs_noise_vel"] < 2 * NOISE["obs_noise_vel"]

    profile = load_profile(out)  # usable as --profile
    assert profile.action_delay.low == profile.action_delay.high == 1
    identifiable = report["identifiable"]  # in no pair, not in an unidentifiable direction
    assert "inertia_scale" in identifiable
    assert "actuator_gain" not in identifiable and "mass_scale" not in identifiable
    for k in identifiable:
        p = getattr(profile, k)
        assert p.low <= TRUTH[k] <= p.high, (k, p, report["sigma_log_conditional"])
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["fitted"] == fitted
    assert saved["evaluations_used"] <= 240
    assert len(saved["correlation"]["matrix"]) == len(saved["correlation"]["params"])


@pytest.mark.slow
def test_calibrate_from_an_imported_csv_log(tmp_path: Path) -> None:
    """A lab's CSV log (time, positions, velocities, command; one row per control period, the
    measured noisy joints, ±1 ms stamp jitter) of the truth robot, imported by
    ``import_csv`` onto the control grid, calibrates like the simulator's own store."""
    from mbrl_control.data.csv_import import import_csv
    from mbrl_control.tasks.csv_log_section import CsvLogSpec

    env = MbrlSimEnv(TASK, profile=_profile(tmp_path, noise=True))
    task, rng = env.task, np.random.default_rng(21)
    names = "episode time slider_to_cart_pos cart_to_pole_pos slider_to_cart_vel "
    cols: dict[str, list] = {k: [] for k in (names + "cart_to_pole_vel slider_to_cart_cmd").split()}
    for ep in range(4):
        env.reset(seed=100 + ep)
        for k in range(task.episode_steps + 1):
            _, pos, vel, _ = env.joint_state()  # the noisy measurement, raw angles
            a = rng.uniform(task.low, task.high).astype(np.float32)
            jitter = 0.0 if k == 0 else rng.uniform(-1e-3, 1e-3)
            row = (f"run{ep}", k * task.dt + jitter, *pos, *vel, float(a[0]))
            for key, value in zip(cols, row):
                cols[key].append(value)
            if k < task.episode_steps:
                env.step(a)
    env.close()
    path = tmp_path / "log.csv"
    with path.open("w") as fh:
        fh.write(",".join(cols) + "\n")
        for i in range(len(cols["time"])):
            fh.write(",".join(str(cols[c][i]) for c in cols) + "\n")
    report = import_csv([path], TASK, tmp_path / "store", CsvLogSpec(episode_column="episode"))
    assert report.transitions >= 4 * (task.episode_steps - 2), report.line()

    out = tmp_path / "csv_cal.yaml"
    cfg = CalibrationConfig(starts=40, evaluations=240, seed=1)
    rep = calibrate(TASK, tmp_path / "store", out, base_profile="default", cfg=cfg, quiet=True)
    fitted = rep["fitted"]
    assert fitted["action_delay"] == TRUTH["action_delay"]
    ratio = fitted["actuator_gain"] / fitted["mass_scale"]
    assert ratio == pytest.approx(TRUTH["actuator_gain"] / TRUTH["mass_scale"], rel=0.1)
    assert rep["replay_error"]["fit"]["after"] < 0.5 * rep["replay_error"]["fit"]["before"]
    assert 0.5 * NOISE["obs_noise_vel"] < fitted["obs_noise_vel"] < 2 * NOISE["obs_noise_vel"]
