"""Every subcommand with bad input: one line naming the argument, exit 2, no traceback,
nothing created. Plus: --debug shows the traceback, help text everywhere with defaults.

Runs ``main(argv)`` in-process (the console script is ``sys.exit(main())``) with the working
directory set to an empty folder that must still be empty afterwards.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mbrl_control.cli import COMMANDS, build_parser, main

# (argv with {fx} = fixture files and {w} = the empty working directory, text the one line
# must contain). At least one case per subcommand (checked below).
BAD = [
    # evaluate: 11 kinds
    ("evaluate --planner {fx}/planner.onnx --episodes 0", "--episodes"),
    ("evaluate --oracle nope", "--oracle"),
    ("evaluate --planner {fx}/nope.onnx", "nope.onnx"),
    ("evaluate --planner {fx}/junk.txt --episodes 1 --quiet", "junk.txt"),
    ("evaluate --planner {fx}/planner.onnx --task nope", "--task"),
    ("evaluate --planner {fx}/planner.onnx --profile nope", "--profile"),
    ("evaluate --planner {fx}/planner.onnx --seed -1", "--seed"),
    ("evaluate --planner {fx}/planner.onnx --episodes many", "--episodes"),
    ("evaluate --planner {fx}/planner.onnx --video {fx}", "--video"),
    ("evaluate --planner {fx}/planner.onnx --record {w}/r.bag", "--record"),
    ("evaluate --planner {fx}/planner.onnx --record {fx}/junk.txt/r.mcap", "--record"),
    ("evaluate --planner {fx}/junk.txt --episodes 1 --quiet --record {w}/new/r.mcap", "junk.txt"),
    # finetune
    (
        "finetune --data {fx}/empty --checkpoint {fx}/model5.pt --planner {fx}/planner.onnx "
        "--out {w}/o --quiet",
        "episode",
    ),
    (
        "finetune --data {w}/typo --checkpoint {fx}/model5.pt --planner {fx}/planner.onnx "
        "--out {w}/o",
        "--data",
    ),
    (
        "finetune --data {fx}/data --checkpoint {fx}/model5.pt --planner {fx}/junk.txt "
        "--out {w}/o --quiet",
        "junk.txt",
    ),
    (
        "finetune --bag {fx}/nope.mcap --checkpoint {fx}/model5.pt --planner {fx}/planner.onnx "
        "--out {w}/o",
        "--bag",
    ),
    (
        "finetune --data {fx}/data --checkpoint {fx}/model5.pt --planner {fx}/planner.onnx "
        "--out {w}/o --real-ratio 2",
        "--real-ratio",
    ),
    (
        "finetune --data {fx}/data --checkpoint {fx}/model5.pt --planner {fx}/planner.onnx "
        "--out {w}/o --holdout-episodes 0",
        "--holdout-episodes",
    ),
    # pretrain
    ("pretrain --task nope --out {w}/p", "--task"),
    ("pretrain --preset nope --out {w}/p", "--preset"),
    ("pretrain --seed-episodes 0 --out {w}/p", "--seed-episodes"),
    ("pretrain --rounds -1 --out {w}/p", "--rounds"),
    ("pretrain --profile {fx}/bad_profile.yaml --out {w}/p", "bogus_key"),
    # export
    (
        "export --checkpoint {fx}/model3.pt --task cartpole_swingup --preset cartpole-rt "
        "--out {w}/x.onnx",
        "ensemble members",
    ),
    (
        "export --checkpoint {fx}/model5.pt --task cartpole_swingup --preset cartpole-rt "
        "--horizon -1 --out {w}/x.onnx",
        "--horizon",
    ),
    (
        "export --checkpoint {fx}/nope.pt --task cartpole_swingup --preset cartpole-rt "
        "--out {w}/x.onnx",
        "nope.pt",
    ),
    (
        "export --checkpoint {fx}/junk.txt --task cartpole_swingup --preset cartpole-rt "
        "--out {w}/x.onnx",
        "junk.txt",
    ),
    (
        "export --checkpoint {fx}/model5.pt --task nope --preset cartpole-rt --out {w}/x.onnx",
        "--task",
    ),
    (
        "export --checkpoint {fx}/model5.pt --task cartpole_swingup --preset cartpole-rt "
        "--prior-frac 0.5 --out {w}/x.onnx",
        "--agent",
    ),
    (
        "export --checkpoint {fx}/model5.pt --task cartpole_swingup --preset cartpole-rt "
        "--out {fx}",
        "--out",
    ),
    # collect
    (
        "collect --task cartpole_swingup --profile missing.yaml --episodes 1 --out {w}/c",
        "missing.yaml",
    ),
    ("collect --task nope --episodes 1 --out {w}/c", "--task"),
    ("collect --task cartpole_swingup --episodes 0 --out {w}/c", "--episodes"),
    ("collect --task cartpole_swingup --episodes 1 --workers 0 --out {w}/c", "--workers"),
    (
        "collect --task cartpole_swingup --episodes 1 --policy planner:{fx}/nope.onnx --out {w}/c",
        "--policy",
    ),
    ("collect --task cartpole_swingup --episodes 1 --policy greedy --out {w}/c", "--policy"),
    # train
    ("import --csv {fx}/junk.txt --task cartpole_swingup --out {w}/i", "junk.txt"),
    ("import --csv {w}/nope.csv --task cartpole_swingup --out {w}/i", "--csv"),
    ("import --csv {fx} --task cartpole_swingup --out {w}/i", "--csv"),
    ("import --bag {fx}/nope.mcap --task cartpole_swingup --out {w}/i", "--bag"),
    ("import --bag {fx}/junk.txt --task cartpole_swingup --out {w}/i", "junk.txt"),
    ("import --csv {fx}/junk.txt --task cartpole_swingup --time-unit h --out {w}/i", "--time-unit"),
    ("import --csv {fx}/junk.txt --task nope --out {w}/i", "--task"),
    ("init-task --urdf {fx}/nope.urdf --out {w}/t.task.yaml", "--urdf"),
    ("init-task --from-topic robot_description --out {w}/t.txt", ".yaml"),
    ("train --data {w}/typo --task cartpole_swingup --out {w}/t", "--data"),
    ("train --data {fx}/data --task nope --out {w}/t", "--task"),
    ("train --data {fx}/data --task cartpole_swingup --out {w}/t --members 0", "--members"),
    ("train --data {fx}/data --task cartpole_swingup --out {w}/t --lr nan", "--lr"),
    (
        "train --data {fx}/data --task cartpole_swingup --out {w}/t --activation nope",
        "--activation",
    ),
    # train-value
    (
        "train-value --task cartpole_swingup --data {fx}/data --checkpoint {fx}/nope.pt "
        "--out {w}/v",
        "--checkpoint",
    ),
    (
        "train-value --task cartpole_swingup --data {fx}/data --checkpoint {fx}/model5.pt "
        "--out {w}/v --gamma 1.5",
        "--gamma",
    ),
    # ablation
    ("ablation value --checkpoint {fx}/nope.pt --agent {fx}/junk.txt --out {w}/a", "nope.pt"),
    (
        "ablation rollout-length --checkpoint {fx}/model5.pt --agent {fx}/junk.txt --out {w}/a",
        "--data",
    ),
    (
        "ablation value --checkpoint {fx}/model5.pt --agent {fx}/junk.txt --horizons 3,x "
        "--out {w}/a",
        "--horizons",
    ),
    ("ablation learned-cost --random-hold 0 --out {w}/a", "--random-hold"),
    ("ablation learned-cost --rounds -1 --out {w}/a", "--rounds"),
    ("ablation learned-cost --checkpoint {fx}/model5.pt --out {w}/a", "--checkpoint"),
    ("ablation uncertainty --checkpoint {fx}/model5.pt --data {w} --out {w}/a", "--ood-data"),
    ("ablation uncertainty --checkpoint {fx}/model5.pt --data {w} --ood-data {w}/nope", "nope"),
    ("ablation uncertainty --data {w} --ood-data {w} --out {w}/a", "--checkpoint"),
    ("ablation refine --out {w}/a", "--checkpoint"),
    ("ablation refine --task panda_reach --checkpoint {fx}/model5.pt --out {w}/a", "17 / 7"),
    ("ablation refine --checkpoint {fx}/model5.pt --refine-steps 0 --out {w}/a", "--refine-steps"),
    ("ablation refine --checkpoint {fx}/model5.pt --iterations 2,x --out {w}/a", "--iterations"),
    ("ablation safety --out {w}/a", "--checkpoint"),
    ("ablation safety --checkpoint {fx}/model5.pt --weights 0,x --out {w}/a", "x"),
    # dyna
    ("dyna --n 0,x --out {w}/d", "--n"),
    ("dyna --n 5,5 --out {w}/d", "--n"),
    ("dyna --seeds 0 --out {w}/d", "--seeds"),
    ("dyna --env nope --out {w}/d", "--env"),
    ("dyna --out {fx}/junk.txt", "--out"),
    # calibrate
    ("calibrate --task cartpole_swingup --data {w}/typo --out {w}/c.yaml", "--data"),
    ("calibrate --task cartpole_swingup --data {fx}/empty --out {w}/o/c.yaml", "no episodes"),
    ("calibrate --task cartpole_swingup --data {fx}/data --out {w}/c.txt", "--out"),
    # adapt
    ("adapt --task cartpole_swingup --run {w}/typo --data {fx}/data --out {w}/o", "--run"),
    (
        "adapt --task cartpole_swingup --run {fx}/data --data {fx}/data --out {w}/o",
        "not a pretraining run",
    ),
    # experiment, demo, bench, launch, report
    ("experiment sim2real --budgets a,b --out {w}/e", "--budgets"),
    ("experiment sim2real --budgets 5,2 --out {w}/e", "--budgets"),
    ("experiment sim2real --budgets 0,0 --out {w}/e", "--budgets"),
    ("experiment sim2real --conditions nope --out {w}/e", "--conditions"),
    ("demo --out {fx}/junk.txt", "--out"),
    ("bench planner", "--preset"),
    ("bench precision --run {w}/nope", "--run"),
    ("bench precision --run {fx}/data", "no planner.onnx"),
    ("bench precision --run {fx} --precisions int8,int4", "--precisions"),
    ("bench precision --run {fx} --episodes 1", "--episodes"),
    ("bench planner-files {fx}/junk.txt", "not a loadable ONNX"),
    # an option that only acts with another one is refused without it, not ignored
    ("bench planner-files {fx}/junk.txt --ops-calls 3", "--ops-calls: only with --ops"),
    ("bench controller --job-nice 3", "--job-nice: only with --with-adapt"),
    ("bench controller --evaluations 50", "--evaluations: only with --with-adapt"),
    ("evaluate --oracle --threads 1", "--threads: only with --planner"),
    ("bench soak --minutes 0", "--minutes"),
    ("bench soak --minutes soon", "--minutes"),
    ("bench soak --minutes nan", "--minutes"),
    ("bench soak --minutes 1 --keep {fx}/junk.txt", "--keep"),
    ("report {w}/nope", "nope"),
    ("report {fx}/junk.txt", "junk.txt"),
    ("report {fx}/data", "no run outputs"),
    ("report {fx}/data --out {fx}", "--out"),
    ("train-pixels --out {w}/p --env-steps 0", "--env-steps"),
    ("train-pixels --out {fx}/junk.txt", "junk.txt"),
    ("train-pixels --out {w}/p --task nope", "--task"),
    ("train-pixels --out {w}/p --size huge", "--size"),
    ("bench nope", "nope"),
    ("launch {w}/nope.launch.yaml", "nope.launch.yaml"),
    ("launch --sigterm-timeout -1 {fx}/junk.txt", "--sigterm-timeout"),
]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_every_subcommand_has_bad_input_cases() -> None:
    covered = {case.split()[0] for case, _ in BAD}
    assert covered == set(COMMANDS)


@pytest.mark.parametrize(("case", "names"), BAD, ids=[c for c, _ in BAD])
def test_bad_input_is_one_line_exit_2_nothing_created(
    case: str, names: str, fx: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("MBRL_CONTROL_DEBUG", raising=False)
    code, _, err = _run(case.format(fx=fx, w=work).split(), capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("mbrl-control") and "error" in lines[0], lines[0]
    assert names in lines[0], lines[0]
    words = case.split()  # a nested command's error names it, at parse and at run time alike
    if words[0] == "bench" and len(words) > 1 and words[1] != "nope":
        assert lines[0].startswith(f"mbrl-control bench {words[1]}: error"), lines[0]
    assert sorted(p.name for p in work.rglob("*")) == [], "a failed run left files behind"


def test_debug_prints_the_traceback(fx: Path, tmp_path: Path, capsys) -> None:
    argv = ["export", "--checkpoint", str(fx / "junk.txt"), "--task", "cartpole_swingup",
            "--preset", "cartpole-rt", "--out", str(tmp_path / "x.onnx")]  # fmt: skip
    code, _, err = _run(argv, capsys)
    assert code == 2 and "Traceback" not in err
    code, _, err = _run([*argv, "--debug"], capsys)
    assert code == 2 and "Traceback" in err and "junk.txt" in err.strip().splitlines()[-1]


def test_a_failed_run_removes_the_directories_it_created(fx: Path, tmp_path: Path, capsys):
    """collect creates its store, then fails to load the planner: the store goes again."""
    out = tmp_path / "new" / "store"
    argv = ["collect", "--task", "cartpole_swingup", "--episodes", "1", "--quiet",
            "--policy", f"planner:{fx / 'junk.txt'}", "--out", str(out)]  # fmt: skip
    code, _, err = _run(argv, capsys)
    assert code == 2 and "junk.txt" in err and "Traceback" not in err
    assert not (tmp_path / "new").exists()


def _parsers(parser: argparse.ArgumentParser, path: str = "mbrl-control"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


OUTSIDE: tuple[str, ...] = ()  # every subcommand, the benchmarks' own options included


def test_every_option_has_help_and_shows_its_default() -> None:
    missing, no_default = [], []
    for path, parser in _parsers(build_parser()):
        if path.startswith(OUTSIDE):
            continue
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            flag = "/".join(action.option_strings) or action.dest
            if not action.help:
                missing.append(f"{path} {flag}")
            default = action.default
            meaningful = not (
                default is None or default is False or default in ("", "==SUPPRESS==")
            )
            if meaningful and action.option_strings:
                shown = parser._get_formatter()._get_help_string(action)
                if "default" not in shown:
                    no_default.append(f"{path} {flag}")
    assert not missing, f"options without help: {missing}"
    assert not no_default, f"defaults not shown: {no_default}"


def test_evaluate_help_names_task_episodes_seed_and_their_defaults(capsys) -> None:
    assert main(["evaluate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--task TASK task to run" in text and "(default: the planner file's task" in text
    assert "--episodes EPISODES episodes to run (default: 10)" in text
    assert "--seed SEED seed of the first episode" in text and "(default: 1000)" in text


def test_preset_and_activation_choices_match_the_library() -> None:
    from mbrl_control.cli.checks import PRESET_NAMES
    from mbrl_control.cli.train import ACTIVATIONS
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.planning.planner import PRESETS
    from mbrl_control.planning.presets import PLANNER_PRESETS

    assert set(PRESET_NAMES) == set(PLANNER_PRESETS) >= set(PRESETS)
    for name in ACTIVATIONS:
        EnsembleConfig(5, 1, activation=name)
    with pytest.raises(ValueError):
        EnsembleConfig(5, 1, activation="not-" + ACTIVATIONS[0])
