"""``mbrl-control report RUN`` on a real tiny pretraining run: one self-contained HTML page
(no external reference; every image an embedded, decodable PNG/GIF) with what was run, the
rounds table, the metrics plots, a Markdown table and the GIF."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mbrl_control.cli import main
from mbrl_control.pipeline.evaluate import write_video
from mbrl_control.pipeline.pretrain import PretrainConfig, pretrain
from mbrl_control.recording.report import build_report, markdown_html

pytestmark = pytest.mark.slow

TINY = PretrainConfig(seed_episodes=2, rounds=0, workers=1, max_epochs=2)


class _Page(HTMLParser):
    """Collects tags, image sources and every attribute that could load something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for key, value in attrs:
            if tag == "img" and key == "src":
                self.images.append(value or "")
            elif key in ("href", "src"):
                self.links.append(value or "")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "pretrain"
    pretrain(replace(TINY, seed=3), out, quiet=True)
    write_video(out / "planner.onnx", "cartpole_swingup", "default", 3, out / "swing.gif")
    (out / "notes.md").write_text("# Results\n\n| a | b |\n|---|---|\n| 1 | x<y |\n")
    return out


def test_report_is_one_self_contained_page(run: Path, capsys) -> None:
    assert main(["report", str(run)]) == 0
    path = run / "report.html"
    assert capsys.readouterr().out.strip() == f"report: {path}"
    text = path.read_text()
    page = _Page()
    page.feed(text)
    assert page.links == []  # nothing outside the page: no stylesheet, script or link
    kinds = {}
    for src in page.images:
        mime, data = re.fullmatch(r"data:(image/\w+);base64,(.*)", src).groups()
        raw = base64.b64decode(data, validate=True)
        assert raw[:4] == (b"\x89PNG" if mime == "image/png" else b"GIF8")
        kinds[mime] = kinds.get(mime, 0) + 1
    # the GIF, and metrics plots (train/*, round/*)
    assert kinds.get("image/gif") == 1 and kinds.get("image/png", 0) >= 2
    assert "pretrain" in text and "mbrl-control pretrain" in text
    rounds = json.loads((run / "rounds.json").read_text())
    assert f"{rounds[0]['mean_return']:.6g}" in text  # the rounds table
    assert "train/train_loss" in text and "round/mean_return" in text  # the metrics table
    assert "<td>x&lt;y</td>" in text  # the Markdown table, escaped
    assert "planner_config.kind" in text  # the planner file's metadata
    assert "planner.onnx: provenance.transitions" in text  # ... and its summary at the top
    assert "data/episodes/ (transition store)" in text


def test_report_out_elsewhere_and_no_outputs(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "pages" / "run.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError, match="no run outputs"):
        build_report(run / "data")  # a transition store alone


def test_markdown_tables_and_headings() -> None:
    text = markdown_html("## Grid\n\n| x | y |\n|:--|--:|\n| 1 | 2 |\n\nplain & text\n")
    assert "<h4>Grid</h4>" in text
    assert "<th>x</th><th>y</th>" in text and "<td>1</td><td>2</td>" in text
    assert "<p>plain &amp; text</p>" in text
