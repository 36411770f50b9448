"""``train-pixels --teacher``: a state planner drives the seed episodes from the simulator's
state (docs/pixels.md, "A teacher's episodes"). The stored actions are the teacher's actions
on the stored states plus the run's exploration noise, held for the action repeat; a bad
teacher file is refused in one line before the run folder is written; a changed teacher file
refuses a resume. ``--teacher lqr`` (the nominal cart-pole LQR) likewise, recorded by its
design, refused on another task. Real pixel env, real ONNX files; seeded, one torch thread."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mbrl_control.cli import main

RUN = ["--env-steps", "400", "--seed-episodes", "2", "--updates-per-episode", "2", "--batch",
       "4", "--length", "4", "--eval-every", "100000", "--eval-episodes", "1", "--horizon", "3",
       "--iterations", "1", "--population", "16", "--seed", "3", "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained cart-pole state planner (what it does is not the point: that it is read)."""
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig
    from mbrl_control.tasks import get_task

    torch.manual_seed(1)
    model = Ensemble(EnsembleConfig(5, 1, members=2, hidden=8, layers=1)).eval()
    cfg = PlannerConfig(kind="icem", horizon=4, population=16, particles=2, iterations=1)
    path = tmp_path_factory.mktemp("teacher") / "state_planner.onnx"
    return export_planner(model, get_task("cartpole_swingup"), cfg, path, provenance={"t": 1})


def test_the_seed_episodes_are_the_teachers_actions_on_the_stored_states(
    tmp_path, capsys, teacher, one_thread
) -> None:
    from mbrl_control.data.store import TransitionStore
    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.latent.training import cfg_seed, run_config

    out = tmp_path / "run"
    assert main(["train-pixels", "--out", str(out), "--teacher", str(teacher), *RUN]) == 0
    capsys.readouterr()
    store = TransitionStore(out / "data")
    metas = store.episode_metas()
    assert [m["policy"] for m in metas] == ["teacher", "teacher"]
    cfg = run_config(out)
    planner = OnnxPlanner(teacher, threads=1)
    files = sorted((out / "data" / "episodes").glob("ep_*.npz"))
    for k, (meta, path) in enumerate(zip(metas, files, strict=True)):
        with np.load(path) as episode:  # one row per decision (action repeat 4)
            obs, stored = episode["obs"], episode["action"]
        assert meta["seed"] == cfg_seed(cfg, k) and meta["steps"] == 4 * len(stored)
        rng = np.random.default_rng([cfg.seed, k, 1])  # the run's noise stream of episode k
        planner.reset(seed=meta["seed"])
        expected = [
            np.clip(planner.act(state) + 0.3 * 10.0 * rng.standard_normal(1), -10.0, 10.0)
            for state in obs[:-1]
        ]
        np.testing.assert_allclose(stored, np.asarray(expected, np.float32), rtol=0, atol=1e-5)
    settings = json.loads((out / "settings.json").read_text())
    assert settings["teacher"]["file"] == "state_planner.onnx"  # by name and hash, not path
    assert len(settings["teacher"]["sha256"]) == 64


def test_a_run_without_a_teacher_keeps_its_settings_and_its_noise(tmp_path, capsys) -> None:
    from mbrl_control.cli import build_parser
    from mbrl_control.cli.train_pixels import build_config

    args = build_parser().parse_args(["train-pixels", "--out", str(tmp_path / "r"), *RUN])
    settings = build_config(args).settings()
    assert "teacher" not in settings  # a run from before teachers resumes unchanged


def test_bad_teachers_are_refused_before_the_run_folder_is_written(
    tmp_path, capsys, teacher, one_thread
) -> None:
    """Each kind of bad file in one line, naming the file, and nothing written: a corrupt file,
    a pixel planner (the teacher reads states), a missing file."""
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not an onnx file")
    made = tmp_path / "made"  # a pixel planner: what a train-pixels run writes
    args = ["train-pixels", "--out", str(made), *RUN]
    args[args.index("--env-steps") + 1] = "200"
    assert main(args) == 0
    capsys.readouterr()
    for bad, says in ((corrupt, "corrupt.onnx"), (made / "planner.onnx", "pixel_controller"),
                      (tmp_path / "missing.onnx", "no such file")):  # fmt: skip
        out = tmp_path / f"out_{bad.stem}"
        assert main(["train-pixels", "--out", str(out), "--teacher", str(bad), *RUN]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and says in err, err
        assert not out.exists(), bad


def test_a_changed_teacher_refuses_the_resume(tmp_path, capsys, teacher, one_thread) -> None:
    out = tmp_path / "run"
    other = tmp_path / "state_planner.onnx"
    other.write_bytes(teacher.read_bytes())
    args = ["train-pixels", "--out", str(out), "--teacher", str(other), *RUN]
    args[args.index("--env-steps") + 1] = "200"
    assert main(args) == 0
    capsys.readouterr()
    other.write_bytes(teacher.read_bytes() + b"\0")  # edited in place: same name, other bytes
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "teacher.sha256" in err, err
    # the teacher left out of the rerun is a change too (it was accepted and erased it)
    without = args[: args.index("--teacher")] + args[args.index("--teacher") + 2 :]
    assert main(without) == 2
    err = capsys.readouterr().err.strip()
    assert "teacher.file 'state_planner.onnx' -> None" in err, err
    assert "teacher" in json.loads((out / "settings.json").read_text())


def test_a_teacher_inside_the_run_folder_or_a_foreign_folder_is_refused(
    tmp_path, capsys, teacher
) -> None:
    """The run writes OUT/planner.onnx: a teacher there would be overwritten (a user kept the
    state planner and the pixel run in one folder). Another command's settings.json is named
    as such, not as a pixel run with 20 changed settings."""
    folder = tmp_path / "robot"
    folder.mkdir()
    (folder / "planner.onnx").write_bytes(teacher.read_bytes())
    args = ["train-pixels", "--out", str(folder), "--teacher", str(folder / "planner.onnx"), *RUN]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "inside --out" in err, err
    assert (folder / "planner.onnx").read_bytes() == teacher.read_bytes()
    assert not (folder / "settings.json").exists()
    (folder / "settings.json").write_text('{"task": "cartpole_swingup", "preset": "rt"}')
    assert main(["train-pixels", "--out", str(folder), *RUN]) == 2
    err = capsys.readouterr().err.strip()
    assert "another command's run" in err and "start" not in err, err


def test_hold_study_scores_the_state_planner_at_each_repeat(teacher, capsys) -> None:
    """``latent.hold_study``: paired rows per action repeat, deterministic, the same noise seeds
    (a rerun gives the same returns); the hold changes what the planner does; a file of the
    wrong kind is one line."""
    from mbrl_control.latent.hold_study import hold_study
    from mbrl_control.latent.hold_study import main as hold_main

    rows = hold_study(str(teacher), [1, 4], episodes=2)
    assert [r["action_repeat"] for r in rows] == [1, 4] and rows[1]["decision_hz"] == 12.5
    assert rows[0]["returns"] != rows[1]["returns"]  # the hold changed the episodes
    assert "difference_ci" in rows[1]["vs_first"]
    assert hold_study(str(teacher), [1], episodes=2)[0]["returns"] == rows[0]["returns"]
    bad = teacher.with_name("broken.onnx")
    bad.write_bytes(b"no")
    with pytest.raises(SystemExit) as exit_info:
        hold_main([str(bad), "--repeats", "1", "--episodes", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "broken.onnx" in err, err


def test_the_lqr_teacher_drives_the_seed_episodes(tmp_path, capsys, one_thread) -> None:
    """``--teacher lqr``: the stored actions are the nominal LQR's (designed for the run's hold)
    on the stored states plus the run's noise; the settings name the design, not a file, and
    read back as the reserved value; a resume without it is refused."""
    from mbrl_control.data.store import TransitionStore
    from mbrl_control.latent.oracle_teacher import WEIGHTS, cartpole_dynamics, lqr_gain
    from mbrl_control.latent.training import LQR_TEACHER, cfg_seed, run_config

    out = tmp_path / "run"
    args = ["train-pixels", "--out", str(out), "--teacher", "lqr", *RUN, "--action-repeat", "2"]
    assert main(args) == 0
    capsys.readouterr()
    metas = TransitionStore(out / "data").episode_metas()
    assert [m["policy"] for m in metas] == ["teacher", "teacher"]
    cfg = run_config(out)
    assert cfg.teacher == LQR_TEACHER and cfg.action_repeat == 2
    settings = json.loads((out / "settings.json").read_text())
    assert settings["teacher"] == {"kind": "lqr", "dynamics": "nominal", "weights": list(WEIGHTS)}

    from mbrl_sim.env import MbrlSimEnv

    sim = MbrlSimEnv("cartpole_swingup")  # the URDF's undrawn scene: the nominal design
    try:
        gain = lqr_gain(cartpole_dynamics(sim, nominal=True), 2 / 50)
    finally:
        sim.close()
    files = sorted((out / "data" / "episodes").glob("ep_*.npz"))
    for k, (meta, path) in enumerate(zip(metas, files, strict=True)):
        with np.load(path) as episode:  # one row per decision (action repeat 2)
            obs, stored = episode["obs"], episode["action"]
        assert meta["seed"] == cfg_seed(cfg, k) and meta["steps"] == 2 * len(stored)
        rng = np.random.default_rng([cfg.seed, k, 1])  # the run's noise stream of episode k
        x, c, s, x_dot, th_dot = obs[:-1].T.astype(np.float64)
        lqr = -np.stack([x, np.arctan2(s, c), x_dot, th_dot], 1) @ gain
        expected = [np.clip(a + 0.3 * 10.0 * rng.standard_normal(1), -10.0, 10.0) for a in lqr]
        np.testing.assert_allclose(stored, np.asarray(expected, np.float32), rtol=0, atol=1e-4)
    without = args[: args.index("--teacher")] + args[args.index("--teacher") + 2 :]
    assert main(without) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "teacher.kind 'lqr' -> None" in err, err


def test_the_lqr_teacher_refuses_a_task_that_is_not_the_cart_pole(tmp_path, capsys) -> None:
    """The teacher's own refusal comes first (the balance start's 'not a hanging pendulum'
    came first before, and the teacher's only after --start task), and nothing is written."""
    out = tmp_path / "run"
    args = ["train-pixels", "--out", str(out), "--teacher", "lqr", "--task", "panda_reach", *RUN]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.count("--teacher lqr") == 1, err
    assert "cart-pole" in err and "panda" in err, err
    assert not out.exists()


def test_the_lqr_teacher_needs_the_balance_start(tmp_path, capsys) -> None:
    """A linear controller cannot swing up the task's hanging starts: refused in one line."""
    out = tmp_path / "run"
    args = ["train-pixels", "--out", str(out), "--teacher", "lqr", "--start", "task", *RUN]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "start='balance'" in err, err
    assert not out.exists()
