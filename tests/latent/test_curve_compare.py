"""Several pixel runs' learning curves in one PNG (``python -m mbrl_control.latent.curve``)."""

from __future__ import annotations

import pytest
from PIL import Image

from mbrl_control.latent.curve import LearningCurve, main


def _run(folder, returns: list[float], success: list[float]) -> None:
    curve = LearningCurve(folder)
    curve.append({"env_steps": 0, "policy": "random", "mean_return": -190.0, "success_rate": 0})
    for k, (ret, ok) in enumerate(zip(returns, success, strict=True)):
        curve.append({"env_steps": 1000 * k, "policy": "planner", "mean_return": ret,
                      "std_return": 5.0, "success_rate": ok})  # fmt: skip


def test_runs_compared_in_one_png_and_a_wrong_folder_is_one_line(tmp_path, capsys) -> None:
    _run(tmp_path / "a", [-230.0, -180.0, -150.0], [0.0, 0.0, 0.2])
    _run(tmp_path / "b", [-230.0, -200.0], [0.0, 0.0])
    out = tmp_path / "cmp.png"
    args = [str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]
    assert main([*args, "--label", "medium", "--label", "small"]) == 0
    with Image.open(out) as png:
        assert png.size == (700, 400)
    for bad in (["--label", "only one"], [str(tmp_path / "none")]):
        with pytest.raises(SystemExit):
            main([*args, *bad])
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) >= 1 and "error:" in err[-1]
