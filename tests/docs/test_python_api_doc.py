"""docs/python_api.md runs: its ```python blocks, in order, in one namespace, in a temp dir.

Run as a script to measure at larger sizes (the constants of the doc's first block)::

    python tests/docs/test_python_api_doc.py --episodes 20 --epochs 100 --eval-episodes 5
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "python_api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)
SIZES = {
    "EPISODES": "--episodes",
    "EPOCHS": "--epochs",
    "EVAL_EPISODES": "--eval-episodes",
    "STEPS": "--steps",
}
TEST_SIZES = {"STEPS": 60}
"""The test shortens the closed-loop episodes to 3 s (most of a swing-up's cost is paid by
then); the rest is the doc as written."""


def doc_blocks(overrides: dict[str, int] | None = None) -> list[str]:
    """The doc's python blocks; ``overrides`` replace ``NAME = value`` size constants."""
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    for name, value in (overrides or {}).items():
        pattern = re.compile(rf"^{name} = \d+", re.M)
        blocks = [pattern.sub(f"{name} = {int(value)}", b) for b in blocks]
    return blocks


def run_doc(workdir: Path, overrides: dict[str, int] | None = None) -> dict:
    """Execute every block in order in ``workdir``; returns the shared namespace."""
    namespace: dict = {"__name__": "python_api_doc"}
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        for i, block in enumerate(doc_blocks(overrides)):
            exec(compile(block, f"{DOC.name}[block {i}]", "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def test_the_doc_has_the_walk_through_blocks():
    text = "\n".join(doc_blocks())
    for needed in ("GymTask.from_env", "build_planner", "export_planner", "OnnxPlanner",
                   'kind="icem"', 'kind="cem"', 'cost="learned"'):  # fmt: skip
        assert needed in text, needed


@pytest.mark.slow  # ~2 min on an idle 2-core machine (a fit, 3 exports, 6 short episodes)
@pytest.mark.timeout(1500)  # and several times that on a loaded one
def test_python_api_walk_through_runs(tmp_path):
    pytest.importorskip("gymnasium")
    pytest.importorskip("onnxruntime")
    ns = run_doc(tmp_path, TEST_SIZES)
    assert ns["gap"] < 1e-4  # torch and ONNX: same seed, same actions
    assert (tmp_path / "pendulum_icem.onnx").is_file()
    assert ns["task"].joint_names == () and ns["learned_task"].cost_source == "learned"
    # planning on the fitted model does as well as planning on the true dynamics
    for kind in ("cem", "icem"):
        learned, true = (
            ns["returns"][f"{kind}, learned model"],
            ns["returns"][f"{kind}, true dynamics"],
        )
        assert np.mean(learned) > np.mean(true) - 150, (learned, true)


def main(argv: list[str] | None = None) -> int:
    """Run the walk-through at the given sizes and print the measured returns."""
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, flag in SIZES.items():
        parser.add_argument(flag, type=int, dest=name)
    args = vars(parser.parse_args(argv))
    overrides = {k: v for k, v in args.items() if v is not None}
    with tempfile.TemporaryDirectory() as tmp:
        ns = run_doc(Path(tmp), overrides)
    print("\nsizes:", {k: ns[k] for k in SIZES})
    for key, values in ns["returns"].items():
        print(f"{key:28s} mean {np.mean(values):8.1f}  per episode {np.round(values, 1)}")
    print(f"torch/ONNX largest action difference: {ns['gap']:.1e}")
    print(f"ONNX iCEM returns: {np.round(ns['onnx_returns'], 1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
