"""``mbrl-control train-pixels`` (mbrl_control/latent/training.py): a tiny real run (small
world model, real pixel env, real ONNX planner) writes its learning curve, imagination GIF and
checkpoint; its world model improves on its untrained start on held-out frames; a rerun resumes
it; other settings in the same folder are refused in one line. Seeded; one torch thread.

Control is scored in the curve but not asserted here: at this size (3 episodes, 90 updates)
the planner's return against the random policy depends on the seed (docs/pixels.md)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from mbrl_control.cli import build_parser, main

TINY = ["--seed-episodes", "3", "--updates-per-episode", "30", "--batch", "8", "--length", "8",
        "--eval-every", "600", "--eval-episodes", "1", "--horizon", "6", "--iterations", "2",
        "--population", "32", "--seed", "0", "--quiet"]  # fmt: skip


def rows(out) -> list[dict[str, str]]:
    with (out / "learning_curve.csv").open() as fh:
        return list(csv.DictReader(fh))


def heldout_losses(model, store) -> dict[str, float]:
    """World-model loss terms on 16 fixed sequences of the held-out store, and
    ``plain_image``: the image term without the foreground weighting."""
    import dataclasses

    from mbrl_control.data.image_store import SequenceLoader
    from mbrl_control.latent.planner import ActionScale
    from mbrl_control.tasks import get_task

    loader = SequenceLoader(store, 16, task=get_task("cartpole_swingup"))
    batch = loader.sample(np.random.default_rng(0), 16)
    background = torch.from_numpy(loader.median_frame(np.random.default_rng(0)))
    actions = ActionScale([-10.0], [10.0]).normalize(torch.from_numpy(batch.action))
    with torch.no_grad():
        _, metrics = model.eval().loss(
            torch.from_numpy(batch.images), actions, torch.from_numpy(batch.reward),
            background=background,
        )  # fmt: skip
        weighted = model.config
        model.config = dataclasses.replace(weighted, foreground_weight=0.0)
        _, plain = model.loss(torch.from_numpy(batch.images), actions,
                              torch.from_numpy(batch.reward))  # fmt: skip
        model.config = weighted
    return {**metrics, "plain_image": plain["image"]}


def heldout_store(run, root) -> None:
    """2 episodes of exploration noise from other seeds, collected as the run collects."""
    from mbrl_control.latent.episodes import run_pixel_episode, store_episode

    rng = np.random.default_rng(99)
    for seed in (500, 501):
        episode = run_pixel_episode(
            run.env, lambda frame: 3.0 * rng.standard_normal(1), seed, run.start_state(seed), 4
        )
        store_episode(episode, root, run.camera)


def test_tiny_run_learns_writes_its_curve_and_resumes(tmp_path, capsys) -> None:
    from PIL import Image

    from mbrl_control.cli.train_pixels import build_config
    from mbrl_control.latent.training import PixelRun, load_checkpoint

    out = tmp_path / "run"
    assert main(["train-pixels", "--out", str(out), "--env-steps", "600", *TINY]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["env_steps"] == 600 and result["episodes"] == 3 and result["updates"] == 90
    assert isinstance(result["last"]["mean_return"], float)  # numbers, not CSV strings
    for name in ("checkpoint.pt", "planner.onnx", "learning_curve.png", "settings.json"):
        assert (out / name).is_file(), name
    from mbrl_sim.pixel_env import make_pixel_env

    from mbrl_control.latent.runtime import OnnxPixelPlanner
    from mbrl_control.tasks.camera_section import CameraSpec

    planner = OnnxPixelPlanner(out / "planner.onnx")
    camera = planner.camera  # the trained view, fitted: renders the same frames again
    assert camera is not None and camera["distance"] is not None and camera["size"] == 64
    frame, _ = make_pixel_env("cartpole_swingup", camera=CameraSpec(**camera)).reset(seed=0)
    assert planner.act(frame).shape == (1,)
    with Image.open(out / "imagination.gif") as gif:  # real above imagined, 3 sequences
        assert gif.n_frames == 25 and gif.size == (3 * 64 * 3, 2 * 64 * 3)
    curve = rows(out)
    assert [(r["env_steps"], r["policy"]) for r in curve] == [
        ("0", "random"), ("0", "planner"), ("600", "planner")
    ]  # fmt: skip
    assert all(np.isfinite(float(r["mean_return"])) for r in curve)
    assert float(curve[-1]["act_ms_p99"]) > 0 and float(curve[-1]["image_loss"]) > 0

    # the world model against its own untrained start, on frames it never saw
    cfg = build_config(build_parser().parse_args(["train-pixels", "--out", str(out), *TINY]))
    start = PixelRun(cfg, tmp_path / "unused")  # the run's seeded initial weights
    heldout_store(start, tmp_path / "heldout")
    before = heldout_losses(start.model, tmp_path / "heldout")
    load_checkpoint(out / "checkpoint.pt", start.model, start.opt)
    after = heldout_losses(start.model, tmp_path / "heldout")
    start.close()
    # measured (foreground weight 20): weighted image 1775 -> 301, reward 0.253 -> 0.082 (about the
    # held-out reward variance: the head learned its level, not its shape; the curve shows control)
    assert after["plain_image"] < 0.05 * before["plain_image"], (before, after)
    assert after["image"] < 0.3 * before["image"], (before, after)  # foreground counts 21x
    assert after["reward"] < 0.5 * before["reward"], (before, after)

    # the run re-scored at two planner sizes on the same starts: the run's own size gives the
    # curve's last return again (paired: same starts, same noise seeds), the other a paired
    # difference; each file is a planner of that size
    from mbrl_control.latent.planner_sizes import main as sizes_main

    assert sizes_main([str(out), "--sizes", "6x2x32,4x1x16", "--episodes", "1"]) == 0
    own, small = json.loads(capsys.readouterr().out)
    assert own["mean_return"] == pytest.approx(float(curve[-1]["mean_return"]), rel=1e-4)
    assert OnnxPixelPlanner(small["file"]).metadata["planner_config"]["population"] == 16
    assert small["act_ms_p50"] > 0 and len(small["vs_first"]["difference_ci"]) == 2
    low, high = own["success_ci"]  # Wilson 95 % on 1 episode: wide, around the rate
    assert 0 <= low <= own["success_rate"] <= high <= 1 and high - low > 0.7

    from mbrl_control.latent.probe import probe

    known = probe(out)  # what the latent holds, per state dimension
    assert set(known["linear_probe_r"]) == {"x", "cos_theta", "sin_theta", "x_dot", "theta_dot"}
    assert -1 <= known["reward_corr"] <= 1 and known["trained"]["updates"] == 90

    # rerun with more steps: continues from the checkpoint (no second step-0 rows); the end,
    # off the evaluation grid, is evaluated too: RUN/planner.onnx is the final model's
    import shutil

    shutil.copy(out / "checkpoint.pt", tmp_path / "at_600.pt")
    assert main(["train-pixels", "--out", str(out), "--env-steps", "800", *TINY]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 4 and result["updates"] == 120
    assert result["last"]["env_steps"] == 800
    assert [r["env_steps"] for r in rows(out)] == ["0", "0", "600", "800"]
    assert OnnxPixelPlanner(out / "planner.onnx").metadata["trained"]["env_steps"] == 800
    from mbrl_control.data.store import TransitionStore

    seeds = [m["seed"] for m in TransitionStore(out / "data").episode_metas()]
    assert seeds == list(range(4))  # episode k of seed 0 resets with seed k, run or resumed
    # an unchanged rerun has nothing to do
    assert main(["train-pixels", "--out", str(out), "--env-steps", "800", *TINY]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 4
    assert len(rows(out)) == 4
    # a run stopped after storing episode 3 but before its checkpoint: the rerun reuses the
    # stored episode instead of storing it twice
    shutil.copy(tmp_path / "at_600.pt", out / "checkpoint.pt")
    assert main(["train-pixels", "--out", str(out), "--env-steps", "800", *TINY]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 4
    assert [m["seed"] for m in TransitionStore(out / "data").episode_metas()] == list(range(4))

    # other settings in the same folder: one line, exit 2
    bad = [a if a != "8" else "4" for a in TINY]  # --batch 4 --length 4
    assert main(["train-pixels", "--out", str(out), "--env-steps", "800", *bad]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "other settings" in err and "batch 8 -> 4" in err
    # a nested setting is named by itself, not as the whole section
    assert main(["train-pixels", "--out", str(out), *TINY, "--foreground-weight", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.foreground_weight 20.0 -> 0.0" in err and "depth" not in err, err


def test_bad_arguments_are_one_line_errors(tmp_path, capsys) -> None:
    out = str(tmp_path / "x")
    assert main(["train-pixels", "--out", out, "--env-steps", "0"]) == 2
    assert "--env-steps" in capsys.readouterr().err
    assert main(["train-pixels", "--out", out, "--start", "sideways"]) == 2
    assert "--start" in capsys.readouterr().err
    assert main(["train-pixels", "--out", out, "--length", "1"]) == 2  # NaN losses at 1
    assert "--length" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_refused_task_leaves_nothing_that_blocks_the_fix(tmp_path, capsys) -> None:
    """A task the balance start cannot serve is refused before OUT is written, so the same
    command with --start task then runs (a leftover settings.json used to refuse it)."""
    out = tmp_path / "p"
    assert main(["train-pixels", "--out", str(out), "--task", "panda_reach"]) == 2
    assert "--start task" in capsys.readouterr().err
    assert not out.exists()


def test_cli_defaults_are_the_configs() -> None:
    """The command's defaults are PixelTrainConfig's (one set of numbers, not two)."""
    import dataclasses

    from mbrl_control.cli.train_pixels import build_config
    from mbrl_control.latent.training import PixelTrainConfig

    args = build_parser().parse_args(["train-pixels", "--out", "x"])
    assert dataclasses.asdict(build_config(args)) == dataclasses.asdict(PixelTrainConfig())
