"""The sim-to-real grid: statistics, normalization, resume and scheduling on synthetic cell
results (fast); ground-truth safety counts in PyBullet (fast); the same code end to end on a
tiny budget (slow)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mbrl_control.pipeline.pretrain import PretrainConfig
from mbrl_control.pipeline.sim2real_grid import (
    GridConfig,
    fingerprint,
    plan_jobs,
    run_grid,
)
from mbrl_control.pipeline.sim2real_stats import (
    aggregate,
    load_cells,
    markdown_table,
    t_interval,
    write_cell,
)

E = 4  # episodes per evaluation in the synthetic cells


def _point(budget: float, returns: list[float], successes: int = 0, rails: int = 0) -> dict:
    return {
        "budget_min": budget,
        "real_minutes": budget,
        "returns": returns,
        "success_rate": successes / len(returns),
        "episodes": len(returns),
        "rail_steps": [3] * rails + [0] * (len(returns) - rails),
        "safety_stop_steps": [0] * len(returns),
    }


def _cell(key: str, kind: str, arm: str, seed: int, points: list[dict], **kw: object) -> dict:
    return {"key": key, "kind": kind, "arm": arm, "seed": seed, "points": points,
            "elapsed_s": 1.0, **kw}  # fmt: skip


def synthetic_cells() -> list[dict]:
    """random -100 on every episode, oracle_sim -20, oracle_model -10 (the better: R_oracle);
    condition 'default' over two seeds, real_only over the same two seeds."""
    flat = lambda v: [float(v)] * E  # noqa: E731
    return [
        _cell("random", "random", "random", 0, [_point(0, flat(-100))]),
        _cell("oracle_sim", "oracle_sim", "oracle_sim", 0, [_point(0, flat(-20), successes=2)]),
        _cell("oracle_model", "oracle_model", "oracle_model", 0, [_point(15, flat(-10), 4)]),
        _cell("default_s0", "condition", "default", 0,
              [_point(0, [-60, -50, -40, -50], rails=1), _point(1, flat(-10), successes=4)]),
        _cell("default_s1", "condition", "default", 1,
              [_point(0, [-70, -70, -70, -70]), _point(1, flat(-30), successes=2)]),
        _cell("real_only_s0", "real_only", "real_only", 0, [_point(1, [-90, -80, -90, -80])]),
        _cell("real_only_s1", "real_only", "real_only", 1, [_point(1, [-95, -85, -95, -85])]),
        _cell("pretrain_default_s0", "pretrain", "default", 0, []),
    ]  # fmt: skip


def _row(summary: dict, arm: str, budget: float) -> dict:
    (row,) = [r for r in summary["rows"] if r["arm"] == arm and r["budget_min"] == budget]
    return row


def test_t_interval_matches_students_t() -> None:
    mean, lo, hi = t_interval([1.0, 2.0, 3.0])
    # t(0.975, 2) = 4.3027, s = 1, n = 3
    assert mean == 2.0
    assert hi - mean == pytest.approx(4.3027 / math.sqrt(3), rel=1e-4)
    assert mean - lo == pytest.approx(hi - mean)
    mean, lo, hi = t_interval([5.0])
    assert mean == 5.0 and math.isnan(lo) and math.isnan(hi)


def test_aggregate_normalizes_by_the_better_oracle_and_random_on_the_same_episodes() -> None:
    summary = aggregate(synthetic_cells())
    refs = summary["references"]
    assert refs["oracle"] == "oracle_model"  # -10 beats the true simulator's -20
    assert refs["R_oracle"] == -10.0 and refs["R_random"] == -100.0
    assert refs["oracle_sim"] == -20.0
    # zero-shot: seed means -50 and -70 -> mean -60, t-interval over the 2 seed means
    zero = _row(summary, "default", 0.0)
    assert zero["ci_over"] == "seeds" and zero["seeds"] == [0, 1]
    assert zero["mean_return"] == pytest.approx(-60.0)
    half = 12.706 * np.std([-50, -70], ddof=1) / math.sqrt(2)
    assert zero["ci_high"] - zero["mean_return"] == pytest.approx(half, rel=1e-3)
    assert zero["normalized"] == pytest.approx((-60 + 100) / 90)
    assert zero["rail_hits"] == 1 and zero["safety_stops"] == 0 and zero["episodes"] == 2 * E
    one = _row(summary, "default", 1.0)
    assert one["normalized"] == pytest.approx(((-10 + 100) / 90 + (-30 + 100) / 90) / 2)
    assert one["success_rate"] == pytest.approx(6 / 8)
    # paired against real-only at the same budget
    assert one["delta_vs_real_only"] == pytest.approx(-20 - (-87.5))
    assert one["p_vs_real_only"] is not None and one["p_vs_real_only"] < 0.01
    # references normalize to 0 and 1; one seed: the interval is over episodes
    assert _row(summary, "random", 0.0)["normalized"] == pytest.approx(0.0)
    oracle = _row(summary, "oracle_model", 15.0)
    assert oracle["normalized"] == pytest.approx(1.0) and oracle["ci_over"] == "episodes"
    assert not any(r["kind"] == "pretrain" for r in summary["rows"])
    table = markdown_table(summary)
    assert "R_oracle = -10.0" in table and "model on plentiful real data" in table
    json.dumps(summary, allow_nan=False)  # strict JSON
    assert "t-interval" in table


def test_aggregate_without_references_says_why(tmp_path: Path) -> None:
    from mbrl_control.diagnostics.sim2real_plot import plot_grid

    cells = [c for c in synthetic_cells() if c["kind"] != "random"]
    cells.append(_cell("none_s0", "condition", "none", 0, [_point(0, [-50.0])]))  # n = 1
    summary = aggregate(cells)
    one = _row(summary, "none", 0.0)
    assert one["mean_return"] == -50.0 and one["ci_low"] is None and one["ci_high"] is None
    json.dumps(summary, allow_nan=False)
    plot_grid(summary, Path(tmp_path) / "p.png")
    assert "R_random" in summary["references"]["error"]
    assert all("normalized" not in r for r in summary["rows"])
    assert "No normalized score" in markdown_table(summary)


def test_plan_calibrated_has_no_zero_budget_and_needs_the_default_pretraining() -> None:
    cfg = GridConfig(conditions=("none", "calibrated"), budgets_min=(0.0, 1.0), seeds=(0, 1))
    first, second = plan_jobs(cfg)
    keys = [j.key for j in first]
    assert "pretrain_default_s1" in keys and "pretrain_none_s0" in keys
    assert {"random", "oracle_sim", "real_only_s0", "real_only_s1"} <= set(keys)
    calibrated = [j for j in second if j.arm == "calibrated"]
    assert [j.needs for j in calibrated] == [("pretrain_default_s0",), ("pretrain_default_s1",)]
    only_zero = GridConfig(conditions=("calibrated",), budgets_min=(0.0,), seeds=(0,))
    assert not [j for j in plan_jobs(only_zero)[1] if j.arm == "calibrated"]
    # the oracle needs the default pretraining of the first seed only
    wide = GridConfig(conditions=("wide",), seeds=(3, 4))
    assert sorted(j.key for j in plan_jobs(wide)[0] if j.kind == "pretrain") == [
        "pretrain_default_s3",
        "pretrain_wide_s3",
        "pretrain_wide_s4",
    ]
    # the backend and collection processes do not change results: resume across them
    assert fingerprint(replace(wide, pretrain=replace(wide.pretrain, workers=1))) == fingerprint(
        wide
    )


@pytest.mark.parametrize(
    "kw",
    [
        {"budgets_min": (1.0, 0.5)},
        {"budgets_min": (-1.0, 1.0)},
        {"conditions": ("default", "nope")},
        {"baselines": ("oracle",)},
        {"seeds": (0, 0)},
    ],
)
def test_grid_config_refuses(kw: dict) -> None:
    with pytest.raises(ValueError):
        GridConfig(**kw)


def _tiny(**kw: object) -> GridConfig:
    pre = PretrainConfig(seed_episodes=2, rounds=0, episodes_per_round=1, workers=1, max_epochs=2)
    base = dict(pretrain=pre, conditions=("default", "calibrated"), budgets_min=(0.0, 0.1),
                seeds=(0,), eval_episodes=2, retrain_every=200,
                baselines=("real_only", "random", "oracle_model"), oracle_minutes=0.1,
                calib_evaluations=32)  # fmt: skip
    return GridConfig(**{**base, **kw})


def test_fingerprint_names_a_task_file_by_content_not_by_path(tmp_path: Path) -> None:
    """A grid on a task file (e.g. ``--action-history``'s, written into OUT/tasks) keeps its
    cells when the folder is moved or copied, and reruns them when the file is edited."""
    from mbrl_control.tasks import builtin_task_files

    text = Path(builtin_task_files()["cartpole_swingup"]).read_text()
    a, b = tmp_path / "a" / "tasks" / "t.task.yaml", tmp_path / "b" / "tasks" / "t.task.yaml"
    for p in (a, b):
        p.parent.mkdir(parents=True)
        p.write_text(text)

    def fp(path: Path) -> dict:
        return fingerprint(_tiny(pretrain=replace(_tiny().pretrain, task=str(path))))

    assert fp(a) == fp(b) and str(a) not in json.dumps(fp(a))
    b.write_text(text + "\n# edited\n")
    assert fp(a) != fp(b)
    assert fingerprint(_tiny())["pretrain"]["task"] == "cartpole_swingup"  # a built-in: its name


def _artefacts(out: Path, key: str) -> None:
    """What a finished pretraining leaves for the jobs that need it (placeholders)."""
    work = out / "work" / key
    work.mkdir(parents=True, exist_ok=True)
    for name in ("model.pt", "planner.onnx"):
        (work / name).write_bytes(b"made")


def test_resume_skips_finished_cells_and_the_compute_budget_stops_new_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every planned cell but ``calibrated_s0`` is on disk with this config's fingerprint:
    a resumed run starts no job; with the compute budget spent the missing one is 'not run'."""
    cfg = _tiny()
    fp = fingerprint(cfg)
    planned = {j.key for phase in plan_jobs(cfg) for j in phase}
    for c in synthetic_cells():
        if c["key"] in planned:
            write_cell(tmp_path, {**c, "fingerprint": fp})
    _artefacts(tmp_path, "pretrain_default_s0")
    stale = {**synthetic_cells()[0], "key": "pretrain_default_s0", "fingerprint": {"old": 1}}
    assert "calibrated_s0" in planned
    result = run_grid(cfg, tmp_path, resume=True, max_minutes=1e-9, quiet=True)
    out = capsys.readouterr().out
    assert "random: done before (resume)" in out
    assert result["cells"]["calibrated_s0"]["status"] == "not run"
    assert "--max-minutes" in result["cells"]["calibrated_s0"]["why"]
    assert [p.name for p in (tmp_path / "work").iterdir()] == ["pretrain_default_s0"]  # no job
    for name in ("sim2real.json", "sim2real.md", "sim2real.png"):
        assert (tmp_path / name).is_file()
    assert "Not run: calibrated_s0" in (tmp_path / "sim2real.md").read_text()
    assert json.loads((tmp_path / "sim2real.json").read_text())["references"]["R_oracle"] == -10
    # a cell made with other settings is not reused: its dependents wait for it
    write_cell(tmp_path, stale)
    result = run_grid(cfg, tmp_path, resume=True, max_minutes=1e-9, quiet=True)
    assert result["cells"]["pretrain_default_s0"]["status"] == "not run"
    assert "needs pretrain_default_s0" in result["cells"]["calibrated_s0"]["why"]
    assert len(load_cells(tmp_path)) == len(planned) - 1


def test_resume_reruns_a_needed_pretraining_whose_work_folder_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cells copied without their work folders (another machine, a cleaned disk): the
    pretraining that ``calibrated_s0`` (still to run) needs is rerun first, not trusted into a
    missing ``planner.onnx``; once its artefacts exist it is resumed."""
    from mbrl_control.pipeline import sim2real_grid

    cfg = _tiny()
    planned = {j.key for phase in plan_jobs(cfg) for j in phase}
    for c in synthetic_cells():
        if c["key"] in planned:
            write_cell(tmp_path, {**c, "fingerprint": fingerprint(cfg)})
    ran: list[str] = []

    def fake(
        cfg: GridConfig, job: object, out: object, quiet: bool = True, record: bool = False
    ) -> dict:
        ran.append(job.key)  # type: ignore[attr-defined]
        if job.kind == "pretrain":  # type: ignore[attr-defined]
            _artefacts(tmp_path, job.key)  # type: ignore[attr-defined]
        cell = {c["key"]: c for c in synthetic_cells()}["default_s0"]
        return {**cell, "key": job.key, "kind": job.kind, "arm": job.arm,  # type: ignore[attr-defined]
                "fingerprint": fingerprint(cfg)}  # fmt: skip

    monkeypatch.setattr(sim2real_grid, "run_job", fake)
    assert "pretrain_default_s0" not in sim2real_grid.resumable(tmp_path, cfg)
    result = run_grid(cfg, tmp_path, resume=True, quiet=True)
    assert ran == ["pretrain_default_s0", "calibrated_s0"]
    assert result["cells"]["pretrain_default_s0"]["status"] == "ran"
    assert result["cells"]["default_s0"]["status"] == "resumed"
    # everything finished, the artefacts exist: nothing reruns
    ran.clear()
    result = run_grid(cfg, tmp_path, resume=True, quiet=True)
    assert ran == [] and {v["status"] for v in result["cells"].values()} == {"resumed"}
    # a pretraining no job still needs is resumed without its work folder
    for name in ("model.pt", "planner.onnx"):
        (tmp_path / "work" / "pretrain_default_s0" / name).unlink()
    run_grid(cfg, tmp_path, resume=True, quiet=True)
    assert ran == []


def test_a_failed_job_is_reported_and_the_grid_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An injected failure of the random baseline: logged with its one-line cause, the other
    cells still aggregate, the table says why there is no normalized score."""
    from mbrl_control.pipeline import sim2real_grid

    cfg = _tiny()
    planned = {j.key for phase in plan_jobs(cfg) for j in phase}
    for c in synthetic_cells():
        if c["key"] in planned and c["key"] != "random":
            write_cell(tmp_path, {**c, "fingerprint": fingerprint(cfg)})
    _artefacts(tmp_path, "pretrain_default_s0")

    def broken(
        cfg: GridConfig, job: object, out: object, quiet: bool = True, record: bool = False
    ) -> dict:
        raise RuntimeError(f"injected failure of {job.key}\nsecond line")  # type: ignore[attr-defined]

    monkeypatch.setattr(sim2real_grid, "run_job", broken)
    result = run_grid(cfg, tmp_path, resume=True, quiet=True)
    assert result["cells"]["random"] == {
        "status": "failed",
        "why": "RuntimeError: injected failure of random second line",
        "elapsed_s": None,
    }
    assert result["cells"]["calibrated_s0"]["status"] == "failed"
    assert "R_random" in result["references"]["error"]
    md = (tmp_path / "sim2real.md").read_text()
    assert "Failed: " in md and "No normalized score" in md
    assert "random: FAILED: RuntimeError" in capsys.readouterr().out


def test_cli_refuses_bad_grids(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from mbrl_control.cli import main

    for argv, name in (
        (["--budgets", "0,0,1"], "--budgets"),
        (["--budgets", "-1,1"], "--budgets"),
        (["--conditions", "default,nope"], "--conditions"),
        (["--seeds", "1,1"], "--seeds"),
        (["--baselines", "oracle"], "--baselines"),
        (["--backend", "slurm"], "--backend"),
        (["--real-profile", "nope"], "--real-profile"),
        (["--real-profile", str(tmp_path / "missing.yaml")], "--real-profile"),
    ):
        code = main(["experiment", "sim2real", "--out", str(tmp_path / "e"), *argv])
        err = capsys.readouterr().err
        assert code == 2 and name in err and len(err.strip().splitlines()) == 1, err


# ---- the same code on a tiny budget ---------------------------------------------------------
@pytest.mark.slow
def test_tiny_grid_end_to_end(tmp_path: Path) -> None:
    """2 conditions (none, default) × budgets (0, 0.1 min) × 1 seed × 2 episodes, with the
    real-only, random and oracle_model baselines; then a resumed run reruns nothing."""
    cfg = _tiny(conditions=("none", "default"))
    result = run_grid(cfg, tmp_path, quiet=True)
    assert {v["status"] for v in result["cells"].values()} == {"ran"}
    rows = {(r["arm"], r["budget_min"]): r for r in result["rows"]}
    assert set(rows) == {
        ("none", 0.0),
        ("none", 0.1),
        ("default", 0.0),
        ("default", 0.1),
        ("real_only", 0.1),
        ("random", 0.0),
        ("oracle_model", 0.1),
    }
    assert all(r["episodes"] == 2 and r["safety_counted"] for r in rows.values())
    refs = result["references"]
    if "error" in refs:  # a 0.1-min, 2-epoch "oracle" need not beat random on 2 episodes
        assert "is not above R_random" in refs["error"], refs
        assert "normalized" not in rows[("default", 0.1)]
    else:
        assert refs["oracle"] == "oracle_model"  # the only oracle run here
        assert "normalized" in rows[("default", 0.1)]
    assert "p_vs_real_only" in rows[("none", 0.1)]
    # budgets are met in whole episodes: 0.1 min = 300 steps -> 2 episodes of 200
    assert rows[("default", 0.1)]["real_minutes"] == pytest.approx(400 / 50 / 60)
    cells = {c["key"]: c for c in load_cells(tmp_path)}
    assert cells["default_s0"]["finetune_rails"]["episodes"] == 2
    for name in ("sim2real.json", "sim2real.md", "sim2real.png"):
        assert (tmp_path / name).is_file()
    again = run_grid(cfg, tmp_path, resume=True, quiet=True)
    assert {v["status"] for v in again["cells"].values()} == {"resumed"}
    assert again["rows"] == result["rows"]


@pytest.mark.slow
def test_tiny_grid_calibrated_condition(tmp_path: Path) -> None:
    """Record 2 episodes with the default-pretrained planner, calibrate, re-pretrain warm on
    the calibrated profile, finetune: the calibration data counts in the budget."""
    cfg = _tiny(conditions=("calibrated",), baselines=("random",))
    result = run_grid(cfg, tmp_path, quiet=True)
    status = result["cells"]["calibrated_s0"]
    assert status["status"] == "ran", status  # a fit on a profile bound stays inside it
    (row,) = [r for r in result["rows"] if r["arm"] == "calibrated"]
    assert row["budget_min"] == 0.1  # no zero-budget cell
    assert row["real_minutes"] == pytest.approx(400 / 50 / 60)  # the 2 calibration episodes
    calib = result["calibration"]["calibrated_s0"]
    assert Path(calib["profile"]).is_file() and calib["episodes"] == 2
    rounds = json.loads(
        (
            tmp_path / "work" / "calibrated_s0" / "adapt" / "pretrain_calibrated" / "rounds.json"
        ).read_text()
    )
    assert len(rounds) == 1 + cfg.recalib_rounds  # the default round 0, then 2 warm rounds


@pytest.mark.slow
def test_cli_acrobot_with_action_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acrobot example through the CLI, on the task plus a 1-action history block, its
    "robot" the example's own profile file (given relative: jobs get its absolute path)."""
    from mbrl_control.cli import main

    example = Path(__file__).parents[2] / "examples" / "acrobot"
    task = example / "acrobot_swingup.task.yaml"
    out = tmp_path / "acro"
    monkeypatch.chdir(example)
    code = main(["experiment", "sim2real", "--task", str(task), "--action-history", "1",
                 "--real-profile", "reality.yaml",
                 "--conditions", "default", "--budgets", "0,0.2", "--seeds", "0",
                 "--eval-episodes", "1", "--rounds", "0", "--seed-episodes", "2", "--epochs", "2",
                 "--retrain-every", "200", "--workers", "1", "--baselines", "random",
                 "--out", str(out), "--json", "--quiet"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    result = json.loads(printed[printed.index("{") : printed.rindex("}") + 1])
    variant = out / "tasks" / "acrobot_swingup_last1.task.yaml"
    assert variant.is_file() and result["config"]["pretrain"]["task"] == str(variant)
    assert result["config"]["real_profile"] == str((example / "reality.yaml").resolve())
    assert {(r["arm"], r["budget_min"]) for r in result["rows"]} == {
        ("default", 0.0), ("default", 0.2), ("random", 0.0)
    }  # fmt: skip
    assert result["rows"][0]["rail_hits"] == 0  # no rail critic on the acrobot


@pytest.mark.slow
def test_ray_backend_runs_the_jobs_as_ray_tasks(tmp_path: Path) -> None:
    """A local Ray instance runs the missing job (the random policy: the cheapest, so that the
    test times Ray, not planning; the oracle on the true simulator took 10 min of a loaded
    machine here); the finished cells are resumed."""
    ray = pytest.importorskip("ray")
    cfg = _tiny(conditions=("default",), baselines=("real_only", "random", "oracle_sim"))
    planned = {j.key for phase in plan_jobs(cfg) for j in phase}
    for c in synthetic_cells():
        if c["key"] in planned - {"random"}:
            write_cell(tmp_path, {**c, "fingerprint": fingerprint(cfg)})
    try:
        result = run_grid(cfg, tmp_path, backend="ray", jobs=2, resume=True, quiet=True)
    finally:
        ray.shutdown()
    ran = {k for k, v in result["cells"].items() if v["status"] == "ran"}
    assert ran == {"random"}
    assert result["cells"]["default_s0"]["status"] == "resumed"
    assert result["cells"]["oracle_sim"]["status"] == "resumed"
    refs = result["references"]
    assert refs["R_random"] < 0 and refs["oracle_sim"] == pytest.approx(-20.0)


@pytest.mark.slow
def test_run_sim2real_small_budget_path_of_the_demo(tmp_path: Path) -> None:
    """The demo's path (one condition, no baselines) still runs and reports safety counts."""
    from mbrl_control.pipeline.sim2real import Sim2RealConfig, markdown_table, run_sim2real

    pre = PretrainConfig(seed_episodes=2, rounds=0, episodes_per_round=1, workers=1, max_epochs=2)
    cfg = Sim2RealConfig(pretrain=pre, budgets_min=(0.1,), retrain_every=200, eval_episodes=1,
                         baselines=False, adapt_seconds=4.0, adapt_evaluations=32,
                         adapt_rounds=0)  # fmt: skip
    result = run_sim2real(cfg, tmp_path, quiet=True)
    names = [r["planner"] for r in result["rows"]]
    assert names[-2:] == ["finetuned, 0.1 min real", "calibrated + adapted, 0.1 min real"]
    assert "rail_hits" in result["curve"][0]["eval"]
    # the calibrate-and-adapt row: its own 2 recorded episodes, a gate decision, an evaluation
    adapted = result["adapt"]
    assert "calibrate_and_adapt_after_curve" in result["stages_s"]  # ran beside the curve
    assert adapted["real_minutes"] == pytest.approx(2 * 200 / 50 / 60)
    assert adapted["eval"]["episodes"] == 1 and "rail_hits" in adapted["eval"]
    assert set(adapted["held_out_error"]) >= {"current", "recalibrated"}
    from mbrl_control.pipeline.demo import recovered_vs_true

    lines = recovered_vs_true(adapted["calibration"]["fitted"], "reality_gap")
    assert any("mass_scale" in ln and "reality_gap [1.25, 1.5]" in ln for ln in lines), lines
    assert "| planner |" in markdown_table(result["rows"])
    assert (tmp_path / "sim2real.png").is_file()


@pytest.mark.slow
def test_calibrated_cell_records_adapts_and_finetunes_from_the_deployed_planner(
    tmp_path: Path,
) -> None:
    """The calibrated arm on a tiny budget: its recording (2 episodes, in the budget), the
    adaptation loop (shared with the demo: ``record_and_adapt``), the finetune loop after."""
    cfg = _tiny(conditions=("calibrated",), budgets_min=(0.1,), baselines=())
    result = run_grid(cfg, tmp_path, quiet=True)
    assert result["cells"]["calibrated_s0"]["status"] == "ran"
    cell = json.loads((tmp_path / "cells" / "calibrated_s0.json").read_text())
    cal = cell["calibration"]
    assert cal["episodes"] == 2 and cal["adapt_choice"] in ("finetuned", "recalibrated")
    assert isinstance(cal["adapt_deploy"], bool) and cal["fitted"]
    assert [p["budget_min"] for p in cell["points"]] == [0.1]
    assert cell["finetune_rails"]["episodes"] >= 2  # the calibration recording counts


def test_finetune_safety_counts_rail_hits_and_safety_stops_in_recorded_episodes(
    tmp_path: Path,
) -> None:
    """Recorded robot episodes: at rest, past the rail critic's 2 m, past the 2.5 m joint
    range (a safety stop too), and too fast (20 m/s limit): per-episode counts of both."""
    from mbrl_control.data.store import TransitionStore
    from mbrl_control.pipeline.sim2real_grid import finetune_rails

    store = TransitionStore(tmp_path / "real")
    for x, xd in ((0.0, 0.0), (2.2, 0.0), (2.6, 0.0), (0.0, 25.0)):
        obs = np.tile(np.array([0.0, -1.0, 0.0, 0.0, 0.0], np.float32), (6, 1))
        obs[3] = [x, -1.0, 0.0, xd, 0.0]  # one state of the episode
        store.append_episode(obs, np.zeros((5, 1), np.float32), {"task": "cartpole_swingup"})
    counts = finetune_rails("cartpole_swingup", tmp_path / "real")
    assert counts == {"episodes": 4, "rail_hit_episodes": 2, "safety_stop_episodes": 2}
