"""``bench excitation`` (python -m mbrl_control.bench.excitation): the planner + exploration
noise with and without the limit guard, paired, counted from the simulator's truth; here on
a tiny budget with an untrained planner (it drives the cart past the rail critic's limit, so
every arm has hits and the guard has states to withhold the noise on)."""

from __future__ import annotations

import json
import subprocess
import sys

from mbrl_control.cli import main


def test_the_command_prints_paired_arms_as_json(tiny_planner, capsys):
    argv = ["bench", "excitation", "--planner", str(tiny_planner), "--profile", "none",
            "--episodes", "2", "--noise", "0.5", "--seed", "3", "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["episodes"], out["profile"], out["lookahead_s"]) == (2, "none", 0.3)
    alone, (level,) = out["planner_alone"], out["levels"]
    off, on = level["unguarded"], level["guarded"]
    assert (off["guard"], on["guard"], level["noise"]) == (False, True, 0.5)
    for arm in (alone, off, on):
        assert len(arm["returns"]) == 2 and 0 <= arm["rail_hit_episodes"] <= 2
        assert (arm["rail_hit_states"] > 0) == (arm["rail_hit_episodes"] > 0)
        assert len(arm["rail_hit_seeds"]) == arm["rail_hit_episodes"]
        assert 0 <= arm["recorded_rail_hit_episodes"] <= 2  # the grid's finetune_rails count
    assert alone["rail_hit_episodes"] == alone["recorded_rail_hit_episodes"] == 2  # it alone
    # reaches the rail ends (profile none: no sensor noise, the recorded count is the truth's)
    assert off["steps"] == on["steps"] == 400
    assert 0 < on["noise_withheld_fraction"] < 1 and 0 < off["noise_flagged_fraction"] < 1
    assert 0 < on["injected_rms"] < off["injected_rms"]  # withheld noise is not injected
    paired = level["paired"]
    assert set(paired) == {"return_guarded_minus_unguarded", "hit_episodes_removed",
                           "hit_episodes_added"}  # fmt: skip
    diff = [b - a for a, b in zip(off["returns"], on["returns"])]
    assert abs(paired["return_guarded_minus_unguarded"]["mean"] - sum(diff) / 2) < 0.01


def test_bad_values_are_one_line(tiny_planner):
    for argv, message in (
        (["--episodes", "0"], "--episodes: must be an integer >= 1"),
        (["--noise", "0.2,1.5"], "--noise"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "mbrl_control.bench.excitation", "--planner",
             str(tiny_planner), *argv],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 2 and message in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
